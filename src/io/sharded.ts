/**
 * Sharded safetensors checkpoints, as transformers writes them: `model-00001-of-00003.safetensors`
 * … plus `model.safetensors.index.json` = `{"metadata": {"total_size": …}, "weight_map": {name: shard}}`.
 */
import { readdir, readFile, rm, stat, mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize } from 'node:path';

import { dispose, type Tensor } from '../tensor/index.js';
import { isJsonObject, JsonError, parseJsonStrict, type JsonValue } from './json.js';
import { writeAtomicAsync, writeFullyAsync } from './files.js';
import {
  assertNotPickle,
  loadSafetensors,
  namedTensorEntries,
  readSafetensorsHeader,
  safetensorsByteLength,
  saveSafetensors,
  type LoadSafetensorsOptions,
  type NamedTensors,
} from './safetensors.js';

/** The index file name transformers uses for sharded safetensors checkpoints. */
export const SAFETENSORS_INDEX_NAME = 'model.safetensors.index.json';

/** A parsed, validated `*.safetensors.index.json`. */
export interface SafetensorsIndex {
  /** The index file. */
  indexPath: string;
  /** The folder the shards are in (the index's folder). */
  dir: string;
  /** The index's "metadata" object ({} when absent), e.g. { total_size: 1234 }. */
  metadata: Record<string, JsonValue>;
  /** Tensor name → shard file name, as listed. */
  weightMap: Map<string, string>;
  /** The distinct shard file names, in order of first appearance. */
  shards: string[];
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Reads and validates a sharded checkpoint's index; `pathOrDir` is the index file or the folder holding `model.safetensors.index.json`. */
export async function readSafetensorsIndex(pathOrDir: string): Promise<SafetensorsIndex> {
  const indexPath = (await isDirectory(pathOrDir)) ? join(pathOrDir, SAFETENSORS_INDEX_NAME) : pathOrDir;
  let text: string;
  try {
    text = await readFile(indexPath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new Error(`${indexPath}: no sharded checkpoint index here (the file does not exist)`, { cause: error });
    throw error;
  }
  let parsed: JsonValue;
  try {
    parsed = parseJsonStrict(text);
  } catch (error) {
    if (error instanceof JsonError)
      throw new Error(`${indexPath}: invalid checkpoint index: not valid JSON: ${error.message}`, { cause: error });
    throw error;
  }
  if (!isJsonObject(parsed)) throw new Error(`${indexPath}: invalid checkpoint index: not a JSON object`);
  const { metadata = null, weight_map: weightMap } = parsed;
  if (metadata !== null && !isJsonObject(metadata))
    throw new Error(`${indexPath}: invalid checkpoint index: "metadata" must be an object`);
  if (!isJsonObject(weightMap))
    throw new Error(
      `${indexPath}: invalid checkpoint index: "weight_map" must be an object of tensor name → shard file`,
    );
  const map = new Map<string, string>();
  const shards: string[] = [];
  for (const name of Object.keys(weightMap)) {
    const shard = weightMap[name];
    if (typeof shard !== 'string' || shard === '') {
      throw new Error(
        `${indexPath}: invalid checkpoint index: "weight_map" entry ${JSON.stringify(name)} must name a shard file`,
      );
    }
    if (isAbsolute(shard) || normalize(shard).split(/[\\/]/).includes('..')) {
      throw new Error(
        `${indexPath}: invalid checkpoint index: shard ${JSON.stringify(shard)} (for ${JSON.stringify(name)}) lies outside the checkpoint folder`,
      );
    }
    if (!shards.includes(shard)) shards.push(shard);
    map.set(name, shard);
  }
  const dir = dirname(indexPath);
  return { indexPath, dir, metadata: { ...(metadata ?? {}) }, weightMap: map, shards };
}

export interface ShardedSafetensorsContents {
  tensors: Map<string, Tensor>;
  /** The index's "metadata" object. */
  metadata: Record<string, JsonValue>;
  /** The shard files read. */
  shards: string[];
}

/**
 * Loads a sharded safetensors checkpoint: reads the index, checks that every shard exists and
 * holds the tensors the index maps to it (before loading anything), then loads each shard once.
 * Tensors in a shard that the index does not list are not loaded. Options as loadSafetensors.
 */
export async function loadShardedSafetensors(
  pathOrDir: string,
  options: LoadSafetensorsOptions = {},
): Promise<ShardedSafetensorsContents> {
  const index = await readSafetensorsIndex(pathOrDir);
  const byShard = new Map<string, Set<string>>(index.shards.map((shard) => [shard, new Set()]));
  for (const [name, shard] of index.weightMap) {
    if (!options.filter || options.filter(name)) byShard.get(shard)!.add(name);
  }
  // Fail fast: every shard present and complete before any tensor is read.
  for (const shard of index.shards) {
    const path = join(index.dir, shard);
    assertNotPickle(path);
    try {
      await stat(path);
    } catch {
      throw new Error(
        `${index.indexPath}: shard ${JSON.stringify(shard)} listed in the index is missing (expected at ${path})`,
      );
    }
    const header = await readSafetensorsHeader(path);
    for (const name of index.weightMap.keys()) {
      if (index.weightMap.get(name) === shard && !header.tensors.has(name)) {
        throw new Error(
          `${index.indexPath}: the index maps tensor ${JSON.stringify(name)} to shard ${JSON.stringify(shard)}, which has no such tensor`,
        );
      }
    }
  }
  const tensors = new Map<string, Tensor>();
  try {
    for (const [shard, names] of byShard) {
      if (names.size === 0) continue;
      const loaded = await loadSafetensors(join(index.dir, shard), { ...options, filter: (name) => names.has(name) });
      for (const [name, t] of loaded.tensors) tensors.set(name, t);
    }
  } catch (error) {
    dispose(tensors);
    throw error;
  }
  return { tensors, metadata: index.metadata, shards: index.shards };
}

/**
 * A byte count from a number or a string like transformers' max_shard_size: "5GB" (10^9 bytes),
 * "500MB", "2GiB" (2^30), "100KB", or plain bytes.
 */
export function parseByteSize(size: number | string): number {
  if (typeof size === 'number') {
    if (!Number.isSafeInteger(size) || size <= 0)
      throw new Error(`a size in bytes must be a positive integer, not ${size}`);
    return size;
  }
  const match = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)?\s*$/i.exec(size);
  if (!match)
    throw new Error(
      `cannot read ${JSON.stringify(size)} as a size (expected e.g. 5GB, 500MB, 2GiB or a number of bytes)`,
    );
  const unit = (match[2] ?? 'B').toUpperCase();
  const scale: Record<string, number> = {
    B: 1,
    KB: 1e3,
    MB: 1e6,
    GB: 1e9,
    TB: 1e12,
    KIB: 2 ** 10,
    MIB: 2 ** 20,
    GIB: 2 ** 30,
    TIB: 2 ** 40,
  };
  const bytes = Math.floor(Number(match[1]) * scale[unit]);
  if (bytes <= 0) throw new Error(`size ${JSON.stringify(size)} must be positive`);
  return bytes;
}

export interface SaveShardedOptions {
  /** The largest shard, in bytes or as "5GB"/"500MB"/"2GiB" (default "5GB", as transformers). A larger tensor gets a shard of its own. */
  maxShardSize?: number | string;
  /** `__metadata__` of every shard (default { format: 'pt' }, as transformers writes). */
  metadata?: Record<string, string>;
  /** File name prefix (default 'model': model.safetensors, model-00001-of-00002.safetensors). */
  prefix?: string;
}

export interface ShardedSaveResult {
  /** The shard files written, in order (one: `<prefix>.safetensors`, and no index). */
  files: string[];
  /** The index file written, or null for a single shard. */
  indexFile: string | null;
  /** The tensors' bytes in all. */
  totalSize: number;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Saves tensors as a sharded checkpoint in `dir` (created if missing) the way transformers does:
 * tensors fill shards in order up to `maxShardSize`; several shards are named
 * `model-00001-of-0000N.safetensors` with a `model.safetensors.index.json`, a single one is
 * `model.safetensors`. Each file is written atomically, the index last; shard files and an index
 * left by an earlier save under the same prefix are then removed.
 */
export async function saveShardedSafetensors(
  dir: string,
  tensors: NamedTensors,
  options: SaveShardedOptions = {},
): Promise<ShardedSaveResult> {
  const maxShardSize = parseByteSize(options.maxShardSize ?? '5GB');
  const prefix = options.prefix ?? 'model';
  if (prefix === '' || /[\\/]/.test(prefix))
    throw new Error(`saveShardedSafetensors: prefix must be a plain file name, not ${JSON.stringify(prefix)}`);
  const metadata = options.metadata ?? { format: 'pt' };

  // huggingface_hub's split_state_dict_into_shards: a tensor over the limit gets its own shard.
  const shards: [string, Tensor][][] = [];
  let current: [string, Tensor][] = [];
  let currentSize = 0;
  let totalSize = 0;
  for (const [name, tensor] of namedTensorEntries(tensors)) {
    let size: number;
    try {
      size = safetensorsByteLength(tensor);
    } catch (error) {
      throw new Error(`saveShardedSafetensors: tensor ${JSON.stringify(name)}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    totalSize += size;
    if (size > maxShardSize) {
      shards.push([[name, tensor]]);
      continue;
    }
    if (currentSize + size > maxShardSize) {
      shards.push(current);
      current = [];
      currentSize = 0;
    }
    current.push([name, tensor]);
    currentSize += size;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);

  await mkdir(dir, { recursive: true });
  const count = shards.length;
  const pad = (n: number): string => String(n).padStart(5, '0');
  const files = shards.map((_, i) =>
    count === 1 ? `${prefix}.safetensors` : `${prefix}-${pad(i + 1)}-of-${pad(count)}.safetensors`,
  );
  const weightMap: [string, string][] = [];
  for (let i = 0; i < count; i++) {
    await saveSafetensors(join(dir, files[i]), new Map(shards[i]), metadata);
    for (const [name] of shards[i]) weightMap.push([name, files[i]]);
  }

  const indexName = `${prefix}.safetensors.index.json`;
  let indexFile: string | null = null;
  if (count > 1) {
    // As transformers: json.dumps(index, indent=2, sort_keys=True) + "\n".
    weightMap.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const lines = weightMap.map(([name, file]) => `    ${JSON.stringify(name)}: ${JSON.stringify(file)}`);
    const text = `{\n  "metadata": {\n    "total_size": ${totalSize}\n  },\n  "weight_map": {\n${lines.join(',\n')}\n  }\n}\n`;
    indexFile = join(dir, indexName);
    await writeAtomicAsync(indexFile, (handle) => writeFullyAsync(handle, Buffer.from(text, 'utf8')));
  }

  // Remove what an earlier save under this prefix left, so loaders cannot pick up stale weights.
  const ours = new RegExp(`^${escapeRegExp(prefix)}(-[0-9]{5}-of-[0-9]{5})?\\.safetensors$`);
  for (const name of await readdir(dir)) {
    const stale = (ours.test(name) && !files.includes(name)) || (count === 1 && name === indexName);
    if (stale) await rm(join(dir, name), { force: true });
  }
  return { files: files.map((file) => join(dir, file)), indexFile, totalSize };
}

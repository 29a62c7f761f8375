/**
 * Fuzz corpus: mutated .safetensors files through every reader (loadSafetensorsSync,
 * loadSafetensors, readSafetensorsHeaderSync, deserializeSafetensors) and, one case in five,
 * as the weights of a loadPretrained folder beside a valid tiny BERT config.json.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { deserializeSafetensors, loadPretrained, loadSafetensors, loadSafetensorsSync, readSafetensorsHeaderSync } from 'finetune';

import type { Corpus } from '../fuzz.js';
import { HOSTILE_NUMBERS, concat, mutateBytes, mutateJson, Rng, type Json } from '../fuzz-mutate.js';

const TINY_BERT = 'test/fixtures/peft/tiny-bert';
const BASES = ['test/fixtures/safetensors/python-all-dtypes.safetensors', join(TINY_BERT, 'model.safetensors')].map((path) => new Uint8Array(readFileSync(path)));

function headerOf(bytes: Uint8Array): { header: Json; dataStart: number } {
  const length = Number(Buffer.from(bytes).readBigUInt64LE(0));
  return { header: JSON.parse(Buffer.from(bytes.subarray(8, 8 + length)).toString('utf8')) as Json, dataStart: 8 + length };
}

function withHeader(headerText: string, data: Uint8Array, lengthOverride?: bigint): Uint8Array {
  const header = Buffer.from(headerText, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(lengthOverride ?? BigInt(header.length));
  return concat(prefix, header, data);
}

/** A header-aware mutation: a tensor entry's dtype, shape or offsets made hostile. */
function mutateTensorEntry(rng: Rng, header: Record<string, Json>): string {
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = rng.pick(names);
  const entry = header[name] as { dtype: Json; shape: Json; data_offsets: Json };
  const other = header[rng.pick(names)] as { data_offsets: [number, number] };
  switch (rng.int(6)) {
    case 0:
      entry.dtype = rng.pick(['F64', 'I8', 'BOOL', 'F8_E4M3', 'F4', 'Q4', 'f32', '', 'constructor', '__proto__']);
      return `${name}.dtype = ${String(entry.dtype)}`;
    case 1:
      entry.shape = rng.pick<Json>([[0, 2 ** 53 - 1, 2 ** 53 - 1], [-1], [2 ** 31, 2 ** 31], [1e9, 1e9], [1.5], ['2'], [null], [], 7, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]]);
      return `${name}.shape = ${JSON.stringify(entry.shape)}`;
    case 2:
      entry.data_offsets = other.data_offsets;
      return `${name}.data_offsets overlap another tensor's`;
    case 3: {
      const value = rng.pick(HOSTILE_NUMBERS);
      entry.data_offsets = rng.chance(0.5) ? [0, value] : [value, value];
      return `${name}.data_offsets = ${JSON.stringify(entry.data_offsets)}`;
    }
    case 4:
      header.__metadata__ = rng.pick<Json>([{ format: 'pt', big: 'x'.repeat(rng.pick([1000, 8_000_000])) }, { n: 5 }, [], 'x', { __proto__: 'x' }]);
      return `__metadata__ = ${JSON.stringify(header.__metadata__).slice(0, 60)}`;
    default:
      entry.data_offsets = [(entry.data_offsets as number[])[1]!, (entry.data_offsets as number[])[0]!];
      return `${name}.data_offsets reversed`;
  }
}

function mutate(rng: Rng, base: Uint8Array): { bytes: Uint8Array; what: string } {
  const { header, dataStart } = headerOf(base);
  const data = base.subarray(dataStart);
  switch (rng.int(5)) {
    case 0:
      // Anywhere in the header's bytes (length prefix included).
      return mutateBytes(rng, base, 0, dataStart);
    case 1:
      return mutateBytes(rng, base);
    case 2: {
      const { text, what } = mutateJson(rng, header);
      return { bytes: withHeader(text, data), what: `header ${what}` };
    }
    case 3: {
      const copy = JSON.parse(JSON.stringify(header)) as Record<string, Json>;
      const what = mutateTensorEntry(rng, copy);
      return { bytes: withHeader(JSON.stringify(copy), data), what };
    }
    default: {
      const text = JSON.stringify(header);
      const length = rng.pick([0n, 1n, 2n ** 63n, 2n ** 64n - 1n, BigInt(text.length + 1), BigInt(text.length - 1), 100_000_001n]);
      return { bytes: withHeader(text, data, length), what: `header length prefix = ${length}` };
    }
  }
}

export const corpus: Corpus = {
  name: 'safetensors',
  defaultCount: 1000,
  timeoutMs: 8000,
  make(seed, index, dir) {
    const rng = new Rng(seed, index);
    const asFolder = index % 5 === 4;
    const base = asFolder ? BASES[1]! : rng.pick(BASES);
    const { bytes, what } = mutate(rng, base);
    const file = `fuzz-${index}.safetensors`;
    if (asFolder) {
      writeFileSync(join(dir, 'model.safetensors'), bytes);
      copyFileSync(join(TINY_BERT, 'config.json'), join(dir, 'config.json'));
      return {
        what: `loadPretrained folder: ${what}`,
        names: ['model.safetensors', dir],
        run: async () => (await loadPretrained(dir, { warn: () => {} })).model.dispose(),
      };
    }
    const path = join(dir, file);
    writeFileSync(path, bytes);
    const reader = rng.pick(['loadSafetensorsSync', 'loadSafetensors', 'readSafetensorsHeaderSync', 'deserializeSafetensors'] as const);
    return {
      what: `${reader}: ${what}`,
      names: [file],
      run: async () => {
        if (reader === 'readSafetensorsHeaderSync') return readSafetensorsHeaderSync(path);
        const contents = reader === 'loadSafetensorsSync' ? loadSafetensorsSync(path) : reader === 'loadSafetensors' ? await loadSafetensors(path) : deserializeSafetensors(bytes, {}, file);
        contents.tensors.forEach((t) => t.dispose());
        return undefined;
      },
    };
  },
};

/**
 * safetensors (https://github.com/huggingface/safetensors): the checkpoint format of the Hugging
 * Face Hub. A file is an 8-byte little-endian length N, N bytes of JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}` and the
 * tensors' bytes, row-major and little-endian, with offsets relative to the end of the header.
 *
 * Reading validates the header as the reference implementation does (and refuses duplicate keys,
 * which its JSON parser silently merges), then reads the data straight into the tensors' memory
 * (large tensors) or in batched reads copied out (runs of small tensors). Writing matches the
 * reference byte for byte: tensors sorted by dtype alignment (descending) then name, the header
 * padded with spaces to a multiple of 8, and is atomic (temporary file, fsync, rename).
 */
import * as fs from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { extname } from 'node:path';

import {
  Tensor,
  aten,
  dispose,
  empty,
  fromTypedArray,
  isFloatingDType,
  tidy,
  type DType,
  type Device,
} from '../tensor/index.js';
import { describeJsonValue, isJsonObject, JsonError, parseJsonStrict, type JsonValue } from './json.js';
import {
  readFullyAsync,
  readFullySync,
  writeAtomicAsync,
  writeAtomicSync,
  writeFullyAsync,
  writeFullySync,
  type ReadRequest,
} from './files.js';

// ---- dtypes ---------------------------------------------------------------------------

/** The dtypes safetensors defines, in the reference implementation's order (increasing alignment). */
const DTYPE_BITS = {
  BOOL: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
} as const;

/** A safetensors dtype name ('F32', 'BF16', 'I64', 'BOOL', …). */
export type SafetensorsDType = keyof typeof DTYPE_BITS;

/** Position in the reference's Dtype enum; writers sort by it, descending. */
const DTYPE_RANK = Object.fromEntries(Object.keys(DTYPE_BITS).map((name, rank) => [name, rank])) as Record<
  SafetensorsDType,
  number
>;

const TO_TENSOR_DTYPE: Partial<Record<SafetensorsDType, DType>> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
  C64: 'complex64',
};

const FROM_TENSOR_DTYPE = Object.fromEntries(
  Object.entries(TO_TENSOR_DTYPE).map(([safetensors, dtype]) => [dtype, safetensors]),
) as Partial<Record<DType, SafetensorsDType>>;

/** What to convert a tensor of a dtype finetune cannot hold to, in Python, before loading it. */
const CONVERSION_HINT: Partial<Record<SafetensorsDType, string>> = {
  U16: 'to torch.int32',
  U32: 'to torch.int64',
  U64: 'to torch.int64 (if the values fit)',
};

/** The finetune dtype a safetensors dtype loads as, or undefined when finetune cannot hold it. */
export function tensorDTypeOf(dtype: SafetensorsDType): DType | undefined {
  return TO_TENSOR_DTYPE[dtype];
}

/** The safetensors dtype a finetune dtype is saved as, or undefined (complex128). */
export function safetensorsDTypeOf(dtype: DType): SafetensorsDType | undefined {
  return FROM_TENSOR_DTYPE[dtype];
}

// ---- errors ---------------------------------------------------------------------------

/** A file that is not valid safetensors (or a tensor that cannot be saved as one); names the file and the tensor. */
export class SafetensorsError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
    readonly key?: string,
  ) {
    super(`${file}: ${key === undefined ? '' : `tensor ${JSON.stringify(key)}: `}${problem}`);
    this.name = 'SafetensorsError';
  }
}

function invalid(file: string, problem: string, key?: string): SafetensorsError {
  return new SafetensorsError(file, `invalid safetensors file: ${problem}`, key);
}

function assertLittleEndian(): void {
  if (endianness() !== 'LE')
    throw new Error(
      'safetensors: this machine is big-endian; safetensors data is little-endian and is not byte-swapped',
    );
}

// ---- pickle files ---------------------------------------------------------------------

const PICKLE_EXTENSIONS: ReadonlySet<string> = new Set(['.bin', '.pt', '.pth', '.ckpt', '.pkl', '.pickle']);

function pickleMessage(path: string, why: string): string {
  const quoted = path.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  return (
    `${path}: ${why}. finetune does not load pickle checkpoints: unpickling runs arbitrary code from the file. ` +
    `Convert it to safetensors once, in Python:\n` +
    `  python -c "import torch; from safetensors.torch import save_file; ` +
    `sd = torch.load('${quoted}', map_location='cpu', weights_only=True); ` +
    `save_file({k: v.contiguous().clone() for k, v in sd.items()}, 'model.safetensors', metadata={'format': 'pt'})"\n` +
    `(or download the repository's .safetensors files, which most Hugging Face models publish).`
  );
}

/**
 * Throws for paths of PyTorch pickle checkpoints (.bin, .pt, .pth, .ckpt, .pkl, .pickle), with
 * the command that converts them to safetensors. Loaders call it before opening a file.
 */
export function assertNotPickle(path: string): void {
  const extension = extname(path).toLowerCase();
  if (PICKLE_EXTENSIONS.has(extension))
    throw new Error(pickleMessage(path, `${extension} files are PyTorch pickle checkpoints`));
}

/** torch.save writes a zip archive (since 1.6) or a bare pickle (protocol 2–5). */
function looksLikePickle(prefix: Uint8Array): boolean {
  if (prefix.length >= 4 && prefix[0] === 0x50 && prefix[1] === 0x4b && prefix[2] === 0x03 && prefix[3] === 0x04)
    return true;
  return prefix.length >= 2 && prefix[0] === 0x80 && prefix[1] >= 2 && prefix[1] <= 5;
}

// ---- the header -----------------------------------------------------------------------

/** The reference implementation's bound on the JSON header. */
export const MAX_HEADER_SIZE = 100_000_000;

/** One tensor's entry in a safetensors header. */
export interface SafetensorsTensorInfo {
  dtype: SafetensorsDType;
  shape: number[];
  /** [begin, end) in bytes, relative to the start of the data buffer. */
  dataOffsets: [number, number];
}

/** A validated safetensors header. */
export interface SafetensorsHeader {
  /** N: the JSON header's length in bytes, padding included. */
  headerSize: number;
  /** Where the data buffer starts in the file: 8 + N. */
  dataStart: number;
  /** The data buffer's length in bytes (the tensors cover it exactly). */
  dataSize: number;
  /** The tensors, in data order. */
  tensors: Map<string, SafetensorsTensorInfo>;
  /** The `__metadata__` strings ({} when absent). */
  metadata: Record<string, string>;
}

const INT64_MAX = 2n ** 63n - 1n;

/** Bytes read first: most headers fit, so the header usually costs one read. */
const HEADER_PROBE = 64 * 1024;

function isCount(value: JsonValue): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Validates the 8-byte prefix; returns N. */
function headerLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8) {
    if (looksLikePickle(prefix))
      throw new Error(pickleMessage(file, 'this is a PyTorch pickle checkpoint, not safetensors'));
    throw invalid(file, `the file is ${fileSize} bytes, shorter than the 8-byte header length`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE)) {
    if (looksLikePickle(prefix))
      throw new Error(pickleMessage(file, 'this is a PyTorch pickle checkpoint, not safetensors'));
    throw invalid(file, `header too large: its length field says ${n} bytes, over the ${MAX_HEADER_SIZE}-byte limit`);
  }
  const size = Number(n);
  if (8 + size > fileSize) {
    throw invalid(file, `header length ${size} runs past the end of the file (${fileSize} bytes; truncated?)`);
  }
  return size;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses and validates the JSON header (bytes 8 … 8+N) of a file of `fileSize` bytes. */
function parseHeader(bytes: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  const headerSize = bytes.length;
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw invalid(file, 'the header is not valid UTF-8');
  }
  if (!text.startsWith('{')) {
    throw invalid(file, `the header does not start with '{' (it starts with ${JSON.stringify(text.slice(0, 16))})`);
  }
  let parsed: JsonValue;
  try {
    parsed = parseJsonStrict(text);
  } catch (error) {
    if (error instanceof JsonError) throw invalid(file, `the header is not valid JSON: ${error.message}`);
    throw error;
  }
  if (!isJsonObject(parsed)) throw invalid(file, 'the header is not a JSON object');

  const metadata: Record<string, string> = {};
  const entries: [string, SafetensorsTensorInfo][] = [];
  for (const key of Object.keys(parsed)) {
    const value = parsed[key];
    if (key === '__metadata__') {
      if (value === null) continue;
      if (!isJsonObject(value))
        throw invalid(file, `"__metadata__" must be an object of strings, not ${describeJsonValue(value)}`);
      for (const name of Object.keys(value)) {
        const item = value[name];
        if (typeof item !== 'string') {
          throw invalid(
            file,
            `"__metadata__" must map strings to strings, but ${JSON.stringify(name)} is ${describeJsonValue(item)}`,
          );
        }
        // defineProperty: a key such as "__proto__" stays plain data.
        Object.defineProperty(metadata, name, { value: item, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    if (!isJsonObject(value)) throw invalid(file, `the entry must be an object, not ${describeJsonValue(value)}`, key);
    const { dtype, shape, data_offsets: offsets } = value;
    if (typeof dtype !== 'string') throw invalid(file, `"dtype" is ${describeJsonValue(dtype)}`, key);
    if (!Object.prototype.hasOwnProperty.call(DTYPE_BITS, dtype)) {
      throw invalid(
        file,
        `unknown dtype ${JSON.stringify(dtype)} (safetensors dtypes: ${Object.keys(DTYPE_BITS).join(', ')})`,
        key,
      );
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw invalid(
        file,
        `"shape" must be an array of non-negative integers, not ${JSON.stringify(shape) ?? 'missing'}`,
        key,
      );
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw invalid(
        file,
        `"data_offsets" must be [begin, end] with non-negative integers, not ${JSON.stringify(offsets) ?? 'missing'}`,
        key,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) throw invalid(file, `"data_offsets" [${begin}, ${end}] end before they begin`, key);
    const bits =
      shape.reduce<bigint>((total, d) => total * BigInt(d as number), 1n) *
      BigInt(DTYPE_BITS[dtype as SafetensorsDType]);
    if (bits % 8n !== 0n)
      throw invalid(file, `shape [${shape.join(', ')}] of ${dtype} is not a whole number of bytes`, key);
    if (bits / 8n !== BigInt(end - begin)) {
      throw invalid(
        file,
        `size mismatch: shape [${shape.join(', ')}] of ${dtype} needs ${bits / 8n} bytes but "data_offsets" [${begin}, ${end}] hold ${end - begin}`,
        key,
      );
    }
    // libtorch computes a contiguous tensor's strides from its dimensions, a zero one counted as 1:
    // [0, 2^53−1, 2^53−1] holds no bytes yet overflowed them ("Stride calculation overflowed").
    const extent = shape.reduce<bigint>((total, d) => total * BigInt(Math.max(d as number, 1)), 1n);
    if (extent > INT64_MAX) {
      throw invalid(
        file,
        `"shape" [${shape.join(', ')}] is too large: its dimensions (a 0 counted as 1) multiply to ${extent}, more than a tensor's strides can address (2^63 − 1)`,
        key,
      );
    }
    entries.push([key, { dtype: dtype as SafetensorsDType, shape: shape as number[], dataOffsets: [begin, end] }]);
  }

  // The tensors must tile the data buffer: sorted by offset, each begins where the last ended.
  entries.sort(([, a], [, b]) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  const dataSize = fileSize - 8 - headerSize;
  let covered = 0;
  let previous: string | undefined;
  for (const [
    key,
    {
      dataOffsets: [begin, end],
    },
  ] of entries) {
    if (begin < covered) {
      throw invalid(
        file,
        `"data_offsets" [${begin}, ${end}] overlap tensor ${JSON.stringify(previous)} (which ends at ${covered})`,
        key,
      );
    }
    if (begin > covered) {
      const after = previous === undefined ? 'at the start of the data' : `after tensor ${JSON.stringify(previous)}`;
      throw invalid(file, `"data_offsets" [${begin}, ${end}] leave a hole of ${begin - covered} bytes ${after}`, key);
    }
    if (end > dataSize) {
      throw invalid(
        file,
        `"data_offsets" [${begin}, ${end}] run past the end of the data (${dataSize} bytes after the header; truncated file or out-of-range offsets)`,
        key,
      );
    }
    covered = end;
    previous = key;
  }
  if (covered !== dataSize) {
    throw invalid(
      file,
      `${dataSize - covered} trailing bytes after the last tensor (the tensors cover ${covered} of ${dataSize} data bytes)`,
    );
  }
  return { headerSize, dataStart: 8 + headerSize, dataSize, tensors: new Map(entries), metadata };
}

/** Reads and validates the header of a file of `fileSize` bytes, as read requests. */
function* headerReader(fileSize: number, file: string): Generator<ReadRequest, SafetensorsHeader, undefined> {
  const probe = new Uint8Array(Math.min(fileSize, HEADER_PROBE));
  yield { target: probe, position: 0 };
  const size = headerLength(probe, fileSize, file);
  let bytes: Uint8Array;
  if (8 + size <= probe.length) {
    bytes = probe.subarray(8, 8 + size);
  } else {
    bytes = new Uint8Array(size);
    bytes.set(probe.subarray(8));
    yield { target: bytes.subarray(probe.length - 8), position: probe.length };
  }
  return parseHeader(bytes, fileSize, file);
}

// ---- reading tensors ------------------------------------------------------------------

export interface LoadSafetensorsOptions {
  /** Where the tensors go (default 'cpu'). */
  device?: Device;
  /**
   * Casts floating-point tensors to this floating-point dtype; integer and bool tensors keep
   * theirs (like transformers' torch_dtype).
   */
  dtype?: DType;
  /** Loads only the tensors whose names pass (default: every tensor). */
  filter?: (name: string) => boolean;
}

export interface SafetensorsContents {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** Tensors at least this large are read straight into their own memory; smaller ones in batches. */
const DIRECT_READ_BYTES = 1 << 20;
/** The most bytes one batched read of small tensors covers. */
const BATCH_BYTES = 16 << 20;

/** Views that give a tensor's raw bytes as a typed array sharing its memory. */
const BYTE_VIEW: Partial<Record<DType, DType>> = {
  float16: 'int16',
  bfloat16: 'int16',
  complex64: 'int64',
  complex128: 'int64',
};

/** The raw bytes of a contiguous CPU tensor, sharing its memory (Tensor.data() shares it). */
function rawBytes(t: Tensor): Uint8Array {
  const as = BYTE_VIEW[t.dtype];
  const array = as ? tidy(() => aten.view_dtype(t, as).data()) : t.data();
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

function checkBool(bytes: Uint8Array, file: string, key: string): void {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] > 1) throw invalid(file, `BOOL element ${i} is byte ${bytes[i]}, not 0 or 1`, key);
  }
}

function unsupported(file: string, key: string, dtype: SafetensorsDType): SafetensorsError {
  const hint = CONVERSION_HINT[dtype] ?? 'dequantized to torch.bfloat16 or torch.float16';
  return new SafetensorsError(
    file,
    `dtype ${dtype} cannot be loaded: finetune's tensors hold ${Object.keys(TO_TENSOR_DTYPE).join(', ')}. ` +
      `Convert the tensor in Python first, e.g. ${hint}`,
    key,
  );
}

function checkOptions(options: LoadSafetensorsOptions): void {
  if (options.dtype !== undefined && !isFloatingDType(options.dtype)) {
    throw new Error(
      `loadSafetensors: the dtype option casts floating-point tensors and must be a floating-point dtype, not ${options.dtype}`,
    );
  }
}

/** Creates the header's tensors (those passing the filter), as read requests. */
function* tensorReader(
  header: SafetensorsHeader,
  options: LoadSafetensorsOptions,
  file: string,
): Generator<ReadRequest, Map<string, Tensor>, undefined> {
  const selected = [...header.tensors].filter(([name]) => !options.filter || options.filter(name));
  for (const [name, info] of selected) if (!TO_TENSOR_DTYPE[info.dtype]) throw unsupported(file, name, info.dtype);

  const tensors = new Map<string, Tensor>();
  let complete = false;
  try {
    let scratch: Uint8Array | undefined;
    for (let i = 0; i < selected.length;) {
      const [name, info] = selected[i];
      const dtype = TO_TENSOR_DTYPE[info.dtype]!;
      const [begin, end] = info.dataOffsets;
      if (end - begin >= DIRECT_READ_BYTES) {
        const t = empty(info.shape, { dtype });
        tensors.set(name, t);
        const bytes = rawBytes(t);
        if (bytes.length !== end - begin)
          throw new Error(
            `${file}: internal error: tensor ${JSON.stringify(name)} has ${bytes.length} bytes, expected ${end - begin}`,
          );
        yield { target: bytes, position: header.dataStart + begin };
        if (dtype === 'bool') checkBool(bytes, file, name);
        i++;
        continue;
      }
      // A run of small tensors adjacent in the file: one read, then one copy each.
      let j = i + 1;
      let runEnd = end;
      while (j < selected.length) {
        const [nextBegin, nextEnd] = selected[j][1].dataOffsets;
        if (nextBegin !== runEnd || nextEnd - nextBegin >= DIRECT_READ_BYTES || nextEnd - begin > BATCH_BYTES) break;
        runEnd = nextEnd;
        j++;
      }
      if (!scratch || scratch.length < runEnd - begin)
        scratch = new Uint8Array(Math.max(runEnd - begin, Math.min(BATCH_BYTES, header.dataSize)));
      const run = scratch.subarray(0, runEnd - begin);
      yield { target: run, position: header.dataStart + begin };
      for (let k = i; k < j; k++) {
        const [key, item] = selected[k];
        const itemDtype = TO_TENSOR_DTYPE[item.dtype]!;
        const bytes = run.subarray(item.dataOffsets[0] - begin, item.dataOffsets[1] - begin);
        if (itemDtype === 'bool') checkBool(bytes, file, key);
        tensors.set(key, fromTypedArray(bytes, item.shape, { dtype: itemDtype }));
      }
      i = j;
    }
    if (options.dtype !== undefined || (options.device !== undefined && options.device !== 'cpu')) {
      const device = options.device !== undefined && options.device !== 'cpu' ? options.device : undefined;
      for (const [name, t] of tensors) {
        const dtype =
          options.dtype !== undefined && t.isFloatingPoint() && t.dtype !== options.dtype ? options.dtype : undefined;
        if (dtype === undefined && device === undefined) continue;
        tensors.set(name, t.to({ dtype, device }));
        t.dispose();
      }
    }
    complete = true;
    return tensors;
  } finally {
    if (!complete) dispose(tensors);
  }
}

function* fileReader(
  fileSize: number,
  options: LoadSafetensorsOptions,
  file: string,
): Generator<ReadRequest, SafetensorsContents, undefined> {
  const header = yield* headerReader(fileSize, file);
  const tensors = yield* tensorReader(header, options, file);
  return { tensors, metadata: header.metadata };
}

async function driveAsync<T>(
  path: string,
  reader: (fileSize: number) => Generator<ReadRequest, T, undefined>,
): Promise<T> {
  assertLittleEndian();
  assertNotPickle(path);
  const handle: FileHandle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const steps = reader(size);
    try {
      let step = steps.next();
      while (!step.done) {
        await readFullyAsync(handle, step.value, path);
        step = steps.next();
      }
      return step.value;
    } finally {
      steps.return(undefined as T); // frees what was created when a read failed; no-op when done
    }
  } finally {
    await handle.close();
  }
}

function driveSync<T>(path: string, reader: (fileSize: number) => Generator<ReadRequest, T, undefined>): T {
  assertLittleEndian();
  assertNotPickle(path);
  const fd = fs.openSync(path, 'r');
  try {
    const steps = reader(fs.fstatSync(fd).size);
    try {
      let step = steps.next();
      while (!step.done) {
        readFullySync(fd, step.value, path);
        step = steps.next();
      }
      return step.value;
    } finally {
      steps.return(undefined as T);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Loads a .safetensors file: every tensor (or those passing `filter`) as a CPU tensor, or on
 * `device`, floating-point ones cast to `dtype` if given, and the `__metadata__` strings. The
 * tensors join the enclosing tidyAsync() scope, if any; dispose them when done. Throws an Error
 * naming the file and the tensor for any file that is not valid safetensors, and refuses pickle
 * checkpoints (.bin, .pt, …) with the command that converts them.
 */
export function loadSafetensors(path: string, options: LoadSafetensorsOptions = {}): Promise<SafetensorsContents> {
  checkOptions(options);
  return driveAsync(path, (size) => fileReader(size, options, path));
}

/** loadSafetensors, synchronously. */
export function loadSafetensorsSync(path: string, options: LoadSafetensorsOptions = {}): SafetensorsContents {
  checkOptions(options);
  return driveSync(path, (size) => fileReader(size, options, path));
}

/** Reads and validates only the header of a .safetensors file: tensor names, dtypes, shapes, offsets and metadata. */
export function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  return driveAsync(path, (size) => headerReader(size, path));
}

/** readSafetensorsHeader, synchronously. */
export function readSafetensorsHeaderSync(path: string): SafetensorsHeader {
  return driveSync(path, (size) => headerReader(size, path));
}

/** Loads safetensors bytes already in memory (`name` labels errors). */
export function deserializeSafetensors(
  bytes: Uint8Array,
  options: LoadSafetensorsOptions = {},
  name = '<safetensors bytes>',
): SafetensorsContents {
  assertLittleEndian();
  checkOptions(options);
  const steps = fileReader(bytes.length, options, name);
  try {
    let step = steps.next();
    while (!step.done) {
      const { target, position } = step.value;
      target.set(bytes.subarray(position, position + target.length));
      step = steps.next();
    }
    return step.value;
  } finally {
    steps.return(undefined as never);
  }
}

// ---- writing --------------------------------------------------------------------------

/** Named tensors: a Map (its order) or a plain object. */
export type NamedTensors = Map<string, Tensor> | Record<string, Tensor>;

export function namedTensorEntries(tensors: NamedTensors): [string, Tensor][] {
  return tensors instanceof Map ? [...tensors] : Object.entries(tensors);
}

interface PreparedFile {
  /** The 8-byte length and the padded JSON header. */
  head: Uint8Array;
  /** The tensors in file order with their byte lengths. */
  entries: { name: string; tensor: Tensor; byteLength: number }[];
  size: number;
}

const utf8Bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

function prepareFile(tensors: NamedTensors, metadata: Record<string, string> | undefined, file: string): PreparedFile {
  if (metadata !== undefined) {
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      throw new SafetensorsError(file, 'metadata must be an object of strings');
    }
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string')
        throw new SafetensorsError(file, `metadata ${JSON.stringify(key)} must be a string, not ${typeof value}`);
    }
  }
  const entries = namedTensorEntries(tensors).map(([name, tensor]) => {
    if (typeof name !== 'string') throw new SafetensorsError(file, 'tensor names must be strings');
    if (name === '__metadata__') throw new SafetensorsError(file, 'the name is reserved for the metadata', name);
    if (!(tensor instanceof Tensor)) throw new SafetensorsError(file, `not a Tensor (${typeof tensor})`, name);
    if (tensor.isDisposed) throw new SafetensorsError(file, 'the tensor has been disposed', name);
    const dtype = FROM_TENSOR_DTYPE[tensor.dtype];
    if (!dtype) throw new SafetensorsError(file, `dtype ${tensor.dtype} has no safetensors equivalent`, name);
    const shape = tensor.shape;
    const byteLength = shape.reduce((a, b) => a * b, 1) * (DTYPE_BITS[dtype] / 8);
    return { name, tensor, dtype, shape, byteLength, key: utf8Bytes(name) };
  });
  // As the reference: descending dtype alignment, then name (bytewise, as Rust compares strings).
  entries.sort((a, b) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || Buffer.compare(a.key, b.key));

  const parts: string[] = [];
  if (metadata !== undefined) {
    parts.push(
      `"__metadata__":{${Object.entries(metadata)
        .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`)
        .join(',')}}`,
    );
  }
  let offset = 0;
  for (const entry of entries) {
    parts.push(
      `${JSON.stringify(entry.name)}:{"dtype":"${entry.dtype}","shape":[${entry.shape.join(',')}],"data_offsets":[${offset},${offset + entry.byteLength}]}`,
    );
    offset += entry.byteLength;
  }
  const json = utf8Bytes(`{${parts.join(',')}}`);
  const headerSize = Math.ceil(json.length / 8) * 8;
  if (headerSize > MAX_HEADER_SIZE)
    throw new SafetensorsError(
      file,
      `the header would be ${headerSize} bytes, over the ${MAX_HEADER_SIZE}-byte limit readers accept`,
    );
  const head = Buffer.alloc(8 + headerSize, 0x20);
  head.writeBigUInt64LE(BigInt(headerSize), 0);
  json.copy(head, 8);
  return { head, entries, size: head.length + offset };
}

/** A tensor's bytes as safetensors stores them: detached, on the CPU, contiguous, row-major. */
function tensorBytes(tensor: Tensor, byteLength: number, name: string, file: string): Uint8Array {
  if (tensor.isDisposed) throw new SafetensorsError(file, 'the tensor was disposed while it was being saved', name);
  const bytes = tidy(() => {
    let t = tensor.detach();
    if (t.device !== 'cpu') t = t.to('cpu');
    return rawBytes(t.contiguous());
  });
  if (bytes.length !== byteLength)
    throw new SafetensorsError(file, `internal error: ${bytes.length} bytes, expected ${byteLength}`, name);
  return bytes;
}

/**
 * Saves tensors as a .safetensors file, with optional `__metadata__` strings, exactly as the
 * reference implementation lays it out. The file is replaced atomically: an existing file at
 * `path` survives any failure.
 */
export async function saveSafetensors(
  path: string,
  tensors: NamedTensors,
  metadata?: Record<string, string>,
): Promise<void> {
  assertLittleEndian();
  const prepared = prepareFile(tensors, metadata, path);
  await writeAtomicAsync(path, async (handle) => {
    await writeFullyAsync(handle, prepared.head);
    for (const { name, tensor, byteLength } of prepared.entries)
      await writeFullyAsync(handle, tensorBytes(tensor, byteLength, name, path));
  });
}

/** saveSafetensors, synchronously. */
export function saveSafetensorsSync(path: string, tensors: NamedTensors, metadata?: Record<string, string>): void {
  assertLittleEndian();
  const prepared = prepareFile(tensors, metadata, path);
  writeAtomicSync(path, (fd) => {
    writeFullySync(fd, prepared.head);
    for (const { name, tensor, byteLength } of prepared.entries)
      writeFullySync(fd, tensorBytes(tensor, byteLength, name, path));
  });
}

/** The bytes of a .safetensors file holding `tensors`, in memory. */
export function serializeSafetensors(tensors: NamedTensors, metadata?: Record<string, string>): Buffer {
  assertLittleEndian();
  const name = '<safetensors bytes>';
  const prepared = prepareFile(tensors, metadata, name);
  const out = Buffer.allocUnsafe(prepared.size);
  out.set(prepared.head, 0);
  let offset = prepared.head.length;
  for (const { name: key, tensor, byteLength } of prepared.entries) {
    out.set(tensorBytes(tensor, byteLength, key, name), offset);
    offset += byteLength;
  }
  return out;
}

/** The number of bytes a tensor takes in a safetensors file. */
export function safetensorsByteLength(tensor: Tensor): number {
  const dtype = FROM_TENSOR_DTYPE[tensor.dtype];
  if (!dtype) throw new Error(`dtype ${tensor.dtype} has no safetensors equivalent`);
  return tensor.numel() * (DTYPE_BITS[dtype] / 8);
}

/**
 * Where cached frozen features live: one byte record per example, appended in order, in memory while
 * they fit a budget and in a file under the output folder beyond it (everything moves there when the
 * budget is crossed; the records are then read per example with positional reads). close() removes
 * the file. The records' offsets are those of the records laid end to end, so moving to the file
 * keeps them.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';

import { formatBytes } from '../format/numbers.js';

/** The environment variable that sets the memory budget of cached features, in bytes. */
export const FEATURE_CACHE_MEMORY_ENV = 'FINETUNE_FEATURE_CACHE_MEMORY_BYTES';

/** The prefix of the temporary folder that holds a cache on disk (inside the output folder). */
export const FEATURE_CACHE_FOLDER_PREFIX = '.frozen-features-';

/**
 * The most bytes of cached features kept in memory: FINETUNE_FEATURE_CACHE_MEMORY_BYTES when set (0:
 * always on disk), else a quarter of this machine's memory.
 */
export function featureCacheMemoryBudget(): number {
  const setting = process.env[FEATURE_CACHE_MEMORY_ENV];
  if (setting === undefined || setting === '') return Math.floor(totalmem() / 4);
  const bytes = Number(setting);
  if (!Number.isSafeInteger(bytes) || bytes < 0)
    throw new Error(
      `${FEATURE_CACHE_MEMORY_ENV} must be a whole number of bytes (0: keep cached features on disk), got ${JSON.stringify(setting)}`,
    );
  return bytes;
}

export class FeatureStore {
  /** Each record's offset in the records laid end to end, and its length. */
  readonly #offsets: Float64Array;
  readonly #lengths: Float64Array;
  #count = 0;
  #bytes = 0;
  /** In memory: the records' bytes (each appended array; #chunkOf says which holds a record). */
  #chunks: Uint8Array[] = [];
  #chunkStarts: number[] = [];
  readonly #chunkOf: Int32Array;
  /** On disk: the folder and the open file (null while in memory). */
  #folder: string | null = null;
  #fd: number | null = null;

  /**
   * A store for `capacity` records (the dataset's length, checked by the caller): `budget` bytes in
   * memory, then a file in a temporary folder under `parentDir`.
   */
  constructor(
    capacity: number,
    readonly budget: number,
    readonly parentDir: string,
  ) {
    if (!Number.isSafeInteger(capacity) || capacity < 0)
      throw new RangeError(`FeatureStore: capacity must be a whole number, got ${capacity}`);
    this.#offsets = new Float64Array(capacity);
    this.#lengths = new Float64Array(capacity);
    this.#chunkOf = new Int32Array(capacity);
  }

  get count(): number {
    return this.#count;
  }

  /** Bytes stored. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether the records are in a file (the budget was crossed). */
  get onDisk(): boolean {
    return this.#fd !== null;
  }

  /** Where the records are, in words: "24.0 MiB in memory" or "3.1 GiB on disk in <folder>". */
  describe(): string {
    return this.onDisk
      ? `${formatBytes(this.#bytes)} on disk in ${this.#folder}`
      : `${formatBytes(this.#bytes)} in memory`;
  }

  /** Appends records (consecutive byte ranges of `chunk`, given by their lengths), in example order. */
  append(chunk: Uint8Array, recordLengths: readonly number[]): void {
    if (this.#count + recordLengths.length > this.#offsets.length)
      throw new RangeError(`FeatureStore: more than ${this.#offsets.length} records`);
    if (!this.onDisk && this.#bytes + chunk.byteLength > this.budget) this.#moveToDisk();
    let offset = this.#bytes;
    for (const length of recordLengths) {
      this.#offsets[this.#count] = offset;
      this.#lengths[this.#count] = length;
      this.#chunkOf[this.#count] = this.#chunks.length;
      offset += length;
      this.#count++;
    }
    if (this.#fd !== null) this.#write(chunk);
    else {
      this.#chunkStarts.push(this.#bytes);
      this.#chunks.push(chunk);
    }
    this.#bytes += chunk.byteLength;
  }

  /** Record `index`'s bytes (a view into memory, or a fresh buffer read from the file). */
  read(index: number): Uint8Array {
    if (!(Number.isInteger(index) && index >= 0 && index < this.#count))
      throw new RangeError(`FeatureStore: no record ${index} (${this.#count} stored)`);
    const offset = this.#offsets[index];
    const length = this.#lengths[index];
    if (this.#fd === null) {
      const chunk = this.#chunkOf[index];
      const start = offset - this.#chunkStarts[chunk];
      return this.#chunks[chunk].subarray(start, start + length);
    }
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const read = readSync(this.#fd, buffer, done, length - done, offset + done);
      if (read === 0) throw new Error(`cached features: ${this.#folder} ended before record ${index}`);
      done += read;
    }
    return buffer;
  }

  /** Frees the memory and removes the file and its folder. */
  close(): void {
    this.#chunks = [];
    this.#chunkStarts = [];
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
    if (this.#folder) rmSync(this.#folder, { recursive: true, force: true });
  }

  #moveToDisk(): void {
    this.#folder = mkdtempSync(join(this.parentDir, FEATURE_CACHE_FOLDER_PREFIX));
    this.#fd = openSync(join(this.#folder, 'features.bin'), 'w+');
    for (const chunk of this.#chunks) this.#write(chunk);
    this.#chunks = [];
    this.#chunkStarts = [];
  }

  #write(chunk: Uint8Array): void {
    let done = 0;
    while (done < chunk.byteLength) done += writeSync(this.#fd!, chunk, done, chunk.byteLength - done);
  }
}

/**
 * Reading a data file into memory with its size known first: a path that is not a regular file
 * (after following links — a `.csv` linked to /dev/zero, a FIFO, a folder) is refused, and so is a
 * file larger than the caller's limit, each naming the file, before a byte is read. Only the size
 * fstat reported is read, so a file that grows meanwhile cannot make the read unbounded.
 */
import { constants } from 'node:buffer';
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';

import { formatBytes } from '../format/numbers.js';

/** A file that cannot be read; the message names it. */
export class DataFileError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'DataFileError';
  }
}

export interface ReadDataFileOptions {
  /** The most bytes the file may have (default: no limit beyond what a Buffer holds). */
  maxBytes?: number;
  /** What the file is, with its article, for messages ('an image', 'an IDX file'); default 'a file'. */
  what?: string;
}

function checkStats(path: string, stats: { isFile(): boolean; isDirectory(): boolean; size: number }, options: ReadDataFileOptions): number {
  if (!stats.isFile()) throw new DataFileError(path, `not a regular file (${stats.isDirectory() ? 'a folder' : 'a device, pipe or socket'})`);
  if (options.maxBytes !== undefined && stats.size > options.maxBytes) {
    throw new DataFileError(path, `${formatBytes(stats.size)} is more than ${options.what ?? 'a file'} may have here (${formatBytes(options.maxBytes)})`);
  }
  return stats.size;
}

const cannotRead = (path: string, error: unknown): DataFileError =>
  error instanceof DataFileError ? error : new DataFileError(path, `cannot read: ${(error as Error).message}`);

/** Reads a regular file whole (see the module comment); errors are DataFileErrors naming it. */
export function readDataFileSync(path: string, options: ReadDataFileOptions = {}): Buffer {
  let fd: number;
  try {
    checkStats(path, statSync(path), options); // before opening: opening a FIFO waits for a writer
    fd = openSync(path, 'r');
  } catch (error) {
    throw cannotRead(path, error);
  }
  try {
    const size = checkStats(path, fstatSync(fd), options);
    const buffer = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, buffer, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    return buffer.subarray(0, done);
  } catch (error) {
    throw cannotRead(path, error);
  } finally {
    closeSync(fd);
  }
}

/** readDataFileSync without blocking the thread. */
export async function readDataFile(path: string, options: ReadDataFileOptions = {}): Promise<Buffer> {
  let handle;
  try {
    checkStats(path, await stat(path), options); // before opening: opening a FIFO waits for a writer
    handle = await open(path, 'r');
  } catch (error) {
    throw cannotRead(path, error);
  }
  try {
    const size = checkStats(path, await handle.stat(), options);
    const buffer = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await handle.read(buffer, done, size - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buffer.subarray(0, done);
  } catch (error) {
    throw cannotRead(path, error);
  } finally {
    await handle.close();
  }
}

/**
 * The largest text file read whole (a table, a tokenizer.json): as many bytes as Node.js's longest
 * string has characters (about 512 MiB), beyond which the text could not be held anyway.
 */
export const MAX_TEXT_FILE_BYTES = constants.MAX_STRING_LENGTH;

/** `cannot read FILE: why` for a file read with readDataFile, in the form the text readers have always used. */
export function cannotReadMessage(path: string, error: unknown): string {
  const reason = error instanceof DataFileError ? error.reason.replace(/^cannot read: /, '') : (error as Error).message;
  return `cannot read ${path}: ${reason}`;
}

/** A UTF-8 text file, read whole (a regular file of MAX_TEXT_FILE_BYTES or less); errors name it. */
export function readUtf8FileSync(path: string, what = 'a text file'): string {
  try {
    return readDataFileSync(path, { maxBytes: MAX_TEXT_FILE_BYTES, what }).toString('utf8');
  } catch (error) {
    throw new Error(cannotReadMessage(path, error), { cause: error });
  }
}

/** The big-endian unsigned 32-bit integer at `at` (IDX headers, PNG chunk lengths). */
export function uint32BE(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

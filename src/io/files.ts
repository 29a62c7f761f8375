/**
 * File helpers for the io layer: full positional reads and writes (Node caps one call at 2 GiB),
 * and atomic replacement (write a temporary file beside the target, fsync, rename) so that a
 * crash or an error never leaves a half-written file where a good one was. Every file finetune
 * writes goes through them: the rename replaces whatever is at the path — a symlink planted in an
 * output folder included — so no write ever lands in a link's target.
 */
import * as fs from 'node:fs';
import { lstat, mkdir, open, readFile, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/** Largest single read or write handed to the OS (Node refuses more than 2 GiB − 1 per call). */
const IO_CHUNK = 1 << 30;

/** A request to fill `target` with the file's bytes starting at `position`. */
export interface ReadRequest {
  target: Uint8Array;
  position: number;
}

function endOfFile(file: string, at: number): Error {
  return new Error(`${file}: unexpected end of file at byte ${at} (was the file changed while it was read?)`);
}

export async function readFullyAsync(
  handle: FileHandle,
  { target, position }: ReadRequest,
  file: string,
): Promise<void> {
  let done = 0;
  while (done < target.length) {
    const { bytesRead } = await handle.read(target, done, Math.min(IO_CHUNK, target.length - done), position + done);
    if (bytesRead === 0) throw endOfFile(file, position + done);
    done += bytesRead;
  }
}

export function readFullySync(fd: number, { target, position }: ReadRequest, file: string): void {
  let done = 0;
  while (done < target.length) {
    const bytesRead = fs.readSync(fd, target, done, Math.min(IO_CHUNK, target.length - done), position + done);
    if (bytesRead === 0) throw endOfFile(file, position + done);
    done += bytesRead;
  }
}

export async function writeFullyAsync(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, Math.min(IO_CHUNK, bytes.length - done));
    done += bytesWritten;
  }
}

export function writeFullySync(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, Math.min(IO_CHUNK, bytes.length - done));
}

let temporaryCount = 0;

/** The temporary file an atomic write of `path` goes through: `path.tmp-<pid>-<n>`. */
export function temporaryPath(path: string): string {
  return `${path}.tmp-${process.pid}-${++temporaryCount}`;
}

/**
 * Writes a file atomically: `write` fills a temporary file in the same folder, which is flushed
 * to disk and renamed over `path` only once complete. On failure the temporary file is removed
 * and any existing `path` is left untouched.
 */
export async function writeAtomicAsync(path: string, write: (handle: FileHandle) => Promise<void>): Promise<void> {
  const temporary = temporaryPath(path);
  let handle: FileHandle | undefined = await open(temporary, 'wx');
  try {
    await write(handle);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temporary, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
  removeStaleTemporaries(path);
}

/** writeAtomicAsync, synchronously. */
export function writeAtomicSync(path: string, write: (fd: number) => void): void {
  const temporary = temporaryPath(path);
  let fd: number | undefined = fs.openSync(temporary, 'wx');
  try {
    write(fd);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(temporary, path);
  } catch (error) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // already failing; the original error matters
      }
    }
    fs.rmSync(temporary, { force: true });
    throw error;
  }
  removeStaleTemporaries(path);
}

function bytesOf(data: string | Uint8Array): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

/** Writes `data` (text as UTF-8) to `path` atomically; a file or symlink already there is replaced, never written through. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const bytes = bytesOf(data);
  await writeAtomicAsync(path, (handle) => writeFullyAsync(handle, bytes));
}

/** writeFileAtomic, synchronously. */
export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  const bytes = bytesOf(data);
  writeAtomicSync(path, (fd) => writeFullySync(fd, bytes));
}

/** Copies `from` to `to` atomically (a symlink at `to` is replaced; one at `from` is read through, as a source may be one). */
export async function copyFileAtomic(from: string, to: string): Promise<void> {
  await writeFileAtomic(to, await readFile(from));
}

/** copyFileAtomic, synchronously. */
export function copyFileAtomicSync(from: string, to: string): void {
  writeFileAtomicSync(to, fs.readFileSync(from));
}

/** O_NOFOLLOW where the platform has it (not on Windows, whose symlinks need privileges to plant). */
const NO_FOLLOW = fs.constants.O_NOFOLLOW ?? 0;

/**
 * Appends `text` to the log at `path` without following a symlink there: the file is opened with
 * O_NOFOLLOW, and a link planted at `path` (ELOOP) is replaced by a regular file holding `whole()`,
 * the log's full contents. Appending keeps a long run's cost per line constant, where rewriting
 * the log at each line would grow with its length.
 */
export function appendLogSync(path: string, text: string, whole: () => string): void {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | NO_FOLLOW, 0o666);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ELOOP') throw error;
    writeFileAtomicSync(path, whole());
    return;
  }
  try {
    writeFullySync(fd, Buffer.from(text, 'utf8'));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A stream writing a new file at `path` (a log written as a child process runs): whatever is at
 * `path` — an earlier log, or a planted symlink — is removed first, and the file is created with
 * O_EXCL, which never opens through a link.
 */
export function createOutputStream(path: string): fs.WriteStream {
  fs.rmSync(path, { force: true });
  return fs.createWriteStream(path, { fd: fs.openSync(path, 'wx') });
}

/**
 * Creates `sub` (a folder inside `root`) and the folders between them, as mkdir -p does, except
 * that a symlink found at any of them is replaced by a real folder: a link planted inside an
 * output folder never redirects what is written there. `root` itself is the user's choice and is
 * followed. Returns `sub`.
 */
export async function makeOutputFolder(root: string, sub: string): Promise<string> {
  await mkdir(root, { recursive: true });
  const rest = relative(resolve(root), resolve(sub));
  if (rest === '..' || rest.startsWith(`..${sep}`) || isAbsolute(rest))
    throw new Error(`makeOutputFolder: ${sub} is not inside ${root}`);
  let at = root;
  for (const part of rest.split(sep).filter(Boolean)) {
    at = join(at, part);
    const found = await lstat(at).catch(() => null);
    if (found?.isSymbolicLink()) await unlink(at);
    if (!found?.isDirectory()) await mkdir(at);
  }
  return sub;
}

/**
 * Removes the temporaries of `path` that a process killed while writing it left behind
 * (`path.tmp-<pid>-<n>` whose process no longer runs); a running writer's are left alone. Called
 * after each atomic write, so the next save into a folder cleans what a killed one left.
 */
export function removeStaleTemporaries(path: string): void {
  const folder = dirname(path);
  const prefix = `${basename(path)}.tmp-`;
  let names: string[];
  try {
    names = fs.readdirSync(folder);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-\d+$/.exec(name.slice(prefix.length))?.[1]);
    if (!(pid > 0) || pid === process.pid || processRuns(pid)) continue;
    fs.rmSync(join(folder, name), { force: true });
  }
}

/** Whether a process with this id runs on this machine (EPERM: it does, as another user's). */
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

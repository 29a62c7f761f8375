/**
 * A best-effort cross-process lock (the role of `WeakFileLock` in `huggingface_hub`): a file created with
 * O_EXCL that holds `pid@host`, refreshed while held, and taken over when its process is gone (same host) or
 * when it was not refreshed for two minutes. It keeps two downloads of one blob from appending to the same
 * `.incomplete` file. Python's own lock (`.locks/…/<etag>.lock`, an flock) is a different file: the two
 * libraries do not exclude each other, but each writes complete blobs with an atomic rename.
 */
import { mkdir, open, readFile, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';

import { processRuns } from '../io/files.js';

const STALE_MS = 120_000;
const HEARTBEAT_MS = 30_000;
const POLL_MS = 50;

async function isStale(lockPath: string): Promise<boolean> {
  try {
    const [content, info] = await Promise.all([readFile(lockPath, 'utf8'), stat(lockPath)]);
    if (Date.now() - info.mtimeMs > STALE_MS) return true;
    const m = /^(\d+)@(.*)$/.exec(content.trim());
    if (m === null) return Date.now() - info.mtimeMs > 5_000; // being written, or foreign
    return m[2] === hostname() && Number(m[1]) !== process.pid && !processRuns(Number(m[1]));
  } catch {
    return false; // gone already: the next attempt takes it
  }
}

/** Runs `fn` holding the lock file `lockPath` (waiting as long as another live holder has it). */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  await mkdir(dirname(lockPath), { recursive: true });
  for (;;) {
    try {
      const fh = await open(lockPath, 'wx');
      try {
        await fh.writeFile(`${process.pid}@${hostname()}\n`);
      } finally {
        await fh.close();
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (await isStale(lockPath)) {
        await rm(lockPath, { force: true });
        continue;
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(lockPath, now, now).catch(() => undefined);
  }, HEARTBEAT_MS);
  heartbeat.unref();
  try {
    return await fn();
  } finally {
    clearInterval(heartbeat);
    await rm(lockPath, { force: true });
  }
}

/**
 * `hfHubDownload`: `huggingface_hub.hf_hub_download` (to the cache directory) in TypeScript, with the same cache
 * layout, so files downloaded by Python are reused and the other way round.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { constants, createReadStream, existsSync } from 'node:fs';
import {
  copyFile,
  mkdir,
  open,
  readFile,
  realpath,
  rename,
  rm,
  symlink,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';

import {
  CACHEDIR_TAG_CONTENT,
  DEFAULT_REVISION,
  downloadTimeoutS,
  etagTimeoutS,
  hubCacheDir,
  hubEndpoint,
  isOfflineMode,
  resolveToken,
  type RepoType,
} from './constants.js';
import {
  EntryNotFoundError,
  FileIntegrityError,
  FileMetadataError,
  HFValidationError,
  HfHubHTTPError,
  HubError,
  LocalEntryNotFoundError,
  RepositoryNotFoundError,
  RevisionNotFoundError,
  type HubErrorContext,
} from './errors.js';
import {
  NetworkError,
  RETRY_STATUSES,
  buildHeaders,
  describeFetchError,
  getHfFileMetadata,
  hubFetch,
  raiseForStatus,
} from './http.js';
import { withFileLock } from './lock.js';
import {
  REGEX_COMMIT_HASH,
  REGEX_SHA256,
  hfHubUrl,
  isDir,
  isFile,
  looksLikeLocalPath,
  isSafePathComponent,
  pointerPath,
  readRef,
  repoFolderName,
  validateFilename,
  validateRepoId,
  validateRevision,
} from './paths.js';
import { defaultProgress, type ProgressCallback } from './progress.js';

export interface RetryOptions {
  /**
   * Retries of a metadata request the Hub answered with 408/429/5xx when the file is not cached, and of an
   * interrupted download (each resumes where the last stopped; receiving bytes resets the count). Default 5.
   * A metadata request that cannot reach the Hub at all (no network, unknown host, refused, timed out) is not
   * retried, as in huggingface_hub: the cached snapshot is used, or the error comes at once.
   */
  attempts?: number;
  /** First wait between retries in ms, doubled each time (default 1000). */
  baseDelayMs?: number;
  /** Longest wait between retries in ms (default 8000). */
  maxDelayMs?: number;
}

export interface HubDownloadOptions {
  /** Branch, tag or commit hash (default `main`). */
  revision?: string;
  /** Hub cache directory (default `HF_HUB_CACHE`, i.e. `$HF_HOME/hub`, i.e. `~/.cache/huggingface/hub`). */
  cacheDir?: string;
  /** Hub URL (default `HF_ENDPOINT`, i.e. https://huggingface.co). */
  endpoint?: string;
  /** Token to send; `false` sends none; default: `HF_TOKEN`, else the `hf auth login` token file. */
  token?: string | boolean;
  /** Never use the network (also on when `HF_HUB_OFFLINE` is 1/true): return the cached file or throw. */
  offline?: boolean;
  /** Called while bytes arrive. Without it, files over 10 MB show a progress line on stderr when it is a TTY. */
  onProgress?: ProgressCallback;
  /** Download again even when cached (an existing partial download is discarded, not resumed). */
  forceDownload?: boolean;
  /** `model` (default), `dataset` or `space`. */
  repoType?: RepoType;
  /** Folder inside the repo; the file is `subfolder/filename`. */
  subfolder?: string;
  retry?: RetryOptions;
  /** Limit of the metadata request in seconds (default `HF_HUB_ETAG_TIMEOUT` or 10). */
  etagTimeoutS?: number;
  /** Longest wait for the next byte of a download, in seconds (default `HF_HUB_DOWNLOAD_TIMEOUT` or 10). */
  downloadTimeoutS?: number;
}

interface Retry {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

const WRITE_BATCH_BYTES = 4 * 1024 * 1024;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const backoff = (r: Retry, n: number) => Math.min(r.baseDelayMs * 2 ** n, r.maxDelayMs);

/** A repo id that is an existing directory is used as a local model folder (as `transformers` does). */
export function localDirectory(repoOrDir: string): string | null {
  return typeof repoOrDir === 'string' && repoOrDir !== '' && isDir(repoOrDir) ? resolve(repoOrDir) : null;
}

function localFile(dir: string, filename: string, repoOrDir: string): string {
  const p = join(dir, ...filename.split('/'));
  if (isFile(p)) return p;
  throw new LocalEntryNotFoundError(
    `The local directory '${repoOrDir}' (${dir}) does not contain a file named '${filename}'.`,
    {
      repoId: repoOrDir,
      filename,
    },
  );
}

function isRetryable(e: unknown): boolean {
  return e instanceof NetworkError || isBusyAnswer(e);
}

/** The Hub answered, but with a status worth asking again (408, 429, 5xx). */
function isBusyAnswer(e: unknown): boolean {
  return e instanceof HfHubHTTPError && !(e instanceof RepositoryNotFoundError) && RETRY_STATUSES.has(e.status);
}

/** The metadata a download needs, or the error that kept us from it. */
interface Metadata {
  urlToDownload: string;
  headers: Record<string, string>;
  etag: string;
  linked: boolean;
  commitHash: string;
  size: number;
}

async function fetchMetadata(
  url: string,
  headers: Record<string, string>,
  timeoutS: number,
  context: HubErrorContext & { tokenSent: boolean },
): Promise<Metadata> {
  const meta = await getHfFileMetadata(url, { headers, timeoutS, context });
  if (meta.commitHash === null) {
    throw new FileMetadataError(
      `The server answering ${url} did not send ${'X-Repo-Commit'}: it does not seem to be the Hugging Face Hub. A proxy or ` +
        'firewall may be in the way (check HF_ENDPOINT, your proxy settings and certificates).',
      context,
    );
  }
  if (!isSafePathComponent(meta.commitHash))
    throw new FileMetadataError(`Invalid commit hash from the server: '${meta.commitHash}'.`, context);
  if (meta.etag === null || meta.etag === '') {
    throw new FileMetadataError(
      `The file at ${url} has no ETag: its version cannot be checked, so it is not downloaded.`,
      context,
    );
  }
  if (!isSafePathComponent(meta.etag))
    throw new FileMetadataError(`Invalid ETag from the server: '${meta.etag}'.`, context);
  if (meta.size === null)
    throw new FileMetadataError(`The file at ${url} has no Content-Length (nor X-Linked-Size).`, context);
  // A redirect to another host is the CDN with a signed URL: no Authorization header there. A redirect on the
  // same host (renamed repo) keeps it.
  const dlHeaders = { ...headers };
  if (meta.location !== url && new URL(meta.location).host !== new URL(url).host) delete dlHeaders.authorization;
  return {
    urlToDownload: meta.location,
    headers: dlHeaders,
    etag: meta.etag,
    linked: meta.linked,
    commitHash: meta.commitHash,
    size: meta.size,
  };
}

/** `_cache_commit_hash_for_specific_revision`: `refs/<revision>` ← commit, atomically, when it changed. */
async function writeRef(storage: string, revision: string, commitHash: string): Promise<void> {
  if (revision === commitHash) return;
  const refPath = join(storage, 'refs', ...revision.split('/'));
  try {
    if ((await readFile(refPath, 'utf8')) === commitHash) return;
  } catch {
    // no ref yet
  }
  await mkdir(dirname(refPath), { recursive: true });
  const tmp = `${refPath}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, commitHash, { flag: 'wx' });
  await rename(tmp, refPath);
}

/** Records that `filename` does not exist at `commitHash` (`.no_exist/<commit>/<filename>`), as Python does. */
async function cacheNoExist(
  storage: string,
  revision: string,
  filename: string,
  commitHash: string | undefined,
): Promise<void> {
  if (commitHash === undefined || !isSafePathComponent(commitHash)) return;
  try {
    const p = join(storage, '.no_exist', commitHash, ...filename.split('/'));
    if (!existsSync(p)) {
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p, '', { flag: 'wx' });
    }
    await writeRef(storage, revision, commitHash);
  } catch {
    // best effort, as in Python
  }
}

async function createCachedirTag(cacheDir: string): Promise<void> {
  const tag = join(cacheDir, 'CACHEDIR.TAG');
  if (existsSync(tag)) return;
  await writeFile(tag, CACHEDIR_TAG_CONTENT, { flag: 'wx' }).catch(() => undefined);
}

/**
 * `_create_symlink`: `dst` becomes a relative symlink to `src` (`../../blobs/<etag>` for a top-level file).
 * Where symlinks are not allowed (Windows without developer mode) the blob is moved (new) or copied instead.
 */
async function createSymlink(src: string, dst: string, newBlob: boolean): Promise<void> {
  await rm(dst, { force: true });
  await mkdir(dirname(dst), { recursive: true });
  try {
    await symlink(relative(dirname(dst), src), dst);
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      const [a, b] = await Promise.all([realpath(dst).catch(() => ''), realpath(src).catch(() => '-')]);
      if (a === b) return; // cached concurrently
      throw e;
    }
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EACCES') throw e;
  }
  if (newBlob) {
    await rename(src, dst).catch(() => copyFile(src, dst));
  } else {
    await copyFile(src, dst);
  }
}

async function hashPrefix(path: string, length: number): Promise<Hash> {
  const hash = createHash('sha256');
  if (length > 0) {
    for await (const chunk of createReadStream(path, { start: 0, end: length - 1 })) hash.update(chunk as Buffer);
  }
  return hash;
}

interface DownloadJob {
  repoId: string;
  filename: string;
  incompletePath: string;
  destinationPath: string;
  meta: Metadata;
  forceDownload: boolean;
  onProgress?: ProgressCallback;
  retry: Retry;
  downloadTimeoutS: number;
  context: HubErrorContext & { tokenSent: boolean };
}

/**
 * `_download_to_tmp_and_move` + `http_get`: appends to `blobs/<etag>.incomplete` (resuming with `Range` when it
 * exists; starting over when the server ignores the range), checks the size and, for LFS files, the SHA-256,
 * then renames it to `blobs/<etag>`.
 */
/** O_NOFOLLOW where the platform has it (not on Windows). */
const APPEND_NO_FOLLOW = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0);

/** Opens a partial download to append to; a symlink planted at its path (ELOOP) is removed and the download starts afresh, never written through. */
async function openForAppend(path: string): Promise<FileHandle> {
  try {
    return await open(path, APPEND_NO_FOLLOW, 0o666);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ELOOP') throw error;
    await rm(path, { force: true });
    return open(path, APPEND_NO_FOLLOW, 0o666);
  }
}

async function downloadToTmpAndMove(job: DownloadJob): Promise<void> {
  const { meta, incompletePath, retry } = job;
  if (!job.forceDownload && existsSync(job.destinationPath)) return;
  if (job.forceDownload) await rm(incompletePath, { force: true });
  const expected = meta.size;
  const verify = meta.linked && REGEX_SHA256.test(meta.etag);
  const fh = await openForAppend(incompletePath);
  let size: number;
  let hash: Hash | null;
  try {
    size = (await fh.stat()).size;
    if (size > expected) {
      await fh.truncate(0);
      size = 0;
    }
    hash = verify ? await hashPrefix(incompletePath, size) : null;
    const restart = async () => {
      await fh.truncate(0);
      size = 0;
      if (verify) hash = createHash('sha256');
    };
    const progress = job.onProgress ?? defaultProgress(expected);
    const report = (done: boolean) =>
      progress?.({ repoId: job.repoId, filename: job.filename, downloaded: size, total: expected, done });
    report(false);

    let failures = 0;
    while (size < expected) {
      const before = size;
      const controller = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(
          () => controller.abort(new Error(`no data for ${job.downloadTimeoutS} s`)),
          job.downloadTimeoutS * 1000,
        );
      };
      try {
        const headers = { ...meta.headers };
        if (size > 0) headers.range = `bytes=${size}-`;
        arm();
        const res = await hubFetch(meta.urlToDownload, { headers, redirect: 'follow', signal: controller.signal });
        if (size > 0 && res.status === 416) {
          await res.body?.cancel().catch(() => undefined);
          await restart();
          throw new NetworkError(`The server refused the range bytes=${before}- (416)`);
        }
        raiseForStatus(res, meta.urlToDownload, job.context);
        if (res.body === null) throw new NetworkError('Empty response body');
        if (size > 0 && res.status === 200) {
          await restart(); // the server ignored Range: start over rather than corrupt the file
        } else if (res.status === 206) {
          const start = /^bytes\s+(\d+)-/i.exec(res.headers.get('content-range') ?? '');
          if (start === null || Number(start[1]) !== size) {
            await res.body.cancel().catch(() => undefined);
            await restart();
            throw new NetworkError(
              `Unexpected Content-Range '${res.headers.get('content-range')}' for a request from byte ${before}`,
            );
          }
        }
        const reader = res.body.getReader();
        // Chunks are written in batches (a write per network chunk halves the throughput).
        let pending: Uint8Array[] = [];
        let pendingBytes = 0;
        const flush = async () => {
          if (pendingBytes === 0) return;
          const batch = pending;
          pending = [];
          pendingBytes = 0;
          await fh.writev(batch);
        };
        for (;;) {
          let chunk: Awaited<ReturnType<typeof reader.read>>;
          try {
            chunk = await reader.read();
          } catch (e) {
            await flush(); // keep what arrived: the next attempt resumes after it
            throw new NetworkError(describeFetchError(e), { cause: e });
          }
          if (chunk.done) {
            await flush();
            break;
          }
          arm();
          pending.push(chunk.value);
          pendingBytes += chunk.value.length;
          if (pendingBytes >= WRITE_BATCH_BYTES) await flush();
          hash?.update(chunk.value);
          size += chunk.value.length;
          if (size > expected) {
            await reader.cancel().catch(() => undefined);
            await fh.close().catch(() => undefined);
            await rm(incompletePath, { force: true });
            throw new FileIntegrityError(
              `Consistency check failed: '${job.filename}' should be of size ${expected} but the server sent more (${size} bytes so far). ` +
                'Nothing was cached; please retry.',
              job.context,
            );
          }
          report(false);
        }
        if (size < expected) throw new NetworkError(`Connection closed at ${size} of ${expected} bytes`);
      } catch (e) {
        if (!isRetryable(e)) throw e;
        if (size > before) failures = 0; // bytes arrived: the retry budget starts over
        if (failures >= retry.attempts) {
          throw new HubError(
            `Download of '${job.filename}' from ${meta.urlToDownload} was interrupted at ${size}/${expected} bytes: ` +
              `${(e as Error).message}. The partial file ${incompletePath} is kept: calling again resumes it.`,
            job.context,
            { cause: e },
          );
        }
        await sleep(backoff(retry, failures));
        failures += 1;
      } finally {
        clearTimeout(timer);
        controller.abort();
      }
    }
    report(true);
  } finally {
    await fh.close().catch(() => undefined);
  }
  if (hash !== null) {
    const digest = (hash as Hash).digest('hex');
    if (digest !== meta.etag) {
      await rm(incompletePath, { force: true });
      throw new FileIntegrityError(
        `SHA-256 mismatch for '${job.filename}' of repo '${job.repoId}': expected ${meta.etag} (X-Linked-Etag), got ${digest}. ` +
          'The download was corrupted and has been deleted; nothing was cached. Please retry.',
        job.context,
      );
    }
  }
  await rename(incompletePath, job.destinationPath);
}

function raiseOnHeadCallError(
  error: unknown,
  opts: { force: boolean; offline: boolean; repoId: string; filename: string; revision: string; storage: string },
): never {
  const ctx = { repoId: opts.repoId, filename: opts.filename, revision: opts.revision };
  if (opts.force && opts.offline)
    throw new HFValidationError(
      'Cannot use forceDownload when offline mode is on (the `offline` option or HF_HUB_OFFLINE).',
      ctx,
    );
  if (opts.offline) {
    throw new LocalEntryNotFoundError(
      `'${opts.filename}' of repo '${opts.repoId}' (revision '${opts.revision}') is not in the local cache (${opts.storage}) and ` +
        'offline mode is on (the `offline` option or HF_HUB_OFFLINE), so it cannot be downloaded. Run once online to cache it.',
      ctx,
      { cause: error },
    );
  }
  if (error instanceof RepositoryNotFoundError || (error instanceof HfHubHTTPError && error.status === 401))
    throw error;
  if (opts.force && error instanceof HubError) throw error;
  const reason = error instanceof Error ? error.message : String(error);
  throw new LocalEntryNotFoundError(
    `Could not reach the Hub to locate '${opts.filename}' of repo '${opts.repoId}' (revision '${opts.revision}'), and it is not in ` +
      `the local cache (${opts.storage}). Check your connection (or HF_ENDPOINT), or set HF_HUB_OFFLINE=1 to use cached files only. ` +
      `Cause: ${reason}`,
    ctx,
    { cause: error },
  );
}

/**
 * Downloads `filename` of the Hub repo `repoId` into the cache (unless it is there) and returns its path in the
 * snapshot: `{cacheDir}/models--ORG--NAME/snapshots/<commit>/<filename>`, a symlink to `../../blobs/<etag>`.
 *
 * As `huggingface_hub.hf_hub_download`: one HEAD request resolves the revision to a commit and the file to an
 * etag; a file already in that snapshot is returned without downloading (with a commit-hash `revision`, or
 * offline, without any request). When the Hub cannot be reached (network error, 5xx, private repo without
 * token), the snapshot that `refs/<revision>` points to is used if it has the file.
 *
 * `repoId` may also be a local directory: the path of `filename` inside it is returned, never using the network.
 */
export async function hfHubDownload(repoId: string, filename: string, opts: HubDownloadOptions = {}): Promise<string> {
  const fname = opts.subfolder ? `${opts.subfolder.replace(/\/+$/, '')}/${filename}` : filename;
  validateFilename(fname);
  const dir = localDirectory(repoId);
  if (dir !== null) return localFile(dir, fname, repoId);
  if (typeof repoId === 'string' && looksLikeLocalPath(repoId)) {
    throw new HFValidationError(
      `'${repoId}' is not an existing local directory, nor a Hugging Face repo id ('name' or 'namespace/name').`,
      { repoId, filename: fname },
    );
  }
  validateRepoId(repoId);
  const revision = opts.revision ?? DEFAULT_REVISION;
  validateRevision(revision);
  const repoType = opts.repoType ?? 'model';
  const cacheDir = resolve(opts.cacheDir ?? hubCacheDir());
  const storage = join(cacheDir, repoFolderName(repoId, repoType));
  const force = opts.forceDownload === true;
  const offline = opts.offline === true || isOfflineMode();
  const retry: Retry = { attempts: 5, baseDelayMs: 1000, maxDelayMs: 8000, ...opts.retry };

  // A commit hash already in the cache: no request at all.
  if (REGEX_COMMIT_HASH.test(revision) && !force) {
    const p = pointerPath(storage, revision, fname);
    if (isFile(p)) return p;
  }

  const token = offline ? undefined : resolveToken(opts.token);
  const headers = buildHeaders(token);
  const context = { repoId, filename: fname, revision, tokenSent: token !== undefined };
  const url = hfHubUrl(repoId, fname, { revision, endpoint: opts.endpoint ?? hubEndpoint(), repoType });
  const timeoutS = opts.etagTimeoutS ?? etagTimeoutS();
  const attempt = async (): Promise<{ meta?: Metadata; error?: unknown }> => {
    try {
      return { meta: await fetchMetadata(url, headers, timeoutS, context) };
    } catch (e) {
      if (e instanceof EntryNotFoundError) {
        await cacheNoExist(storage, revision, fname, e.commitHash);
        throw e;
      }
      if (e instanceof RevisionNotFoundError) throw e;
      if (e instanceof HfHubHTTPError || e instanceof NetworkError || e instanceof FileMetadataError)
        return { error: e };
      throw e;
    }
  };

  let { meta, error } = offline ? { meta: undefined, error: new Error('offline mode') } : await attempt();
  if (meta === undefined) {
    if (!force) {
      const commit = readRef(storage, revision);
      if (commit !== null) {
        const p = pointerPath(storage, commit, fname);
        if (isFile(p)) return p;
      }
      for (let n = 0; !offline && n < retry.attempts && isBusyAnswer(error); n++) {
        await sleep(backoff(retry, n));
        ({ meta, error } = await attempt());
        if (meta !== undefined) break;
      }
    }
    if (meta === undefined) raiseOnHeadCallError(error, { force, offline, repoId, filename: fname, revision, storage });
  }

  const blob = join(storage, 'blobs', meta.etag);
  const pointer = pointerPath(storage, meta.commitHash, fname);
  if (!force && isFile(pointer)) {
    await writeRef(storage, revision, meta.commitHash).catch(() => undefined); // the cache may be read-only
    return pointer;
  }

  await mkdir(dirname(blob), { recursive: true });
  await mkdir(dirname(pointer), { recursive: true });
  await createCachedirTag(cacheDir);
  await writeRef(storage, revision, meta.commitHash);

  const lockPath = join(cacheDir, '.locks', repoFolderName(repoId, repoType), `${meta.etag}.finetune.lock`);
  const m = meta;
  await withFileLock(lockPath, async () => {
    if (!force && existsSync(blob)) {
      if (!isFile(pointer)) await createSymlink(blob, pointer, false);
      return;
    }
    await downloadToTmpAndMove({
      repoId,
      filename: fname,
      incompletePath: `${blob}.incomplete`,
      destinationPath: blob,
      meta: m,
      forceDownload: force,
      onProgress: opts.onProgress,
      retry,
      downloadTimeoutS: opts.downloadTimeoutS ?? downloadTimeoutS(),
      context,
    });
    if (!isFile(pointer)) await createSymlink(blob, pointer, true);
  });
  return pointer;
}

export interface ResolveModelFileOptions extends HubDownloadOptions {
  /**
   * The file may legitimately be missing (e.g. `generation_config.json`): return `null` when the repo or local
   * directory does not have it, or when it is not cached and cannot be fetched, instead of throwing.
   */
  optional?: boolean;
}

/**
 * Path of `filename` for `fromPretrained`-style loading: `repoOrDir` is a local directory (used as is, offline)
 * or a Hub repo id (downloaded through the cache with {@link hfHubDownload}).
 */
export async function resolveModelFile(
  repoOrDir: string,
  filename: string,
  opts: ResolveModelFileOptions & { optional: true },
): Promise<string | null>;
export async function resolveModelFile(
  repoOrDir: string,
  filename: string,
  opts?: ResolveModelFileOptions,
): Promise<string>;
export async function resolveModelFile(
  repoOrDir: string,
  filename: string,
  opts: ResolveModelFileOptions = {},
): Promise<string | null> {
  const { optional, ...rest } = opts;
  try {
    return await hfHubDownload(repoOrDir, filename, rest);
  } catch (e) {
    if (optional === true && (e instanceof EntryNotFoundError || e instanceof LocalEntryNotFoundError)) return null;
    throw e;
  }
}

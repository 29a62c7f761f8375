/**
 * The cache layout of `huggingface_hub`, shared with Python:
 *
 * ```
 * {HF_HUB_CACHE}/models--ORG--NAME/
 *   blobs/<etag>                                 file contents (git sha1, or sha256 for LFS files)
 *   refs/<revision>                              the commit hash a branch or tag resolved to
 *   snapshots/<commit>/<filename>                relative symlink to ../../blobs/<etag>
 *   .no_exist/<commit>/<filename>                empty: the file is known not to exist at that commit
 * ```
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

import {
  DEFAULT_REVISION,
  REPO_ID_SEPARATOR,
  REPO_TYPE_URL_PREFIXES,
  hubCacheDir,
  type RepoType,
} from './constants.js';
import { HFValidationError } from './errors.js';

/** Returned by {@link tryToLoadFromCache} when the cache records that the file does not exist at that revision. */
export const CACHED_NO_EXIST: unique symbol = Symbol('CACHED_NO_EXIST');
export type CachedNoExist = typeof CACHED_NO_EXIST;

/** Full 40-hex commit hash (`REGEX_COMMIT_HASH`). */
export const REGEX_COMMIT_HASH = /^[0-9a-f]{40}$/;
/** An LFS etag: a SHA-256 in hex (`REGEX_SHA256`). */
export const REGEX_SHA256 = /^[0-9a-f]{64}$/;
const REPO_ID_REGEX = /^(?:[\w.-]+\/)?[\w.-]{1,96}$/;

/** `validate_repo_id`: `name` or `namespace/name`, `[A-Za-z0-9_.-]`, no `--` or `..`, not starting/ending with `-`/`.`, ≤ 96. */
export function validateRepoId(repoId: string): void {
  if (typeof repoId !== 'string' || repoId === '')
    throw new HFValidationError(`Repo id must be a non-empty string, got '${String(repoId)}'.`, { repoId });
  if (repoId.split('/').length > 2) {
    throw new HFValidationError(
      `Repo id must be in the form 'repo_name' or 'namespace/repo_name': '${repoId}' (and it is not an existing local directory).`,
      { repoId },
    );
  }
  const boundaries = repoId.split('/').every((part) => /^\w/.test(part) && /\w$/.test(part));
  if (!REPO_ID_REGEX.test(repoId) || !boundaries) {
    throw new HFValidationError(
      "Repo id must use alphanumeric chars, '-', '_' or '.'. The name cannot start or end with '-' or '.' and the " +
        `maximum length is 96: '${repoId}'.`,
      { repoId },
    );
  }
  if (repoId.includes('--') || repoId.includes('..'))
    throw new HFValidationError(`Cannot have -- or .. in repo_id: '${repoId}'.`, { repoId });
  if (repoId.endsWith('.git')) throw new HFValidationError(`Repo_id cannot end by '.git': '${repoId}'.`, { repoId });
}

/**
 * `_validate_relative_filename`, a little stricter: a repo file name is a relative POSIX path; `..` segments,
 * absolute paths, Windows drives/UNC paths and backslashes are refused, as are empty names and NUL bytes.
 */
export function validateFilename(filename: string): void {
  if (typeof filename !== 'string' || filename === '')
    throw new HFValidationError(`Invalid filename '${String(filename)}': it must be a non-empty string.`, { filename });
  if (filename.includes('\0'))
    throw new HFValidationError(`Invalid filename '${filename}': cannot contain a NUL byte.`, { filename });
  if (filename.includes('\\')) {
    throw new HFValidationError(`Invalid filename '${filename}': cannot contain a backslash (repo paths use '/').`, {
      filename,
    });
  }
  if (filename.split('/').includes('..')) {
    throw new HFValidationError(`Invalid filename '${filename}': cannot contain a '..' path segment.`, { filename });
  }
  if (filename.startsWith('/') || /^[A-Za-z]:/.test(filename) || isAbsolute(filename)) {
    throw new HFValidationError(`Invalid filename '${filename}': cannot be an absolute, drive-relative or UNC path.`, {
      filename,
    });
  }
  if (filename.split('/').some((part) => part === '' || part === '.')) {
    throw new HFValidationError(`Invalid filename '${filename}': empty or '.' path segment.`, { filename });
  }
}

/** A revision (branch, tag, `refs/pr/1`, commit) must be usable as a path under `refs/` and `snapshots/`. */
export function validateRevision(revision: string): void {
  if (typeof revision !== 'string' || revision === '')
    throw new HFValidationError(`Invalid revision '${String(revision)}'.`, { revision });
  if (
    revision.includes('\\') ||
    revision.includes('\0') ||
    revision.startsWith('/') ||
    /^[A-Za-z]:/.test(revision) ||
    revision.split('/').some((p) => p === '' || p === '.' || p === '..')
  ) {
    throw new HFValidationError(
      `Invalid revision '${revision}': it must be a branch, tag or commit name without '..', '\\' or a leading '/'.`,
      { revision },
    );
  }
}

/** A value from a server header that becomes one path component (etag, commit hash). */
export function isSafePathComponent(value: string): boolean {
  return /^[\w.-]+$/.test(value) && value !== '.' && value !== '..';
}

/**
 * Whether a name is written as a path, never as a Hub repo id: it starts with `/`, `.` or `~`, has a backslash or a
 * drive letter, or more than one `/` (a repo id is `name` or `namespace/name`).
 */
export function looksLikeLocalPath(s: string): boolean {
  return (
    s.startsWith('/') ||
    s.startsWith('.') ||
    s.startsWith('~') ||
    s.includes('\\') ||
    /^[A-Za-z]:/.test(s) ||
    s.split('/').length > 2
  );
}

/** `repo_folder_name`: `models--ORG--NAME` (`datasets--…`, `spaces--…`). */
export function repoFolderName(repoId: string, repoType: RepoType = 'model'): string {
  return [`${repoType}s`, ...repoId.split('/')].join(REPO_ID_SEPARATOR);
}

/** Python's `urllib.parse.quote(s, safe)`: everything but `A-Za-z0-9_.-~` and `safe` is percent-encoded (UTF-8). */
export function pyQuote(s: string, safe = '/'): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out +=
      /[A-Za-z0-9_.~-]/.test(ch) || (byte < 128 && safe.includes(ch))
        ? ch
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** `hf_hub_url`: `{endpoint}/{repo_id}/resolve/{revision}/{filename}` (revision fully encoded, filename keeps `/`). */
export function hfHubUrl(
  repoId: string,
  filename: string,
  opts: { revision?: string; endpoint?: string; repoType?: RepoType } = {},
): string {
  const endpoint = (opts.endpoint ?? '').replace(/\/+$/, '');
  const prefix = REPO_TYPE_URL_PREFIXES[opts.repoType ?? 'model'];
  return `${endpoint}/${prefix}${repoId}/resolve/${pyQuote(opts.revision ?? DEFAULT_REVISION, '')}/${pyQuote(filename)}`;
}

export interface CacheLocation {
  /** Hub cache directory (default: `HF_HUB_CACHE`). */
  cacheDir?: string;
  repoType?: RepoType;
}

/** The folder of one repository in the cache: `{cacheDir}/models--ORG--NAME`. */
export function repoCachePath(repoId: string, opts: CacheLocation = {}): string {
  validateRepoId(repoId);
  return join(resolve(opts.cacheDir ?? hubCacheDir()), repoFolderName(repoId, opts.repoType));
}

/** `_get_pointer_path`: `{storage}/snapshots/{revision}/{filename}`, refusing anything that escapes `snapshots/`. */
export function pointerPath(storageFolder: string, revision: string, filename: string): string {
  const snapshots = resolve(storageFolder, 'snapshots');
  const pointer = resolve(snapshots, revision, ...filename.split('/'));
  const rel = relative(snapshots, pointer);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || rel.split(sep).length < 2) {
    throw new HFValidationError(
      `Invalid pointer path: revision '${revision}' and filename '${filename}' leave the snapshots folder of ${storageFolder}.`,
      { revision, filename },
    );
  }
  return pointer;
}

/**
 * Path of a snapshot (a commit) in the cache, or of one file in it:
 * `{cacheDir}/models--ORG--NAME/snapshots/{commitHash}[/{filename}]`. Pure: it does not check the disk.
 */
export function snapshotPath(repoId: string, commitHash: string, filename?: string, opts: CacheLocation = {}): string {
  validateRevision(commitHash);
  const storage = repoCachePath(repoId, opts);
  if (filename === undefined) return join(storage, 'snapshots', commitHash);
  validateFilename(filename);
  return pointerPath(storage, commitHash, filename);
}

/** Path of a blob: `{cacheDir}/models--ORG--NAME/blobs/{etag}`. */
export function blobPath(repoId: string, etag: string, opts: CacheLocation = {}): string {
  if (!isSafePathComponent(etag)) throw new HFValidationError(`Invalid etag '${etag}'.`, { repoId });
  return join(repoCachePath(repoId, opts), 'blobs', etag);
}

/** The commit hash `refs/{revision}` records, or the revision itself when it is a full commit hash; else `null`. */
export function readRef(storageFolder: string, revision: string): string | null {
  if (REGEX_COMMIT_HASH.test(revision)) return revision;
  try {
    const commit = readFileSync(join(storageFolder, 'refs', ...revision.split('/')), 'utf8').trim();
    return commit !== '' && isSafePathComponent(commit) ? commit : null;
  } catch {
    return null;
  }
}

/**
 * `try_to_load_from_cache`: the cached file of `repoId` at `revision` (default `main`, resolved through
 * `refs/`), without any request. Returns `null` when not cached and {@link CACHED_NO_EXIST} when the cache
 * records that the file does not exist at that revision. Never returns a file from another revision.
 */
export function tryToLoadFromCache(
  repoId: string,
  filename: string,
  revision?: string,
  opts: CacheLocation = {},
): string | CachedNoExist | null {
  const rev = revision ?? DEFAULT_REVISION;
  validateRevision(rev);
  validateFilename(filename);
  const storage = repoCachePath(repoId, opts);
  if (!isDir(storage)) return null;
  let commit = rev;
  try {
    const ref = readFileSync(join(storage, 'refs', ...rev.split('/')), 'utf8').trim();
    if (ref !== '' && isSafePathComponent(ref)) commit = ref;
  } catch {
    // not a known branch or tag: maybe a commit hash
  }
  if (isFile(join(storage, '.no_exist', commit, ...filename.split('/')))) return CACHED_NO_EXIST;
  if (!existsSync(join(storage, 'snapshots', commit))) return null;
  const cached = pointerPath(storage, commit, filename);
  return isFile(cached) ? cached : null;
}

export function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** A regular file, following symlinks (a dangling snapshot link is not a file). */
export function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * Settings of the Hugging Face Hub client, read from the same environment variables as Python's
 * `huggingface_hub` (`huggingface_hub/constants.py`), so that both share one cache and one login.
 *
 * Unlike Python, which reads them once at import, they are read at each call.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_REVISION = 'main';
/** `{endpoint}/{repo_id}/resolve/{revision}/{filename}`, as `HUGGINGFACE_CO_URL_TEMPLATE`. */
export const URL_TEMPLATE = '{endpoint}/{repo_id}/resolve/{revision}/{filename}';
export const REPO_ID_SEPARATOR = '--';
export const HEADER_X_REPO_COMMIT = 'X-Repo-Commit';
export const HEADER_X_LINKED_ETAG = 'X-Linked-Etag';
export const HEADER_X_LINKED_SIZE = 'X-Linked-Size';
export const DEFAULT_ETAG_TIMEOUT_S = 10;
export const DEFAULT_DOWNLOAD_TIMEOUT_S = 10;
/** Files larger than this get a progress line on stderr (when it is a TTY and no callback is given). */
export const PROGRESS_MIN_BYTES = 10 * 1024 * 1024;
export const CACHEDIR_TAG_CONTENT =
  'Signature: 8a477f597d28d172789f06886806bc55\n' +
  '# This file is a cache directory tag created by huggingface_hub.\n' +
  '# For information about cache directory tags, see:\n' +
  '#\thttps://bford.info/cachedir/\n';

export type RepoType = 'model' | 'dataset' | 'space';
export const REPO_TYPE_URL_PREFIXES: Record<RepoType, string> = { model: '', dataset: 'datasets/', space: 'spaces/' };

const TRUE_VALUES = new Set(['1', 'ON', 'YES', 'TRUE']);

/** `_is_true`: 1/ON/YES/TRUE in any case. */
export function envIsTrue(value: string | undefined): boolean {
  return value !== undefined && TRUE_VALUES.has(value.trim().toUpperCase());
}

function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** `os.path.expandvars(os.path.expanduser(p))`: a leading `~` and `$VAR` / `${VAR}` (unknown ones are kept). */
export function expandPath(p: string): string {
  let out = p;
  if (out === '~' || out.startsWith('~/') || out.startsWith('~\\')) out = homedir() + out.slice(1);
  return out.replace(/\$(\w+)|\$\{([^}]+)\}/g, (m, a: string | undefined, b: string | undefined) => {
    const v = process.env[(a ?? b)!];
    return v === undefined ? m : v;
  });
}

/** `HF_HOME`, default `$XDG_CACHE_HOME/huggingface` or `~/.cache/huggingface`. */
export function hfHome(): string {
  const home = env('HF_HOME') ?? join(env('XDG_CACHE_HOME') ?? join(homedir(), '.cache'), 'huggingface');
  return resolve(expandPath(home));
}

/** `HF_HUB_CACHE` (legacy `HUGGINGFACE_HUB_CACHE`), default `$HF_HOME/hub`. */
export function hubCacheDir(): string {
  const dir = env('HF_HUB_CACHE') ?? env('HUGGINGFACE_HUB_CACHE') ?? join(hfHome(), 'hub');
  return resolve(expandPath(dir));
}

/** `HF_ENDPOINT`, default https://huggingface.co, without a trailing slash. */
export function hubEndpoint(): string {
  return (env('HF_ENDPOINT') ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
}

/** `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) is 1/ON/YES/TRUE. */
export function isOfflineMode(): boolean {
  return envIsTrue(env('HF_HUB_OFFLINE') ?? env('TRANSFORMERS_OFFLINE'));
}

function cleanToken(token: string | undefined): string | undefined {
  if (token === undefined) return undefined;
  const t = token.replace(/[\r\n]/g, '').trim();
  return t === '' ? undefined : t;
}

/** `HF_TOKEN_PATH`, default `$HF_HOME/token` (written by `hf auth login`). */
export function hfTokenPath(): string {
  return resolve(expandPath(env('HF_TOKEN_PATH') ?? join(hfHome(), 'token')));
}

/**
 * The token `huggingface_hub.get_token()` would use: `HF_TOKEN`, then `HUGGING_FACE_HUB_TOKEN`, then the
 * token file of `hf auth login`. `undefined` when not logged in.
 */
export function getHfToken(): string | undefined {
  const fromEnv = cleanToken(env('HF_TOKEN') ?? env('HUGGING_FACE_HUB_TOKEN'));
  if (fromEnv !== undefined) return fromEnv;
  try {
    return cleanToken(readFileSync(hfTokenPath(), 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * The token to send: an explicit string wins; `false` sends none; otherwise the implicit token unless
 * `HF_HUB_DISABLE_IMPLICIT_TOKEN` is set (as `build_hf_headers(token=None)`).
 */
export function resolveToken(token: string | boolean | undefined): string | undefined {
  if (typeof token === 'string') return cleanToken(token);
  if (token === false) return undefined;
  if (token === undefined && envIsTrue(env('HF_HUB_DISABLE_IMPLICIT_TOKEN'))) return undefined;
  return getHfToken();
}

function envSeconds(name: string, fallback: number): number {
  const v = Number(env(name));
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

/** `HF_HUB_ETAG_TIMEOUT` seconds (default 10): limit of the metadata (HEAD) request. */
export function etagTimeoutS(): number {
  return envSeconds('HF_HUB_ETAG_TIMEOUT', DEFAULT_ETAG_TIMEOUT_S);
}

/** `HF_HUB_DOWNLOAD_TIMEOUT` seconds (default 10): the longest a download may go without receiving a byte. */
export function downloadTimeoutS(): number {
  return envSeconds('HF_HUB_DOWNLOAD_TIMEOUT', DEFAULT_DOWNLOAD_TIMEOUT_S);
}

/** `HF_HUB_DISABLE_PROGRESS_BARS` is set true. */
export function progressBarsDisabled(): boolean {
  return envIsTrue(env('HF_HUB_DISABLE_PROGRESS_BARS'));
}

/**
 * HTTP side of the hub client: the metadata (HEAD) call and the Hub's error codes, after
 * `get_hf_file_metadata` and `hf_raise_for_status` of `huggingface_hub`. Uses the global `fetch`.
 */
import { HEADER_X_LINKED_ETAG, HEADER_X_LINKED_SIZE, HEADER_X_REPO_COMMIT } from './constants.js';
import {
  EntryNotFoundError,
  GatedRepoError,
  HfHubHTTPError,
  RepositoryNotFoundError,
  RevisionNotFoundError,
  type HubErrorContext,
} from './errors.js';

export const USER_AGENT = `finetune-hub (huggingface_hub-compatible); node/${process.versions.node}`;

/** Request headers: user agent, `Accept-Encoding: identity` (sizes and byte ranges are those of the file), token. */
export function buildHeaders(token: string | undefined): Record<string, string> {
  const headers: Record<string, string> = { 'user-agent': USER_AGENT, 'accept-encoding': 'identity' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  return headers;
}

/** `_normalize_etag`: drops a leading `W/` and the quotes. */
export function normalizeEtag(etag: string | null | undefined): string | null {
  if (etag === null || etag === undefined) return null;
  return etag.replace(/^W\//, '').replace(/^"+|"+$/g, '');
}

function intOrNull(v: string | null): number | null {
  if (v === null || !/^\d+$/.test(v.trim())) return null;
  return Number(v.trim());
}

export interface HfFileMetadata {
  /** `X-Repo-Commit`. */
  commitHash: string | null;
  /** `X-Linked-Etag` (the SHA-256 of an LFS file) or else `ETag`, normalized. */
  etag: string | null;
  /** Whether the etag came from `X-Linked-Etag` (an LFS/Xet file whose etag is its SHA-256). */
  linked: boolean;
  /** Where to download from: the CDN `Location` of a redirect, or the (possibly renamed) resolve URL. */
  location: string;
  /** `X-Linked-Size`, or `Content-Length` when not redirected. */
  size: number | null;
}

/** A failure to reach the server at all (connection refused, DNS, reset, timeout). */
export class NetworkError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NetworkError';
  }
}

/** `fetch` that reports transport failures as {@link NetworkError} with the underlying reason. */
export async function hubFetch(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    throw new NetworkError(`Request to ${url} failed: ${describeFetchError(e)}`, { cause: e });
  }
}

export function describeFetchError(e: unknown): string {
  if (e instanceof Error) {
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return `timed out (${e.message})`;
    const cause = (e as { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as { code?: string }).code;
      return `${e.message}: ${code ? `${code} ` : ''}${cause.message}`;
    }
    return e.message;
  }
  return String(e);
}

/**
 * `hf_raise_for_status`: throws the error matching the Hub's `X-Error-Code` (`RepoNotFound`,
 * `RevisionNotFound`, `EntryNotFound`, `GatedRepo`) or status. 3xx and 2xx pass. `tokenSent` tunes the advice.
 */
export function raiseForStatus(
  response: Response,
  url: string,
  context: HubErrorContext & { tokenSent: boolean },
): void {
  const status = response.status;
  if (status < 400) return;
  const errorCode = response.headers.get('x-error-code') ?? undefined;
  const serverMessage = response.headers.get('x-error-message') ?? undefined;
  const requestId = response.headers.get('x-request-id') ?? undefined;
  const commitHash = response.headers.get(HEADER_X_REPO_COMMIT) ?? undefined;
  const init = {
    status,
    url,
    errorCode,
    requestId,
    commitHash,
    repoId: context.repoId,
    filename: context.filename,
    revision: context.revision,
  };
  const where = describe(context);
  const suffix =
    (requestId ? ` (Request ID: ${requestId})` : '') + (serverMessage ? `\nServer message: ${serverMessage}` : '');
  const tokenAdvice = context.tokenSent
    ? 'The token that was sent (the `token` option, HF_TOKEN or the `hf auth login` token file) does not give access to it.'
    : 'No token was sent: if the repo is private or gated, set HF_TOKEN (or pass the `token` option) to a token with access to it.';

  if (errorCode === 'RevisionNotFound') {
    throw new RevisionNotFoundError(
      `${status} Revision Not Found: revision '${context.revision}' does not exist in ${where}, for url ${url}.${suffix}`,
      init,
    );
  }
  if (errorCode === 'EntryNotFound') {
    throw new EntryNotFoundError(
      `${status} Entry Not Found: file '${context.filename}' does not exist in repo '${context.repoId}' at revision '${context.revision}', for url ${url}.${suffix}`,
      init,
    );
  }
  if (errorCode === 'GatedRepo') {
    throw new GatedRepoError(
      `${status} Cannot access gated repo '${context.repoId}' for url ${url}: accept its conditions on the Hub, then ` +
        `authenticate with HF_TOKEN (or the \`token\` option). ${context.tokenSent ? tokenAdvice : ''}${suffix}`,
      init,
    );
  }
  if (status === 401 && serverMessage === 'Invalid credentials in Authorization header') {
    throw new HfHubHTTPError(
      `401 Unauthorized: the token is invalid, for url ${url}. Check HF_TOKEN (or the \`token\` option).${suffix}`,
      init,
    );
  }
  if (
    errorCode === 'RepoNotFound' ||
    errorCode === 'RepositoryNotFound' ||
    (status === 401 && context.repoId !== undefined)
  ) {
    throw new RepositoryNotFoundError(
      `${status} Repository Not Found: ${where}, for url ${url}. Make sure the repo id is correct (namespace/name). ` +
        `${tokenAdvice}${suffix}`,
      init,
    );
  }
  if (status === 403) {
    throw new HfHubHTTPError(
      `403 Forbidden: cannot access ${url}. Make sure your token (HF_TOKEN or the \`token\` option) has the correct permissions.${suffix}`,
      init,
    );
  }
  if (status === 404) {
    throw new HfHubHTTPError(`404 Not Found: ${url} (${where}).${suffix}`, init);
  }
  if (status === 401) {
    throw new HfHubHTTPError(`401 Unauthorized: ${url}. ${tokenAdvice}${suffix}`, init);
  }
  throw new HfHubHTTPError(
    `${status} ${response.statusText || 'HTTP error'} for url ${url} (${where}).${suffix}`,
    init,
  );
}

function describe(c: HubErrorContext): string {
  return `repo '${c.repoId ?? '?'}'` + (c.revision !== undefined ? ` (revision '${c.revision}')` : '');
}

/** Statuses worth retrying (`_DEFAULT_RETRY_ON_STATUS_CODES`). */
export const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

/**
 * `get_hf_file_metadata`: HEAD on the resolve URL without following redirects, except relative ones (a renamed
 * repo); the `Location` of an absolute redirect (the CDN of LFS files) is where to download from.
 */
export async function getHfFileMetadata(
  url: string,
  opts: { headers: Record<string, string>; timeoutS: number; context: HubErrorContext & { tokenSent: boolean } },
): Promise<HfFileMetadata> {
  let current = url;
  for (let hops = 0; ; hops++) {
    const res = await hubFetch(current, {
      method: 'HEAD',
      headers: opts.headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(opts.timeoutS * 1000),
    });
    await res.body?.cancel().catch(() => undefined);
    raiseForStatus(res, current, opts.context);
    const location = res.headers.get('location');
    const isRedirect = res.status >= 300 && res.status < 400;
    if (isRedirect && location !== null && hops < 10 && !/^[a-z][a-z0-9+.-]*:|^\/\//i.test(location)) {
      // Relative redirect: the repo was renamed; follow it (Python keeps the query of the original URL out too).
      current = new URL(location, current).toString();
      continue;
    }
    const linkedEtag = res.headers.get(HEADER_X_LINKED_ETAG);
    return {
      commitHash: res.headers.get(HEADER_X_REPO_COMMIT),
      etag: normalizeEtag(linkedEtag ?? res.headers.get('etag')),
      linked: linkedEtag !== null,
      location: isRedirect && location !== null ? new URL(location, current).toString() : current,
      size:
        intOrNull(res.headers.get(HEADER_X_LINKED_SIZE)) ??
        (isRedirect ? null : intOrNull(res.headers.get('content-length'))),
    };
  }
}

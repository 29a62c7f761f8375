/**
 * Errors of the Hub client, named after `huggingface_hub.errors` so that code ported from Python reads the same.
 */

export interface HubErrorContext {
  repoId?: string;
  filename?: string;
  revision?: string;
}

/** Base of every error thrown by `finetune`'s hub client. */
export class HubError extends Error {
  readonly repoId?: string;
  readonly filename?: string;
  readonly revision?: string;

  constructor(message: string, context: HubErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.repoId = context.repoId;
    this.filename = context.filename;
    this.revision = context.revision;
  }
}

/** An invalid repo id, file name or revision (Python: `HFValidationError` / `ValueError`). Thrown before any request. */
export class HFValidationError extends HubError {}

/** An HTTP error answered by the Hub (or its CDN). */
export class HfHubHTTPError extends HubError {
  readonly status: number;
  readonly url: string;
  /** The `X-Error-Code` header, when the Hub sent one. */
  readonly errorCode?: string;
  /** The `X-Request-Id` header, to quote when reporting a problem to Hugging Face. */
  readonly requestId?: string;
  /** The `X-Repo-Commit` header, when sent (the Hub sends it with `EntryNotFound`). */
  readonly commitHash?: string;

  constructor(
    message: string,
    init: {
      status: number;
      url: string;
      errorCode?: string;
      requestId?: string;
      commitHash?: string;
    } & HubErrorContext,
    options?: { cause?: unknown },
  ) {
    super(message, init, options);
    this.status = init.status;
    this.url = init.url;
    this.errorCode = init.errorCode;
    this.requestId = init.requestId;
    this.commitHash = init.commitHash;
  }
}

/** The repository does not exist, or is private/gated and the token (if any) gives no access (404 or 401). */
export class RepositoryNotFoundError extends HfHubHTTPError {}

/** The repository is gated: accept its conditions on the Hub and authenticate (`HF_TOKEN`). */
export class GatedRepoError extends RepositoryNotFoundError {}

/** The repository exists but the revision (branch, tag or commit) does not. */
export class RevisionNotFoundError extends HfHubHTTPError {}

/** The repository and revision exist but the file does not (Python: `RemoteEntryNotFoundError`). */
export class EntryNotFoundError extends HfHubHTTPError {}

/**
 * The file is not in the local cache (or local directory) and may not be fetched: offline mode, or the Hub
 * could not be reached.
 */
export class LocalEntryNotFoundError extends HubError {}

/** The Hub answered without the metadata a download needs (commit, ETag, size): likely a proxy or firewall. */
export class FileMetadataError extends HubError {}

/** A downloaded file does not match its expected size or its SHA-256 (LFS files). Nothing was cached. */
export class FileIntegrityError extends HubError {}

/**
 * Hugging Face Hub client (the hub/io layer): downloads repo files into the cache that Python's
 * `huggingface_hub` uses, with the same layout and environment variables. No tensors here.
 */
export {
  DEFAULT_ENDPOINT,
  DEFAULT_REVISION,
  getHfToken,
  hfHome,
  hubCacheDir,
  hubEndpoint,
  isOfflineMode,
  type RepoType,
} from './constants.js';
export {
  EntryNotFoundError,
  FileIntegrityError,
  FileMetadataError,
  GatedRepoError,
  HFValidationError,
  HfHubHTTPError,
  HubError,
  LocalEntryNotFoundError,
  RepositoryNotFoundError,
  RevisionNotFoundError,
  type HubErrorContext,
} from './errors.js';
export { normalizeEtag } from './http.js';
export {
  CACHED_NO_EXIST,
  blobPath,
  hfHubUrl,
  looksLikeLocalPath,
  repoCachePath,
  repoFolderName,
  snapshotPath,
  tryToLoadFromCache,
  validateFilename,
  validateRepoId,
  type CacheLocation,
  type CachedNoExist,
} from './paths.js';
export { type DownloadProgress, type ProgressCallback } from './progress.js';
export {
  hfHubDownload,
  resolveModelFile,
  type HubDownloadOptions,
  type ResolveModelFileOptions,
  type RetryOptions,
} from './download.js';

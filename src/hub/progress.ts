/** Download progress: the callback type and the default stderr line. */
import { PROGRESS_MIN_BYTES, progressBarsDisabled } from './constants.js';

export interface DownloadProgress {
  repoId: string;
  /** The file name in the repo. */
  filename: string;
  /** Bytes on disk so far, including those of a resumed partial download. */
  downloaded: number;
  /** Expected size in bytes, when known. */
  total: number | null;
  /** `true` on the last call, once every byte is on disk (before the integrity check). */
  done: boolean;
}

export type ProgressCallback = (progress: DownloadProgress) => void;

function mb(n: number): string {
  return (n / 1e6).toFixed(1);
}

/**
 * The progress line `hfHubDownload` prints on stderr when no callback is given, the file is larger than
 * 10 MB, stderr is a terminal and `HF_HUB_DISABLE_PROGRESS_BARS` is not set. Redrawn at most 10 times a second.
 */
export function defaultProgress(total: number | null): ProgressCallback | undefined {
  const stderr = process.stderr;
  if (!stderr.isTTY || progressBarsDisabled() || total === null || total <= PROGRESS_MIN_BYTES) return undefined;
  const start = Date.now();
  let startBytes = -1;
  let last = 0;
  return (p) => {
    if (startBytes < 0) startBytes = p.downloaded;
    const now = Date.now();
    if (!p.done && now - last < 100) return;
    last = now;
    const name = p.filename.length > 40 ? `(…)${p.filename.slice(-40)}` : p.filename;
    const pct = p.total ? Math.floor((100 * p.downloaded) / p.total) : 0;
    const secs = Math.max((now - start) / 1000, 1e-3);
    const rate = (p.downloaded - startBytes) / secs;
    stderr.write(
      `\r${name}: ${String(pct).padStart(3)}% ${mb(p.downloaded)}/${mb(p.total ?? 0)} MB ${mb(rate)} MB/s\x1b[K`,
    );
    if (p.done) stderr.write('\n');
  };
}

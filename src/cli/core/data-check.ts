/**
 * How the CLI checks data before it trains or evaluates on it: image folders are verified up front
 * (by default every image is decoded once, so a corrupt file anywhere stops the command before it
 * starts, not silently after --max-steps), with a progress bar on a terminal for large folders;
 * the pixel limit (--max-image-pixels); and what --skip-bad-rows left out, said on stderr.
 */
import {
  ImageFolderDataset,
  MAX_IMAGE_PIXELS,
  type ImageLimits,
  type SkippedFile,
  type SkippedRow,
  type Transform,
} from '../../data/index.js';
import type { Tensor } from '../../tensor/index.js';
import { formatInteger } from '../../report/format.js';
import { progressBar, type OutputStream } from '../../train/progress.js';
import { UsageError, type FlagTable, type Options } from './flags.js';

const VERIFY_CHOICES = ['decode', 'header'] as const;

/** The flags of every command that reads an image folder. */
export const IMAGE_CHECK_FLAGS: FlagTable = {
  'verify-images': {
    kind: 'string',
    choices: VERIFY_CHOICES,
    group: 'Data',
    help: 'how image files are checked before the run: decode (default: each is decoded once, so a corrupt file stops the command before it starts) or header (header, data size and end only: faster for large folders)',
  },
  'max-image-pixels': {
    kind: 'integer',
    arg: 'N',
    group: 'Data',
    help: `refuse images with more pixels than N, from their header (default ${formatInteger(MAX_IMAGE_PIXELS)}: PIL's decompression-bomb limit, twice Image.MAX_IMAGE_PIXELS)`,
  },
};

/** --max-image-pixels as decoding limits (a usage error unless a positive integer). */
export function imageLimits(options: Options): ImageLimits {
  const given = options['max-image-pixels'];
  if (given === undefined) return {};
  if (!(typeof given === 'number' && Number.isSafeInteger(given) && given > 0))
    throw new UsageError(`--max-image-pixels must be a positive integer, got ${String(given)}`);
  return { maxImagePixels: given };
}

/** Folders with fewer images are checked without a progress bar (it would flash). */
const PROGRESS_FROM = 200;

/** A callback drawing "checking images ▕███ ▏ 1,234/5,000" in place on a terminal (nothing elsewhere), erased when done. */
export function verifyProgress(
  what: string,
  stream: OutputStream = process.stderr,
): (checked: number, total: number) => void {
  let last = 0;
  return (checked, total) => {
    if (stream.isTTY !== true || total < PROGRESS_FROM) return;
    const now = Date.now();
    if (checked === total) {
      stream.write('\r\x1b[K');
      return;
    }
    if (now - last < 100) return;
    last = now;
    stream.write(
      `\r\x1b[Kchecking ${what} ▕${progressBar(checked / total, 30)}▏ ${formatInteger(checked)}/${formatInteger(total)}`,
    );
  };
}

/** Bad rows or files named on stderr after a --skip-bad-rows run left them out. */
const LISTED_SKIPPED = 5;

/** Says on stderr how many bad rows or files --skip-bad-rows left out of `source`, and which (the first few). */
export function reportSkipped(
  source: string,
  kind: 'row' | 'file',
  skipped: readonly { where: string; reason: string }[],
): void {
  if (skipped.length === 0) return;
  const lines = skipped.slice(0, LISTED_SKIPPED).map((s) => `  ${s.where}: ${s.reason}`);
  if (skipped.length > LISTED_SKIPPED) lines.push(`  … and ${formatInteger(skipped.length - LISTED_SKIPPED)} more`);
  console.error(
    `note: --skip-bad-rows left out ${formatInteger(skipped.length)} bad ${kind}${skipped.length === 1 ? '' : 's'} of ${source}:\n${lines.join('\n')}`,
  );
}

/** Skipped table rows as reportSkipped lists them (`file:line`). */
export function skippedRowsOf(file: string, rows: readonly SkippedRow[]): { where: string; reason: string }[] {
  return rows.map((row) => ({ where: `${file}:${row.line}`, reason: row.reason }));
}

/** Skipped image files as reportSkipped lists them. */
function skippedFilesOf(files: readonly SkippedFile[]): { where: string; reason: string }[] {
  return files.map((file) => ({ where: file.path, reason: file.reason }));
}

/** An image folder as the CLI reads it: verified as --verify-images says (with a progress bar), under --max-image-pixels, bad files an error or (--skip-bad-rows) left out and listed. */
export function readImageFolder<I>(
  folder: string,
  options: Options,
  transform: Transform<Tensor, I>,
): ImageFolderDataset<I> {
  const verify = options['verify-images'] ?? 'decode';
  if (!VERIFY_CHOICES.includes(verify as never))
    throw new UsageError(`--verify-images must be one of ${VERIFY_CHOICES.join(', ')}, got '${String(verify)}'`);
  const dataset = ImageFolderDataset.fromFolder<I>(folder, {
    transform,
    verify: verify as 'decode' | 'header',
    onBadFile: options['skip-bad-rows'] === true ? 'skip' : 'error',
    onVerifyProgress: verifyProgress(`the images of ${folder}`),
    ...imageLimits(options),
  });
  reportSkipped(folder, 'file', skippedFilesOf(dataset.skipped));
  return dataset;
}

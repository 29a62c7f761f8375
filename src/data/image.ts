/**
 * The image-folder dataset (torchvision's ImageFolder) and image tensors. Decoding is in
 * decode.ts (re-exported here); see there for the decoders and how they match PIL.
 */
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, extname, join, relative } from 'node:path';

import { fromTypedArray, tidy, type Tensor } from '../tensor/index.js';
import { checkIndex, type Dataset } from './dataset.js';
import { BadImageError, decodeImage, inspectImageFile, loadImage, maxImageFileBytes, maxImagePixels, readImageFile, type DecodedImage, type ImageLimits } from './decode.js';
import { DecodePool } from './decode-pool.js';
import { DataFileError, readDataFile } from './read-file.js';
import type { Transform } from './transforms.js';

export { BadImageError, decodeImage, imageFormat, inspectImageFile, loadImage, MAX_IMAGE_PIXELS } from './decode.js';
export type { DecodedImage, ImageFormat, ImageHeader, ImageLimits } from './decode.js';

/** What an image dataset yields: the (transformed) image and its class index. */
export interface ImageExample<I = Tensor> {
  image: I;
  label: number;
}

/** An H×W×C uint8 tensor of a decoded image (what image datasets give a transform). */
export function imageTensor(image: DecodedImage): Tensor {
  return fromTypedArray(image.data, [image.height, image.width, image.channels], { dtype: 'uint8' });
}

// ---- the image folder ----------------------------------------------------------------------

/** Python's str ordering (by code point), which torchvision's sorted() uses. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const surrogateX = x >= 0xd800 && x <= 0xdfff;
    const surrogateY = y >= 0xd800 && y <= 0xdfff;
    if (surrogateX !== surrogateY) return surrogateX ? 1 : -1; // astral code points sort after the BMP
    return x - y;
  }
  return a.length - b.length;
}

export const IMAGE_EXTENSIONS: readonly string[] = Object.freeze(['.png', '.jpg', '.jpeg']);

export interface ImageFolderOptions<I = Tensor> extends ImageLimits {
  /** Applied to each image, an H×W×3 uint8 tensor (e.g. compose([toTensor(), …])). */
  transform?: Transform<Tensor, I>;
  /** 'error' (default): a bad file stops construction with a list of them; 'skip': left out and counted in `skipped`. */
  onBadFile?: 'error' | 'skip';
  /**
   * How files are checked when the folder is read: 'header' (default) reads each file's header
   * and end (not images, unsupported or truncated files, more pixels than maxImagePixels, less
   * data than the pixels need); 'decode' decodes every file once (also catches corrupt image
   * data; slow); 'none' lists only (errors surface in get()).
   */
  verify?: 'header' | 'decode' | 'none';
  /** Called after each file is checked (verify 'header' or 'decode'), e.g. for a progress bar. */
  onVerifyProgress?: (checked: number, total: number) => void;
  /** Extensions (lower case, with the dot) that count as images; default .png, .jpg, .jpeg. */
  extensions?: readonly string[];
  /**
   * Worker threads that read and decode files for getAsync() (what DataLoader uses), so decoding
   * runs beside the training step rather than between steps; default 0 (decode on the main
   * thread). get() always decodes on the calling thread.
   */
  decodeWorkers?: number;
}

/** One image of the folder. */
export interface ImageSample {
  path: string;
  label: number;
}

function isDirectory(path: string, entry: { isDirectory(): boolean; isSymbolicLink(): boolean }): boolean {
  if (entry.isDirectory()) return true;
  if (!entry.isSymbolicLink()) return false;
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Every file under `dir` (following links, once per real folder) in the order torchvision's sorted(os.walk()) gives. */
function walkFiles(dir: string): string[] {
  const folders: { path: string; files: string[] }[] = [];
  const seen = new Set<string>();
  const visit = (path: string): void => {
    const real = realpathSync(path);
    if (seen.has(real)) return;
    seen.add(real);
    const files: string[] = [];
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const child = join(path, entry.name);
      if (isDirectory(child, entry)) visit(child);
      else files.push(entry.name);
    }
    folders.push({ path, files });
  };
  visit(dir);
  folders.sort((a, b) => compareCodePoints(a.path, b.path));
  return folders.flatMap(({ path, files }) => files.sort(compareCodePoints).map((name) => join(path, name)));
}

/** A file left out of the dataset and why. */
export interface SkippedFile {
  path: string;
  reason: string;
}

/**
 * A folder of images with one sub-folder per class, as torchvision's ImageFolder:
 * `root/<class>/**\/<image>`. Classes are the sub-folder names sorted by code point (Python's
 * sorted()), class indices follow that order, and images are listed in sorted(os.walk()) order.
 * Unlike torchvision, hidden files and folders (names starting with '.', e.g. .ipynb_checkpoints)
 * are ignored, and files with other extensions are bad files rather than silently ignored.
 *
 * `get(i)` returns `{ image, label }`: the image as an H×W×3 uint8 tensor passed through
 * `transform`; tensors created by the transform other than its result are freed.
 */
export class ImageFolderDataset<I = Tensor> implements Dataset<ImageExample<I>> {
  /** Class names, sorted; the label of a class is its index here. */
  readonly classNames: readonly string[];
  /** Class name → label. */
  readonly classToIndex: ReadonlyMap<string, number>;
  /** The images, in order. */
  readonly samples: readonly ImageSample[];
  /** The label of every image (for stratified splits). */
  readonly targets: Int32Array;
  /** Files left out with onBadFile: 'skip'. */
  readonly skipped: readonly SkippedFile[];
  readonly transform?: Transform<Tensor, I>;
  /** The pixel limit images are decoded under (ImageLimits.maxImagePixels). */
  readonly maxImagePixels: number;
  private epoch = 0;
  private readonly pool?: DecodePool;

  constructor(
    readonly root: string,
    init: {
      classNames: readonly string[];
      samples: readonly ImageSample[];
      skipped?: readonly SkippedFile[];
      transform?: Transform<Tensor, I>;
      decodeWorkers?: number;
      maxImagePixels?: number;
    },
  ) {
    this.maxImagePixels = maxImagePixels(init);
    this.pool = init.decodeWorkers ? new DecodePool(init.decodeWorkers, { maxImagePixels: this.maxImagePixels }) : undefined;
    this.classNames = init.classNames;
    this.classToIndex = new Map(init.classNames.map((name, i) => [name, i]));
    this.samples = init.samples;
    this.targets = Int32Array.from(init.samples, (s) => s.label);
    this.skipped = init.skipped ?? [];
    this.transform = init.transform;
  }

  /** Reads the folder's class sub-folders and checks its files (see ImageFolderOptions). */
  static fromFolder<I = Tensor>(root: string, options: ImageFolderOptions<I> = {}): ImageFolderDataset<I> {
    const extensions = (options.extensions ?? IMAGE_EXTENSIONS).map((e) => e.toLowerCase());
    const verify = options.verify ?? 'header';
    const onBadFile = options.onBadFile ?? 'error';
    const limits = { maxImagePixels: maxImagePixels(options) };
    let entries;
    try {
      entries = readdirSync(root, { withFileTypes: true });
    } catch (error) {
      throw new Error(`image folder ${root}: cannot read it: ${(error as Error).message}`, { cause: error });
    }
    const classNames = entries
      .filter((e) => !e.name.startsWith('.') && isDirectory(join(root, e.name), e))
      .map((e) => e.name)
      .sort(compareCodePoints);
    if (classNames.length === 0) throw new Error(`image folder ${root}: no class sub-folders (expected ${join(root, '<class>', '<image>')})`);
    const samples: ImageSample[] = [];
    const bad: SkippedFile[] = [];
    const listed = classNames.flatMap((_, label) => walkFiles(join(root, classNames[label])).map((path) => ({ path, label })));
    const found = new Array<number>(classNames.length).fill(0);
    listed.forEach(({ path, label }, k) => {
      const ext = extname(path).toLowerCase();
      let reason: string | undefined;
      if (!extensions.includes(ext)) {
        reason = `not an image file: extension '${ext || basename(path)}' (expected ${extensions.join(', ')})`;
      } else if (verify !== 'none') {
        try {
          if (verify === 'decode') loadImage(path, limits);
          else inspectImageFile(path, limits);
        } catch (error) {
          reason = error instanceof BadImageError ? error.reason : (error as Error).message;
        }
        options.onVerifyProgress?.(k + 1, listed.length);
      }
      if (reason === undefined) {
        samples.push({ path, label });
        found[label]++;
      } else {
        bad.push({ path, reason });
      }
    });
    const empty = classNames.filter((_, label) => found[label] === 0);
    if (bad.length > 0 && onBadFile === 'error') {
      const shown = bad.slice(0, 10).map((b) => `  ${b.path}: ${b.reason}`);
      if (bad.length > 10) shown.push(`  … and ${bad.length - 10} more`);
      throw new Error(`image folder ${root}: ${bad.length} bad file${bad.length === 1 ? '' : 's'}:\n${shown.join('\n')}\nPass onBadFile: 'skip' to leave them out.`);
    }
    if (empty.length > 0) {
      throw new Error(`image folder ${root}: no valid image in the class folder${empty.length === 1 ? '' : 's'} ${empty.map((e) => `'${e}'`).join(', ')} (extensions: ${extensions.join(', ')})`);
    }
    return new ImageFolderDataset<I>(root, { classNames, samples, skipped: bad, transform: options.transform, decodeWorkers: options.decodeWorkers, ...limits });
  }

  get length(): number {
    return this.samples.length;
  }

  /** How many files were left out (onBadFile: 'skip'). */
  get skippedCount(): number {
    return this.skipped.length;
  }

  get numClasses(): number {
    return this.classNames.length;
  }

  private sample(index: number): ImageSample {
    checkIndex(index, this.samples.length, `image folder ${this.root}`);
    return this.samples[index];
  }

  private finish(bytes: Uint8Array, sample: ImageSample, index: number): ImageExample<I> {
    return this.fromDecoded(decodeImage(bytes, sample.path, { maxImagePixels: this.maxImagePixels }), index);
  }

  private fromDecoded(decoded: DecodedImage, index: number): ImageExample<I> {
    const transform = this.transform;
    const context = { epoch: this.epoch, index };
    const image = transform ? tidy(() => transform(imageTensor(decoded), context)) : (imageTensor(decoded) as unknown as I);
    return { image, label: this.samples[index].label };
  }

  /** Decodes image `index` (synchronously) and applies the transform. */
  get(index: number): ImageExample<I> {
    const sample = this.sample(index);
    return this.finish(readImageFile(sample.path, { maxImagePixels: this.maxImagePixels }), sample, index);
  }

  /**
   * get() without blocking on the file: read by libuv's threads, and with decodeWorkers read and
   * decoded in a worker thread; the transform runs on the calling thread. DataLoader uses it.
   */
  async getAsync(index: number): Promise<ImageExample<I>> {
    const sample = this.sample(index);
    if (this.pool) return this.fromDecoded(await this.pool.decode(sample.path), index);
    let bytes: Uint8Array;
    try {
      bytes = await readDataFile(sample.path, { maxBytes: maxImageFileBytes({ maxImagePixels: this.maxImagePixels }), what: 'an image' });
    } catch (error) {
      throw error instanceof DataFileError ? new BadImageError(sample.path, error.reason) : error;
    }
    return this.finish(bytes, sample, index);
  }

  /** Ends the decode workers, if any (idle workers never keep the process alive). */
  async close(): Promise<void> {
    await this.pool?.close();
  }

  /** The epoch random transforms seed from (DataLoader sets it before each epoch). */
  setEpoch(epoch: number): void {
    this.epoch = epoch;
    this.transform?.setEpoch?.(epoch);
  }

  /** The sample path relative to the root, for messages. */
  relativePath(index: number): string {
    return relative(this.root, this.sample(index).path);
  }
}

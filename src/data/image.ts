/**
 * Images: PNG/JPEG decoding to RGB and the image-folder dataset (torchvision's ImageFolder).
 *
 * Decoding needs no native code beside libtorch and no install script, and gives the same result
 * on every platform: PNG with pngjs (pure JavaScript), JPEG with @cwasm/jpeg-turbo (libjpeg-turbo
 * compiled to WebAssembly: the library PIL uses, with the same defaults, so pixels are PIL's
 * exactly; jpeg-js, pure JavaScript, differs by up to 17 levels on 4:2:0 chroma for lack of
 * libjpeg's "fancy" upsampling, and serves only CMYK JPEGs, which TurboJPEG cannot make RGB).
 * sharp would decode faster and more formats, but brings a prebuilt libvips per platform into the
 * process next to libtorch.
 *
 * Images become 8-bit RGB as torchvision's default loader makes them (`PIL.Image.convert('RGB')`):
 * grayscale is repeated to three channels, alpha is dropped (not composited), palettes are
 * expanded. PNGs decode to PIL's values exactly (16-bit samples are scaled to 8 bits, where PIL
 * keeps the high byte of RGB and clips 16-bit grayscale). EXIF orientation is not applied (nor is
 * it by torchvision's loader).
 */
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, extname, join, relative } from 'node:path';

import { createRequire } from 'node:module';

import jpeg from 'jpeg-js';
import pngjs from 'pngjs';

import { fromTypedArray, tidy, type Tensor } from '../tensor/index.js';
import { checkIndex, type Dataset } from './dataset.js';
import type { Transform } from './transforms.js';

/** An 8-bit image in memory: rows of pixels, channels interleaved (H×W×C). */
export interface DecodedImage {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

/** What an image dataset yields: the (transformed) image and its class index. */
export interface ImageExample<I = Tensor> {
  image: I;
  label: number;
}

export type ImageFormat = 'png' | 'jpeg';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const PNG_IEND = [0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82];

/** The format told by the first bytes (not the extension), or undefined. */
export function imageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return undefined;
}

/** An image file that cannot be used; the message names the file and what is wrong. */
export class BadImageError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'BadImageError';
  }
}

const u32 = (b: Uint8Array, at: number): number => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;

/** Removes tRNS chunks from a non-palette PNG: pngjs zeroes the colour of "transparent" pixels, PIL keeps it. */
function withoutColourKey(bytes: Uint8Array): Uint8Array {
  const colorType = bytes[25];
  if (colorType === 3 || bytes.length < 33) return bytes;
  const parts: Uint8Array[] = [];
  let at = 8;
  let start = 0;
  let found = false;
  while (at + 8 <= bytes.length) {
    const length = u32(bytes, at);
    const type = String.fromCharCode(bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]);
    const end = at + 12 + length;
    if (type === 'tRNS') {
      parts.push(bytes.subarray(start, at));
      start = end;
      found = true;
    }
    if (type === 'IEND' || end > bytes.length) break;
    at = end;
  }
  if (!found) return bytes;
  parts.push(bytes.subarray(start));
  return Buffer.concat(parts);
}

type JpegTurbo = { decode(source: Uint8Array): { width: number; height: number; data: Uint8ClampedArray } };
let jpegTurbo: JpegTurbo | undefined;

/** libjpeg-turbo (WebAssembly), compiled on first use rather than when finetune is imported. */
function turbo(): JpegTurbo {
  jpegTurbo ??= createRequire(import.meta.url)('@cwasm/jpeg-turbo') as JpegTurbo;
  return jpegTurbo;
}

/** The number of colour components in a JPEG's frame header, or 0 when none is found. */
function jpegComponents(bytes: Uint8Array): number {
  let at = 2;
  while (at + 4 <= bytes.length && bytes[at] === 0xff) {
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at++;
      continue;
    }
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      at += 2;
      continue;
    }
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return at + 9 < bytes.length ? bytes[at + 9] : 0;
    if (marker === 0xda || marker === 0xd9) return 0;
    at += 2 + ((bytes[at + 2] << 8) | bytes[at + 3]);
  }
  return 0;
}

function rgbFromRgba(rgba: Uint8Array, pixels: number): Uint8Array {
  const rgb = new Uint8Array(pixels * 3);
  for (let p = 0, q = 0; p < pixels * 4; p += 4, q += 3) {
    rgb[q] = rgba[p];
    rgb[q + 1] = rgba[p + 1];
    rgb[q + 2] = rgba[p + 2];
  }
  return rgb;
}

/**
 * Decodes PNG or JPEG bytes (told apart by content) to 8-bit RGB, H×W×3. Errors are
 * BadImageErrors naming `name`.
 */
export function decodeImage(bytes: Uint8Array, name = '<buffer>'): DecodedImage {
  const format = imageFormat(bytes);
  if (format === undefined) throw new BadImageError(name, 'not a PNG or JPEG image (unrecognised first bytes)');
  try {
    if (format === 'png') {
      const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const png = pngjs.PNG.sync.read(Buffer.from(withoutColourKey(buffer)));
      return { width: png.width, height: png.height, channels: 3, data: rgbFromRgba(png.data, png.width * png.height) };
    }
    if (jpegComponents(bytes) === 4) {
      // CMYK / YCCK (Adobe): TurboJPEG cannot convert these to RGB; jpeg-js can.
      const image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false });
      return { width: image.width, height: image.height, channels: 3, data: image.data };
    }
    let image;
    try {
      image = turbo().decode(bytes);
    } catch (error) {
      // libjpeg's error_exit surfaces as the wrapper's longjmp stub ("Not implemented").
      const message = (error as Error).message;
      throw new Error(message === 'Not implemented' ? 'libjpeg-turbo stopped on an error in the data' : message);
    }
    if (!(image.width > 0 && image.height > 0) || image.data.length !== image.width * image.height * 4) throw new Error('no image data');
    return { width: image.width, height: image.height, channels: 3, data: rgbFromRgba(new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.length), image.width * image.height) };
  } catch (error) {
    if (error instanceof BadImageError) throw error;
    throw new BadImageError(name, `cannot decode ${format === 'png' ? 'PNG' : 'JPEG'} (corrupt or truncated?): ${(error as Error).message}`);
  }
}

/** Reads and decodes an image file to RGB. */
export function loadImage(path: string): DecodedImage {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new BadImageError(path, `cannot read: ${(error as Error).message}`);
  }
  return decodeImage(bytes, path);
}

/** An H×W×C uint8 tensor of a decoded image (what image datasets give a transform). */
export function imageTensor(image: DecodedImage): Tensor {
  return fromTypedArray(image.data, [image.height, image.width, image.channels], { dtype: 'uint8' });
}

// ---- quick checks without decoding ---------------------------------------------------------

/** Reads `length` bytes at `position` (fewer at the end of the file). */
function readAt(fd: number, position: number, length: number): Uint8Array {
  const buffer = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return buffer.subarray(0, done);
}

const SOF_SUPPORTED = new Set([0xc0, 0xc1, 0xc2]);
const SOF_OTHER = new Set([0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/** What a quick look at an image file found. */
export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
}

/**
 * Checks an image file without decoding it: the signature, the header (PNG IHDR; JPEG frame
 * header and the start of a scan), and the end (PNG IEND; JPEG end-of-image marker), which
 * catches files that are not images, unsupported JPEG variants and truncated files. Throws a
 * BadImageError naming the file.
 */
export function inspectImageFile(path: string): ImageHeader {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new BadImageError(path, `cannot read: ${(error as Error).message}`);
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) throw new BadImageError(path, 'empty file');
    const head = readAt(fd, 0, Math.min(size, 65536));
    const format = imageFormat(head);
    if (format === undefined) throw new BadImageError(path, 'not a PNG or JPEG image (unrecognised first bytes)');
    return format === 'png' ? inspectPng(path, fd, size, head) : inspectJpeg(path, fd, size, head);
  } catch (error) {
    if (error instanceof BadImageError) throw error;
    throw new BadImageError(path, `cannot read: ${(error as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

function inspectPng(path: string, fd: number, size: number, head: Uint8Array): ImageHeader {
  const type = String.fromCharCode(...head.subarray(12, 16));
  if (head.length < 33 || u32(head, 8) !== 13 || type !== 'IHDR') throw new BadImageError(path, 'corrupt PNG: no IHDR header');
  const width = u32(head, 16);
  const height = u32(head, 20);
  const depth = head[24];
  const colorType = head[25];
  const depths: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
  if (width === 0 || height === 0) throw new BadImageError(path, `corrupt PNG: ${width}×${height} pixels`);
  if (!depths[colorType]?.includes(depth)) throw new BadImageError(path, `corrupt PNG: colour type ${colorType} with bit depth ${depth}`);
  const tail = readAt(fd, Math.max(0, size - 12), 12);
  if (tail.length !== 12 || !PNG_IEND.every((b, i) => tail[i] === b)) {
    throw new BadImageError(path, 'truncated PNG (the file does not end with an IEND chunk)');
  }
  return { format: 'png', width, height };
}

function inspectJpeg(path: string, fd: number, size: number, head: Uint8Array): ImageHeader {
  let at = 2;
  let frame: { width: number; height: number } | undefined;
  let scanAt = -1;
  const byteAt = (position: number, length: number): Uint8Array =>
    position + length <= head.length ? head.subarray(position, position + length) : readAt(fd, position, length);
  while (at + 4 <= size) {
    const [marker0, marker] = byteAt(at, 2);
    if (marker0 !== 0xff) throw new BadImageError(path, `corrupt JPEG: expected a marker at byte ${at}`);
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0xd9) break; // EOI before any scan
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      at += 2;
      continue;
    }
    const segment = byteAt(at + 2, 2);
    const length = (segment[0] << 8) | segment[1];
    if (length < 2) throw new BadImageError(path, `corrupt JPEG: segment length ${length} at byte ${at}`);
    if (SOF_OTHER.has(marker)) {
      throw new BadImageError(path, `unsupported JPEG variant (SOF marker 0x${marker.toString(16)}: lossless, hierarchical or arithmetic-coded)`);
    }
    if (SOF_SUPPORTED.has(marker)) {
      const sof = byteAt(at + 4, 6);
      if (sof.length < 6) break;
      const height = (sof[1] << 8) | sof[2];
      const width = (sof[3] << 8) | sof[4];
      const components = sof[5];
      if (sof[0] !== 8) throw new BadImageError(path, `unsupported JPEG: ${sof[0]}-bit samples`);
      if (width === 0 || height === 0) throw new BadImageError(path, `unsupported JPEG: ${width}×${height} pixels (height defined by a DNL marker?)`);
      if (![1, 3, 4].includes(components)) throw new BadImageError(path, `unsupported JPEG: ${components} colour components`);
      frame = { width, height };
    }
    if (marker === 0xda) {
      scanAt = at;
      break;
    }
    at += 2 + length;
  }
  if (!frame) throw new BadImageError(path, at + 4 > size ? 'truncated JPEG (no frame header)' : 'corrupt JPEG: no frame header');
  if (scanAt < 0) throw new BadImageError(path, 'truncated JPEG (no image data)');
  const tailStart = Math.max(scanAt, size - 4096);
  const tail = readAt(fd, tailStart, size - tailStart);
  let end = false;
  for (let i = tail.length - 2; i >= 0 && !end; i--) end = tail[i] === 0xff && tail[i + 1] === 0xd9;
  if (!end) throw new BadImageError(path, 'truncated JPEG (no end-of-image marker)');
  return { format: 'jpeg', ...frame };
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

export interface ImageFolderOptions<I = Tensor> {
  /** Applied to each image, an H×W×3 uint8 tensor (e.g. compose([toTensor(), …])). */
  transform?: Transform<Tensor, I>;
  /** 'error' (default): a bad file stops construction with a list of them; 'skip': left out and counted in `skipped`. */
  onBadFile?: 'error' | 'skip';
  /**
   * How files are checked when the folder is read: 'header' (default) reads each file's header
   * and end (not images, unsupported or truncated files); 'decode' decodes every file once
   * (also catches corrupt image data; slow); 'none' lists only (errors surface in get()).
   */
  verify?: 'header' | 'decode' | 'none';
  /** Extensions (lower case, with the dot) that count as images; default .png, .jpg, .jpeg. */
  extensions?: readonly string[];
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
  private epoch = 0;

  constructor(
    readonly root: string,
    init: { classNames: readonly string[]; samples: readonly ImageSample[]; skipped?: readonly SkippedFile[]; transform?: Transform<Tensor, I> },
  ) {
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
    let entries;
    try {
      entries = readdirSync(root, { withFileTypes: true });
    } catch (error) {
      throw new Error(`image folder ${root}: cannot read it: ${(error as Error).message}`);
    }
    const classNames = entries
      .filter((e) => !e.name.startsWith('.') && isDirectory(join(root, e.name), e))
      .map((e) => e.name)
      .sort(compareCodePoints);
    if (classNames.length === 0) throw new Error(`image folder ${root}: no class sub-folders (expected ${join(root, '<class>', '<image>')})`);
    const samples: ImageSample[] = [];
    const bad: SkippedFile[] = [];
    const empty: string[] = [];
    classNames.forEach((name, label) => {
      let found = 0;
      for (const path of walkFiles(join(root, name))) {
        const ext = extname(path).toLowerCase();
        let reason: string | undefined;
        if (!extensions.includes(ext)) {
          reason = `not an image file: extension '${ext || basename(path)}' (expected ${extensions.join(', ')})`;
        } else if (verify !== 'none') {
          try {
            if (verify === 'decode') loadImage(path);
            else inspectImageFile(path);
          } catch (error) {
            reason = error instanceof BadImageError ? error.reason : (error as Error).message;
          }
        }
        if (reason === undefined) {
          samples.push({ path, label });
          found++;
        } else {
          bad.push({ path, reason });
        }
      }
      if (found === 0) empty.push(name);
    });
    if (bad.length > 0 && onBadFile === 'error') {
      const shown = bad.slice(0, 10).map((b) => `  ${b.path}: ${b.reason}`);
      if (bad.length > 10) shown.push(`  … and ${bad.length - 10} more`);
      throw new Error(`image folder ${root}: ${bad.length} bad file${bad.length === 1 ? '' : 's'}:\n${shown.join('\n')}\nPass onBadFile: 'skip' to leave them out.`);
    }
    if (empty.length > 0) {
      throw new Error(`image folder ${root}: no valid image in the class folder${empty.length === 1 ? '' : 's'} ${empty.map((e) => `'${e}'`).join(', ')} (extensions: ${extensions.join(', ')})`);
    }
    return new ImageFolderDataset<I>(root, { classNames, samples, skipped: bad, transform: options.transform });
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
    return this.fromDecoded(decodeImage(bytes, sample.path), index);
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
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(sample.path);
    } catch (error) {
      throw new BadImageError(sample.path, `cannot read: ${(error as Error).message}`);
    }
    return this.finish(bytes, sample, index);
  }

  /** get() with the file read asynchronously (libuv's threads), so reads overlap other work; DataLoader uses it. */
  async getAsync(index: number): Promise<ImageExample<I>> {
    const sample = this.sample(index);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(sample.path);
    } catch (error) {
      throw new BadImageError(sample.path, `cannot read: ${(error as Error).message}`);
    }
    return this.finish(bytes, sample, index);
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

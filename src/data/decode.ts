/**
 * PNG/JPEG decoding to RGB and quick file checks, without tensors (so decode workers can load it).
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
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants as zlibConstants, inflateSync } from 'node:zlib';

import jpeg from 'jpeg-js';
import pngjs from 'pngjs';

import { DataFileError, readDataFileSync, uint32BE } from './read-file.js';

/** An 8-bit image in memory: rows of pixels, channels interleaved (H×W×C). */
export interface DecodedImage {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
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

/** Removes tRNS chunks from a non-palette PNG: pngjs zeroes the colour of "transparent" pixels, PIL keeps it. */
function withoutColourKey(bytes: Uint8Array): Uint8Array {
  const colorType = bytes[25];
  if (colorType === 3 || bytes.length < 33) return bytes;
  const parts: Uint8Array[] = [];
  let at = 8;
  let start = 0;
  let found = false;
  while (at + 8 <= bytes.length) {
    const length = uint32BE(bytes, at);
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

/**
 * PIL's decompression-bomb limit (twice Image.MAX_IMAGE_PIXELS, where PIL raises): a larger image is
 * refused from its header, before anything is allocated for its pixels — a 68-byte PNG can claim
 * 2^31 × 1 pixels, which aborted the process inside zlib. `maxImagePixels` (--max-image-pixels)
 * raises or lowers it.
 */
export const MAX_IMAGE_PIXELS = 2 * 89_478_485;

/** Limits on what an image file may decode to. */
export interface ImageLimits {
  /** The most pixels (width × height) an image may have; default MAX_IMAGE_PIXELS. */
  maxImagePixels?: number;
}

/** The pixel limit of `limits`, checked (a positive integer). */
export function maxImagePixels(limits: ImageLimits = {}): number {
  const limit = limits.maxImagePixels ?? MAX_IMAGE_PIXELS;
  if (!(Number.isSafeInteger(limit) && limit > 0)) throw new RangeError(`maxImagePixels must be a positive integer, got ${String(limit)}`);
  return limit;
}

function checkPixelCount(name: string, width: number, height: number, limit: number): void {
  if (width * height > limit) {
    const whose = limit === MAX_IMAGE_PIXELS ? " (PIL's decompression-bomb limit)" : '';
    throw new BadImageError(name, `${width}×${height} pixels is more than ${limit.toLocaleString('en-US')}${whose}: refused before decoding; raise the limit with maxImagePixels if the image is meant`);
  }
}

/** The most bytes deflate (zlib, in PNG) can expand one byte to: 258-byte matches coded in about 2 bits. */
const DEFLATE_MAX_RATIO = 1032;

const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Adam7's passes: first column, first row, column step, row step. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

/** The bytes a PNG's pixel data inflates to: each row (of each interlace pass) is a filter byte and its packed samples. */
function pngDataBytes(width: number, height: number, colorType: number, depth: number, interlaced: boolean): number {
  const bitsPerPixel = (PNG_CHANNELS[colorType] ?? 4) * depth;
  const rows = (w: number, h: number): number => (w > 0 && h > 0 ? h * (1 + Math.ceil((w * bitsPerPixel) / 8)) : 0);
  if (!interlaced) return rows(width, height);
  return ADAM7.reduce((sum, [x0, y0, dx, dy]) => sum + rows(Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy)), 0);
}

/**
 * Inflates a PNG's IDAT chunks (bounded by the size the header implies) and checks that they hold
 * every row: pngjs reads missing rows as zeros, so a PNG cut short — or one whose header claims
 * 12000² pixels over a few bytes of data — would decode as a black image.
 */
function checkPngData(bytes: Uint8Array, name: string): void {
  const width = uint32BE(bytes, 16);
  const height = uint32BE(bytes, 20);
  if (width === 0 || height === 0) throw new BadImageError(name, `corrupt PNG: ${width}×${height} pixels`);
  const expected = pngDataBytes(width, height, bytes[25], bytes[24], bytes[28] === 1);
  const idat: Uint8Array[] = [];
  let at = 8;
  let ended = false;
  while (at + 8 <= bytes.length) {
    const length = uint32BE(bytes, at);
    const type = String.fromCharCode(bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]);
    if (type === 'IDAT') idat.push(bytes.subarray(at + 8, Math.min(bytes.length, at + 8 + length)));
    if (type === 'IEND') {
      ended = true;
      break;
    }
    at += 12 + length;
  }
  if (!ended) throw new BadImageError(name, 'truncated PNG (the file does not end with an IEND chunk)');
  const compressed = idat.reduce((sum, part) => sum + part.length, 0);
  const tooLittle = (have: string): BadImageError =>
    new BadImageError(name, `too little pixel data: ${width}×${height} pixels need ${expected.toLocaleString('en-US')} bytes, the image data holds ${have} (truncated or corrupt PNG)`);
  if (compressed * DEFLATE_MAX_RATIO < expected) throw tooLittle(`${compressed.toLocaleString('en-US')} compressed bytes, which cannot inflate to that`);
  let inflated: number;
  try {
    // Sync flush: a stream cut short gives what it has, so the message can say how much.
    // One output chunk for a usual image (half the time of zlib's 16 KiB chunks), at most 16 MiB up front.
    const chunkSize = Math.max(zlibConstants.Z_MIN_CHUNK, Math.min(expected, 16 * 1024 * 1024));
    inflated = inflateSync(Buffer.concat(idat), { maxOutputLength: expected, chunkSize, finishFlush: zlibConstants.Z_SYNC_FLUSH }).length;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return; // more than enough: decoders ignore the rest
    throw new BadImageError(name, `cannot decode PNG (corrupt image data): ${(error as Error).message}`);
  }
  if (inflated < expected) throw tooLittle(`${inflated.toLocaleString('en-US')}`);
}

/**
 * Whether a JPEG of `bytes` bytes can hold a `width`×`height` image: every 8×8 block of the
 * full-resolution component codes its DC value at least once, in one bit or more (Huffman
 * coding; arithmetic-coded JPEGs are not supported), so a 645-byte file cannot be 20000² pixels.
 */
function checkJpegDataSize(name: string, width: number, height: number, bytes: number): void {
  const blocks = Math.ceil(width / 8) * Math.ceil(height / 8);
  if (bytes * 8 < blocks) {
    throw new BadImageError(name, `too little image data: ${width}×${height} pixels need at least ${Math.ceil(blocks / 8).toLocaleString('en-US')} bytes of JPEG data, the file has ${bytes.toLocaleString('en-US')} (truncated or corrupt JPEG)`);
  }
}

/** The frame size a JPEG's SOF header declares, or undefined before one. */
function jpegFrame(bytes: Uint8Array): { width: number; height: number; components: number } | undefined {
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
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (at + 9 >= bytes.length) return undefined;
      return { height: (bytes[at + 5] << 8) | bytes[at + 6], width: (bytes[at + 7] << 8) | bytes[at + 8], components: bytes[at + 9] };
    }
    if (marker === 0xda || marker === 0xd9) return undefined;
    at += 2 + ((bytes[at + 2] << 8) | bytes[at + 3]);
  }
  return undefined;
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
 * BadImageErrors naming `name`. The header is checked before anything is decoded: more pixels
 * than `limits.maxImagePixels`, or less data than the pixels need, is refused.
 */
export function decodeImage(bytes: Uint8Array, name = '<buffer>', limits: ImageLimits = {}): DecodedImage {
  const maxPixels = maxImagePixels(limits);
  const format = imageFormat(bytes);
  if (format === undefined) throw new BadImageError(name, 'not a PNG or JPEG image (unrecognised first bytes)');
  try {
    if (format === 'png') {
      if (bytes.length >= 33) {
        checkPixelCount(name, uint32BE(bytes, 16), uint32BE(bytes, 20), maxPixels);
        checkPngData(bytes, name);
      }
      const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const png = pngjs.PNG.sync.read(Buffer.from(withoutColourKey(buffer)));
      return { width: png.width, height: png.height, channels: 3, data: rgbFromRgba(png.data, png.width * png.height) };
    }
    const frame = jpegFrame(bytes);
    if (frame) {
      checkPixelCount(name, frame.width, frame.height, maxPixels);
      checkJpegDataSize(name, frame.width, frame.height, bytes.length);
    }
    if (frame?.components === 4) {
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
      throw new Error(message === 'Not implemented' ? 'libjpeg-turbo stopped on an error in the data' : message, { cause: error });
    }
    if (!(image.width > 0 && image.height > 0) || image.data.length !== image.width * image.height * 4) throw new Error('no image data');
    return { width: image.width, height: image.height, channels: 3, data: rgbFromRgba(new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.length), image.width * image.height) };
  } catch (error) {
    if (error instanceof BadImageError) throw error;
    throw new BadImageError(name, `cannot decode ${format === 'png' ? 'PNG' : 'JPEG'} (corrupt or truncated?): ${(error as Error).message}`);
  }
}

/**
 * The largest image file read into memory for a pixel limit: 8 bytes a pixel (16-bit RGBA stored
 * uncompressed) and room for metadata. A path that is not a regular file is refused too.
 */
export function maxImageFileBytes(limits: ImageLimits = {}): number {
  return maxImagePixels(limits) * 8 + 64 * 1024 * 1024;
}

/** Reads an image file's bytes (a regular file, within maxImageFileBytes); errors are BadImageErrors naming it. */
export function readImageFile(path: string, limits: ImageLimits = {}): Uint8Array {
  try {
    return readDataFileSync(path, { maxBytes: maxImageFileBytes(limits), what: 'an image' });
  } catch (error) {
    throw error instanceof DataFileError ? new BadImageError(path, error.reason) : error;
  }
}

/** Reads and decodes an image file to RGB (see decodeImage). */
export function loadImage(path: string, limits: ImageLimits = {}): DecodedImage {
  return decodeImage(readImageFile(path, limits), path, limits);
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

/** What went wrong reading image `path`, as a BadImageError naming it ("cannot read: …" unless it is one). */
function asBadImage(path: string, error: unknown): BadImageError {
  return error instanceof BadImageError ? error : new BadImageError(path, `cannot read: ${(error as Error).message}`);
}

/**
 * Checks an image file without decoding it: the signature, the header (PNG IHDR; JPEG frame
 * header and the start of a scan), and the end (PNG IEND; JPEG end-of-image marker), which
 * catches files that are not images, unsupported JPEG variants and truncated files. Throws a
 * BadImageError naming the file.
 */
export function inspectImageFile(path: string, limits: ImageLimits = {}): ImageHeader {
  const maxPixels = maxImagePixels(limits);
  let fd: number;
  try {
    if (!statSync(path).isFile()) throw new BadImageError(path, `not a regular file (${statSync(path).isDirectory() ? 'a folder' : 'a device, pipe or socket'})`);
    fd = openSync(path, 'r');
  } catch (error) {
    throw asBadImage(path, error);
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) throw new BadImageError(path, 'empty file');
    const head = readAt(fd, 0, Math.min(size, 65536));
    const format = imageFormat(head);
    if (format === undefined) throw new BadImageError(path, 'not a PNG or JPEG image (unrecognised first bytes)');
    return format === 'png' ? inspectPng(path, fd, size, head, maxPixels) : inspectJpeg(path, fd, size, head, maxPixels);
  } catch (error) {
    throw asBadImage(path, error);
  } finally {
    closeSync(fd);
  }
}

function inspectPng(path: string, fd: number, size: number, head: Uint8Array, maxPixels: number): ImageHeader {
  const type = String.fromCharCode(...head.subarray(12, 16));
  if (head.length < 33 || uint32BE(head, 8) !== 13 || type !== 'IHDR') throw new BadImageError(path, 'corrupt PNG: no IHDR header');
  const width = uint32BE(head, 16);
  const height = uint32BE(head, 20);
  const depth = head[24];
  const colorType = head[25];
  const depths: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
  if (width === 0 || height === 0) throw new BadImageError(path, `corrupt PNG: ${width}×${height} pixels`);
  checkPixelCount(path, width, height, maxPixels);
  if (!depths[colorType]?.includes(depth)) throw new BadImageError(path, `corrupt PNG: colour type ${colorType} with bit depth ${depth}`);
  const expected = pngDataBytes(width, height, colorType, depth, head[28] === 1);
  if (size * DEFLATE_MAX_RATIO < expected) {
    throw new BadImageError(path, `too little pixel data: ${width}×${height} pixels need ${expected.toLocaleString('en-US')} bytes, which a ${size.toLocaleString('en-US')}-byte file cannot inflate to (truncated or corrupt PNG)`);
  }
  const tail = readAt(fd, Math.max(0, size - 12), 12);
  if (tail.length !== 12 || !PNG_IEND.every((b, i) => tail[i] === b)) {
    throw new BadImageError(path, 'truncated PNG (the file does not end with an IEND chunk)');
  }
  return { format: 'png', width, height };
}

function inspectJpeg(path: string, fd: number, size: number, head: Uint8Array, maxPixels: number): ImageHeader {
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
      checkPixelCount(path, width, height, maxPixels);
      checkJpegDataSize(path, width, height, size);
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

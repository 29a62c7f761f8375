/**
 * IDX files, the format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
 *
 *     magic   0x00 0x00 <type> <ndim>      type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
 *                                                0x0D float32, 0x0E float64
 *     ndim big-endian uint32 sizes
 *     the data, big-endian, row-major
 *
 * Files may be gzip-compressed (told by their first bytes, not their name). Every inconsistency
 * (magic, type, dimensions, length) is an error naming the file and what is wrong.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';

import { formatBytes } from '../format/numbers.js';
import { fromTypedArray, tidy, type Tensor } from '../tensor/index.js';
import { checkIndex, type Dataset } from './dataset.js';
import type { ImageExample } from './image.js';
import { DataFileError, readDataFileSync, uint32BE } from './read-file.js';
import type { Transform } from './transforms.js';

export type IdxDType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** The contents of an IDX file. `data` is native-endian, row-major. */
export interface IdxArray {
  dtype: IdxDType;
  shape: number[];
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const TYPES: Record<number, { dtype: IdxDType; bytes: number }> = {
  0x08: { dtype: 'uint8', bytes: 1 },
  0x09: { dtype: 'int8', bytes: 1 },
  0x0b: { dtype: 'int16', bytes: 2 },
  0x0c: { dtype: 'int32', bytes: 4 },
  0x0d: { dtype: 'float32', bytes: 4 },
  0x0e: { dtype: 'float64', bytes: 8 },
};

const hex = (n: number, digits = 2): string => `0x${n.toString(16).padStart(digits, '0')}`;

/**
 * The most bytes an IDX file may hold, uncompressed, unless `maxBytes` says otherwise: 2 GiB, forty
 * times MNIST's 47 MB (EMNIST's largest split is 550 MB). The header's dimensions are checked
 * against it before anything is decompressed or allocated.
 */
export const MAX_IDX_BYTES = 2 * 1024 ** 3;

export interface IdxReadOptions {
  /** The most bytes the file may hold uncompressed (header and data); default MAX_IDX_BYTES. */
  maxBytes?: number;
}

const isGzip = (bytes: Uint8Array): boolean => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;

/**
 * The first `wanted` bytes of gzip data (or all, when fewer), inflating growing prefixes of it: a
 * prefix of n bytes inflates to at most about 1,032 n (deflate's largest ratio). The whole file is
 * inflated strictly (a truncated stream is an error), to at most `maxBytes`.
 */
function gunzipPrefix(bytes: Uint8Array, wanted: number, maxBytes: number): Uint8Array {
  for (let compressed = 64; ; compressed *= 2) {
    if (compressed >= bytes.length) return gunzipSync(bytes, { maxOutputLength: maxBytes });
    const prefix = gunzipSync(bytes.subarray(0, compressed), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    if (prefix.length >= wanted) return prefix;
  }
}

/**
 * Parses IDX bytes (gzip-compressed or not); `name` is used in error messages. The header is read
 * first and the data size it implies checked against `maxBytes`, and gzip data is inflated to at
 * most that size, so a gzip bomb (or a header claiming terabytes) is refused without inflating or
 * allocating more than the header declares.
 */
export function parseIdx(bytes: Uint8Array, name = '<buffer>', options: IdxReadOptions = {}): IdxArray {
  const maxBytes = options.maxBytes ?? MAX_IDX_BYTES;
  const gzipped = isGzip(bytes);
  const what = gzipped ? ' (after gunzip)' : '';
  const inflateError = (error: unknown, limit: string): Error =>
    (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE'
      ? new Error(`${name}: the gzip data inflates to more than ${limit}: wrong dimensions in the header, or a gzip bomb`)
      : new Error(`${name}: corrupt or truncated gzip data: ${(error as Error).message}`);
  let head: Uint8Array = bytes;
  if (gzipped) {
    try {
      head = gunzipPrefix(bytes, 4 + 4 * 255, maxBytes);
    } catch (error) {
      throw inflateError(error, `the ${formatBytes(maxBytes)} an IDX file may hold`);
    }
  }
  const type = checkIdxStart(head, name, what);
  const ndim = head[3];
  const headerBytes = 4 + 4 * ndim;
  if (head.length < headerBytes) {
    throw new Error(`${name}: truncated IDX header: ${ndim} dimensions need ${headerBytes} bytes, the file has ${head.length}${what}`);
  }
  const shape: number[] = [];
  for (let d = 0; d < ndim; d++) shape.push(uint32BE(head, 4 + 4 * d));
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = count * type.bytes;
  const total = headerBytes + expected;
  if (total > maxBytes) {
    throw new Error(`${name}: IDX header declares shape [${shape}] of ${type.dtype}: ${formatBytes(total)}, more than the ${formatBytes(maxBytes)} an IDX file may hold (raise maxBytes if the file is meant)`);
  }
  let raw = bytes;
  if (gzipped) {
    try {
      raw = gunzipSync(bytes, { maxOutputLength: total });
    } catch (error) {
      throw inflateError(error, `the ${formatBytes(total)} the IDX header declares (shape [${shape}] of ${type.dtype})`);
    }
  }
  const actual = raw.length - headerBytes;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (actual < expected) {
    throw new Error(`${name}: truncated IDX file: shape [${shape}] of ${type.dtype} needs ${expected} data bytes, the file has ${actual}${what}`);
  }
  if (actual > expected) {
    throw new Error(`${name}: IDX file has ${actual - expected} bytes beyond the data of shape [${shape}] ${type.dtype} (wrong dimensions in the header?)`);
  }
  let data: IdxArray['data'];
  switch (type.dtype) {
    case 'uint8':
      data = new Uint8Array(raw.subarray(headerBytes, headerBytes + count)); // a copy: the file's buffer may be pooled
      break;
    case 'int8':
      data = new Int8Array(new Uint8Array(raw.subarray(headerBytes, headerBytes + count)).buffer);
      break;
    default: {
      const Ctor = { int16: Int16Array, int32: Int32Array, float32: Float32Array, float64: Float64Array }[type.dtype];
      const out = new Ctor(count);
      const read = {
        int16: (at: number) => view.getInt16(at, false),
        int32: (at: number) => view.getInt32(at, false),
        float32: (at: number) => view.getFloat32(at, false),
        float64: (at: number) => view.getFloat64(at, false),
      }[type.dtype];
      for (let i = 0, at = headerBytes; i < count; i++, at += type.bytes) out[i] = read(at);
      data = out;
    }
  }
  return { dtype: type.dtype, shape, data };
}

/** The magic number's checks: two zero bytes, a known type code, at least one dimension. */
function checkIdxStart(raw: Uint8Array, name: string, what: string): { dtype: IdxDType; bytes: number } {
  if (raw.length < 4) throw new Error(`${name}: too short for an IDX header: ${raw.length} bytes${what}`);
  if (raw[0] !== 0 || raw[1] !== 0) {
    const magic = hex(uint32BE(raw, 0), 8);
    throw new Error(`${name}: bad magic number ${magic}${what}: not an IDX file (IDX files start with 0x0000, a type code and the number of dimensions, e.g. 0x00000803)`);
  }
  const type = TYPES[raw[2]];
  if (!type) {
    throw new Error(`${name}: unknown IDX data type code ${hex(raw[2])} (expected 0x08 uint8, 0x09 int8, 0x0b int16, 0x0c int32, 0x0d float32 or 0x0e float64)`);
  }
  if (raw[3] === 0) throw new Error(`${name}: IDX header declares 0 dimensions`);
  return type;
}

/**
 * Reads an IDX file (gzip-compressed or not), validating it (see parseIdx). A path that is not a
 * regular file, or a file larger than `maxBytes`, is refused before it is read.
 */
export function readIdx(path: string, options: IdxReadOptions = {}): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = readDataFileSync(path, { maxBytes: options.maxBytes ?? MAX_IDX_BYTES, what: 'an IDX file' });
  } catch (error) {
    throw error instanceof DataFileError ? new Error(`${path}: cannot read the IDX file: ${error.reason.replace(/^cannot read: /, '')}`) : error;
  }
  return parseIdx(bytes, path, options);
}

/** The classes of Fashion-MNIST, by label (as torchvision.datasets.FashionMNIST.classes). */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
]);

/** MNIST's classes (the digits). */
export const MNIST_CLASSES: readonly string[] = Object.freeze(['0 - zero', '1 - one', '2 - two', '3 - three', '4 - four', '5 - five', '6 - six', '7 - seven', '8 - eight', '9 - nine']);

export interface IdxImageDatasetOptions<I = Tensor> {
  /** Applied to each image, an H×W×C uint8 tensor (C = 1 for MNIST), e.g. compose([toTensor(), …]). */
  transform?: Transform<Tensor, I>;
  /**
   * The class names by label. IDX files do not name their classes: say them here, or use
   * fashionMnist(), which passes FASHION_MNIST_CLASSES. Without them, classes are named by
   * their label ('0', '1', …) up to the largest label.
   */
  classNames?: readonly string[];
}

/**
 * Images and labels from a pair of IDX files (MNIST layout): images N×H×W (or N×H×W×C) uint8,
 * labels N integers. `get(i)` returns `{ image, label }` with the image an H×W×C uint8 tensor
 * passed through `transform`.
 */
export class IdxImageDataset<I = Tensor> implements Dataset<ImageExample<I>> {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  /** The label of every image (for stratified splits). */
  readonly targets: Int32Array;
  readonly classNames: readonly string[];
  readonly transform?: Transform<Tensor, I>;
  private readonly pixels: Uint8Array;
  private epoch = 0;

  /** From parsed arrays; `files` names them in errors. */
  constructor(images: IdxArray, labels: IdxArray, options: IdxImageDatasetOptions<I> & { files?: [string, string] } = {}) {
    const [imagesName, labelsName] = options.files ?? ['images', 'labels'];
    if (images.dtype !== 'uint8') throw new Error(`${imagesName}: images must be uint8 (IDX type 0x08), this file holds ${images.dtype}`);
    if (images.shape.length !== 3 && images.shape.length !== 4) {
      throw new Error(`${imagesName}: images must have 3 dimensions (count, height, width) or 4 (… channels), this file has shape [${images.shape}]`);
    }
    if (labels.shape.length !== 1) throw new Error(`${labelsName}: labels must have 1 dimension, this file has shape [${labels.shape}]`);
    if (labels.dtype === 'float32' || labels.dtype === 'float64') throw new Error(`${labelsName}: labels must be integers, this file holds ${labels.dtype}`);
    if (images.shape[0] !== labels.shape[0]) {
      throw new Error(`${imagesName} has ${images.shape[0]} images but ${labelsName} has ${labels.shape[0]} labels`);
    }
    [, this.height, this.width] = images.shape;
    this.channels = images.shape[3] ?? 1;
    this.pixels = images.data as Uint8Array;
    this.targets = Int32Array.from(labels.data as ArrayLike<number>);
    let maxLabel = -1;
    for (const label of this.targets) {
      if (label < 0) throw new Error(`${labelsName}: negative label ${label}`);
      if (label > maxLabel) maxLabel = label;
    }
    if (options.classNames) {
      if (maxLabel >= options.classNames.length) {
        throw new Error(`${labelsName}: label ${maxLabel} but only ${options.classNames.length} class names were given`);
      }
      this.classNames = options.classNames;
    } else {
      this.classNames = Array.from({ length: maxLabel + 1 }, (_, i) => String(i));
    }
    this.transform = options.transform;
  }

  /** Reads and validates an images file and a labels file (gzip or raw). */
  static fromFiles<I = Tensor>(imagesPath: string, labelsPath: string, options: IdxImageDatasetOptions<I> = {}): IdxImageDataset<I> {
    return new IdxImageDataset<I>(readIdx(imagesPath), readIdx(labelsPath), { ...options, files: [imagesPath, labelsPath] });
  }

  get length(): number {
    return this.targets.length;
  }

  get numClasses(): number {
    return this.classNames.length;
  }

  /** Image `index` as an H×W×C uint8 tensor, untransformed. */
  rawImage(index: number): Tensor {
    checkIndex(index, this.length, 'IDX image dataset');
    const size = this.height * this.width * this.channels;
    return fromTypedArray(this.pixels.subarray(index * size, (index + 1) * size), [this.height, this.width, this.channels], { dtype: 'uint8' });
  }

  get(index: number): ImageExample<I> {
    const transform = this.transform;
    const context = { epoch: this.epoch, index };
    const image = transform ? tidy(() => transform(this.rawImage(index), context)) : (this.rawImage(index) as unknown as I);
    return { image, label: this.targets[index] };
  }

  /** The epoch random transforms seed from (DataLoader sets it before each epoch). */
  setEpoch(epoch: number): void {
    this.epoch = epoch;
    this.transform?.setEpoch?.(epoch);
  }
}

/** Where Debian's dataset-fashion-mnist package puts the files. */
export const FASHION_MNIST_DEBIAN_DIR = '/usr/share/datasets/fashion-mnist';

export interface FashionMnistOptions<I = Tensor> {
  split?: 'train' | 'test';
  /**
   * The folder holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; default
   * $FASHION_MNIST_DIR or /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist).
   */
  root?: string;
  transform?: Transform<Tensor, I>;
}

/** The paths of a Fashion-MNIST split (gzip preferred, raw accepted), or an error saying how to get them. */
export function fashionMnistFiles(options: { split?: 'train' | 'test'; root?: string } = {}): { images: string; labels: string } {
  const split = options.split ?? 'train';
  if (split !== 'train' && split !== 'test') throw new Error(`fashionMnist: split must be 'train' or 'test', got '${String(split)}'`);
  const root = options.root ?? process.env.FASHION_MNIST_DIR ?? FASHION_MNIST_DEBIAN_DIR;
  const prefix = split === 'train' ? 'train' : 't10k';
  const find = (stem: string): string => {
    for (const candidate of [join(root, `${stem}.gz`), join(root, stem)]) if (existsSync(candidate)) return candidate;
    const hint =
      options.root === undefined && process.env.FASHION_MNIST_DIR === undefined
        ? 'Install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist; npm run setup installs it), or pass { root } or set FASHION_MNIST_DIR to a folder holding the files.'
        : 'Pass { root } (or FASHION_MNIST_DIR) as a folder holding the files, or install the Debian package dataset-fashion-mnist and leave root unset.';
    throw new Error(`Fashion-MNIST not found: no ${join(root, stem)}.gz (nor uncompressed). ${hint}`);
  };
  return { images: find(`${prefix}-images-idx3-ubyte`), labels: find(`${prefix}-labels-idx1-ubyte`) };
}

/**
 * Fashion-MNIST (60,000 training or 10,000 test 28×28 grayscale images, 10 classes) from
 * Debian's dataset-fashion-mnist package or `root`, with FASHION_MNIST_CLASSES as class names.
 */
export function fashionMnist<I = Tensor>(options: FashionMnistOptions<I> = {}): IdxImageDataset<I> {
  const files = fashionMnistFiles(options);
  return IdxImageDataset.fromFiles<I>(files.images, files.labels, { classNames: FASHION_MNIST_CLASSES, transform: options.transform });
}

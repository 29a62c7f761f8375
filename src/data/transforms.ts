/**
 * Image transforms with torchvision's semantics (torchvision.transforms.v2 on tensors), on
 * CHW (or …×H×W) float tensors; `toTensor()` turns a decoded HWC uint8 image into one.
 *
 *     const train = compose([toTensor(), randomResizedCrop(224, { seed: 1 }), randomHorizontalFlip(0.5, { seed: 2 }),
 *                            normalize(IMAGENET_MEAN, IMAGENET_STD)]);
 *     const evaluation = compose([toTensor(), resize(256), centerCrop(224), normalize(IMAGENET_MEAN, IMAGENET_STD)]);
 *
 * Every transform is a factory returning a function `(input) => output`. Transforms never return
 * their input: when nothing changes they return a view of it (sharing memory), so the caller may
 * dispose the input and keep the output. Temporaries are freed inside each transform.
 *
 * Random transforms draw from mulberry32 streams (see random.ts), not from libtorch's generator.
 * Datasets call their transform with a context `{ epoch, index }` (the epoch DataLoader set with
 * setEpoch, and the example's index), and a random transform then draws from a stream seeded by
 * (seed, epoch, index): the augmentation of an example depends only on those, never on the order
 * or the thread in which examples are prepared, so a resumed epoch replays exactly. Called without
 * a context (by hand), a random transform draws from its own stream, which setEpoch(e) restarts at
 * (seed, e). Without `seed` a random seed is drawn (not reproducible).
 */
import { aten, fromTypedArray, tidy, type Tensor } from '../tensor/index.js';
import type { DecodedImage } from './image.js';
import { entropySeed, mixSeeds, mulberry32, randomInt, randomUniform, type Rng } from './random.js';

/** Where an example is in the data pipeline: random transforms seed from it. */
export interface TransformContext {
  epoch: number;
  index: number;
}

/**
 * A transform: a function of the input (and where it is), optionally told the epoch. `random` marks
 * one whose output varies with the epoch or the stream (augmentation), so that what it gives is
 * never cached (the Trainer's cacheFrozenFeatures); mark your own random transforms with it.
 */
export type Transform<I = Tensor, O = Tensor> = ((input: I, context?: TransformContext) => O) & {
  setEpoch?: (epoch: number) => void;
  random?: boolean;
};

/** ImageNet's per-channel mean (RGB), as torchvision's pretrained weights expect. */
export const IMAGENET_MEAN: readonly number[] = Object.freeze([0.485, 0.456, 0.406]);
/** ImageNet's per-channel standard deviation (RGB). */
export const IMAGENET_STD: readonly number[] = Object.freeze([0.229, 0.224, 0.225]);

/** ITU-R 601-2 luma weights of R, G, B (PIL's convert('L'), torchvision's rgb_to_grayscale). */
const LUMA: readonly number[] = [0.299, 0.587, 0.114];

/** ImageNet's mean and standard deviation through the luma weights: the defaults of a one-channel model. */
export const IMAGENET_GRAY_MEAN = LUMA[0] * IMAGENET_MEAN[0] + LUMA[1] * IMAGENET_MEAN[1] + LUMA[2] * IMAGENET_MEAN[2];
export const IMAGENET_GRAY_STD = LUMA[0] * IMAGENET_STD[0] + LUMA[1] * IMAGENET_STD[1] + LUMA[2] * IMAGENET_STD[2];

/** An output size: an int (see resize) or [height, width]. */
export type Size = number | readonly [number, number];

// ---- helpers -------------------------------------------------------------------------------

/** Python's round(): halves to even (torchvision's center crop offsets use it). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function imageSize(x: Tensor, what: string): [number, number] {
  if (x.ndim < 2) throw new Error(`${what}: expected an image tensor …×H×W, got shape [${x.shape}]`);
  const shape = x.shape;
  return [shape[shape.length - 2], shape[shape.length - 1]];
}

function checkPositiveInt(value: number, what: string): void {
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`${what} must be a positive integer, got ${value}`);
}

function pair(size: Size, what: string): [number, number] {
  const [h, w] = typeof size === 'number' ? [size, size] : size;
  checkPositiveInt(h, `${what} height`);
  checkPositiveInt(w, `${what} width`);
  return [h, w];
}

/** A view of `x` (a new handle sharing its memory), for transforms that change nothing. */
function alias(x: Tensor): Tensor {
  return aten.alias(x);
}

// ---- functional forms ----------------------------------------------------------------------

/**
 * torchvision's output size for resize: an int resizes the shorter side to `size` and the longer
 * to int(size · long / short) (truncated), capped by `maxSize` on the longer side; a pair is (h, w).
 */
export function resizeOutputSize(height: number, width: number, size: Size, maxSize?: number): [number, number] {
  if (typeof size !== 'number') {
    if (maxSize !== undefined) throw new Error('resize: maxSize is only allowed when size is a single int');
    return pair(size, 'resize size');
  }
  checkPositiveInt(size, 'resize size');
  const [short, long] = width <= height ? [width, height] : [height, width];
  let newShort = size;
  let newLong = Math.trunc((size * long) / short);
  if (maxSize !== undefined) {
    if (maxSize <= size) throw new Error(`resize: maxSize (${maxSize}) must be larger than size (${size})`);
    if (newLong > maxSize) {
      newShort = Math.trunc((maxSize * newShort) / newLong);
      newLong = maxSize;
    }
  }
  return width <= height ? [newLong, newShort] : [newShort, newLong];
}

export interface ResizeOptions {
  /** Antialiasing when downsampling (torchvision's default since 0.17: true). */
  antialias?: boolean;
  /** Cap on the longer side when `size` is an int. */
  maxSize?: number;
}

/**
 * Bilinear resize of an image tensor …×H×W, as torchvision's `resize` on tensors:
 * `interpolate(mode='bilinear', align_corners=False, antialias)` (libtorch's
 * `_upsample_bilinear2d_aa` / `upsample_bilinear2d`). uint8 images are resized in float32 and
 * rounded back, as torchvision.transforms.functional does.
 */
export function resizeImage(x: Tensor, size: Size, options: ResizeOptions = {}): Tensor {
  const [h, w] = imageSize(x, 'resize');
  const [oh, ow] = resizeOutputSize(h, w, size, options.maxSize);
  if (oh === h && ow === w) return alias(x);
  const antialias = options.antialias ?? true;
  return tidy(() => {
    const lead = x.shape.slice(0, -2);
    const channels = lead.reduce((a, b) => a * b, 1);
    const uint8 = x.dtype === 'uint8';
    if (!uint8 && !x.isFloatingPoint()) throw new Error(`resize: expected a float or uint8 image, got ${x.dtype}`);
    let input = x.reshape([1, channels, h, w]);
    if (uint8) input = input.float();
    let out = antialias
      ? aten._upsample_bilinear2d_aa(input, [oh, ow], false, null, null)
      : aten.upsample_bilinear2d(input, [oh, ow], false, null, null);
    if (uint8) out = out.round().clamp(0, 255).to('uint8');
    return out.reshape([...lead, oh, ow]);
  });
}

/** The region rows [top, top + height) × columns [left, left + width), zero-padded where outside (torchvision's crop). */
export function cropImage(x: Tensor, top: number, left: number, height: number, width: number): Tensor {
  const [h, w] = imageSize(x, 'crop');
  return tidy(() => {
    if (top >= 0 && left >= 0 && top + height <= h && left + width <= w) {
      return x.narrow(-2, top, height).narrow(-1, left, width).contiguous();
    }
    // Partly outside: pad with zeros, as torchvision does.
    const padLeft = Math.max(0, -left);
    const padTop = Math.max(0, -top);
    const padRight = Math.max(0, left + width - w);
    const padBottom = Math.max(0, top + height - h);
    const inside = x
      .narrow(-2, Math.max(0, top), Math.min(h, top + height) - Math.max(0, top))
      .narrow(-1, Math.max(0, left), Math.min(w, left + width) - Math.max(0, left));
    return aten.constant_pad_nd(inside, [padLeft, padRight, padTop, padBottom], 0).contiguous();
  });
}

/** torchvision's center_crop: pads with zeros when the crop is larger than the image; offsets rounded half to even. */
export function centerCropImage(x: Tensor, size: Size): Tensor {
  const [cropH, cropW] = pair(size, 'centerCrop size');
  let [h, w] = imageSize(x, 'centerCrop');
  return tidy(() => {
    let image = x;
    if (cropW > w || cropH > h) {
      const left = cropW > w ? Math.floor((cropW - w) / 2) : 0;
      const top = cropH > h ? Math.floor((cropH - h) / 2) : 0;
      const right = cropW > w ? Math.floor((cropW - w + 1) / 2) : 0;
      const bottom = cropH > h ? Math.floor((cropH - h + 1) / 2) : 0;
      image = aten.constant_pad_nd(x, [left, right, top, bottom], 0);
      [h, w] = imageSize(image, 'centerCrop');
      if (cropW === w && cropH === h) return image;
    }
    const top = roundHalfEven((h - cropH) / 2);
    const left = roundHalfEven((w - cropW) / 2);
    return cropImage(image, top, left, cropH, cropW);
  });
}

/** Crop then resize (torchvision's resized_crop). */
export function resizedCropImage(x: Tensor, top: number, left: number, height: number, width: number, size: Size, options: ResizeOptions = {}): Tensor {
  return tidy(() => resizeImage(cropImage(x, top, left, height, width), size, options));
}

/** Mirrors the image left–right (the last dimension). */
export function hflipImage(x: Tensor): Tensor {
  imageSize(x, 'hflip');
  return x.flip(-1);
}

/** (x − mean[c]) / std[c] per channel (dimension −3), as torchvision's normalize. */
export function normalizeImage(x: Tensor, mean: readonly number[], std: readonly number[]): Tensor {
  if (!x.isFloatingPoint()) throw new Error(`normalize: expected a float image (use toTensor() first), got ${x.dtype}`);
  if (x.ndim < 3) throw new Error(`normalize: expected an image tensor …×C×H×W, got shape [${x.shape}]`);
  const channels = x.shape[x.ndim - 3];
  if (mean.length !== channels && mean.length !== 1) throw new Error(`normalize: ${mean.length} means for ${channels} channels`);
  if (std.length !== channels && std.length !== 1) throw new Error(`normalize: ${std.length} standard deviations for ${channels} channels`);
  if (std.some((s) => s === 0)) throw new Error(`normalize: std evaluated to zero, leading to division by zero (std = [${std}])`);
  return tidy(() => {
    const shape = [mean.length, 1, 1];
    const m = fromTypedArray(Float32Array.from(mean), shape).to(x.dtype);
    const s = fromTypedArray(Float32Array.from(std), [std.length, 1, 1]).to(x.dtype);
    return x.sub(m).div(s);
  });
}

/** A decoded image (or an HWC / HW uint8 tensor) as a float32 CHW tensor in [0, 1] (torchvision's ToTensor). */
export function imageToTensor(image: Tensor | DecodedImage): Tensor {
  if (!isTensor(image)) {
    const { width, height, channels, data } = image;
    if (data.length !== width * height * channels) {
      throw new Error(`toTensor: ${data.length} bytes for a ${width}×${height}×${channels} image`);
    }
    return tidy(() => fromTypedArray(data, [height, width, channels], { dtype: 'uint8' }).permute([2, 0, 1]).float().div(255));
  }
  if (image.dtype !== 'uint8') throw new Error(`toTensor: expected a uint8 H×W×C or H×W image, got ${image.dtype} [${image.shape}]`);
  if (image.ndim === 2) return tidy(() => image.unsqueeze(0).float().div(255));
  if (image.ndim !== 3) throw new Error(`toTensor: expected a uint8 H×W×C or H×W image, got shape [${image.shape}]`);
  return tidy(() => image.permute([2, 0, 1]).float().div(255));
}

function isTensor(value: unknown): value is Tensor {
  return typeof value === 'object' && value !== null && 'dtype' in value && 'shape' in value && typeof (value as Tensor).dispose === 'function';
}

/** 1 channel → 3 (repeated), 3 → unchanged, 4 → RGB (alpha dropped, as PIL's convert('RGB')); on …×C×H×W. */
export function toRgbImage(x: Tensor): Tensor {
  if (x.ndim < 3) throw new Error(`toRgb: expected …×C×H×W, got shape [${x.shape}]`);
  const channels = x.shape[x.ndim - 3];
  if (channels === 3) return alias(x);
  if (channels === 1) return tidy(() => x.expand([...x.shape.slice(0, -3), 3, ...x.shape.slice(-2)]).contiguous());
  if (channels === 4) return tidy(() => x.narrow(-3, 0, 3).contiguous());
  throw new Error(`toRgb: cannot make RGB from ${channels} channels`);
}


/** 3 channels → 1 (luma), 4 → 1 (alpha dropped), 1 → unchanged; on …×C×H×W. */
export function toGrayscaleImage(x: Tensor): Tensor {
  if (x.ndim < 3) throw new Error(`toGrayscale: expected …×C×H×W, got shape [${x.shape}]`);
  const channels = x.shape[x.ndim - 3];
  if (channels === 1) return alias(x);
  if (channels !== 3 && channels !== 4) throw new Error(`toGrayscale: cannot make grayscale from ${channels} channels`);
  return tidy(() => {
    const rgb = x.narrow(-3, 0, 3);
    const weighted = LUMA.map((w, c) => rgb.narrow(-3, c, 1).mul(w));
    return weighted[0].add(weighted[1]).add(weighted[2]);
  });
}

// ---- random parameters ---------------------------------------------------------------------

export interface RandomResizedCropOptions extends ResizeOptions {
  /** Range of the crop's area as a fraction of the image's (torchvision: [0.08, 1]). */
  scale?: readonly [number, number];
  /** Range of the crop's aspect ratio w/h, sampled log-uniformly (torchvision: [3/4, 4/3]). */
  ratio?: readonly [number, number];
  /** Seed of the transform's own stream; a random one when absent. */
  seed?: number;
}

/**
 * RandomResizedCrop.get_params: up to 10 tries of an area fraction in `scale` and a log-uniform
 * aspect ratio in `ratio` that fit the image, else the whole image cropped centrally to the
 * nearest allowed ratio. Returns [top, left, height, width].
 */
export function randomResizedCropParams(
  height: number,
  width: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
  rng: Rng,
): [number, number, number, number] {
  const area = height * width;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * randomUniform(rng, scale[0], scale[1]);
    const aspect = Math.exp(randomUniform(rng, logRatio[0], logRatio[1]));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = randomInt(rng, 0, height - h + 1);
      const left = randomInt(rng, 0, width - w + 1);
      return [top, left, h, w];
    }
  }
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    w = width;
    h = roundHalfEven(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    h = height;
    w = roundHalfEven(h * Math.max(ratio[0], ratio[1]));
  } else {
    w = width;
    h = height;
  }
  return [Math.floor((height - h) / 2), Math.floor((width - w) / 2), h, w];
}

/** A random transform's randomness: per example from (seed, epoch, index), else its own stream restarted at (seed, epoch) by setEpoch. */
class SeededStream {
  private rng: Rng;
  constructor(readonly seed: number) {
    this.rng = mulberry32(mixSeeds(seed, 0));
  }
  setEpoch(epoch: number): void {
    this.rng = mulberry32(mixSeeds(this.seed, epoch));
  }
  /** The generator for one call. */
  for(context: TransformContext | undefined): Rng {
    return context ? mulberry32(mixSeeds(this.seed, context.epoch, context.index)) : this.rng;
  }
}

// ---- transform factories -------------------------------------------------------------------

/** HWC uint8 image (tensor or decoded) → CHW float32 in [0, 1]. */
export function toTensor(): Transform<Tensor | DecodedImage, Tensor> {
  return (image) => imageToTensor(image);
}

/**
 * Resize (bilinear). `size` an int: the shorter side becomes `size`, the aspect ratio kept
 * (longer side truncated, as torchvision); [h, w]: exactly that size.
 */
export function resize(size: Size, options: ResizeOptions = {}): Transform {
  resizeOutputSize(2, 3, size, options.maxSize); // validates the arguments now
  return (x) => resizeImage(x, size, options);
}

/** Center crop to `size` (int: square), zero-padding images smaller than the crop. */
export function centerCrop(size: Size): Transform {
  pair(size, 'centerCrop size');
  return (x) => centerCropImage(x, size);
}

/** A random crop of random area and aspect ratio, resized to `size` (int: square), as torchvision's RandomResizedCrop. */
export function randomResizedCrop(size: Size, options: RandomResizedCropOptions = {}): Transform {
  const outSize = pair(size, 'randomResizedCrop size');
  const scale = options.scale ?? [0.08, 1];
  const ratio = options.ratio ?? [3 / 4, 4 / 3];
  if (scale[0] > scale[1] || ratio[0] > ratio[1]) throw new Error('randomResizedCrop: scale and ratio must be [min, max]');
  const stream = new SeededStream(options.seed ?? entropySeed());
  const transform: Transform = (x, context) => {
    const [h, w] = imageSize(x, 'randomResizedCrop');
    const [top, left, ch, cw] = randomResizedCropParams(h, w, scale, ratio, stream.for(context));
    return resizedCropImage(x, top, left, ch, cw, outSize, { antialias: options.antialias });
  };
  transform.setEpoch = (epoch) => stream.setEpoch(epoch);
  transform.random = true;
  return transform;
}

/** Mirror left–right with probability `p` (torchvision: 0.5). */
export function randomHorizontalFlip(p = 0.5, options: { seed?: number } = {}): Transform {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`randomHorizontalFlip: p must be in [0, 1], got ${p}`);
  const stream = new SeededStream(options.seed ?? entropySeed());
  const transform: Transform = (x, context) => (stream.for(context)() < p ? hflipImage(x) : alias(x));
  transform.setEpoch = (epoch) => stream.setEpoch(epoch);
  transform.random = p > 0 && p < 1;
  return transform;
}

/** Per-channel (x − mean) / std. */
export function normalize(mean: readonly number[], std: readonly number[]): Transform {
  if (std.some((s) => s === 0)) throw new Error(`normalize: std evaluated to zero, leading to division by zero (std = [${std}])`);
  return (x) => normalizeImage(x, mean, std);
}

/** Grayscale → RGB (channel repeated), RGBA → RGB; RGB unchanged. */
export function toRgb(): Transform {
  return (x) => toRgbImage(x);
}

/** RGB or RGBA → one luma channel (torchvision's Grayscale()); grayscale unchanged. */
export function toGrayscale(): Transform {
  return (x) => toGrayscaleImage(x);
}

/**
 * Applies transforms in order, freeing intermediate tensors; `setEpoch` reaches every random
 * transform inside.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each transform's input is the previous one's output
export function compose<I = Tensor, O = Tensor>(transforms: readonly Transform<any, any>[]): Transform<I, O> {
  const composed: Transform<I, O> = (input, context) => tidy(() => transforms.reduce<unknown>((value, t) => t(value, context), input) as O);
  composed.setEpoch = (epoch) => {
    for (const t of transforms) t.setEpoch?.(epoch);
  };
  composed.random = transforms.some((t) => t.random === true);
  return composed;
}

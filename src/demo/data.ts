/**
 * The demo's data: Fashion-MNIST split by class into a source task (pretraining) and a target task
 * (fine-tuning with a few labels per class), held in memory as the IDX files' uint8 pixels.
 *
 * A dataset here is a list of image rows with task labels (the class's position in the task's class
 * list, so the target classes 3, 4, 6, 7, 9 become labels 0–4); `get(i)` returns the pixels and the label,
 * and `collate` turns a batch of them into `{ image: [B, 1, S, S] float32, label: [B] int64 }`,
 * normalised with Fashion-MNIST's mean and standard deviation and resized to S (bilinear, as
 * torchvision's Resize on tensors) when the model wants another size than 28.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../io/files.js';

import { fromTypedArray, tensor, tidy, type Tensor } from '../tensor/index.js';
import {
  FASHION_MNIST_CLASSES,
  fashionMnistFiles,
  mulberry32,
  permutation,
  readIdx,
  transforms,
  type Dataset,
} from '../data/index.js';

/** Fashion-MNIST's pixel mean and standard deviation (training set, pixels in [0, 1]). */
export const FASHION_MNIST_MEAN = 0.286;
export const FASHION_MNIST_STD = 0.353;

/** The raw arrays of a split: N×28×28 uint8 pixels and N labels. */
export interface FashionSplit {
  pixels: Uint8Array;
  labels: Int32Array;
  size: number;
}

/** Reads a Fashion-MNIST split (Debian's dataset-fashion-mnist, $FASHION_MNIST_DIR or `root`); when it is missing, the error says how to install it. */
export function readFashionSplit(split: 'train' | 'test', root?: string): FashionSplit {
  const files = fashionMnistFiles({ split, root });
  const images = readIdx(files.images);
  const labels = readIdx(files.labels);
  if (images.dtype !== 'uint8' || images.shape.length !== 3)
    throw new Error(`${files.images}: expected N×H×W uint8 images, got [${images.shape}] ${images.dtype}`);
  const [n, h, w] = images.shape;
  if (labels.shape[0] !== n) throw new Error(`${files.labels}: ${labels.shape[0]} labels for ${n} images`);
  if (h !== w) throw new Error(`${files.images}: expected square images, got ${h} × ${w}`);
  return { pixels: images.data as Uint8Array, labels: Int32Array.from(labels.data as ArrayLike<number>), size: h };
}

/** One example: the image's pixels (a view of the split's, H × W uint8) and its label in the task. */
export interface TaskExample {
  pixels: Uint8Array;
  label: number;
}

/** Images of some classes of a split, labelled by position in `classes`. */
export class TaskDataset implements Dataset<TaskExample> {
  /** The rows (indices into the split), in the split's order. */
  readonly rows: Int32Array;
  /** Task labels (0 … classes.length − 1), for stratification. */
  readonly targets: Int32Array;

  constructor(
    readonly split: FashionSplit,
    /** The Fashion-MNIST class ids of the task; label i is classes[i]. */
    readonly classes: readonly number[],
    rows?: ArrayLike<number>,
  ) {
    const position = new Map(classes.map((c, i) => [c, i]));
    const chosen: number[] = [];
    if (rows) for (const r of Array.from(rows)) chosen.push(r);
    else for (let r = 0; r < split.labels.length; r++) if (position.has(split.labels[r])) chosen.push(r);
    this.rows = Int32Array.from(chosen);
    this.targets = Int32Array.from(chosen, (r) => {
      const label = position.get(split.labels[r]);
      if (label === undefined)
        throw new Error(`TaskDataset: row ${r} has class ${split.labels[r]}, not one of ${classes.join(', ')}`);
      return label;
    });
  }

  get length(): number {
    return this.rows.length;
  }

  get(index: number): TaskExample {
    const size = this.split.size * this.split.size;
    const row = this.rows[index];
    return { pixels: this.split.pixels.subarray(row * size, (row + 1) * size), label: this.targets[index] };
  }

  /** The class names of the task, by label. */
  get classNames(): string[] {
    return this.classes.map((c) => FASHION_MNIST_CLASSES[c]);
  }

  /**
   * The labelled images of a few-label experiment: `perClass` training and `validationPerClass`
   * validation examples of every class, drawn without replacement from one seeded shuffle of each
   * class (so the two never share an image, and the same seed gives the same draw), each kept in the
   * split's order.
   */
  labelBudget(
    perClass: number,
    validationPerClass: number,
    seed: number,
  ): { train: TaskDataset; validation: TaskDataset } {
    const rng = mulberry32(seed);
    const train: number[] = [];
    const validation: number[] = [];
    for (let label = 0; label < this.classes.length; label++) {
      const pool: number[] = [];
      for (let i = 0; i < this.rows.length; i++) if (this.targets[i] === label) pool.push(this.rows[i]);
      if (pool.length < perClass + validationPerClass) {
        throw new Error(
          `only ${pool.length} examples of '${FASHION_MNIST_CLASSES[this.classes[label]]}', fewer than ${perClass} labels + ${validationPerClass} validation images per class`,
        );
      }
      const order = permutation(pool.length, rng);
      for (let k = 0; k < perClass; k++) train.push(pool[order[k]]);
      for (let k = perClass; k < perClass + validationPerClass; k++) validation.push(pool[order[k]]);
    }
    const sorted = (rows: number[]) => rows.sort((a, b) => a - b);
    return {
      train: new TaskDataset(this.split, this.classes, sorted(train)),
      validation: new TaskDataset(this.split, this.classes, sorted(validation)),
    };
  }

  /** The first `count` examples of each class (a smaller evaluation set for quick runs). */
  firstPerClass(count: number): TaskDataset {
    const seen = new Array<number>(this.classes.length).fill(0);
    const picked: number[] = [];
    for (let i = 0; i < this.rows.length; i++) if (seen[this.targets[i]]++ < count) picked.push(this.rows[i]);
    return new TaskDataset(this.split, this.classes, picked);
  }
}

/** A batch as the Trainer takes it: images and labels. */
export interface ImageBatch {
  image: Tensor;
  label: Tensor;
}

/**
 * The collate of TaskDataset examples: pixels / 255, normalised, as [B, 1, S, S] float32 (resized
 * bilinearly from 28 × 28 when imageSize differs), and int64 labels.
 */
export function taskCollate(imageSize: number, side = 28): (examples: TaskExample[]) => ImageBatch {
  const pixelsPerImage = side * side;
  const scale = 1 / (255 * FASHION_MNIST_STD);
  const shift = FASHION_MNIST_MEAN / FASHION_MNIST_STD;
  return (examples) => {
    const n = examples.length;
    const values = new Float32Array(n * pixelsPerImage);
    for (let k = 0; k < n; k++) {
      const pixels = examples[k].pixels;
      if (pixels.length !== pixelsPerImage)
        throw new Error(`taskCollate: expected ${side} × ${side} images, got ${pixels.length} pixels`);
      const to = k * pixelsPerImage;
      for (let p = 0; p < pixelsPerImage; p++) values[to + p] = pixels[p] * scale - shift;
    }
    const image = tidy(() => {
      const x = fromTypedArray(values, [n, 1, side, side]);
      return imageSize === side ? x : transforms.resizeImage(x, [imageSize, imageSize], { antialias: false });
    });
    return {
      image,
      label: tensor(
        examples.map((e) => e.label),
        { dtype: 'int64' },
      ),
    };
  };
}

/** The images of several datasets of one split, in order, as a split of their own (rows 0 … n − 1): what a run in another process needs. */
export function packSplit(datasets: readonly TaskDataset[]): FashionSplit {
  const size = datasets[0]?.split.size ?? 28;
  const area = size * size;
  const total = datasets.reduce((n, d) => n + d.length, 0);
  const pixels = new Uint8Array(total * area);
  const labels = new Int32Array(total);
  let at = 0;
  for (const d of datasets) {
    if (d.split.size !== size) throw new Error('packSplit: datasets of different image sizes');
    for (const row of d.rows) {
      pixels.set(d.split.pixels.subarray(row * area, (row + 1) * area), at * area);
      labels[at++] = d.split.labels[row];
    }
  }
  return { pixels, labels, size };
}

/** Writes a split as one file: int32 count and side, int32 class ids, uint8 pixels. */
export function writeSplit(split: FashionSplit, path: string): void {
  const count = split.labels.length;
  const header = new Int32Array([count, split.size]);
  writeFileAtomicSync(
    path,
    Buffer.concat([
      Buffer.from(header.buffer),
      Buffer.from(split.labels.buffer, split.labels.byteOffset, count * 4),
      Buffer.from(split.pixels.buffer, split.pixels.byteOffset, split.pixels.byteLength),
    ]),
  );
}

/** Reads writeSplit's file. */
export function readSplit(path: string): FashionSplit {
  const bytes = readFileSync(path);
  const [count, size] = new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 8));
  if (!(count >= 0 && size > 0) || bytes.length !== 8 + count * 4 + count * size * size)
    throw new Error(`${path}: not a demo image file`);
  const labels = new Int32Array(bytes.buffer.slice(bytes.byteOffset + 8, bytes.byteOffset + 8 + count * 4));
  const pixels = new Uint8Array(bytes.buffer.slice(bytes.byteOffset + 8 + count * 4, bytes.byteOffset + bytes.length));
  return { pixels, labels, size };
}

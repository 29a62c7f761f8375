/**
 * Subsets and the train/validation split: reproducible from a seed, optionally stratified so that
 * every class keeps its share in both parts.
 */
import { dispose } from '../tensor/index.js';
import { checkIndex, setDatasetEpoch, type Dataset, type DatasetCapabilities } from './dataset.js';
import { mixSeeds, mulberry32, shuffleInPlace } from './random.js';

/**
 * The examples of `dataset` at `indices`, in that order (torch.utils.data.Subset). Forwards
 * setEpoch, getAsync and targets to the dataset.
 */
export class Subset<T> implements Dataset<T>, DatasetCapabilities<T> {
  readonly indices: Int32Array;

  constructor(
    readonly dataset: Dataset<T>,
    indices: ArrayLike<number>,
  ) {
    this.indices = Int32Array.from(indices);
    for (const i of this.indices) checkIndex(i, dataset.length, 'Subset');
  }

  get length(): number {
    return this.indices.length;
  }

  get(index: number): T {
    checkIndex(index, this.indices.length, 'Subset');
    return this.dataset.get(this.indices[index]);
  }

  getAsync(index: number): Promise<T> {
    checkIndex(index, this.indices.length, 'Subset');
    const parent = this.dataset as Dataset<T> & DatasetCapabilities<T>;
    const i = this.indices[index];
    return parent.getAsync ? parent.getAsync(i) : Promise.resolve().then(() => parent.get(i));
  }

  setEpoch(epoch: number): void {
    setDatasetEpoch(this.dataset, epoch);
  }

  /** The parent's labels of these examples, when the parent has targets. */
  get targets(): Int32Array | undefined {
    const parent = (this.dataset as DatasetCapabilities).targets;
    return parent ? Int32Array.from(this.indices, (i) => parent[i]) : undefined;
  }
}

export interface SplitOptions {
  /** Share of the examples for validation, in (0, 1); the count is ceil(fraction · n) as scikit-learn's. */
  validationFraction: number;
  /** Seed of the random assignment (default 0). */
  seed?: number;
  /**
   * Keep class proportions: true uses the dataset's `targets` (or, without them, the `label` of
   * every example — built once, which decodes every image); or give the labels (one per example)
   * or a function of the index.
   */
  stratify?: boolean | ArrayLike<number> | ((index: number) => number);
}

function labelsFor(dataset: Dataset<unknown>, stratify: Exclude<SplitOptions['stratify'], false | undefined>): ArrayLike<number> {
  const n = dataset.length;
  if (typeof stratify === 'function') return Int32Array.from({ length: n }, (_, i) => stratify(i));
  if (stratify !== true) {
    if (stratify.length !== n) throw new Error(`trainValidationSplit: ${stratify.length} stratification labels for ${n} examples`);
    return stratify;
  }
  const targets = (dataset as DatasetCapabilities).targets;
  if (targets) return targets;
  return Int32Array.from({ length: n }, (_, i) => {
    const example = dataset.get(i) as { label?: unknown };
    dispose(example);
    if (typeof example?.label !== 'number') {
      throw new Error('trainValidationSplit: stratify: true needs dataset.targets or examples with a numeric label; pass the labels instead');
    }
    return example.label;
  });
}

/**
 * Splits a dataset into train and validation Subsets (each in dataset order). The assignment is
 * random from `seed`; with `stratify` each class contributes its share to validation (quotas
 * rounded by largest remainder, so the total is exact).
 */
export function trainValidationSplit<T>(dataset: Dataset<T>, options: SplitOptions): { train: Subset<T>; validation: Subset<T> } {
  const { validationFraction: fraction, seed = 0, stratify } = options;
  if (!(fraction > 0 && fraction < 1)) throw new RangeError(`trainValidationSplit: validationFraction must be in (0, 1), got ${fraction}`);
  const n = dataset.length;
  const nValidation = Math.ceil(fraction * n - 1e-9);
  if (nValidation < 1 || nValidation >= n) {
    throw new Error(`trainValidationSplit: validationFraction ${fraction} of ${n} examples leaves ${nValidation} for validation and ${n - nValidation} for training; both need at least one`);
  }
  const rng = mulberry32(mixSeeds(seed, 0x5e117));
  const isValidation = new Uint8Array(n);
  if (!stratify) {
    const order = shuffleInPlace(Array.from({ length: n }, (_, i) => i), rng);
    for (let k = 0; k < nValidation; k++) isValidation[order[k]] = 1;
  } else {
    const labels = labelsFor(dataset, stratify);
    const byClass = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const members = byClass.get(labels[i]) ?? [];
      members.push(i);
      byClass.set(labels[i], members);
    }
    const classes = [...byClass.keys()].sort((a, b) => a - b);
    const exact = classes.map((c) => (byClass.get(c)!.length * nValidation) / n);
    const quota = exact.map(Math.floor);
    let left = nValidation - quota.reduce((a, b) => a + b, 0);
    // Largest remainders first; ties by a random key so no class is always favoured.
    const tieBreak = classes.map(() => rng());
    const byRemainder = classes.map((_, k) => k).sort((a, b) => exact[b] - quota[b] - (exact[a] - quota[a]) || tieBreak[a] - tieBreak[b]);
    for (const k of byRemainder) {
      if (left === 0) break;
      if (quota[k] < byClass.get(classes[k])!.length) {
        quota[k]++;
        left--;
      }
    }
    classes.forEach((c, k) => {
      const members = shuffleInPlace(byClass.get(c)!.slice(), rng);
      for (let m = 0; m < quota[k]; m++) isValidation[members[m]] = 1;
    });
  }
  const train: number[] = [];
  const validation: number[] = [];
  for (let i = 0; i < n; i++) (isValidation[i] ? validation : train).push(i);
  return { train: new Subset(dataset, train), validation: new Subset(dataset, validation) };
}

/**
 * The dataset shape shared by every data source (image folders, IDX files, text tables, …)
 * and consumed by DataLoader, trainValidationSplit and the trainer: random access by index,
 * like a map-style torch.utils.data.Dataset (`__len__` + `__getitem__`).
 */

/**
 * A map-style dataset: `length` examples, `get(i)` for 0 ≤ i < length. `get` may build
 * tensors; they belong to the caller (see DataLoader for who disposes them).
 */
export interface Dataset<T = unknown> {
  readonly length: number;
  get(index: number): T;
}

/** The example type of a dataset. */
export type ExampleOf<D> = D extends Dataset<infer T> ? T : never;

/** Throws a RangeError naming the dataset when `index` is not an integer in [0, length). */
export function checkIndex(index: number, length: number, what = 'dataset'): void {
  if (!Number.isInteger(index) || index < 0 || index >= length) {
    throw new RangeError(`${what}: index ${index} is out of range [0, ${length})`);
  }
}

/**
 * Optional capabilities a dataset may have; DataLoader, trainValidationSplit and wrappers use
 * them when present and forward them:
 * - `setEpoch(e)`: told before each epoch (random augmentation seeds from it);
 * - `getAsync(i)`: get() that reads files asynchronously, so reads overlap other work;
 * - `targets`: the class label of every example, without building examples (stratified splits).
 */
export interface DatasetCapabilities<T = unknown> {
  setEpoch?(epoch: number): void;
  getAsync?(index: number): Promise<T>;
  readonly targets?: ArrayLike<number>;
}

/**
 * A dataset and each dataset it views through `.dataset` (a Subset's, a wrapper's), outermost first, at
 * most `depth` of them (a cycle of views ends there), for what a wrapper does not forward itself.
 */
export function* datasetsViewed(dataset: unknown, depth = 8): Generator<object> {
  let d = dataset;
  for (let n = 0; n < depth && typeof d === 'object' && d !== null; n++) {
    yield d;
    d = (d as { dataset?: unknown }).dataset;
  }
}

/**
 * Why a dataset's examples may differ from epoch to epoch (random augmentation), or null when they
 * do not: a dataset it views has a random `transform` (Transform.random), or the innermost one
 * listens to setEpoch without a transform that says whether it is random (a dataset of your own).
 */
export function randomAugmentationOf(dataset: Dataset<unknown>): string | null {
  const viewed = [...datasetsViewed(dataset)];
  for (const d of viewed) {
    const transform = (d as { transform?: { random?: boolean } }).transform;
    if (transform?.random) return `${d.constructor.name}'s transform is random (augmentation)`;
  }
  const innermost = viewed[viewed.length - 1] as DatasetCapabilities & object;
  if (typeof innermost?.setEpoch === 'function' && !('transform' in innermost))
    return `${innermost.constructor.name} listens to setEpoch, so its examples may change every epoch`;
  return null;
}

/** Tells a dataset the epoch, if it listens (DatasetCapabilities.setEpoch). */
export function setDatasetEpoch(dataset: Dataset<unknown>, epoch: number): void {
  (dataset as DatasetCapabilities).setEpoch?.(epoch);
}

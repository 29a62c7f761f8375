/**
 * DataLoader: batches of a Dataset, in a shuffled order reproducible from (seed, epoch), prepared
 * ahead of the consumer.
 *
 *     const loader = new DataLoader(dataset, { batchSize: 32, shuffle: true, seed: 0, prefetch: 2 });
 *     for (let epoch = 0; epoch < 3; epoch++) {
 *       for await (const { image, label } of loader.epoch(epoch)) step(image, label);
 *     }
 *
 * Order. Epoch e's order is a Fisher–Yates permutation from mulberry32(seed, e): the same seed
 * and epoch give the same batches on any machine, so a run resumes at (epoch, batch) with
 * `loader.epoch(e, { startBatch })`. The loader tells the dataset the epoch (setEpoch), from which
 * random transforms seed per example. A `sampler` (e.g. DistributedSampler, one rank's share) gives
 * the order instead; the loader tells it the epoch too.
 *
 * Memory. Batch tensors belong to the loader until the consumer asks for the next batch: the loader
 * then disposes the previous batch (and the rest of a prefetch queue when a loop ends early), so
 * `for await (const batch of loader) step(batch)` leaks nothing. To keep a batch tensor beyond its
 * iteration, clone it; or pass `disposeBatches: false` and dispose batches yourself
 * (`dispose(batch)`). Batches are created exempt from every tidy()/tidyAsync() scope (keep()): a
 * batch prepared ahead while a step's scope is open must survive that scope. Example tensors are
 * freed once collated.
 *
 * Prefetch: what overlaps what. JavaScript runs on one thread, and a training step made of
 * synchronous native calls holds it until it returns; libtorch's kernels themselves use every core.
 * With `prefetch: n`, when batch k is handed out the loader has already started batches k+1 … k+n:
 * - file reads (datasets with getAsync, e.g. ImageFolderDataset) are issued at once and run on
 *   libuv's threads *during* step k;
 * - decoding, transforms and collation are JavaScript and libtorch calls on the main thread: they
 *   run in setImmediate slices whenever the consumer awaits — at the latest when it asks for the
 *   next batch, usually in the gaps of an async training loop — never in parallel with a synchronous
 *   step. On a GPU, where a step only queues kernels, they do overlap the device's work.
 * So the consumer normally finds batch k+1 collated (or at least read) when it asks for it; a
 * dataset held in memory (IDX) costs little to prepare either way.
 */
import { Tensor, fromTypedArray, keep, stack, tensor } from '../tensor/index.js';
import { setDatasetEpoch, type Dataset, type DatasetCapabilities } from './dataset.js';
import { mixSeeds, mulberry32, permutation } from './random.js';

/** What the default collate makes of an example type. */
export type Collated<T> = T extends Tensor
  ? Tensor
  : T extends number | boolean | bigint
    ? Tensor
    : T extends string
      ? string[]
      : T extends ArrayBufferView
        ? Tensor
        : T extends readonly unknown[]
          ? { [K in keyof T]: Collated<T[K]> }
          : T extends object
            ? { [K in keyof T]: Collated<T[K]> }
            : T[];

function describe(value: unknown): string {
  if (value instanceof Tensor) return `a tensor of shape [${value.shape}] ${value.dtype}`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value;
}

function collateAt(values: unknown[], path: string): unknown {
  const first = values[0];
  values.forEach((value, i) => {
    const same =
      first instanceof Tensor
        ? value instanceof Tensor
        : ArrayBuffer.isView(first)
          ? ArrayBuffer.isView(value)
          : Array.isArray(first)
            ? Array.isArray(value)
            : typeof value === typeof first && (value === null) === (first === null);
    if (!same) throw new Error(`collate: ${path || 'example'} is ${describe(first)} in example 0 but ${describe(value)} in example ${i}`);
  });
  if (first instanceof Tensor) {
    const tensors = values as Tensor[];
    tensors.forEach((t, i) => {
      if (t.ndim !== first.ndim || t.shape.some((d, k) => d !== first.shape[k])) {
        throw new Error(`collate: ${path || 'example'} has shape [${t.shape}] in example ${i} but [${first.shape}] in example 0 (resize or crop to one size, or pass a collate that pads)`);
      }
      if (t.dtype !== first.dtype) throw new Error(`collate: ${path || 'example'} is ${t.dtype} in example ${i} but ${first.dtype} in example 0`);
    });
    return stack(tensors, 0);
  }
  if (typeof first === 'number') {
    const numbers = values as number[];
    return numbers.every(Number.isInteger) ? tensor(numbers, { dtype: 'int64' }) : tensor(numbers, { dtype: 'float32' });
  }
  if (typeof first === 'boolean') return tensor(values as boolean[], { dtype: 'bool' });
  if (typeof first === 'bigint') return fromTypedArray(BigInt64Array.from(values as bigint[]), [values.length], { dtype: 'int64' });
  if (ArrayBuffer.isView(first)) {
    const arrays = values as ArrayBufferView[];
    const Ctor = (first as unknown as { constructor: { new (n: number): ArrayBufferView & { set(a: ArrayLike<unknown>, at: number): void; length: number } } }).constructor;
    const length = (first as unknown as { length: number }).length;
    const out = new Ctor(length * arrays.length);
    arrays.forEach((a, i) => {
      if (a.constructor !== Ctor || (a as unknown as { length: number }).length !== length) {
        throw new Error(`collate: ${path || 'example'} is a ${a.constructor.name} of ${(a as unknown as { length: number }).length} in example ${i} but a ${Ctor.name} of ${length} in example 0`);
      }
      out.set(a as unknown as ArrayLike<unknown>, i * length);
    });
    return fromTypedArray(out, [arrays.length, length]);
  }
  if (Array.isArray(first)) {
    const arrays = values as unknown[][];
    arrays.forEach((a, i) => {
      if (a.length !== first.length) throw new Error(`collate: ${path || 'example'} has ${a.length} elements in example ${i} but ${first.length} in example 0`);
    });
    return first.map((_, k) => collateAt(arrays.map((a) => a[k]), `${path}[${k}]`));
  }
  if (typeof first === 'object' && first !== null) {
    const proto = Object.getPrototypeOf(first);
    if (proto === Object.prototype || proto === null) {
      const keys = Object.keys(first);
      const out: Record<string, unknown> = {};
      for (const key of keys) {
        values.forEach((v, i) => {
          if (!(key in (v as object))) throw new Error(`collate: example ${i} has no '${path ? `${path}.` : ''}${key}'`);
        });
        out[key] = collateAt(values.map((v) => (v as Record<string, unknown>)[key]), path ? `${path}.${key}` : key);
      }
      return out;
    }
  }
  return values; // strings, null, other objects: kept as a list
}

/**
 * torch's default_collate for JavaScript examples: tensors stacked along a new first dimension
 * (same shape and dtype required), numbers → int64 (all integers) or float32 tensors, booleans →
 * bool, typed arrays → a 2-d tensor, arrays and plain objects collated element-wise / key-wise
 * (so `{ image, label }` → `{ image: N×…, label: N }`), strings and anything else → arrays.
 */
export function defaultCollate<T>(examples: readonly T[]): Collated<T> {
  if (examples.length === 0) throw new Error('collate: no examples');
  return collateAt([...examples], '') as Collated<T>;
}

/** @internal Every tensor reachable through arrays, Maps and plain objects. */
export function tensorsIn(value: unknown, found: Set<Tensor> = new Set(), seen: Set<unknown> = new Set()): Set<Tensor> {
  if (typeof value !== 'object' || value === null || seen.has(value)) return found;
  seen.add(value);
  if (value instanceof Tensor) found.add(value);
  else if (Array.isArray(value)) for (const v of value) tensorsIn(v, found, seen);
  else if (value instanceof Map) for (const v of value.values()) tensorsIn(v, found, seen);
  else {
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) for (const v of Object.values(value)) tensorsIn(v, found, seen);
  }
  return found;
}

function disposeAll(value: unknown): void {
  for (const t of tensorsIn(value)) t.dispose();
}

/**
 * Where a DataLoader takes its order from instead of its own shuffle (torch's `sampler`): the dataset
 * indices of an epoch, `length` of them.
 */
export interface Sampler extends Iterable<number> {
  readonly length: number;
  /** Told the epoch before the epoch's indices are read (DistributedSampler.setEpoch). */
  setEpoch?(epoch: number): void;
}

export interface DataLoaderOptions<T, B> {
  /** Examples per batch (default 1). */
  batchSize?: number;
  /** A new random order every epoch (default false: dataset order). */
  shuffle?: boolean;
  /** The order of the examples, e.g. a DistributedSampler (not with shuffle: the sampler shuffles). */
  sampler?: Sampler;
  /** Seed of the shuffle (default 0): the order of epoch e depends only on (seed, e). */
  seed?: number;
  /** Leave out the last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Turns a list of examples into a batch (default: defaultCollate). */
  collate?: (examples: T[]) => B;
  /** Batches prepared ahead of the consumer in async iteration (default 2; 0: on demand). */
  prefetch?: number;
  /** Dispose each batch when the next is asked for (default true); false: the consumer disposes. */
  disposeBatches?: boolean;
}

/** Where to start an epoch. */
export interface EpochOptions {
  /** Skip this many batches (resume mid-epoch); the order is unchanged. */
  startBatch?: number;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Batches of a dataset; see the module comment for order, memory and prefetch. `for await (const
 * batch of loader)` and `for (const batch of loader)` run epoch 0, then 1, … on successive loops
 * (`loader.nextEpoch`); `loader.epoch(e)` runs epoch e.
 */
export class DataLoader<T, B = Collated<T>> implements AsyncIterable<B>, Iterable<B> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly prefetch: number;
  readonly disposeBatches: boolean;
  readonly sampler: Sampler | undefined;
  /** The epoch the next plain `for await` / `for` loop over the loader runs. */
  nextEpoch = 0;
  private readonly collateFn: (examples: T[]) => B;

  constructor(
    readonly dataset: Dataset<T>,
    options: DataLoaderOptions<T, B> = {},
  ) {
    this.batchSize = options.batchSize ?? 1;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new RangeError(`DataLoader: batchSize must be a positive integer, got ${options.batchSize}`);
    this.shuffle = options.shuffle ?? false;
    this.sampler = options.sampler;
    if (this.sampler && this.shuffle)
      throw new Error('DataLoader: sampler and shuffle exclude each other (the sampler decides the order; leave shuffle out)');
    this.seed = options.seed ?? 0;
    this.dropLast = options.dropLast ?? false;
    this.prefetch = options.prefetch ?? 2;
    if (!Number.isInteger(this.prefetch) || this.prefetch < 0) throw new RangeError(`DataLoader: prefetch must be an integer ≥ 0, got ${options.prefetch}`);
    this.disposeBatches = options.disposeBatches ?? true;
    this.collateFn = options.collate ?? ((examples) => defaultCollate(examples) as B);
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.sampler ? this.sampler.length : this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The order of the examples in epoch `epoch` (dataset indices). */
  order(epoch: number): Int32Array {
    if (this.sampler) {
      this.sampler.setEpoch?.(epoch);
      return Int32Array.from(this.sampler);
    }
    const n = this.dataset.length;
    if (!this.shuffle) return Int32Array.from({ length: n }, (_, i) => i);
    return permutation(n, mulberry32(mixSeeds(this.seed, epoch)));
  }

  /** The dataset indices of every batch of epoch `epoch`. */
  batches(epoch: number): number[][] {
    const order = this.order(epoch);
    const out: number[][] = [];
    for (let b = 0; b < this.length; b++) out.push(Array.from(order.subarray(b * this.batchSize, Math.min(order.length, (b + 1) * this.batchSize))));
    return out;
  }

  private collate(examples: T[]): B {
    let batch: B;
    try {
      batch = this.collateFn(examples);
    } catch (error) {
      disposeAll(examples);
      throw error;
    }
    // Free the example tensors the batch does not hold (the default collate copies them all).
    const held = tensorsIn(batch);
    for (const t of tensorsIn(examples)) if (!held.has(t)) t.dispose();
    for (const t of held) keep(t);
    return batch;
  }

  /** Prepares one batch: reads start now (getAsync), the rest runs in later turns of the event loop. */
  private prepare(indices: number[]): Promise<B> {
    const dataset = this.dataset as Dataset<T> & DatasetCapabilities<T>;
    const reads = typeof dataset.getAsync === 'function' ? indices.map((i) => dataset.getAsync!(i)) : undefined;
    for (const read of reads ?? []) read.catch(() => undefined); // failures are reported below, never unhandled
    return (async () => {
      await nextTurn();
      const examples: T[] = [];
      try {
        if (reads) {
          const settled = await Promise.allSettled(reads);
          for (const s of settled) if (s.status === 'fulfilled') examples.push(s.value);
          const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
          if (failed) throw failed.reason;
        } else {
          for (let k = 0; k < indices.length; k++) {
            examples.push(dataset.get(indices[k]));
            if (k % 16 === 15) await nextTurn(); // let other work (the consumer's awaits) in
          }
        }
      } catch (error) {
        disposeAll(examples);
        throw error;
      }
      return this.collate(examples);
    })();
  }

  /** Epoch `epoch`'s batches, prepared `prefetch` ahead. */
  async *epoch(epoch: number, options: EpochOptions = {}): AsyncGenerator<B, void, undefined> {
    setDatasetEpoch(this.dataset, epoch);
    const batches = this.batches(epoch);
    let next = options.startBatch ?? 0;
    if (!Number.isInteger(next) || next < 0) throw new RangeError(`DataLoader: startBatch must be an integer ≥ 0, got ${next}`);
    const queue: Promise<B>[] = [];
    const fill = (): void => {
      while (queue.length < Math.max(1, this.prefetch) && next < batches.length) {
        const pending = this.prepare(batches[next++]);
        pending.catch(() => undefined); // reported when awaited; never unhandled
        queue.push(pending);
      }
    };
    let current: B | undefined;
    try {
      fill();
      while (queue.length > 0) {
        const batch = await queue.shift()!;
        if (this.prefetch > 0) fill(); // batch k+1 … k+n start before batch k is handed out
        current = batch;
        yield batch;
        if (this.disposeBatches) disposeAll(current);
        current = undefined;
        if (this.prefetch === 0) fill();
      }
    } finally {
      if (this.disposeBatches && current !== undefined) disposeAll(current);
      for (const pending of queue) pending.then(disposeAll, () => undefined);
    }
  }

  /** Epoch `epoch`'s batches, synchronously (no prefetch; getAsync unused). */
  *epochSync(epoch: number, options: EpochOptions = {}): Generator<B, void, undefined> {
    setDatasetEpoch(this.dataset, epoch);
    const batches = this.batches(epoch);
    for (let b = options.startBatch ?? 0; b < batches.length; b++) {
      const examples: T[] = [];
      try {
        for (const i of batches[b]) examples.push(this.dataset.get(i));
      } catch (error) {
        disposeAll(examples);
        throw error;
      }
      const batch = this.collate(examples);
      try {
        yield batch;
      } finally {
        if (this.disposeBatches) disposeAll(batch);
      }
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<B, void, undefined> {
    return this.epoch(this.nextEpoch++);
  }

  [Symbol.iterator](): Generator<B, void, undefined> {
    return this.epochSync(this.nextEpoch++);
  }
}

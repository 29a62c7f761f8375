/**
 * DistributedSampler: the share of a dataset one process of a data-parallel group reads, as
 * torch.utils.data.distributed.DistributedSampler computes it, index for index.
 *
 *     const sampler = new DistributedSampler(dataset, { numReplicas: 2, rank: 0, seed: 42 });
 *     const loader = new DataLoader(dataset, { batchSize: 8, sampler });
 *     for (let epoch = 0; epoch < 3; epoch++) for await (const batch of loader.epoch(epoch)) step(batch);
 *
 * Each epoch every rank draws the same permutation of 0 … n-1 (libtorch's randperm on a CPU generator
 * seeded with seed + epoch, as torch does), pads it by repeating its first indices up to a multiple of
 * numReplicas (or, with dropLast, cuts the tail), and keeps every numReplicas-th index from position
 * `rank`: the ranks' shares are disjoint (but for the padding) and together cover the dataset.
 */
import { getRngState, manualSeed, randperm, setRngState } from '../tensor/index.js';

export interface DistributedSamplerOptions {
  /** Processes in the group (default: the WORLD_SIZE variable that `finetune launch` and torchrun set). */
  numReplicas?: number;
  /** This process's rank, 0 … numReplicas-1 (default: the RANK variable). */
  rank?: number;
  /** A new order every epoch (default true); false: dataset order. */
  shuffle?: boolean;
  /** Seed of the shuffle, the same on every rank (default 0). */
  seed?: number;
  /** Cut the tail so that every rank gets the same number of distinct examples (default false: pad by repeating). */
  dropLast?: boolean;
}

/** An integer option given, else the environment variable a launcher sets, else an error naming both. */
function fromOptionOrEnvironment(value: number | undefined, option: string, variable: string): number {
  if (value !== undefined) return value;
  const text = process.env[variable];
  if (text === undefined || text.trim() === '') {
    throw new Error(
      `DistributedSampler: ${option} not given and ${variable} is not set (start the script with finetune launch or torchrun, or pass ${option})`,
    );
  }
  const parsed = Number(text);
  if (!Number.isInteger(parsed)) throw new Error(`DistributedSampler: ${variable}='${text}' is not an integer`);
  return parsed;
}

/**
 * The indices of one rank's share of a dataset, epoch by epoch (torch's DistributedSampler). Iterate
 * it for the current epoch's indices; a DataLoader given it as `sampler` sets the epoch itself.
 */
export class DistributedSampler implements Iterable<number> {
  readonly numReplicas: number;
  readonly rank: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  /** Indices each rank gets per epoch (torch's num_samples). */
  readonly length: number;
  /** length × numReplicas: the padded (or cut) size of the permutation. */
  readonly totalSize: number;
  /** The epoch whose order iteration gives (setEpoch). */
  epoch = 0;
  private readonly datasetLength: number;

  constructor(dataset: { readonly length: number }, options: DistributedSamplerOptions = {}) {
    this.numReplicas = fromOptionOrEnvironment(options.numReplicas, 'numReplicas', 'WORLD_SIZE');
    this.rank = fromOptionOrEnvironment(options.rank, 'rank', 'RANK');
    if (!Number.isInteger(this.numReplicas) || this.numReplicas < 1)
      throw new RangeError(`DistributedSampler: numReplicas must be a positive integer, got ${this.numReplicas}`);
    if (!Number.isInteger(this.rank) || this.rank < 0 || this.rank >= this.numReplicas)
      throw new RangeError(
        `DistributedSampler: invalid rank ${this.rank}, rank should be in the interval [0, ${this.numReplicas - 1}]`,
      );
    this.shuffle = options.shuffle ?? true;
    this.seed = options.seed ?? 0;
    if (!Number.isSafeInteger(this.seed) || this.seed < 0)
      throw new RangeError(`DistributedSampler: seed must be an integer ≥ 0, got ${options.seed}`);
    this.dropLast = options.dropLast ?? false;
    this.datasetLength = dataset.length;
    const n = this.datasetLength;
    // torch: with dropLast and a remainder, the largest share every rank can have without padding.
    this.length =
      this.dropLast && n % this.numReplicas !== 0
        ? Math.max(0, Math.ceil((n - this.numReplicas) / this.numReplicas))
        : Math.ceil(n / this.numReplicas);
    this.totalSize = this.length * this.numReplicas;
  }

  /** Chooses the epoch whose order iteration gives: call it before each epoch, or every epoch repeats epoch 0's order. */
  setEpoch(epoch: number): void {
    if (!Number.isSafeInteger(epoch) || epoch < 0)
      throw new RangeError(`DistributedSampler: epoch must be an integer ≥ 0, got ${epoch}`);
    this.epoch = epoch;
  }

  /**
   * The permutation every rank shares in an epoch: torch.randperm(n) from a generator seeded with
   * seed + epoch. libtorch's default CPU generator draws it, its state saved and restored around the
   * draw so that the random numbers a model uses do not depend on the sampler.
   */
  private permutation(): number[] {
    const n = this.datasetLength;
    if (!this.shuffle) return Array.from({ length: n }, (_, i) => i);
    const saved = getRngState();
    try {
      manualSeed(this.seed + this.epoch);
      const order = randperm(n);
      try {
        return Array.from(order.data() as BigInt64Array, Number);
      } finally {
        order.dispose();
      }
    } finally {
      setRngState(saved);
      saved.dispose();
    }
  }

  /** This rank's indices of the current epoch (torch's `list(iter(sampler))`). */
  indices(): number[] {
    const order = this.permutation();
    if (this.dropLast) order.length = this.totalSize;
    else {
      const padding = this.totalSize - order.length;
      // Repeat the permutation from its start (several times when there are fewer examples than ranks).
      for (let i = 0; i < padding && order.length > 0; i++) order.push(order[i % this.datasetLength]);
    }
    const share: number[] = [];
    for (let i = this.rank; i < this.totalSize; i += this.numReplicas) share.push(order[i]);
    return share;
  }

  [Symbol.iterator](): Iterator<number> {
    return this.indices()[Symbol.iterator]();
  }
}

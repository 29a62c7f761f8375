/**
 * The Trainer under data parallelism (torchrun, `finetune launch`, `finetune train --nproc-per-node`,
 * a scheduler that sets the same variables): where this process stands in the group, the order each
 * rank trains on, the share of an evaluation set it predicts, and the collectives that put the ranks'
 * results together.
 *
 * Data order. One process trains on the batches of DataLoader's shuffle (seeded with dataSeed, a new
 * order per epoch). Under W processes every rank reads that same order through a DistributedSampler
 * (shuffle off: it shards positions, padding by repeating the first ones): rank r takes positions
 * r, r + W, r + 2W, … So the W per-device batches of a step together are exactly the
 * per-device × W consecutive examples one process with batch per-device × W would take — 2
 * processes × batch 4 train on the same examples, step by step, as 1 process × batch 8 (torch's own
 * DistributedSampler draws another permutation, so its runs could not be compared with one process's).
 * When the dataset is not a multiple of W, the sampler's padding repeats the first examples of the
 * epoch's order, as torch's does.
 */
import {
  allGather,
  allReduce,
  barrier,
  getRank,
  getWorldSize,
  initProcessGroup,
  isInitialized,
  ReduceOp,
} from '../distributed/index.js';
import { DataLoader, DistributedSampler, type Dataset, type Sampler } from '../data/index.js';
import { fromTypedArray, tensor, tidy, zeros } from '../tensor/index.js';

/** This process's place in the data-parallel group (rank 0 of 1 when there is none). */
export interface WorldPlace {
  rank: number;
  worldSize: number;
}

/** The world size a launcher's WORLD_SIZE asks for (1 when it is not set). */
function launchedWorldSize(): number {
  const value = Number(process.env.WORLD_SIZE ?? '1');
  return Number.isInteger(value) && value > 0 ? value : 1;
}

/**
 * HF's TrainingArguments._setup_devices: when a launcher started this process as one of several
 * (WORLD_SIZE > 1) and no process group exists, joins the default group (gloo, env://: MASTER_ADDR,
 * MASTER_PORT, RANK); a group made by the user's script is used as it is.
 */
export function joinWorld(): WorldPlace {
  if (!isInitialized()) {
    if (launchedWorldSize() === 1) return { rank: 0, worldSize: 1 };
    initProcessGroup({ backend: 'gloo', initMethod: 'env://' });
  }
  return { rank: getRank(), worldSize: getWorldSize() };
}

/**
 * Rank `rank`'s share of the single-process training order (see the module comment): DataLoader's
 * shuffle of (seed, epoch), sharded by a DistributedSampler without its own shuffle.
 */
export class ShardedTrainOrder implements Sampler {
  readonly #order: DataLoader<unknown, unknown>;
  readonly #positions: DistributedSampler;

  constructor(dataset: Dataset<unknown>, seed: number, place: WorldPlace) {
    this.#order = new DataLoader(dataset, { shuffle: true, seed, prefetch: 0 });
    this.#positions = new DistributedSampler(dataset, {
      numReplicas: place.worldSize,
      rank: place.rank,
      shuffle: false,
    });
  }

  get length(): number {
    return this.#positions.length;
  }

  setEpoch(epoch: number): void {
    this.#positions.setEpoch(epoch);
  }

  *[Symbol.iterator](): Iterator<number> {
    const order = this.#order.order(this.#positions.epoch);
    for (const position of this.#positions) yield order[position];
  }
}

/**
 * Rank `rank`'s block of an evaluation set: examples [start, end) of a split into W nearly equal
 * contiguous blocks, so that the ranks' predictions, concatenated in rank order, are the dataset's
 * in order whatever a prediction row is (an example's or a token's), with no padding to drop.
 */
export function evaluationShard(length: number, place: WorldPlace): Sampler {
  const start = Math.floor((length * place.rank) / place.worldSize);
  const end = Math.floor((length * (place.rank + 1)) / place.worldSize);
  return {
    length: end - start,
    *[Symbol.iterator]() {
      for (let i = start; i < end; i++) yield i;
    },
  };
}

/** The examples each rank reads per epoch, and so the batches per epoch under `worldSize` processes. */
export function batchesPerEpoch(examples: number, batchSize: number, dropLast: boolean, worldSize: number): number {
  const perRank = Math.ceil(examples / worldSize);
  return dropLast ? Math.floor(perRank / batchSize) : Math.ceil(perRank / batchSize);
}

/** torch.distributed.all_gather_object: every rank's JSON-serialisable `value`, in rank order, on every rank. */
export function allGatherObject<T>(value: T): T[] {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  const worldSize = getWorldSize();
  const lengths = tidy(() => {
    const mine = tensor([bytes.length], { dtype: 'int64' });
    const all = Array.from({ length: worldSize }, () => zeros([1], { dtype: 'int64' }));
    allGather(all, mine);
    return all.map((t) => Number(t.item()));
  });
  const longest = Math.max(...lengths);
  const padded = new Uint8Array(longest);
  padded.set(bytes);
  return tidy(() => {
    const all = Array.from({ length: worldSize }, () => zeros([longest], { dtype: 'uint8' }));
    allGather(all, fromTypedArray(padded, [longest]));
    const decoder = new TextDecoder();
    return all.map((t, r) => JSON.parse(decoder.decode((t.data() as Uint8Array).subarray(0, lengths[r]))) as T);
  });
}

/** The mean of `value` over the ranks (every rank gets it): a step's loss, NaN when any rank's is. */
export function meanOverRanks(value: number): number {
  return reducedOverRanks(value, ReduceOp.AVG);
}

/** The sum of `value` over the ranks (every rank gets it): the FLOs that all processes computed. */
export function sumOverRanks(value: number): number {
  return reducedOverRanks(value, ReduceOp.SUM);
}

function reducedOverRanks(value: number, op: ReduceOp): number {
  return tidy(() => {
    const t = tensor([value], { dtype: 'float64' });
    allReduce(t, op);
    return Number(t.item());
  });
}

/** Waits for every rank (the others wait while rank 0 writes files). */
export function waitForAllRanks(place: WorldPlace): void {
  if (place.worldSize > 1) barrier();
}

/**
 * Whether this process prints and writes files: rank 0 of the default group, else of the group a
 * launcher's RANK / WORLD_SIZE announce (before the Trainer joins it), else the only process.
 */
export function isWorldProcessZero(): boolean {
  if (isInitialized()) return getRank() === 0;
  return launchedWorldSize() === 1 || Number(process.env.RANK ?? '0') === 0;
}

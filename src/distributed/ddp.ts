/**
 * DistributedDataParallel: torch's DDP over the default process group. Every rank holds a whole copy of
 * the model and trains on its own shard of each batch; the copies stay equal because they start equal
 * (rank 0's parameters and buffers are broadcast at construction) and step on the same averaged
 * gradients.
 *
 * The engine has no per-tensor gradient hooks, so the gradients cannot be reduced while backward runs
 * (torch's overlap): `syncGradients()` reduces them after `loss.backward()` and before
 * `optimizer.step()`, in torch's buckets — the gradients of the parameters that train, last layer
 * first, flattened into one contiguous tensor per ~bucketCapMb, all buckets' allReduce(AVG) started
 * asynchronously, then waited on and copied back.
 */
import { Module, type StateDict } from '../nn/module.js';
import { cat, noGrad, tidy, zerosLike, type Tensor } from '../tensor/index.js';
import { elementBytes } from '../tensor/typed-arrays.js';
import { allReduce, broadcast, getWorldSize, isInitialized, ReduceOp, type Work } from './index.js';

export interface DistributedDataParallelOptions {
  /** Broadcast rank 0's buffers (BatchNorm's running statistics) before every forward (default true, as torch). */
  broadcastBuffers?: boolean;
  /** The most megabytes of gradients one allReduce carries (default 25, as torch). */
  bucketCapMb?: number;
}

/** A module with a forward method: what DDP wraps. */
type Forwarding = Module & { forward(...args: never[]): unknown };

/** The parameters whose gradients are reduced in one allReduce. */
type Bucket = Tensor[];

/**
 * Parameters that train, last registered first (backward produces their gradients first), grouped by
 * dtype into buckets of at most capBytes (a parameter larger than the cap gets a bucket of its own).
 */
function bucketsOf(parameters: Tensor[], capBytes: number): Bucket[] {
  const buckets: Bucket[] = [];
  const open = new Map<string, { bucket: Bucket; bytes: number }>();
  for (const p of [...parameters].reverse()) {
    const bytes = p.numel() * elementBytes(p.dtype);
    let current = open.get(p.dtype);
    if (current === undefined || (current.bytes > 0 && current.bytes + bytes > capBytes)) {
      current = { bucket: [], bytes: 0 };
      buckets.push(current.bucket);
      open.set(p.dtype, current);
    }
    current.bucket.push(p);
    current.bytes += bytes;
  }
  return buckets;
}

/**
 * One collective per bucket instead of one per tensor: each bucket's tensors (as `contribution` gives
 * them) are flattened into one contiguous tensor, every bucket's collective is started, then all are
 * waited on, and each tensor's slice of the result is handed to `receive`.
 */
function coalesced(
  buckets: Bucket[],
  contribution: (t: Tensor) => Tensor,
  collective: (flat: Tensor) => Work,
  receive: (t: Tensor, result: Tensor) => void,
): void {
  noGrad(() =>
    tidy(() => {
      const flats = buckets.map((bucket) => cat(bucket.map((t) => contribution(t).reshape(-1))));
      flats.map(collective).forEach((work) => work.wait());
      buckets.forEach((bucket, b) => {
        let offset = 0;
        for (const t of bucket) {
          receive(t, flats[b].narrow(0, offset, t.numel()).view(t.shape));
          offset += t.numel();
        }
      });
    }),
  );
}

/** torch's _sync_module_states: copies rank 0's tensors into every rank's, in buckets of 250 MB. */
function broadcastFromRank0(tensors: Tensor[]): void {
  if (getWorldSize() === 1) return;
  coalesced(
    bucketsOf(tensors, 250 * 1024 * 1024),
    (t) => t,
    (flat) => broadcast(flat, 0, { asyncOp: true }),
    (t, value) => t.copy_(value),
  );
}

export class DistributedDataParallel<M extends Forwarding> extends Module {
  readonly #module: M;
  readonly #broadcastBuffers: boolean;
  readonly #buckets: Bucket[];
  #syncing = true;

  /**
   * Wraps `module` (already on its device, with the parameters that train marked requiresGrad: the
   * buckets are made from them now) and broadcasts rank 0's parameters and buffers into it.
   */
  constructor(module: M, options: DistributedDataParallelOptions = {}) {
    super();
    if (!isInitialized()) {
      throw new Error(
        'DistributedDataParallel: the default process group has not been initialized: call initProcessGroup first',
      );
    }
    const bucketCapMb = options.bucketCapMb ?? 25;
    if (!(bucketCapMb > 0)) throw new Error(`DistributedDataParallel: bucketCapMb must be > 0, got ${bucketCapMb}`);
    this.#module = module;
    this.#broadcastBuffers = options.broadcastBuffers ?? true;
    this.#buckets = bucketsOf(
      module.parameters().filter((p) => p.requiresGrad),
      bucketCapMb * 1024 * 1024,
    );
    broadcastFromRank0([...module.parameters(), ...module.namedBuffers().map(([, b]) => b)]);
  }

  /** The wrapped module (torch's ddp.module): save and evaluate it. */
  get module(): M {
    return this.#module;
  }

  /** The number of allReduce calls one syncGradients makes. */
  get bucketCount(): number {
    return this.#buckets.length;
  }

  /** The wrapped module's forward, after broadcasting rank 0's buffers when broadcastBuffers. */
  forward(...args: Parameters<M['forward']>): ReturnType<M['forward']> {
    if (this.#broadcastBuffers) this.#syncBuffers();
    return (this.#module.forward as (...a: Parameters<M['forward']>) => ReturnType<M['forward']>)(...args);
  }

  /**
   * Averages the gradients of the parameters that train across ranks; call it on every rank after
   * `loss.backward()` and before `optimizer.step()`. A no-op inside noSync(). A parameter that got no
   * gradient on this rank takes part with zeros and receives the average (torch's find_unused_parameters).
   */
  syncGradients(): void {
    if (!this.#syncing || getWorldSize() === 1) return;
    coalesced(
      this.#buckets,
      (p) => p.grad ?? zerosLike(p),
      (flat) => allReduce(flat, ReduceOp.AVG, { asyncOp: true }),
      (p, averaged) => {
        const grad = p.grad;
        if (grad === null) p.grad = averaged.clone();
        else grad.copy_(averaged);
      },
    );
  }

  /**
   * Runs `fn` with gradient synchronisation off (torch's `with ddp.no_sync():`): the backward passes
   * in it accumulate gradients on this rank only, and the first syncGradients after it averages the sum.
   */
  noSync<T>(fn: () => T): T {
    const before = this.#syncing;
    this.#syncing = false;
    try {
      return fn();
    } finally {
      this.#syncing = before;
    }
  }

  #syncBuffers(): void {
    broadcastFromRank0(this.#module.namedBuffers().map(([, b]) => b));
  }

  // The wrapped module's parameters, buffers and state dict under their own names (no 'module.' prefix),
  // so that saving the wrapper saves the plain model.

  override namedModules(prefix = '', seen = new Set<Module>()): [string, Module][] {
    return this.#module.namedModules(prefix, seen);
  }

  override stateDict(prefix = '', into: StateDict = new Map()): StateDict {
    return this.#module.stateDict(prefix, into);
  }

  override getSubmodule(path: string): Module {
    return this.#module.getSubmodule(path);
  }

  override train(mode = true): this {
    this.#module.train(mode);
    this.training = mode;
    return this;
  }
}

/**
 * DistributedDataParallel: torch's DDP over the default process group. Every rank holds a whole copy of
 * the model and trains on its own shard of each batch; the copies stay equal because they start equal
 * (rank 0's parameters and buffers are broadcast at construction) and step on the same averaged
 * gradients.
 *
 * The gradients are averaged by c10d's own Reducer (the one torch's DDP drives) while backward runs:
 * its autograd hooks on the parameters that train mark each gradient ready, and a bucket's allReduce
 * starts as soon as all its gradients are, overlapping the rest of backward; `loss.backward()` returns
 * with every rank's gradients averaged. As torch's, the first iteration reduces everything in one
 * bucket, and the buckets are rebuilt before the second forward in the order the gradients arrived:
 * ~1 MiB first (the last layers'), then up to bucketCapMb each.
 */
import { tensorsIn } from '../data/loader.js';
import { Module, type StateDict } from '../nn/module.js';
import { cat, isGradEnabled, noGrad, Tensor, tidy, type Device } from '../tensor/index.js';
import { elementBytes } from '../tensor/typed-arrays.js';
import {
  broadcast,
  distributedAddon,
  getWorldSize,
  isInitialized,
  onDefaultGroup,
  type BackwardTimeline,
  type DistributedAddon,
} from './index.js';

export interface DistributedDataParallelOptions {
  /**
   * Broadcast rank 0's buffers (BatchNorm's running statistics) before every forward that follows a
   * synchronised one (default true, as torch).
   */
  broadcastBuffers?: boolean;
  /**
   * The most megabytes of gradients one allReduce carries (default 25, as torch, with a first bucket
   * of 1 MiB; a value given here caps the first bucket too, as torch's bucket_cap_mb).
   */
  bucketCapMb?: number;
  /**
   * Search each forward's outputs for the parameters that will get no gradient in this iteration
   * (a branch the input skipped) and mark them ready at once, as torch's find_unused_parameters
   * (default false: such a parameter makes the next forward throw torch's "Expected to have finished
   * reduction in the prior iteration").
   */
  findUnusedParameters?: boolean;
  /**
   * torch's device_ids for a module on one GPU: `[LOCAL_RANK]`, the index of the CUDA device that holds
   * its parameters (one GPU per process, as NCCL needs); the forward then moves its tensor arguments
   * there. Left out for a CPU module, as torch requires.
   */
  deviceIds?: number[];
}

/** torch.distributed's _DEFAULT_FIRST_BUCKET_BYTES. */
const FIRST_BUCKET_BYTES = 1024 * 1024;
const DEFAULT_BUCKET_CAP_MB = 25;

// A DDP that became unreachable takes its native Reducer (and the Reducer's autograd hooks) with it.
const reducers = new FinalizationRegistry<number>((reducer) => {
  if (isInitialized()) distributedAddon().reducerDestroy(reducer);
});

/**
 * torch DDP's _to_kwargs: `value` with every tensor reachable through arrays and plain objects on
 * `device` (a tensor already there is kept).
 */
function movedTo(value: unknown, device: Device): unknown {
  if (value instanceof Tensor) return value.device === device ? value : value.to(device);
  if (Array.isArray(value)) return value.map((item) => movedTo(item, device));
  if (typeof value === 'object' && value !== null) {
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, movedTo(item, device)]));
    }
  }
  return value;
}

/**
 * The CUDA device that `deviceIds` names (undefined when left out), checked as torch's DDP checks it:
 * only for a module whose parameters all sit on that one GPU.
 */
function deviceOf(module: Module, deviceIds: number[] | undefined): Device | undefined {
  if (deviceIds === undefined || deviceIds.length === 0) return undefined;
  const devices = [...new Set(module.parameters().map((p) => p.device))];
  const device: Device = `cuda:${deviceIds[0]}`;
  if (deviceIds.length !== 1 || !Number.isInteger(deviceIds[0]) || deviceIds[0] < 0) {
    throw new Error(
      `DistributedDataParallel: deviceIds must name this process's one GPU ([LOCAL_RANK]), got [${deviceIds}]`,
    );
  }
  if (devices.length !== 1 || devices[0] !== device) {
    throw new Error(
      `DistributedDataParallel: deviceIds [${deviceIds}] needs a module on ${device}, but its parameters are on ` +
        `${devices.join(', ')}: move it with module.to('${device}') first (or leave deviceIds out for a CPU module)`,
    );
  }
  return device;
}

/** A module with a forward method: what DDP wraps. */
type Forwarding = Module & { forward(...args: never[]): unknown };

/**
 * Tensors grouped by dtype into buckets of at most capBytes (a tensor larger than the cap gets a
 * bucket of its own), in their order.
 */
function bucketsOf(tensors: Tensor[], capBytes: number): Tensor[][] {
  const buckets: Tensor[][] = [];
  const open = new Map<string, { bucket: Tensor[]; bytes: number }>();
  for (const t of tensors) {
    const bytes = t.numel() * elementBytes(t.dtype);
    let current = open.get(t.dtype);
    if (current === undefined || (current.bytes > 0 && current.bytes + bytes > capBytes)) {
      current = { bucket: [], bytes: 0 };
      buckets.push(current.bucket);
      open.set(t.dtype, current);
    }
    current.bucket.push(t);
    current.bytes += bytes;
  }
  return buckets;
}

/**
 * torch's _sync_module_states: copies rank 0's tensors into every rank's, one broadcast per bucket of
 * 250 MB (each bucket flattened into one contiguous tensor; all started, then all waited on).
 */
function broadcastFromRank0(tensors: Tensor[]): void {
  if (getWorldSize() === 1) return;
  noGrad(() =>
    tidy(() => {
      const buckets = bucketsOf(tensors, 250 * 1024 * 1024);
      const flats = buckets.map((bucket) => cat(bucket.map((t) => t.reshape(-1))));
      flats.map((flat) => broadcast(flat, 0, { asyncOp: true })).forEach((work) => work.wait());
      buckets.forEach((bucket, b) => {
        let offset = 0;
        for (const t of bucket) {
          t.copy_(flats[b].narrow(0, offset, t.numel()).view(t.shape));
          offset += t.numel();
        }
      });
    }),
  );
}

export class DistributedDataParallel<M extends Forwarding> extends Module {
  readonly #module: M;
  readonly #broadcastBuffers: boolean;
  readonly #findUnusedParameters: boolean;
  /** Where the forward moves its tensor arguments: the GPU of deviceIds, or undefined (no move). */
  readonly #inputDevice: Device | undefined;
  /** The parameters that train, as the Reducer indexes them, with their names. */
  readonly #trained: [string, Tensor][];
  readonly #reducer: number;
  /** torch's require_backward_grad_sync: false inside noSync. */
  #syncing = true;
  /** torch's require_forward_param_sync: whether the last forward was one whose backward reduces. */
  #lastForwardSynced = true;

  /**
   * Wraps `module` (already on its device, with the parameters that train marked requiresGrad: the
   * Reducer hooks them now) and broadcasts rank 0's parameters and buffers into it.
   */
  constructor(module: M, options: DistributedDataParallelOptions = {}) {
    super();
    if (!isInitialized()) {
      throw new Error(
        'DistributedDataParallel: the default process group has not been initialized: call initProcessGroup first',
      );
    }
    const bucketCapMb = options.bucketCapMb ?? DEFAULT_BUCKET_CAP_MB;
    if (!(bucketCapMb > 0)) throw new Error(`DistributedDataParallel: bucketCapMb must be > 0, got ${bucketCapMb}`);
    this.#module = module;
    this.#broadcastBuffers = options.broadcastBuffers ?? true;
    this.#findUnusedParameters = options.findUnusedParameters ?? false;
    this.#inputDevice = deviceOf(module, options.deviceIds);
    this.#trained = module.namedParameters().filter(([, p]) => p.requiresGrad);
    if (this.#trained.length === 0) {
      throw new Error('DistributedDataParallel: the module has no parameter that requires gradients');
    }
    // As torch's DDP.__init__: every rank checks its parameters against rank 0's, then takes rank 0's
    // values (and buffers, when broadcastBuffers), then builds the Reducer.
    const handles = this.#trained.map(([, p]) => p.handle);
    onDefaultGroup('DistributedDataParallel', (group) =>
      distributedAddon().verifyParamsAcrossProcesses(group, handles),
    );
    const buffers = this.#broadcastBuffers ? module.namedBuffers().map(([, b]) => b) : [];
    broadcastFromRank0([...module.parameters(), ...buffers]);
    const capBytes = Math.floor(bucketCapMb * 1024 * 1024);
    this.#reducer = onDefaultGroup('DistributedDataParallel', (group) =>
      distributedAddon().reducerCreate(
        group,
        handles,
        this.#trained.map(([name]) => name),
        capBytes,
        options.bucketCapMb === undefined ? FIRST_BUCKET_BYTES : capBytes,
        this.#findUnusedParameters,
        module.constructor.name,
        this.#broadcastBuffers,
        this.#inputDevice === undefined ? [] : [options.deviceIds![0]],
      ),
    );
    reducers.register(this, this.#reducer);
  }

  /** The wrapped module (torch's ddp.module): save and evaluate it. */
  get module(): M {
    return this.#module;
  }

  /**
   * The names of the parameters in each of the Reducer's buckets, in the order they are reduced (the
   * first bucket's gradients are expected first): one bucket until the buckets are rebuilt at the
   * second forward, as torch's.
   */
  get buckets(): string[][] {
    return this.#onReducer('buckets', (gloo, reducer) =>
      gloo.reducerBuckets(
        reducer,
        this.#trained.map(([, p]) => p.handle),
      ),
    ).map((bucket) => bucket.map((i) => this.#trained[i][0]));
  }

  /**
   * When the last synchronised backward started each bucket's allReduce and had each gradient: a bucket
   * started before the last gradient was ready overlapped the rest of backward.
   */
  get lastBackwardTimeline(): BackwardTimeline {
    return this.#onReducer('lastBackwardTimeline', (gloo, reducer) => gloo.reducerTimeline(reducer));
  }

  /**
   * The wrapped module's forward, as torch's DDP.forward: rebuilds the buckets after the first
   * iteration, broadcasts rank 0's buffers when broadcastBuffers, and, with gradients enabled outside
   * noSync, arms the Reducer so that the next backward averages the gradients. Call backward on
   * (something computed from) every forward's output before the next forward, as in torch.
   */
  forward(...args: Parameters<M['forward']>): ReturnType<M['forward']> {
    const reducing = isGradEnabled() && this.#syncing;
    if (reducing) this.#onReducer('forward', (gloo, reducer) => gloo.reducerPrepareForForward(reducer));
    if (isGradEnabled()) this.#onReducer('forward', (gloo, reducer) => gloo.reducerRebuildBuckets(reducer));
    if (this.#broadcastBuffers && this.#lastForwardSynced) this.#syncBuffers();
    const inputs = this.#inputDevice === undefined ? args : (movedTo(args, this.#inputDevice) as typeof args);
    const output = (this.#module.forward as (...a: Parameters<M['forward']>) => ReturnType<M['forward']>)(...inputs);
    this.#lastForwardSynced = reducing;
    if (reducing) {
      const outputs = this.#findUnusedParameters ? [...tensorsIn(output)].map((t) => t.handle) : [];
      this.#onReducer('forward', (gloo, reducer) => gloo.reducerPrepareForBackward(reducer, outputs));
    }
    return output;
  }

  /**
   * Runs `fn` with gradient synchronisation off (torch's `with ddp.no_sync():`): the forward and
   * backward passes in it accumulate gradients on this rank only, and the first synchronised backward
   * after it averages the accumulated sums.
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

  #onReducer<T>(what: string, call: (gloo: DistributedAddon, reducer: number) => T): T {
    try {
      return onDefaultGroup(`DistributedDataParallel.${what}`, () => call(distributedAddon(), this.#reducer));
    } catch (error) {
      // torch's message names its Python keyword; say finetune's.
      if (!(error as Error).message.includes('find_unused_parameters=True')) throw error;
      throw new Error(
        `${(error as Error).message}\n(finetune: new DistributedDataParallel(model, { findUnusedParameters: true }); ` +
          'the Trainer: ddpFindUnusedParameters: true, finetune train: --ddp-find-unused-parameters)',
        { cause: error },
      );
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

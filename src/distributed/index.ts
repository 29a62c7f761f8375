/**
 * torch.distributed for finetune: a process group on PyTorch's own engine (c10d's TCPStore, and
 * ProcessGroupGloo or, with a CUDA libtorch, ProcessGroupNCCL inside libtorch), joined the way torchrun's
 * workers join (`env://`: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE) or at an explicit
 * `tcp://host:port`, and its collectives: allReduce, broadcast, allGather, barrier. A Python
 * torch.distributed process can join the same group (tools/c10d-python-check.py).
 */
import { native } from '../tensor/native.js';
import type { Tensor } from '../tensor/index.js';

/** @internal The addon's c10d entry points (native/src/distributed.h); absent where it was built without Gloo. */
export interface DistributedAddon {
  processGroupCreate(
    host: string,
    port: number,
    isStoreServer: boolean,
    rank: number,
    worldSize: number,
    timeoutMs: number,
    backend: Backend,
  ): number;
  processGroupAllReduce(group: number, tensor: number, op: ReduceOp, asyncOp: boolean): number;
  processGroupBroadcast(group: number, tensor: number, src: number, asyncOp: boolean): number;
  processGroupAllGather(group: number, outputs: number[], tensor: number, asyncOp: boolean): number;
  processGroupBarrier(group: number, asyncOp: boolean): number;
  processGroupDestroy(group: number): void;
  workWait(work: number): void;
  workCompleted(work: number): boolean;
  verifyParamsAcrossProcesses(group: number, parameters: number[]): void;
  reducerCreate(
    group: number,
    parameters: number[],
    names: string[],
    bucketBytesCap: number,
    firstBucketBytesCap: number,
    findUnusedParameters: boolean,
    moduleName: string,
    broadcastBuffers: boolean,
    deviceIds: number[],
  ): number;
  reducerPrepareForForward(reducer: number): void;
  reducerRebuildBuckets(reducer: number): boolean;
  reducerPrepareForBackward(reducer: number, outputs: number[]): void;
  reducerBuckets(reducer: number, parameters: number[]): number[][];
  reducerTimeline(reducer: number): BackwardTimeline;
  reducerDestroy(reducer: number): void;
}

/**
 * When, in DistributedDataParallel's last synchronised backward, each bucket's allReduce started and
 * each parameter's gradient was ready, in nanoseconds after the forward armed the Reducer.
 */
export interface BackwardTimeline {
  /** Per bucket, in reduction order. */
  bucketStartNs: number[];
  /** Per parameter that trains, in the module's order (torch's reducer.get_backward_stats()). */
  gradientReadyNs: number[];
}

/** Reductions allReduce applies across ranks, as torch.distributed.ReduceOp. */
export const ReduceOp = { SUM: 'sum', AVG: 'avg', MAX: 'max' } as const;
export type ReduceOp = (typeof ReduceOp)[keyof typeof ReduceOp];

/**
 * The c10d backends, as torch.distributed's: 'gloo' reduces CPU tensors (and CUDA ones, through host
 * memory, where the libtorch has CUDA); 'nccl' reduces CUDA tensors on the GPUs, one GPU per process,
 * and is compiled in only where the libtorch has CUDA (isNcclAvailable()).
 */
export type Backend = 'gloo' | 'nccl';

/** torch.distributed's default_pg_timeout: 30 minutes. */
export const DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;

export interface InitProcessGroupOptions {
  /** 'gloo' (default; CPU tensors) or 'nccl' (CUDA tensors, a CUDA build: isNcclAvailable()). */
  backend?: Backend;
  /** 'env://' (default: MASTER_ADDR and MASTER_PORT) or 'tcp://host:port'. */
  initMethod?: string;
  /** This process's rank, 0 … worldSize-1 (default: the RANK environment variable). */
  rank?: number;
  /** The number of processes in the group (default: the WORLD_SIZE environment variable). */
  worldSize?: number;
  /** Milliseconds to wait for the other ranks to join and for each collective (default 30 minutes). */
  timeout?: number;
}

export interface CollectiveOptions {
  /** Return a Work to wait() on instead of waiting here (torch's async_op=True). */
  asyncOp?: boolean;
}

interface ProcessGroup {
  id: number;
  rank: number;
  worldSize: number;
  backend: Backend;
}

let group: ProcessGroup | undefined;

const NO_GLOO =
  'this build has no Gloo: install libgloo-dev (apt-get install libgloo-dev) and run `npx finetune setup --force` ' +
  '(the Gloo headers were missing when the native addon was built)';

function addon(): DistributedAddon {
  const candidate = native as unknown as Partial<DistributedAddon>;
  if (typeof candidate.processGroupCreate !== 'function') throw new Error(`distributed: ${NO_GLOO}`);
  return candidate as DistributedAddon;
}

/** Whether this build can create process groups (torch.distributed.is_available). */
export function isAvailable(): boolean {
  return native.buildInfo().distributedBackends.length > 0;
}

/** Whether the Gloo backend is compiled in (torch.distributed.is_gloo_available). */
export function isGlooAvailable(): boolean {
  return native.buildInfo().distributedBackends.includes('gloo');
}

/** Whether the NCCL backend is compiled in (torch.distributed.is_nccl_available): a CUDA build. */
export function isNcclAvailable(): boolean {
  return native.buildInfo().distributedBackends.includes('nccl');
}

/** Why this build has no NCCL, and what gives it one. */
function noNcclReason(): string {
  if (!isGlooAvailable()) return NO_GLOO;
  if (!native.buildInfo().cudaBuild) {
    return (
      'the native addon links a CPU-only libtorch, and NCCL comes with the CUDA build: run ' +
      "`npx finetune setup --cuda 12.8` (the CUDA version of your driver), or use backend 'gloo'"
    );
  }
  return (
    'the native addon links a CUDA libtorch but was built without the CUDA and NCCL headers that ' +
    "c10d's ProcessGroupNCCL.hpp includes (nccl.h, cuda_runtime_api.h, cublas_v2.h, …: the CUDA toolkit " +
    'with CUDA_HOME set, and the nvidia-* pip wheels beside torch or libnccl-dev): ' +
    '`LIBTORCH=<its folder> node native/src/nccl-build.cjs why` names what is missing; install it, then run ' +
    '`npx finetune setup --force`'
  );
}

/** Whether initProcessGroup ran and destroyProcessGroup did not since. */
export function isInitialized(): boolean {
  return group !== undefined;
}

function current(operation: string): ProcessGroup {
  if (group === undefined) {
    throw new Error(
      `distributed.${operation}: the default process group has not been initialized: call initProcessGroup first`,
    );
  }
  return group;
}

/** Runs a native call, naming the rank and the operation in its error. */
function onRank<T>(pg: ProcessGroup, operation: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw new Error(
      `distributed.${operation} failed on rank ${pg.rank} of ${pg.worldSize}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

function environmentVariable(name: string, needed: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`distributed.initProcessGroup: the environment variable ${name} is not set (${needed})`);
  }
  return value;
}

function integerSetting(name: string, value: string | number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const number = typeof value === 'number' ? value : /^\s*-?\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(number) || number < min || number > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
    throw new Error(`distributed.initProcessGroup: ${name} must be ${range}, got ${JSON.stringify(value)}`);
  }
  return number;
}

interface Rendezvous {
  host: string;
  port: number;
  rank: number;
  worldSize: number;
}

/** Where the store is and who this process is, from the options and torchrun's environment variables. */
function rendezvous(options: InitProcessGroupOptions): Rendezvous {
  const initMethod = options.initMethod ?? 'env://';
  const fromEnv = initMethod === 'env://';
  const worldSize = integerSetting(
    options.worldSize !== undefined ? 'worldSize' : 'WORLD_SIZE',
    options.worldSize ?? (fromEnv ? environmentVariable('WORLD_SIZE', 'or pass worldSize') : NaN),
    1,
  );
  const rank = integerSetting(
    options.rank !== undefined ? 'rank' : 'RANK',
    options.rank ?? (fromEnv ? environmentVariable('RANK', 'or pass rank') : NaN),
    0,
    worldSize - 1,
  );
  if (fromEnv) {
    const host = environmentVariable('MASTER_ADDR', "the address of rank 0's machine");
    const port = integerSetting(
      'MASTER_PORT',
      environmentVariable('MASTER_PORT', 'a free TCP port on MASTER_ADDR'),
      0,
      65535,
    );
    return { host, port, rank, worldSize };
  }
  const tcp = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):([^/?]+)\/?$/.exec(initMethod);
  if (tcp === null) {
    throw new Error(
      `distributed.initProcessGroup: initMethod must be 'env://' or 'tcp://host:port', got '${initMethod}'`,
    );
  }
  return {
    host: tcp[1].replace(/^\[|\]$/g, ''),
    port: integerSetting('the port of initMethod', tcp[2], 0, 65535),
    rank,
    worldSize,
  };
}

/**
 * Joins the default process group (torch.distributed.init_process_group): blocks until all worldSize
 * ranks joined, or throws after the timeout naming this rank. Rank 0 hosts the TCPStore unless
 * torchrun's agent hosts it (TORCHELASTIC_USE_AGENT_STORE=True).
 */
export function initProcessGroup(options: InitProcessGroupOptions = {}): void {
  if (group !== undefined) {
    throw new Error(
      'distributed.initProcessGroup: the default process group is already initialized (destroyProcessGroup first)',
    );
  }
  const backend = options.backend ?? 'gloo';
  if (backend !== 'gloo' && backend !== 'nccl') {
    throw new Error(
      `distributed.initProcessGroup: backend must be 'gloo' (CPU tensors) or 'nccl' (CUDA tensors), got '${String(backend)}'`,
    );
  }
  if (backend === 'nccl' && !isNcclAvailable()) {
    throw new Error(`distributed.initProcessGroup: backend 'nccl' is not compiled in: ${noNcclReason()}`);
  }
  const timeout = integerSetting('timeout (milliseconds)', options.timeout ?? DEFAULT_TIMEOUT_MS, 1);
  const { host, port, rank, worldSize } = rendezvous(options);
  if (process.env.LOCAL_RANK !== undefined && process.env.LOCAL_WORLD_SIZE !== undefined) {
    const localWorldSize = integerSetting('LOCAL_WORLD_SIZE', process.env.LOCAL_WORLD_SIZE, 1, worldSize);
    integerSetting('LOCAL_RANK', process.env.LOCAL_RANK, 0, localWorldSize - 1);
  }
  const gloo = addon();
  const agentHostsStore = process.env.TORCHELASTIC_USE_AGENT_STORE === 'True';
  const pending = { id: -1, rank, worldSize, backend };
  const id = onRank(pending, `initProcessGroup (store ${host}:${port}, timeout ${timeout} ms)`, () =>
    gloo.processGroupCreate(host, port, rank === 0 && !agentHostsStore, rank, worldSize, timeout, backend),
  );
  group = { id, rank, worldSize, backend };
}

/** The default group's backend (torch.distributed.get_backend). */
export function getBackend(): Backend {
  return current('getBackend').backend;
}

/** This process's rank in the default group (torch.distributed.get_rank). */
export function getRank(): number {
  return current('getRank').rank;
}

/** The number of processes in the default group (torch.distributed.get_world_size). */
export function getWorldSize(): number {
  return current('getWorldSize').worldSize;
}

/** This process's rank on its machine, from torchrun's LOCAL_RANK (torch.distributed.get_node_local_rank). */
export function getNodeLocalRank(fallbackRank?: number): number {
  const value = process.env.LOCAL_RANK;
  if (value === undefined) {
    if (fallbackRank !== undefined) return fallbackRank;
    throw new Error('distributed.getNodeLocalRank: LOCAL_RANK is not set (it is set by torchrun and finetune launch)');
  }
  return integerSetting('LOCAL_RANK', value, 0);
}

/** A collective in flight (torch.distributed's Work), from a call with { asyncOp: true }. */
export class Work {
  private waited = false;

  /** @internal */
  constructor(
    private readonly pg: ProcessGroup,
    private readonly operation: string,
    private readonly id: number,
  ) {}

  /** Blocks until the collective finished on this rank; throws its error (timeout, a peer that died). */
  wait(): void {
    if (this.waited) return;
    this.waited = true;
    onRank(this.pg, this.operation, () => addon().workWait(this.id));
  }

  isCompleted(): boolean {
    return this.waited || addon().workCompleted(this.id);
  }
}

/**
 * The handle of a tensor the group's backend can take: on a device it serves (torch's
 * backend_capability: gloo CPU and CUDA, nccl CUDA), and contiguous, since the backends read and write
 * numel elements from the data pointer (a column of a matrix would reduce into its neighbours).
 */
function collectiveTensor(pg: ProcessGroup, tensor: Tensor, what = 'tensor'): number {
  const cuda = tensor.device.startsWith('cuda');
  if (pg.backend === 'nccl' && !cuda) {
    throw new Error(
      `the nccl backend takes CUDA tensors, got the ${what} on ${tensor.device}: move it to this rank's GPU ` +
        "(.to(`cuda:${LOCAL_RANK}`)), or join the group with backend 'gloo'",
    );
  }
  if (pg.backend === 'gloo' && !cuda && tensor.device !== 'cpu') {
    throw new Error(`the gloo backend takes CPU and CUDA tensors, got the ${what} on ${tensor.device}`);
  }
  if (!tensor.isContiguous()) {
    throw new Error(
      `the ${what} must be contiguous (a view such as a column or a transpose is not): use .contiguous()`,
    );
  }
  return tensor.handle;
}

/**
 * Checks the arguments and starts a collective (`start` throws for a bad one), then waits for it unless
 * asyncOp: every error names the operation and this rank.
 */
function run(
  operation: string,
  options: CollectiveOptions | undefined,
  start: (gloo: DistributedAddon, pg: ProcessGroup, asyncOp: boolean) => number,
): Work | undefined {
  const pg = current(operation);
  const gloo = addon();
  const asyncOp = options?.asyncOp === true;
  // asyncOp goes to c10d as torch.distributed passes it (opts.asyncOp = async_op).
  const work = new Work(
    pg,
    operation,
    onRank(pg, operation, () => start(gloo, pg, asyncOp)),
  );
  if (asyncOp) return work;
  work.wait();
  return undefined;
}

/** Reduces `tensor` across all ranks in place (torch.distributed.all_reduce): every rank gets the result. */
export function allReduce(tensor: Tensor, op?: ReduceOp): void;
export function allReduce(tensor: Tensor, op: ReduceOp, options: { asyncOp: true }): Work;
export function allReduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, options?: CollectiveOptions): Work | undefined {
  return run('allReduce', options, (gloo, pg, asyncOp) => {
    if (!Object.values(ReduceOp).includes(op)) {
      throw new Error(`op must be one of ${Object.values(ReduceOp).join(', ')}, got ${String(op)}`);
    }
    if (op === ReduceOp.AVG && !tensor.dtype.startsWith('float') && !tensor.dtype.startsWith('bfloat')) {
      throw new Error(`ReduceOp.AVG needs a floating-point tensor, got ${tensor.dtype}`);
    }
    return gloo.processGroupAllReduce(pg.id, collectiveTensor(pg, tensor), op, asyncOp);
  });
}

/** Copies `tensor` from rank `src` into `tensor` on every other rank (torch.distributed.broadcast). */
export function broadcast(tensor: Tensor, src: number): void;
export function broadcast(tensor: Tensor, src: number, options: { asyncOp: true }): Work;
export function broadcast(tensor: Tensor, src: number, options?: CollectiveOptions): Work | undefined {
  return run('broadcast', options, (gloo, pg, asyncOp) => {
    if (!Number.isInteger(src) || src < 0 || src >= pg.worldSize) {
      throw new Error(`src must be a rank from 0 to ${pg.worldSize - 1}, got ${src}`);
    }
    return gloo.processGroupBroadcast(pg.id, collectiveTensor(pg, tensor), src, asyncOp);
  });
}

/**
 * Fills tensorList[r] with rank r's `tensor` on every rank (torch.distributed.all_gather): one tensor
 * per rank, each of the shape and dtype of `tensor`.
 */
export function allGather(tensorList: Tensor[], tensor: Tensor): void;
export function allGather(tensorList: Tensor[], tensor: Tensor, options: { asyncOp: true }): Work;
export function allGather(tensorList: Tensor[], tensor: Tensor, options?: CollectiveOptions): Work | undefined {
  return run('allGather', options, (gloo, pg, asyncOp) => {
    if (tensorList.length !== pg.worldSize) {
      throw new Error(`tensorList needs one tensor per rank (${pg.worldSize}), got ${tensorList.length}`);
    }
    tensorList.forEach((output, i) => {
      if (output.dtype !== tensor.dtype || output.shape.join() !== tensor.shape.join()) {
        throw new Error(
          `tensorList[${i}] is ${output.dtype} [${output.shape}], but tensor is ${tensor.dtype} [${tensor.shape}]`,
        );
      }
    });
    const outputs = tensorList.map((output, i) => collectiveTensor(pg, output, `tensorList[${i}]`));
    return gloo.processGroupAllGather(pg.id, outputs, collectiveTensor(pg, tensor), asyncOp);
  });
}

/** Blocks until every rank reached the barrier (torch.distributed.barrier). */
export function barrier(): void;
export function barrier(options: { asyncOp: true }): Work;
export function barrier(options?: CollectiveOptions): Work | undefined {
  return run('barrier', options, (gloo, pg, asyncOp) => gloo.processGroupBarrier(pg.id, asyncOp));
}

/** @internal The addon's c10d entry points, for DistributedDataParallel's Reducer (ddp.ts). */
export function distributedAddon(): DistributedAddon {
  return addon();
}

/** Leaves the default group (torch.distributed.destroy_process_group); initProcessGroup may run again. */
export function destroyProcessGroup(): void {
  const pg = current('destroyProcessGroup');
  group = undefined;
  addon().processGroupDestroy(pg.id);
}

/**
 * @internal Runs `call` with the default group's native id and a check that gives the handle of a tensor
 * its backend takes (for the autograd collectives of distributed/nn.ts), naming the operation and this
 * rank in its error.
 */
export function onDefaultGroup<T>(
  operation: string,
  call: (groupId: number, handleOf: (tensor: Tensor, what?: string) => number) => T,
): T {
  const pg = current(operation);
  addon(); // throws, saying how to get Gloo, where this build has none
  return onRank(pg, operation, () => call(pg.id, (tensor, what) => collectiveTensor(pg, tensor, what)));
}

export { DistributedDataParallel, type DistributedDataParallelOptions } from './ddp.js';
export * as nn from './nn.js';
export { SyncBatchNorm } from './sync-batchnorm.js';

/**
 * The native addon over libtorch. Internal: everything public goes through Tensor and
 * the op functions, which keep handles, scopes and autograd consistent.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isMainThread } from 'node:worker_threads';

import { defaultAddonPath } from '../install/package.js';
import { addonLoadFailedMessage, addonMissingMessage } from '../install/setup.js';

export interface OpArgInfo {
  name: string;
  type: string;
  optional: boolean;
  kwargOnly: boolean;
  hasDefault: boolean;
  supported: boolean;
  writes: boolean;
  length?: number;
}

export interface OpReturnInfo {
  type: string;
  aliasedArg: number;
  supported: boolean;
}

export interface OpInfo {
  name: string;
  overload: string;
  schema: string;
  args: OpArgInfo[];
  returns: OpReturnInfo[];
}

export interface BuildInfo {
  torchVersion: string;
  cxx11Abi: boolean;
  compiler: string;
  /** Whether a CUDA device is usable (the libtorch has CUDA and a GPU is visible). */
  cuda: boolean;
  /** Whether the libtorch linked has its CUDA part (libtorch_cuda.so), with or without a GPU. */
  cudaBuild: boolean;
  cudaDevices: number;
  parallelInfo: string;
  config: string;
  /**
   * The c10d backends compiled into the addon: 'gloo' where the Gloo headers were found at build time,
   * 'nccl' where the libtorch has CUDA and the CUDA and NCCL headers were found too.
   */
  distributedBackends: string[];
}

export type RawResult = number | boolean | string | null | undefined | RawResult[];

export interface NativeAddon {
  init(handleKey: symbol): void;
  resolveOp(name: string, overload: string): number;
  callOp(id: number, kwargs: object | undefined, ...args: unknown[]): RawResult;
  opInfo(id: number): OpInfo;
  listOps(): [string, string][];
  shape(handle: number): number[];
  dtype(handle: number): string;
  device(handle: number): string;
  fromBuffer(data: ArrayBufferView, dtype: string, shape: readonly number[]): number;
  toBuffer(handle: number): [ArrayBuffer, string];
  item(handle: number): number | boolean;
  dispose(handle: number | number[]): void;
  memory(): { numTensors: number; numBytes: number };
  sameTensor(a: number, b: number): boolean;
  requiresGrad(handle: number): boolean;
  setRequiresGrad(handle: number, value: boolean): void;
  isLeaf(handle: number): boolean;
  grad(handle: number): number | null;
  setGrad(handle: number, grad: number | null): void;
  retainGrad(handle: number): void;
  backward(handle: number, grad: number | null, retainGraph: boolean | undefined, createGraph: boolean): void;
  autogradGrad(
    outputs: number[],
    inputs: number[],
    gradOutputs: (number | null)[] | null,
    retainGraph: boolean | undefined,
    createGraph: boolean,
    allowUnused: boolean,
  ): (number | null)[];
  autogradFunctionApply(
    inputs: number[],
    forward: () => [outputs: number[], saved: number[], nonDifferentiable: number[]],
    backward: (gradOutputs: (number | null)[], saved: (number | null)[]) => (number | null)[],
    release: () => void,
  ): number[];
  setAutocast(deviceType: string, enabled: boolean, dtype: string, nesting: 1 | -1): void;
  autocastState(deviceType: string): { enabled: boolean; dtype: string };
  markUnscoped(handle: number): void;
  setGradEnabled(enabled: boolean): void;
  isGradEnabled(): boolean;
  manualSeed(seed: number): void;
  getRngState(device?: string): number;
  setRngState(handle: number, device?: string): void;
  setNumThreads(threads: number): void;
  getNumThreads(): number;
  nnpackAvailable(): boolean;
  setNnpackEnabled(enabled: boolean): void;
  nnpackEnabled(): boolean;
  buildInfo(): BuildInfo;
  initLazyDevice(): void;
}

/** Where the addon was loaded from: FINETUNE_ADDON, else where the install step puts it. */
export const addonPath = process.env.FINETUNE_ADDON ?? defaultAddonPath();

function loadAddon(): NativeAddon {
  // The addon's tensor table and libtorch's settings are per process and unsynchronised: a
  // worker thread importing finetune broke the main thread's tensors or crashed the process.
  if (!isMainThread) {
    throw new Error(
      'finetune cannot be imported in a worker thread: its tensors live in one process-wide native table ' +
        'that only one JavaScript thread may use. Use finetune from the main thread, and run parallel work in ' +
        'child processes (child_process.fork) instead of worker threads',
    );
  }
  if (!existsSync(addonPath)) throw new Error(addonMissingMessage(addonPath));
  try {
    return createRequire(import.meta.url)(addonPath) as NativeAddon;
  } catch (error) {
    throw new Error(addonLoadFailedMessage(addonPath, error as Error), { cause: error });
  }
}

export const native: NativeAddon = loadAddon();

/** The property under which a Tensor stores its native handle; the addon reads it. */
export const HANDLE: unique symbol = Symbol('finetune.tensorHandle');
native.init(HANDLE);

// libtorch tries NNPACK for CPU convolutions. Where NNPACK cannot initialise (an x86-64 CPU without
// AVX2, some VMs) libtorch logs "Could not initialize NNPACK! Reason: Unsupported hardware." — one
// user saw it 675 times in a 14-second image run — and convolves with its own kernels anyway. So
// NNPACK is turned off there (torch.backends.nnpack.set_flags(False)): libtorch no longer tries it,
// the output stays clean, and `finetune doctor` says so.
if (!native.nnpackAvailable()) native.setNnpackEnabled(false);

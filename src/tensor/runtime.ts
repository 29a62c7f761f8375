/** Process-wide controls of the libtorch runtime: seeds, threads, devices, build facts. */
import { describeSource } from '../install/libtorch.js';
import { readInstallRecord } from '../install/setup.js';
import { addonPath, native, type BuildInfo } from './native.js';
import { Tensor } from './tensor.js';
import type { Device } from './types.js';

/** Seeds libtorch's default generators (CPU and every CUDA device), like torch.manual_seed. */
export function manualSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0)
    throw new RangeError(`manualSeed expects a non-negative integer, got ${seed}`);
  native.manualSeed(seed);
}

/**
 * A generator's state (a uint8 tensor), saved with checkpoints: the CPU's (torch.get_rng_state), or with
 * `device` 'cuda' / 'cuda:N' that GPU's (torch.cuda.get_rng_state). A device without a generator of its
 * own, or a GPU this libtorch does not see, is an error naming it.
 */
export function getRngState(device: Device = 'cpu'): Tensor {
  return Tensor.fromHandle(native.getRngState(device));
}

/** Restores a state from getRngState(device): the random numbers that follow on that device repeat exactly. */
export function setRngState(state: Tensor, device: Device = 'cpu'): void {
  if (state.dtype !== 'uint8' || state.dim() !== 1)
    throw new Error(`setRngState expects a 1-d uint8 tensor from getRngState(), got ${state.dtype} [${state.shape}]`);
  native.setRngState(state.handle, device);
}

/** Threads libtorch uses for intra-op parallelism (default: all cores). */
/**
 * The most intra-op threads setNumThreads takes: far above any useful count (one a core), far below
 * the tens of thousands at which OpenMP exits the process or libtorch crashes (100,000 segfaulted).
 */
export const MAX_THREADS = 1024;

/** libtorch's intra-op threads (torch.set_num_threads): an integer from 1 to MAX_THREADS, else a RangeError. */
export function setNumThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    throw new RangeError(`setNumThreads: threads must be an integer from 1 to ${MAX_THREADS}, got ${threads}`);
  }
  native.setNumThreads(threads);
}

export function getNumThreads(): number {
  return native.getNumThreads();
}

/** Whether this libtorch was built with CUDA and sees at least one device. */
export function cudaIsAvailable(): boolean {
  const info = native.buildInfo();
  return info.cuda && info.cudaDevices > 0;
}

/** The GPUs this libtorch sees (0 with a CPU build or none visible), as torch.cuda.device_count. */
export function cudaDeviceCount(): number {
  const info = native.buildInfo();
  return info.cuda ? info.cudaDevices : 0;
}

/**
 * Registers libtorch's 'lazy' device (its lazy-tensor backend on TorchScript, running on the CPU), once
 * per process. Tests use it as a stand-in for a GPU on machines without one: like CUDA's kernels, its
 * kernels refuse an operator's CPU tensor beside a lazy one (a 0-d CPU tensor excepted), so a model or
 * optimizer that makes a tensor on the CPU and mixes it with its device's fails there as on a GPU.
 * ('meta' tensors refuse mixing too, but libtorch's C++ has no meta kernel for ReLU, convolution or
 * embedding: those live in Python.)
 */
export function initLazyDevice(): void {
  native.initLazyDevice();
}

export interface RuntimeInfo extends BuildInfo {
  /** The libtorch folder the addon was built against and links to. */
  libtorch: string;
  /** How the install step found that libtorch (LIBTORCH, a Python torch, finetune's cache, pip). */
  libtorchSource: string;
  addon: string;
  /** Whether the install step built the addon or reused a build from finetune's cache (and which). */
  addonSource: string;
  threads: number;
  devices: string[];
  /** Whether NNPACK initialises on this CPU, and whether libtorch may use it for convolutions (off where it cannot initialise). */
  nnpack: { available: boolean; enabled: boolean };
}

/** What `finetune doctor` prints: libtorch location and version, threads, devices, addon build facts. */
export function runtimeInfo(): RuntimeInfo {
  const build = native.buildInfo();
  const record = readInstallRecord();
  const installed = record && 'libtorch' in record ? record : undefined;
  const libtorch = installed?.libtorch.dir ?? 'unknown';
  const libtorchSource = installed ? describeSource(installed.libtorch.source) : 'unknown (no build/install.json)';
  const addonSource =
    process.env.FINETUNE_ADDON !== undefined
      ? 'the FINETUNE_ADDON environment variable'
      : installed?.addon.source === 'built'
        ? `built from source at install (cached as ${installed.addon.cached})`
        : installed?.addon.source === 'cache'
          ? `copied from finetune's cache (${installed.addon.cached})`
          : 'unknown (no build/install.json)';
  const devices = ['cpu', ...Array.from({ length: build.cudaDevices }, (_, i) => `cuda:${i}`)];
  const nnpack = { available: native.nnpackAvailable(), enabled: native.nnpackEnabled() };
  return {
    ...build,
    libtorch,
    libtorchSource,
    addon: addonPath,
    addonSource,
    threads: native.getNumThreads(),
    devices,
    nnpack,
  };
}

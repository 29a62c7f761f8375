/**
 * Where the Trainer computes: TrainingArguments.device ('auto', 'cpu', 'cuda', 'cuda:N') resolved to
 * one libtorch device for this process, and batches copied there. Under data parallelism each process
 * takes the GPU of its LOCAL_RANK (torchrun's rule), as Hugging Face's Trainer does.
 */
import { cudaDeviceCount, runtimeInfo, Tensor, type Device } from '../tensor/index.js';
import { getNodeLocalRank } from '../distributed/index.js';

/** What TrainingArguments.device takes. */
export type DeviceSetting = 'auto' | 'cpu' | 'cuda' | `cuda:${number}`;

/** TrainingArguments.device's form: auto, cpu, cuda or cuda:N. */
export const DEVICE_SETTING = /^(auto|cpu|cuda|cuda:\d+)$/;

/** A device for this process and, unless it was asked for as it is, why (for the plan). */
export interface ResolvedDevice {
  device: Device;
  reason: string | null;
}

/** How to get a libtorch that has CUDA, for the errors below. */
const CUDA_BUILD_HINT =
  'install the CUDA build with `finetune setup --cuda 12.8` (the CUDA version of your driver), or train on cpu';

/**
 * This process's device for `setting` (`name`: the setting's name as the user wrote it, for errors).
 * auto: cuda when this libtorch has CUDA and sees a GPU, else cpu; cuda: the first GPU (with several
 * processes, the GPU of this process's LOCAL_RANK); cuda:N: that GPU (one process only). A GPU asked for
 * that is not there is an error saying why and how to get one.
 */
export function resolveDevice(setting: DeviceSetting, name: string, worldSize = 1): ResolvedDevice {
  const gpus = cudaDeviceCount();
  if (setting === 'cpu') return { device: 'cpu', reason: null };
  if (setting === 'auto' && gpus === 0) return { device: 'cpu', reason: `auto: ${noGpuReason()}` };
  if (gpus === 0) throw new Error(`${name} ${setting} needs a GPU, but ${noGpuReason()}: ${CUDA_BUILD_HINT}`);
  const how = setting === 'auto' ? `auto: ${gpus} GPU(s) visible` : null;
  if (worldSize > 1) {
    if (setting !== 'auto' && setting !== 'cuda')
      throw new Error(
        `${name} ${setting} names one GPU, but ${worldSize} processes train together and each takes the GPU of its LOCAL_RANK: give cuda`,
      );
    const localRank = getNodeLocalRank();
    if (localRank >= gpus)
      throw new Error(
        `${name} ${setting}: this process's LOCAL_RANK is ${localRank}, but ${gpus} GPU(s) are visible (cuda:0 … cuda:${gpus - 1}); start at most ${gpus} processes a machine`,
      );
    return { device: `cuda:${localRank}`, reason: `${how ? `${how}; ` : ''}LOCAL_RANK ${localRank}` };
  }
  const index = setting.startsWith('cuda:') ? Number(setting.slice('cuda:'.length)) : 0;
  if (index >= gpus) throw new Error(`${name} ${setting}: ${gpus} GPU(s) are visible (cuda:0 … cuda:${gpus - 1})`);
  return { device: `cuda:${index}`, reason: setting === 'cuda:0' ? null : how };
}

/** Why there is no GPU to use: a CPU build of libtorch, or none visible to a CUDA build. */
function noGpuReason(): string {
  const info = runtimeInfo();
  return info.cuda
    ? `this libtorch (${info.torchVersion}) has CUDA but sees no GPU (check nvidia-smi and CUDA_VISIBLE_DEVICES)`
    : `this libtorch (${info.torchVersion}) is the CPU build`;
}

/**
 * `batch` with its tensors copied to `device` (arrays, Maps and plain objects rebuilt around them, other
 * values kept), and the copies, for the caller to dispose. For a GPU the copies go through pinned memory
 * and do not block (torch's pin_memory + non_blocking); tensors already there are kept as they are.
 */
export function batchOnDevice(batch: unknown, device: Device): { batch: unknown; copies: Tensor[] } {
  const copies: Tensor[] = [];
  const pin = device.startsWith('cuda');
  const move = (value: unknown): unknown => {
    if (typeof value !== 'object' || value === null) return value;
    if (value instanceof Tensor) {
      if (value.device === device) return value;
      const source = pin && value.device === 'cpu' ? value.pinMemory() : value;
      const copy = source.to({ device, nonBlocking: pin });
      if (source !== value) source.dispose();
      copies.push(copy);
      return copy;
    }
    if (Array.isArray(value)) return value.map(move);
    if (value instanceof Map) return new Map([...value].map(([k, v]) => [k, move(v)]));
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, move(v)]));
  };
  return { batch: move(batch), copies };
}

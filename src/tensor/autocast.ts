/**
 * Automatic mixed precision (torch.autocast): inside `autocast(fn)`, the operators on
 * libtorch's autocast lists (matmul, linear, conv, …) run in float16 or bfloat16 while
 * precision-sensitive ones (softmax, losses, norms) stay in float32. Per thread and
 * synchronous, like noGrad().
 */
import { withThreadState } from './autograd.js';
import { native } from './native.js';
import type { DType } from './types.js';

export interface AutocastOptions {
  /** The device type whose operators are cast: 'cpu' (default) or 'cuda'. */
  deviceType?: 'cpu' | 'cuda';
  /** The lower precision: bfloat16 (the CPU default, as PyTorch) or float16. */
  dtype?: Extract<DType, 'bfloat16' | 'float16'>;
  /** false runs `fn` without autocast (to turn it off in a region). */
  enabled?: boolean;
}

/** Runs `fn` under autocast, restoring the previous state after, also when fn throws. */
export function autocast<T>(fn: () => T, options: AutocastOptions = {}): T {
  const deviceType = options.deviceType ?? 'cpu';
  const previous = native.autocastState(deviceType);
  const enabled = options.enabled ?? true;
  const dtype = options.dtype ?? (deviceType === 'cpu' ? 'bfloat16' : 'float16');
  return withThreadState(
    () => native.setAutocast(deviceType, enabled, dtype, 1),
    () => native.setAutocast(deviceType, previous.enabled, previous.dtype, -1),
    fn,
    'autocast() takes a synchronous function: the autocast state is per thread and would leak across await',
  );
}

/** Whether autocast is on for a device type, and its dtype. */
export function autocastState(deviceType: 'cpu' | 'cuda' = 'cpu'): { enabled: boolean; dtype: DType } {
  return native.autocastState(deviceType) as { enabled: boolean; dtype: DType };
}

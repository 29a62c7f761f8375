/**
 * Mixed precision in the Trainer (HF's `bf16` / `fp16`, as accelerate runs them): the model's forward
 * — with the loss a model computes in it — under autocast, its floating outputs back in float32
 * (accelerate's convert_outputs_to_fp32), so custom losses, metrics and predictions see float32; the
 * weights, their gradients and the optimizer's state stay float32 (the "master weights").
 *
 * fp16 adds torch's GradScaler (amp.GradScaler): the loss is multiplied by the scale before backward,
 * the gradients are divided by it before clipping, and an update whose gradients hold inf/NaN is
 * skipped with the scale halved (the scheduler does not step then, as HF's Trainer); after 2000
 * clean steps the scale doubles. With several processes the check agrees on every rank on its own:
 * it reads the gradients after DistributedDataParallel averaged them, which are the same everywhere.
 * bf16 has float32's exponent range and needs no scaling.
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';

import { GradScaler, type GradScalerState } from '../amp/index.js';
import { autocast, noGrad, Tensor, tidy } from '../tensor/index.js';
import type { Optimizer } from '../optim/index.js';
import { readJson, writeTextAtomic } from './checkpoint.js';

export type PrecisionMode = 'fp32' | 'bf16' | 'fp16';

/** The GradScaler's state in a checkpoint (transformers' scaler.pt as JSON: torch's state_dict keys). */
export const SCALER_NAME = 'scaler.json';

/** The device type autocast casts for: where the model's parameters are. */
export type AutocastDevice = 'cpu' | 'cuda';

export class MixedPrecision {
  readonly mode: PrecisionMode;
  /** fp16's loss scaler (null in bf16 and fp32). */
  readonly scaler: GradScaler | null;
  /** The optimizers whose gradients are unscaled this step. */
  #unscaled = new Set<Optimizer>();

  constructor(settings: { bf16: boolean; fp16: boolean }) {
    this.mode = settings.fp16 ? 'fp16' : settings.bf16 ? 'bf16' : 'fp32';
    this.scaler = this.mode === 'fp16' ? new GradScaler() : null;
  }

  /** `forward()` under autocast to bfloat16 / float16 on the model's device (as is in fp32), floating outputs returned in float32. */
  forward<T>(forward: () => T, deviceOf: () => AutocastDevice): T {
    if (this.mode === 'fp32') return forward();
    const device = deviceOf();
    const dtype = this.mode === 'bf16' ? 'bfloat16' : 'float16';
    try {
      return toFloat32(autocast(forward, { deviceType: device, dtype })) as T;
    } catch (error) {
      // libtorch 2.13 has float16 and bfloat16 CPU kernels for the model zoo's operators; a custom model may use one without.
      const message = (error as Error).message;
      if (!/not implemented for '(Half|BFloat16)'/.test(message)) throw error;
      throw new Error(
        `${this.mode}: ${message.split('\n')[0]} — libtorch has no ${dtype} kernel for this operator on ${device}: train this model in float32 (without ${this.mode})`,
        { cause: error },
      );
    }
  }

  /** The loss backward starts from: loss × scale in fp16, the loss otherwise. */
  scaleLoss(loss: Tensor): Tensor {
    return this.scaler ? this.scaler.scale(loss) : loss;
  }

  /** fp16: divides the optimizer's gradients by the scale (once a step, before they are clipped or measured). */
  unscale(optimizer: Optimizer): void {
    if (this.scaler && !this.#unscaled.has(optimizer)) {
      this.scaler.unscale_(optimizer);
      this.#unscaled.add(optimizer);
    }
  }

  /**
   * The update: optimizer.step(); in fp16 the scaler's step (skipped when a gradient is inf/NaN) and
   * its scale update. Returns whether the optimizer stepped.
   */
  step(optimizer: Optimizer): boolean {
    if (!this.scaler) {
      optimizer.step();
      return true;
    }
    this.unscale(optimizer);
    const stepped = this.scaler.step(optimizer);
    this.scaler.update();
    this.#unscaled.clear();
    return stepped;
  }

  /**
   * For an update that another loop makes (the lr range test steps the optimizer itself): the fp16
   * scale update after an unscaled step; when the gradients overflowed, they are zeroed and every
   * group's lr set to 0 for this step (the loop sets the next step's), so that the optimizer's step
   * leaves the weights as they are, as a skipped update. Returns whether the gradients were finite.
   */
  settle(optimizer: Optimizer): boolean {
    if (!this.scaler) return true;
    this.unscale(optimizer);
    const before = this.scaler.getScale();
    this.scaler.update();
    this.#unscaled.clear();
    const finite = this.scaler.getScale() >= before;
    if (!finite) {
      noGrad(() =>
        tidy(() => {
          for (const group of optimizer.paramGroups) for (const p of group.params) p.grad?.zero_();
        }),
      );
      for (const group of optimizer.paramGroups) group.lr = 0;
    }
    return finite;
  }

  /** The plan's lines on precision (none in fp32). */
  planLines(device: AutocastDevice): string[] {
    if (this.mode === 'bf16')
      return ['mixed precision bf16: forward and loss under bfloat16 autocast, float32 weights and optimizer state'];
    if (this.mode === 'fp32') return [];
    const lines = [
      `mixed precision fp16: forward and loss under float16 autocast, float32 weights and optimizer state; dynamic loss scale from ${this.scaler!.getScale()} (an update with inf/NaN gradients is skipped and the scale halved)`,
    ];
    // Measured by bench/precision.ts: a bert-mini step 12× slower than float32 on an AVX512-BF16 CPU, bf16 0.5×.
    if (device === 'cpu')
      lines.push(
        "fp16 on the CPU: libtorch's float16 matmuls run generic kernels there (many times slower than float32 without AVX512-FP16 or AMX-FP16); bf16 is the CPU's mixed precision",
      );
    return lines;
  }

  /** Writes the scaler's state into a checkpoint folder (fp16 only). */
  async save(dir: string): Promise<void> {
    if (this.scaler)
      await writeTextAtomic(join(dir, SCALER_NAME), JSON.stringify(this.scaler.stateDict(), null, 2) + '\n');
  }

  /** Reads the scaler's state from a checkpoint folder (fp16 only); returns a notice when the checkpoint has none. */
  async load(dir: string): Promise<string | null> {
    if (!this.scaler) return null;
    const path = join(dir, SCALER_NAME);
    if (!existsSync(path))
      return `${dir} has no ${SCALER_NAME} (it was not written by an fp16 run): the loss scale starts at ${this.scaler.getScale()}`;
    const json = await readJson(path);
    for (const key of ['scale', '_growth_tracker'] as const)
      if (typeof json[key] !== 'number' || !Number.isFinite(json[key]))
        throw new Error(`${path}: '${key}' must be a finite number, got ${JSON.stringify(json[key])}`);
    this.scaler.loadStateDict(json as unknown as GradScalerState);
    return null;
  }

  dispose(): void {
    this.scaler?.dispose();
  }
}

/** accelerate's convert_outputs_to_fp32: float16 / bfloat16 tensors in a forward's result (a tensor, or an object of tensors or of records of them) as float32. */
function toFloat32(value: unknown, depth = 0): unknown {
  if (value instanceof Tensor)
    return value.dtype === 'float16' || value.dtype === 'bfloat16' ? value.to('float32') : value;
  if (depth > 1 || typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, toFloat32(v, depth + 1)]));
}

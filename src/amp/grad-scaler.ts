/**
 * GradScaler (torch.amp.GradScaler): float16 gradients underflow, so the loss is multiplied by
 * a large scale before backward; step() unscales the gradients, skips the update when any is
 * inf/NaN, and update() lowers the scale after an overflow or raises it after `growthInterval`
 * clean steps. bfloat16 has float32's range and needs none of this (enabled: false passes through).
 *
 *   const scaler = new GradScaler();
 *   const loss = autocast(() => model.forward(batch).loss, { dtype: 'float16' });
 *   scaler.scale(loss).backward();
 *   scaler.unscale_(optimizer);            // optional: before clipping
 *   clipGradNorm_(params, 1.0);
 *   scaler.step(optimizer);
 *   scaler.update();
 */
import { aten, full, keep, noGrad, tidy, zeros, type Device, type Tensor } from '../tensor/index.js';
import type { Optimizer } from '../optim/index.js';

export interface GradScalerOptions {
  initScale?: number;
  growthFactor?: number;
  backoffFactor?: number;
  growthInterval?: number;
  enabled?: boolean;
}

export interface GradScalerState {
  scale: number;
  growth_factor: number;
  backoff_factor: number;
  growth_interval: number;
  _growth_tracker: number;
}

export class GradScaler {
  readonly enabled: boolean;
  readonly growthFactor: number;
  readonly backoffFactor: number;
  readonly growthInterval: number;
  #scale: Tensor;
  #growthTracker: Tensor;
  /** Per optimizer in this iteration: the found-inf flag once unscaled. */
  #unscaled = new Map<Optimizer, Tensor>();

  constructor(options: GradScalerOptions = {}) {
    this.enabled = options.enabled ?? true;
    this.growthFactor = options.growthFactor ?? 2;
    this.backoffFactor = options.backoffFactor ?? 0.5;
    this.growthInterval = options.growthInterval ?? 2000;
    if (!(this.growthFactor > 1))
      throw new RangeError(`GradScaler: growthFactor should be > 1, got ${this.growthFactor}`);
    if (!(this.backoffFactor < 1 && this.backoffFactor > 0))
      throw new RangeError(`GradScaler: backoffFactor should be in (0, 1), got ${this.backoffFactor}`);
    this.#scale = keep(full([], options.initScale ?? 2 ** 16));
    this.#growthTracker = keep(zeros([], { dtype: 'int32' }));
  }

  /** The current scale. */
  getScale(): number {
    return this.enabled ? (this.#scale.item() as number) : 1;
  }

  /** loss × scale (the loss itself when disabled). The scale moves to the loss's device, as torch makes it lazily on the outputs'. */
  scale(loss: Tensor): Tensor {
    if (!this.enabled) return loss;
    if (loss.device !== this.#scale.device) {
      const [scale, tracker] = [this.#scale, this.#growthTracker];
      this.#scale = keep(scale.to(loss.device as Device));
      this.#growthTracker = keep(tracker.to(loss.device as Device));
      scale.dispose();
      tracker.dispose();
    }
    return loss.mul(this.#scale.to({ dtype: loss.dtype }));
  }

  /** Divides the optimizer's gradients by the scale in place, once per iteration, noting any inf/NaN. */
  unscale_(optimizer: Optimizer): void {
    if (!this.enabled) return;
    if (this.#unscaled.has(optimizer))
      throw new Error('unscale_() has already been called on this optimizer since the last update()');
    const foundInf = keep(zeros([], { device: this.#scale.device as Device }));
    noGrad(() =>
      tidy(() => {
        const inverse = this.#scale.reciprocal();
        const byDtype = new Map<string, Tensor[]>();
        for (const group of optimizer.paramGroups) {
          for (const p of group.params) {
            const grad = p.requiresGrad ? p.grad : null;
            if (!grad) continue;
            if (grad.dtype === 'float16' && !/^float/.test(p.dtype))
              throw new Error('GradScaler: attempting to unscale float16 gradients of non-float parameters');
            const list = byDtype.get(grad.dtype) ?? [];
            list.push(grad);
            byDtype.set(grad.dtype, list);
          }
        }
        for (const grads of byDtype.values()) aten._amp_foreach_non_finite_check_and_unscale_(grads, foundInf, inverse);
      }),
    );
    this.#unscaled.set(optimizer, foundInf);
  }

  /** Unscales (if not done yet) and steps the optimizer unless a gradient was inf/NaN. Returns whether it stepped. */
  step(optimizer: Optimizer): boolean {
    if (!this.enabled) {
      optimizer.step();
      return true;
    }
    if (!this.#unscaled.has(optimizer)) this.unscale_(optimizer);
    const skipped = (this.#unscaled.get(optimizer)!.item() as number) > 0;
    if (!skipped) optimizer.step();
    return !skipped;
  }

  /** Updates the scale from this iteration's overflow checks (backoff on inf, growth after growthInterval clean steps). */
  update(newScale?: number): void {
    if (!this.enabled) return;
    noGrad(() =>
      tidy(() => {
        if (newScale !== undefined) {
          this.#scale.fill_(newScale);
        } else {
          if (this.#unscaled.size === 0)
            throw new Error('update(): no inf checks were recorded; call step() (or unscale_()) first');
          let foundInf = zeros([], { device: this.#scale.device as Device });
          for (const flag of this.#unscaled.values()) foundInf = foundInf.add(flag);
          aten._amp_update_scale_(
            this.#scale,
            this.#growthTracker,
            foundInf,
            this.growthFactor,
            this.backoffFactor,
            this.growthInterval,
          );
        }
      }),
    );
    for (const flag of this.#unscaled.values()) flag.dispose();
    this.#unscaled.clear();
  }

  /** PyTorch's state_dict keys, for checkpoints. */
  stateDict(): GradScalerState {
    return {
      scale: this.getScale(),
      growth_factor: this.growthFactor,
      backoff_factor: this.backoffFactor,
      growth_interval: this.growthInterval,
      _growth_tracker: this.#growthTracker.item() as number,
    };
  }

  loadStateDict(state: GradScalerState): void {
    noGrad(() => {
      this.#scale.fill_(state.scale);
      this.#growthTracker.fill_(state._growth_tracker);
    });
  }

  dispose(): void {
    this.#scale.dispose();
    this.#growthTracker.dispose();
    for (const flag of this.#unscaled.values()) flag.dispose();
    this.#unscaled.clear();
  }
}

/**
 * Stochastic gradient descent as torch.optim.SGD: momentum, dampening, Nesterov momentum, L2
 * weight decay, maximize.
 *
 * Two implementations, a few native calls per (device, dtype) bucket:
 * - fused (the default, for float16/bfloat16/float32/float64 parameters): libtorch's `_fused_sgd_`,
 *   as torch.optim.SGD(fused=True); it differs from PyTorch's default only in rounding (≤ 9.5e-7 —
 *   two float32 ulps — on parameters of magnitude ~4 over 100 steps, test/optim.test.ts). Unlike
 *   PyTorch's, it also starts momentum buffers for parameters whose first gradient comes late.
 * - `fused: false`: the `_foreach_*` sequence of PyTorch's implementation, which on the CPU runs
 *   the kernels of PyTorch's default (for-loop) SGD in the same order: the same bits.
 */
import { aten, type Tensor } from '../tensor/index.js';
import type { GroupOptions, ParamGroup } from './param-group.js';
import { byDeviceAndDtype, checkNonNegative, fusedSupports, Optimizer, type ParamsInput } from './optimizer.js';

export interface SGDOptions {
  /** Learning rate (1e-3, PyTorch's default). */
  lr?: number;
  /** Momentum factor (0). */
  momentum?: number;
  /** Dampening of the momentum (0). */
  dampening?: number;
  /** L2 penalty added to the gradient (0). */
  weightDecay?: number;
  /** Nesterov momentum (false; needs momentum > 0 and no dampening). */
  nesterov?: boolean;
  /** Maximize the objective instead of minimizing it (false). */
  maximize?: boolean;
  /**
   * libtorch's fused kernel (true, the default, where it exists: floating-point parameters), or
   * the multi-tensor `_foreach_*` path (false), which matches PyTorch's default SGD bit for bit.
   */
  fused?: boolean;
}

export class SGD extends Optimizer {
  /** Whether steps use libtorch's fused kernel where the dtype allows (see SGDOptions.fused). */
  readonly fused: boolean;

  constructor(params: ParamsInput, options: SGDOptions = {}) {
    const { fused = true, ...rest } = options;
    super(params, {
      lr: rest.lr ?? 1e-3,
      momentum: rest.momentum ?? 0,
      dampening: rest.dampening ?? 0,
      weightDecay: rest.weightDecay ?? 0,
      nesterov: rest.nesterov ?? false,
      maximize: rest.maximize ?? false,
    });
    this.fused = fused;
  }

  protected override validateOptions(options: GroupOptions): void {
    checkNonNegative(options.lr, `Invalid learning rate: ${options.lr}`);
    checkNonNegative(options.momentum, `Invalid momentum value: ${options.momentum}`);
    checkNonNegative(options.weightDecay, `Invalid weight_decay value: ${options.weightDecay}`);
    if (typeof options.dampening !== 'number')
      throw new TypeError(`Invalid dampening value: ${options.dampening} (expected a number)`);
    if (options.nesterov && (options.momentum! <= 0 || options.dampening !== 0)) {
      throw new RangeError('Nesterov momentum requires a momentum and zero dampening');
    }
  }

  protected override update(group: ParamGroup, params: Tensor[], grads: Tensor[]): void {
    const indices = params.map((_, i) => i);
    for (const bucket of byDeviceAndDtype(indices, (i) => params[i]).values()) {
      const bParams = bucket.items.map((i) => params[i]);
      const bGrads = bucket.items.map((i) => grads[i]);
      if (this.fused && fusedSupports(bucket.dtype, bucket.device)) this.#fused(group, bParams, bGrads);
      else this.#foreach(group, bParams, bGrads);
    }
  }

  #buffer(p: Tensor): Tensor | undefined {
    return this.stateOf(p)?.momentum_buffer;
  }

  #setBuffer(p: Tensor, buffer: Tensor): void {
    if (this.stateOf(p)) this.setStateTensor(p, 'momentum_buffer', buffer);
    else this.initState(p, { momentum_buffer: buffer });
  }

  /**
   * torch.optim.sgd._fused_sgd. Parameters without a momentum buffer yet get an empty one and a
   * call with is_first_step (the kernel copies the gradient into it); the others, a second call.
   */
  #fused(group: ParamGroup, params: Tensor[], grads: Tensor[]): void {
    const momentum = group.momentum ?? 0;
    const options = {
      weight_decay: group.weightDecay,
      momentum,
      lr: group.lr,
      dampening: group.dampening ?? 0,
      nesterov: group.nesterov ?? false,
      maximize: group.maximize,
    };
    if (momentum === 0) {
      aten._fused_sgd_(params, grads, [], { ...options, is_first_step: false });
      return;
    }
    const fresh: number[] = [];
    const running: number[] = [];
    params.forEach((p, i) => (this.#buffer(p) ? running : fresh).push(i));
    if (fresh.length > 0) {
      const freshParams = fresh.map((i) => params[i]);
      const freshGrads = fresh.map((i) => grads[i]);
      const buffers = freshGrads.map((g) => aten.empty_like(g));
      freshParams.forEach((p, k) => this.#setBuffer(p, buffers[k]));
      aten._fused_sgd_(freshParams, freshGrads, buffers, { ...options, is_first_step: true });
    }
    if (running.length > 0) {
      const runningParams = running.map((i) => params[i]);
      const buffers = runningParams.map((p) => this.#buffer(p)!);
      aten._fused_sgd_(
        runningParams,
        running.map((i) => grads[i]),
        buffers,
        { ...options, is_first_step: false },
      );
    }
  }

  /** PyTorch's single-tensor SGD, one `_foreach_*` call per line: the same kernels and order. */
  #foreach(group: ParamGroup, params: Tensor[], rawGrads: Tensor[]): void {
    const { lr, weightDecay } = group;
    const momentum = group.momentum ?? 0;
    const dampening = group.dampening ?? 0;
    let grads = group.maximize ? aten._foreach_neg(rawGrads) : rawGrads;
    if (weightDecay !== 0) grads = aten._foreach_add_List(grads, params, { alpha: weightDecay });
    if (momentum !== 0) {
      const running: number[] = [];
      const buffers: Tensor[] = new Array(params.length);
      params.forEach((p, i) => {
        const buffer = this.#buffer(p);
        if (buffer) {
          running.push(i);
          buffers[i] = buffer;
        } else {
          buffers[i] = grads[i].detach().clone();
          this.#setBuffer(p, buffers[i]);
        }
      });
      if (running.length > 0) {
        const runningBuffers = running.map((i) => buffers[i]);
        aten._foreach_mul__Scalar(runningBuffers, momentum);
        aten._foreach_add__List(
          runningBuffers,
          running.map((i) => grads[i]),
          { alpha: 1 - dampening },
        );
      }
      grads = group.nesterov ? aten._foreach_add_List(grads, buffers, { alpha: momentum }) : buffers;
    }
    aten._foreach_add__List(params, grads, { alpha: -lr });
  }
}

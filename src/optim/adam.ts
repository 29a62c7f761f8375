/**
 * Adam (Kingma & Ba, 2015) as torch.optim.Adam: L2 weight decay added to the gradient (or
 * decoupled, AdamW's, with decoupledWeightDecay), AMSGrad, maximize.
 *
 * Two implementations, both a handful of native calls per (device, dtype) bucket:
 * - fused (the default, for float16/bfloat16/float32/float64 parameters): libtorch's
 *   `_fused_adam_` / `_fused_adamw_`, one pass over the memory, as torch.optim.Adam(fused=True).
 *   Its results differ from PyTorch's default implementation only in rounding (≤ 1.2e-7 absolute on
 *   parameters of magnitude ≤ 2.6 over 100 steps, test/optim.test.ts).
 * - `fused: false`: the `_foreach_*` sequence of PyTorch's own implementation; on the CPU it runs
 *   the same kernels in the same order as PyTorch's default (for-loop) Adam, so it matches it bit
 *   for bit.
 */
import { aten, type Device, type Tensor } from '../tensor/index.js';
import type { GroupOptions, ParamGroup } from './param-group.js';
import {
  byDeviceAndDtype,
  checkNonNegative,
  fusedSupports,
  Optimizer,
  type ParamsInput,
  type ParamState,
} from './optimizer.js';

export interface AdamOptions {
  /** Learning rate (1e-3). */
  lr?: number;
  /** Coefficients of the running averages of the gradient and its square ([0.9, 0.999]). */
  betas?: [number, number];
  /** Added to the denominator for numerical stability (1e-8). */
  eps?: number;
  /** Adam: L2 penalty added to the gradient (0); AdamW: decoupled decay (1e-2). */
  weightDecay?: number;
  /** The AMSGrad variant: normalise by the running maximum of the second moment (false). */
  amsgrad?: boolean;
  /** Maximize the objective instead of minimizing it (false). */
  maximize?: boolean;
  /**
   * libtorch's fused kernel (true, the default, where it exists: floating-point parameters), or
   * the multi-tensor `_foreach_*` path (false), which matches PyTorch's default Adam bit for bit.
   */
  fused?: boolean;
  /** Adam only: decay the weights directly (AdamW) instead of adding the L2 term to the gradient (false). */
  decoupledWeightDecay?: boolean;
}

/** The state of one parameter: PyTorch's keys. */
interface AdamState extends ParamState {
  step: Tensor;
  exp_avg: Tensor;
  exp_avg_sq: Tensor;
}

export class Adam extends Optimizer {
  /** Whether steps use libtorch's fused kernel where the dtype allows (see AdamOptions.fused). */
  readonly fused: boolean;
  /** AdamW's decoupled weight decay. */
  readonly decoupledWeightDecay: boolean;
  /** Each parameter's step count, as its `step` tensor holds it (read once, not per step). */
  #steps = new Map<Tensor, number>();

  constructor(params: ParamsInput, options: AdamOptions = {}) {
    const { fused = true, decoupledWeightDecay = false, ...rest } = options;
    super(params, {
      lr: rest.lr ?? 1e-3,
      betas: rest.betas ?? [0.9, 0.999],
      eps: rest.eps ?? 1e-8,
      weightDecay: rest.weightDecay ?? 0,
      amsgrad: rest.amsgrad ?? false,
      maximize: rest.maximize ?? false,
    });
    this.fused = fused;
    this.decoupledWeightDecay = decoupledWeightDecay;
  }

  protected override validateOptions(options: GroupOptions): void {
    checkNonNegative(options.lr, `Invalid learning rate: ${options.lr}`);
    checkNonNegative(options.eps, `Invalid epsilon value: ${options.eps}`);
    const betas = options.betas;
    if (!Array.isArray(betas) || betas.length !== 2)
      throw new TypeError(`betas must be a pair of numbers, got ${String(betas)}`);
    for (const i of [0, 1]) {
      const beta = betas[i];
      if (typeof beta !== 'number' || !(0 <= beta && beta < 1))
        throw new RangeError(`Invalid beta parameter at index ${i}: ${beta}`);
    }
    checkNonNegative(options.weightDecay, `Invalid weight_decay value: ${options.weightDecay}`);
  }

  protected override stateLoaded(): void {
    this.#steps = new Map();
  }

  protected override update(group: ParamGroup, params: Tensor[], grads: Tensor[]): void {
    const amsgrad = group.amsgrad ?? false;
    const states = params.map((p) => this.#stateFor(p, amsgrad));
    const counts = params.map((p, i) => {
      const count = (this.#steps.get(p) ?? (states[i].step.item() as number)) + 1;
      this.#steps.set(p, count);
      return count;
    });
    const indices = params.map((_, i) => i);
    for (const bucket of byDeviceAndDtype(indices, (i) => params[i]).values()) {
      const pick = <T>(list: T[]): T[] => bucket.items.map((i) => list[i]);
      const bParams = pick(params);
      const bStates = pick(states);
      const steps = bStates.map((s) => s.step);
      aten._foreach_add__Scalar(steps, 1);
      if (this.fused && fusedSupports(bucket.dtype, bucket.device)) {
        this.#fused(group, bParams, pick(grads), bStates, amsgrad);
      } else {
        this.#foreach(group, bParams, pick(grads), bStates, pick(counts), amsgrad);
      }
    }
  }

  #stateFor(p: Tensor, amsgrad: boolean): AdamState {
    let state = this.stateOf(p) as AdamState | undefined;
    if (!state) {
      const init: ParamState = {
        step: aten.scalar_tensor(0, { dtype: 'float32', device: p.device as Device }),
        exp_avg: aten.zeros_like(p, { memory_format: 'preserve_format' }),
        exp_avg_sq: aten.zeros_like(p, { memory_format: 'preserve_format' }),
      };
      if (amsgrad) init.max_exp_avg_sq = aten.zeros_like(p, { memory_format: 'preserve_format' });
      state = this.initState(p, init) as AdamState;
      this.#steps.set(p, 0);
    } else if (amsgrad && !state.max_exp_avg_sq) {
      this.setStateTensor(p, 'max_exp_avg_sq', aten.zeros_like(p, { memory_format: 'preserve_format' }));
    }
    return state;
  }

  /** torch.optim.adam._fused_adam: steps already incremented. */
  #fused(group: ParamGroup, params: Tensor[], grads: Tensor[], states: AdamState[], amsgrad: boolean): void {
    const [beta1, beta2] = group.betas!;
    const kernel = this.decoupledWeightDecay ? aten._fused_adamw_ : aten._fused_adam_;
    kernel(
      params,
      grads,
      states.map((s) => s.exp_avg),
      states.map((s) => s.exp_avg_sq),
      amsgrad ? states.map((s) => s.max_exp_avg_sq) : [],
      states.map((s) => s.step),
      {
        lr: group.lr,
        beta1,
        beta2,
        weight_decay: group.weightDecay,
        eps: group.eps!,
        amsgrad,
        maximize: group.maximize,
      },
    );
  }

  /**
   * PyTorch's single-tensor Adam (its default on the CPU), one `_foreach_*` call per line: the same
   * kernels, scalars and order, so the same bits. `counts` are the incremented steps.
   */
  #foreach(
    group: ParamGroup,
    params: Tensor[],
    rawGrads: Tensor[],
    states: AdamState[],
    counts: number[],
    amsgrad: boolean,
  ): void {
    const { lr, weightDecay } = group;
    const [beta1, beta2] = group.betas!;
    const eps = group.eps!;
    const expAvgs = states.map((s) => s.exp_avg);
    const expAvgSqs = states.map((s) => s.exp_avg_sq);

    let grads = group.maximize ? aten._foreach_neg(rawGrads) : rawGrads;
    if (weightDecay !== 0) {
      if (this.decoupledWeightDecay) aten._foreach_mul__Scalar(params, 1 - lr * weightDecay);
      else grads = aten._foreach_add_List(grads, params, { alpha: weightDecay });
    }
    aten._foreach_lerp__Scalar(expAvgs, grads, 1 - beta1);
    aten._foreach_mul__Scalar(expAvgSqs, beta2);
    aten._foreach_addcmul__Scalar(expAvgSqs, grads, grads, 1 - beta2);

    // bias corrections in double precision, as Python computes them
    const stepSizes = counts.map((step) => -(lr / (1 - beta1 ** step)));
    const correction2Sqrt = counts.map((step) => Math.sqrt(1 - beta2 ** step));
    let second = expAvgSqs;
    if (amsgrad) {
      second = states.map((s) => s.max_exp_avg_sq);
      aten._foreach_maximum__List(second, expAvgSqs);
    }
    const denoms = aten._foreach_sqrt(second);
    aten._foreach_div__ScalarList(denoms, correction2Sqrt);
    aten._foreach_add__Scalar(denoms, eps);
    aten._foreach_addcdiv__ScalarList(params, expAvgs, denoms, stepSizes);
  }
}

/** AdamW (Loshchilov & Hutter, 2019) as torch.optim.AdamW: Adam with decoupled weight decay, default 1e-2. */
export class AdamW extends Adam {
  constructor(params: ParamsInput, options: Omit<AdamOptions, 'decoupledWeightDecay'> = {}) {
    super(params, { weightDecay: 1e-2, ...stripUndefinedWeightDecay(options), decoupledWeightDecay: true });
  }
}

function stripUndefinedWeightDecay(options: AdamOptions): AdamOptions {
  if (options.weightDecay !== undefined) return options;
  const { weightDecay: _, ...rest } = options;
  return rest;
}

/**
 * Multi-task loss weighting: one scalar to minimise from named task losses, and the weights in use.
 *
 *   const mtl = new MultiTaskLoss(['seg', 'depth'], { kind: 'uncertainty' });
 *   const optimizer = new SGD([...model.parameters(), ...mtl.parameters()], { lr: 0.01 });
 *   mtl.backward({ seg: segLoss, depth: depthLoss });   // or mtl.forward(losses).backward()
 *   optimizer.step(); mtl.step();                       // per step; mtl.onEpochEnd() per epoch (DWA)
 *   console.log(mtl.weights());                         // { seg: 0.48, depth: 0.52 }
 *
 * Strategies (`kind`):
 * - `fixed`: L = Σ w_i·L_i (weights default to 1).
 * - `scheduled` (two tasks): L = α(t)·L_1 + (1 − α(t))·L_2, α going from `from` to `to` over `steps`
 *   calls of step(): linear, cosine (half period, flat at `to` afterwards) or step (`from` before
 *   `steps`, `to` from then on).
 * - `uncertainty`, Kendall, Gal & Cipolla 2018 ("Multi-Task Learning Using Uncertainty to Weigh
 *   Losses"), in this exact form: L = Σ_i L_i / (2·e^{s_i}) + s_i / 2 with learnable s_i = log σ_i²
 *   (initially 0). The s_i are parameters() to optimise with the model. weights() reports the factor
 *   on each L_i, e^{−s_i}/2 (0.5 at start); a task with noisier targets ends with a larger σ_i and a
 *   smaller weight.
 * - `dwa`, Dynamic Weight Average (Liu, Johns & Davison 2019, "End-to-End Multi-Task Learning with
 *   Attention"): w_i(t) = K·exp(r_i(t−1)/T) / Σ_j exp(r_j(t−1)/T), r_i(t−1) = L_i(t−1)/L_i(t−2) with
 *   epoch-average losses L_i, T = 2 (`temperature`), K tasks, and w_i = 1 for the first two epochs.
 *   onEpochEnd(avgLosses) closes an epoch; without an argument it uses the average of the losses
 *   forward() saw during the epoch.
 * - `gradnorm`, Chen et al. 2018 ("GradNorm"): learnable weights w_i (initially 1; parameters(), to
 *   optimise with the model — the paper uses the same optimizer), α = 1.5. backward(losses) does the
 *   whole step: the model gets the gradient of Σ w_i·L_i (w_i held constant), the w_i get the gradient
 *   of L_grad = Σ_i |G_i − Ḡ·r_i^α| where G_i = ‖∇_W w_i·L_i‖₂ over the shared parameters W (the last
 *   shared layer's weights), Ḡ = mean_i G_i, r_i = L̃_i / mean_j L̃_j, L̃_i = L_i(t)/L_i(0) (the first
 *   step's losses), and the target Ḡ·r_i^α a constant. step(), after the optimizer's step, renormalises
 *   the weights to sum to the number of tasks. A task whose loss falls slower (larger r_i) is given a
 *   larger target gradient norm, hence a larger weight.
 *
 * GradNorm needs only first-order gradients here: w_i scales L_i, so ∇_W(w_i·L_i) = w_i·∇_W L_i and
 * ∂G_i/∂w_i = sign(w_i)·‖∇_W L_i‖ — what autograd.grad(…, create_graph=True) followed by a backward of
 * L_grad computes in the reference implementations, without the double backward. The per-task
 * gradients come from one backward per task (retaining the graph), as in PCGrad.
 *
 * stateDict() / loadStateDict() save and restore everything that changes while it runs (the s_i / w_i,
 * the step and epoch counts, DWA's epoch averages, GradNorm's initial losses): the Trainer keeps it in
 * each checkpoint so a resumed run continues bit for bit.
 *
 * pcgradBackward (Yu et al. 2020, "Gradient Surgery for Multi-Task Learning") is a function: per-task
 * gradients on the shared parameters, each projected onto the normal plane of every other task's
 * gradient it conflicts with (negative dot product), in random order, then summed.
 */
import { cat, dot, noGrad, stack, tensor, tidy, zeros, type Device, type DType, type Tensor } from '../tensor/index.js';
import { parameter } from '../nn/index.js';

/** Task losses by task name: scalar tensors. */
export type TaskLosses = Record<string, Tensor>;

export type AlphaScheduleShape = 'linear' | 'cosine' | 'step';

export type MultiTaskStrategy =
  | { kind: 'fixed'; weights?: Record<string, number> }
  | { kind: 'scheduled'; from: number; to: number; steps: number; shape?: AlphaScheduleShape }
  | { kind: 'uncertainty'; initialLogVariance?: number | Record<string, number> }
  | { kind: 'dwa'; temperature?: number }
  | {
      kind: 'gradnorm';
      /** The shared parameters W whose gradient norms are balanced: the last shared layer's weights. */
      sharedParameters: Tensor | Tensor[];
      /** The restoring-force strength α; default 1.5. */
      alpha?: number;
      /** L_i(0); default: the losses of the first backward(). */
      initialLosses?: Record<string, number>;
    };

export type MultiTaskKind = MultiTaskStrategy['kind'];

export interface MultiTaskLossOptions {
  /** The dtype of the learnable s_i / w_i (default float32). */
  dtype?: DType;
}

/** What a strategy reports for logs: the weights and its own quantities. */
export interface MultiTaskState {
  kind: MultiTaskKind;
  /** step() calls so far. */
  step: number;
  /** onEpochEnd() calls so far. */
  epoch: number;
  /** The factor on each task loss now. */
  weights: Record<string, number>;
  /** scheduled: α(t). */
  alpha?: number;
  /** uncertainty: s_i = log σ_i². */
  logVariances?: Record<string, number>;
  /** uncertainty: σ_i = e^{s_i/2}. */
  sigmas?: Record<string, number>;
  /** dwa: r_i(t−1) (undefined for the first two epochs); the last two epoch averages. */
  lossRatios?: Record<string, number>;
  epochLosses?: Record<string, number>[];
  /** gradnorm, from the last backward(): G_i, the targets Ḡ·r_i^α, r_i, L_grad and L_i(0). */
  gradNorms?: Record<string, number>;
  targets?: Record<string, number>;
  inverseTrainingRates?: Record<string, number>;
  gradNormLoss?: number;
  initialLosses?: Record<string, number>;
}

/**
 * Everything a MultiTaskLoss changes while it runs (JSON-serialisable; the learnable s_i / w_i as
 * numbers, exact for float32 and float64): what checkpoints save so a resumed run continues bit for bit.
 */
export interface MultiTaskLossStateDict {
  kind: MultiTaskKind;
  tasks: string[];
  step: number;
  epoch: number;
  /** uncertainty: s_i; gradnorm: w_i (in task order). */
  parameter?: number[];
  /** dwa: the last two epoch averages and this epoch's running sums of forward()'s losses. */
  epochLosses?: Record<string, number>[];
  running?: { sums: number[]; count: number };
  /** gradnorm: L_i(0) (null before the first backward) and the last backward's quantities. */
  initialLosses?: number[] | null;
  last?: Pick<MultiTaskState, 'gradNorms' | 'targets' | 'inverseTrainingRates' | 'gradNormLoss'>;
}

export class MultiTaskLoss {
  readonly tasks: readonly string[];
  readonly strategy: MultiTaskStrategy;
  #step = 0;
  #epoch = 0;
  /** uncertainty: s; gradnorm: w. */
  #param: Tensor | null = null;
  /** dwa: epoch averages so far (the last two kept), and this epoch's running sums. */
  #epochLosses: Record<string, number>[] = [];
  #running: { sums: number[]; count: number } = { sums: [], count: 0 };
  #gradnorm: {
    shared: Tensor[];
    alpha: number;
    initial: number[] | null;
    last?: Pick<MultiTaskState, 'gradNorms' | 'targets' | 'inverseTrainingRates' | 'gradNormLoss'>;
  } | null = null;

  constructor(tasks: string[], strategy: MultiTaskStrategy, options: MultiTaskLossOptions = {}) {
    const dtype = options.dtype ?? 'float32';
    if (tasks.length === 0) throw new Error('MultiTaskLoss: no tasks');
    if (new Set(tasks).size !== tasks.length) throw new Error(`MultiTaskLoss: task names repeat: ${tasks.join(', ')}`);
    this.tasks = [...tasks];
    this.strategy = strategy;
    this.#running.sums = tasks.map(() => 0);
    switch (strategy.kind) {
      case 'fixed':
        for (const name of Object.keys(strategy.weights ?? {}))
          if (!tasks.includes(name))
            throw new Error(`MultiTaskLoss: weight for unknown task '${name}' (tasks: ${tasks.join(', ')})`);
        break;
      case 'scheduled':
        if (tasks.length !== 2)
          throw new Error(`MultiTaskLoss: a scheduled α(t) weighs exactly two tasks, got ${tasks.length}`);
        if (!(Number.isInteger(strategy.steps) && strategy.steps > 0))
          throw new Error(`MultiTaskLoss: steps must be a positive integer, got ${strategy.steps}`);
        if (!['linear', 'cosine', 'step', undefined].includes(strategy.shape))
          throw new Error(`MultiTaskLoss: shape must be linear, cosine or step, got '${strategy.shape}'`);
        break;
      case 'uncertainty': {
        const init = strategy.initialLogVariance ?? 0;
        this.#param = parameter(
          tensor(
            tasks.map((t) => (typeof init === 'number' ? init : (init[t] ?? 0))),
            { dtype },
          ),
        );
        break;
      }
      case 'dwa':
        if (strategy.temperature !== undefined && !(strategy.temperature > 0))
          throw new Error(`MultiTaskLoss: temperature must be positive, got ${strategy.temperature}`);
        break;
      case 'gradnorm': {
        const shared = Array.isArray(strategy.sharedParameters)
          ? strategy.sharedParameters
          : [strategy.sharedParameters];
        if (shared.length === 0)
          throw new Error('MultiTaskLoss: GradNorm needs the shared parameters (the last shared layer’s weights)');
        const initial = strategy.initialLosses ? tasks.map((t) => checkLossValue(t, strategy.initialLosses![t])) : null;
        this.#param = parameter(
          tensor(
            tasks.map(() => 1),
            { dtype },
          ),
        );
        this.#gradnorm = { shared, alpha: strategy.alpha ?? 1.5, initial };
        break;
      }
      default:
        throw new Error(
          `MultiTaskLoss: unknown strategy '${(strategy as { kind: string }).kind}' (known: fixed, scheduled, uncertainty, dwa, gradnorm)`,
        );
    }
  }

  /** The learnable parameters to add to the optimizer: [s] (uncertainty) or [w] (gradnorm), else []. */
  parameters(): Tensor[] {
    return this.#param ? [this.#param] : [];
  }

  /** The factor on each task loss now (see the strategies). */
  weights(): Record<string, number> {
    return this.#named(this.#weightValues());
  }

  #weightValues(): number[] {
    const s = this.strategy;
    switch (s.kind) {
      case 'fixed':
        return this.tasks.map((t) => s.weights?.[t] ?? 1);
      case 'scheduled': {
        const alpha = this.alpha();
        return [alpha, 1 - alpha];
      }
      case 'uncertainty':
        return this.#paramValues().map((v) => Math.exp(-v) / 2);
      case 'dwa':
        return this.#dwaWeights();
      case 'gradnorm':
        return this.#paramValues();
    }
  }

  /** scheduled: α(t) at the current step. */
  alpha(): number {
    const s = this.strategy;
    if (s.kind !== 'scheduled') throw new Error(`MultiTaskLoss: alpha() is for the scheduled strategy, not ${s.kind}`);
    const progress = Math.min(this.#step / s.steps, 1);
    switch (s.shape ?? 'linear') {
      case 'linear':
        return s.from + (s.to - s.from) * progress;
      case 'cosine':
        return s.to + ((s.from - s.to) * (1 + Math.cos(Math.PI * progress))) / 2;
      case 'step':
        return this.#step < s.steps ? s.from : s.to;
    }
  }

  /** The weighted total to minimise (uncertainty: with its s_i/2 terms; gradnorm: weights held constant). */
  forward(losses: TaskLosses): Tensor {
    const list = this.#lossList(losses);
    if (this.strategy.kind === 'dwa') this.#accumulate(list);
    return tidy(() => {
      const stacked = stack(list.map((l) => l.reshape([])));
      if (this.strategy.kind === 'uncertainty') {
        const s = this.#param!;
        return stacked.mul(s.neg().exp()).mul(0.5).add(s.mul(0.5)).sum();
      }
      const weights =
        this.strategy.kind === 'gradnorm'
          ? this.#param!.detach()
          : tensor(this.#weightValues(), { dtype: stacked.dtype });
      return stacked.mul(weights.to({ dtype: stacked.dtype })).sum();
    });
  }

  /**
   * Backpropagates the weighted total and returns it (detached). For GradNorm this is the whole
   * GradNorm step (see the file comment): the model's gradients of Σ w_i·L_i and the weights'
   * gradients of L_grad. Gradients accumulate, as Tensor.backward: zero them before.
   */
  backward(losses: TaskLosses): Tensor {
    if (this.strategy.kind === 'gradnorm') return this.#gradNormBackward(losses);
    const total = this.forward(losses);
    total.backward();
    const value = total.detach();
    total.dispose();
    return value;
  }

  /** Call after each optimizer step: advances t (scheduled α) and renormalises GradNorm's weights to sum to the number of tasks. */
  step(): void {
    this.#step += 1;
    if (this.strategy.kind === 'gradnorm') {
      const w = this.#param!;
      noGrad(() =>
        tidy(() => {
          const sum = w.sum().item();
          if (!(Number.isFinite(sum) && sum !== 0))
            throw new Error(`GradNorm: the task weights sum to ${sum}; lower the weights' learning rate`);
          w.mul_(this.tasks.length / sum);
        }),
      );
    }
  }

  /**
   * Closes an epoch. DWA: `avgLosses` are the epoch's average task losses (default: the average of
   * the losses forward() saw since the last call); they set the weights of the epoch after next.
   */
  onEpochEnd(avgLosses?: Record<string, number>): void {
    this.#epoch += 1;
    if (this.strategy.kind !== 'dwa') return;
    let averages: number[];
    if (avgLosses) averages = this.tasks.map((t) => checkLossValue(t, avgLosses[t]));
    else {
      const { sums, count } = this.#running;
      if (count === 0)
        throw new Error('MultiTaskLoss.onEpochEnd: no losses seen this epoch; pass the epoch-average losses');
      averages = sums.map((s) => s / count);
    }
    this.#epochLosses.push(this.#named(averages));
    if (this.#epochLosses.length > 2) this.#epochLosses.shift();
    this.#running = { sums: this.tasks.map(() => 0), count: 0 };
  }

  /** The current weights and the strategy's own quantities, for logs. */
  get state(): MultiTaskState {
    const state: MultiTaskState = {
      kind: this.strategy.kind,
      step: this.#step,
      epoch: this.#epoch,
      weights: this.weights(),
    };
    switch (this.strategy.kind) {
      case 'scheduled':
        state.alpha = this.alpha();
        break;
      case 'uncertainty': {
        const s = this.#paramValues();
        state.logVariances = this.#named(s);
        state.sigmas = this.#named(s.map((v) => Math.exp(v / 2)));
        break;
      }
      case 'dwa':
        state.epochLosses = this.#epochLosses.map((l) => ({ ...l }));
        if (this.#epochLosses.length === 2) state.lossRatios = this.#named(this.#dwaRatios());
        break;
      case 'gradnorm':
        Object.assign(state, this.#gradnorm!.last ?? {});
        if (this.#gradnorm!.initial) state.initialLosses = this.#named(this.#gradnorm!.initial);
        break;
    }
    return state;
  }

  /** The state to save with a checkpoint (see MultiTaskLossStateDict). */
  stateDict(): MultiTaskLossStateDict {
    const sd: MultiTaskLossStateDict = {
      kind: this.strategy.kind,
      tasks: [...this.tasks],
      step: this.#step,
      epoch: this.#epoch,
    };
    if (this.#param) sd.parameter = this.#paramValues();
    if (this.strategy.kind === 'dwa') {
      sd.epochLosses = this.#epochLosses.map((l) => ({ ...l }));
      sd.running = { sums: [...this.#running.sums], count: this.#running.count };
    }
    if (this.#gradnorm) {
      sd.initialLosses = this.#gradnorm.initial ? [...this.#gradnorm.initial] : null;
      if (this.#gradnorm.last) sd.last = structuredClone(this.#gradnorm.last);
    }
    return sd;
  }

  /** Restores stateDict()'s output into a MultiTaskLoss of the same tasks and strategy kind (the learnable tensor is written in place). */
  loadStateDict(sd: MultiTaskLossStateDict): void {
    if (typeof sd !== 'object' || sd === null) throw new Error('MultiTaskLoss.loadStateDict: expected an object');
    if (sd.kind !== this.strategy.kind)
      throw new Error(
        `MultiTaskLoss.loadStateDict: the state is of a '${sd.kind}' weighting, this one is '${this.strategy.kind}'`,
      );
    if (!Array.isArray(sd.tasks) || sd.tasks.join('\n') !== this.tasks.join('\n')) {
      throw new Error(
        `MultiTaskLoss.loadStateDict: the state is for tasks ${String(sd.tasks)}, this loss has ${this.tasks.join(', ')}`,
      );
    }
    if (!Number.isInteger(sd.step) || !Number.isInteger(sd.epoch))
      throw new Error('MultiTaskLoss.loadStateDict: step and epoch must be integers');
    if (this.#param) {
      const values = sd.parameter;
      if (!Array.isArray(values) || values.length !== this.tasks.length)
        throw new Error(
          `MultiTaskLoss.loadStateDict: expected ${this.tasks.length} parameter values, got ${String(values)}`,
        );
      const param = this.#param;
      noGrad(() => tidy(() => void param.copy_(tensor(values, { dtype: 'float64' }).to({ dtype: param.dtype }))));
    }
    this.#step = sd.step;
    this.#epoch = sd.epoch;
    if (this.strategy.kind === 'dwa') {
      this.#epochLosses = (sd.epochLosses ?? []).map((l) => ({ ...l }));
      this.#running = sd.running
        ? { sums: [...sd.running.sums], count: sd.running.count }
        : { sums: this.tasks.map(() => 0), count: 0 };
    }
    if (this.#gradnorm) {
      this.#gradnorm.initial = sd.initialLosses ? [...sd.initialLosses] : null;
      this.#gradnorm.last = sd.last ? structuredClone(sd.last) : undefined;
    }
  }

  /** Frees the learnable weights. */
  dispose(): void {
    this.#param?.dispose();
    this.#param = null;
  }

  // ---- internals --------------------------------------------------------------------------------

  #named(values: number[]): Record<string, number> {
    return Object.fromEntries(this.tasks.map((t, i) => [t, values[i]]));
  }

  #paramValues(): number[] {
    return noGrad(() => tidy(() => [...this.#param!.detach().to({ dtype: 'float64' }).data()] as number[]));
  }

  #lossList(losses: TaskLosses): Tensor[] {
    const extra = Object.keys(losses).filter((k) => !this.tasks.includes(k));
    const missing = this.tasks.filter((t) => !Object.hasOwn(losses, t));
    if (extra.length || missing.length) {
      throw new Error(
        `MultiTaskLoss: losses for tasks ${this.tasks.join(', ')}${missing.length ? `; missing ${missing.join(', ')}` : ''}${extra.length ? `; unknown ${extra.join(', ')}` : ''}`,
      );
    }
    return this.tasks.map((t) => {
      const loss = losses[t];
      if (loss.numel() !== 1)
        throw new Error(`MultiTaskLoss: the loss of task '${t}' must be a scalar, got shape [${loss.shape}]`);
      return loss;
    });
  }

  #accumulate(list: Tensor[]): void {
    list.forEach((l, i) => (this.#running.sums[i] += l.item()));
    this.#running.count += 1;
  }

  #dwaRatios(): number[] {
    const [before, last] = this.#epochLosses;
    return this.tasks.map((t) => last[t] / before[t]);
  }

  #dwaWeights(): number[] {
    if (this.#epochLosses.length < 2) return this.tasks.map(() => 1);
    const T = (this.strategy as { temperature?: number }).temperature ?? 2;
    const e = this.#dwaRatios().map((r) => Math.exp(r / T));
    const total = e.reduce((a, b) => a + b, 0);
    return e.map((v) => (this.tasks.length * v) / total);
  }

  #gradNormBackward(losses: TaskLosses): Tensor {
    const list = this.#lossList(losses);
    const gn = this.#gradnorm!;
    const w = this.#param!;
    const weights = this.#paramValues();
    const values = list.map((l) => l.item());
    if (!gn.initial) gn.initial = values.map((v, i) => checkLossValue(this.tasks[i], v));
    gn.initial.forEach((v, i) => {
      if (!(v > 0))
        throw new Error(
          `GradNorm: the initial loss of task '${this.tasks[i]}' is ${v}; loss ratios L_i(t)/L_i(0) need it positive`,
        );
    });
    // One backward per task of w_i·L_i (w_i a constant): every parameter accumulates Σ w_i ∇L_i; the
    // shared ones are read per task (G_i) and get the same sum back.
    const { norms } = backwardPerTask(list, gn.shared, weights);
    const lossRatios = values.map((v, i) => v / gn.initial![i]);
    const meanRatio = mean(lossRatios);
    const r = lossRatios.map((v) => v / meanRatio);
    const meanNorm = mean(norms);
    const targets = r.map((ri) => meanNorm * ri ** gn.alpha);
    const gradNormLoss = norms.reduce((acc, g, i) => acc + Math.abs(g - targets[i]), 0);
    // ∂L_grad/∂w_i = sign(G_i − target_i)·∂G_i/∂w_i, G_i = |w_i|·‖∇_W L_i‖.
    const wGrad = norms.map((g, i) =>
      weights[i] === 0 ? 0 : Math.sign(g - targets[i]) * Math.sign(weights[i]) * (g / Math.abs(weights[i])),
    );
    noGrad(() =>
      tidy(() => {
        const previous = w.grad;
        const grad = tensor(wGrad, { dtype: w.dtype });
        w.grad = previous ? previous.add(grad) : grad;
      }),
    );
    gn.last = {
      gradNorms: this.#named(norms),
      targets: this.#named(targets),
      inverseTrainingRates: this.#named(r),
      gradNormLoss,
    };
    return tensor(
      values.reduce((acc, v, i) => acc + weights[i] * v, 0),
      { dtype: list[0].dtype },
    );
  }
}

// ---- per-task gradients --------------------------------------------------------------------------

/**
 * Backpropagates scale_i·loss_i for each task (retaining the graph until the last) so that every
 * parameter accumulates Σ scale_i·∇loss_i as one backward would; returns each task's gradient on
 * the shared parameters (flattened and concatenated, kept — the caller disposes) and its norm.
 * The shared parameters end with their previous gradient plus the per-task sum unless `combine`
 * returns something else for them.
 */
function backwardPerTask(
  losses: Tensor[],
  shared: Tensor[],
  scales: number[] | null,
  combine?: (grads: Tensor[]) => Tensor,
): { norms: number[] } {
  const previous = shared.map((p) => p.grad);
  for (const p of shared) p.grad = null;
  const grads: Tensor[] = [];
  const norms: number[] = [];
  try {
    losses.forEach((loss, i) => {
      tidy(() => {
        const scaled = scales ? loss.mul(scales[i]) : loss;
        scaled.backward(null, { retainGraph: i < losses.length - 1 });
      });
      const flat = noGrad(() =>
        tidy(() =>
          cat(
            shared.map((p) => {
              const g = p.grad;
              p.grad = null;
              return g ? g.detach().reshape([-1]) : zeros([p.numel()], { dtype: p.dtype, device: p.device as Device });
            }),
          ),
        ),
      );
      grads.push(flat);
      norms.push(noGrad(() => tidy(() => flat.to({ dtype: 'float64' }).norm().item())));
    });
    noGrad(() =>
      tidy(() => {
        const merged = combine ? combine(grads) : grads.reduce((a, b) => a.add(b));
        let offset = 0;
        shared.forEach((p, k) => {
          const part = merged.narrow(0, offset, p.numel()).reshape(p.shape).contiguous().to({ dtype: p.dtype });
          offset += p.numel();
          const before = previous[k];
          p.grad = before ? before.add(part) : part.clone();
        });
      }),
    );
  } finally {
    for (const g of grads) g.dispose();
    for (const g of previous) g?.dispose();
  }
  return { norms };
}

// ---- PCGrad ------------------------------------------------------------------------------------

export interface PCGradOptions {
  /** Uniform [0, 1) numbers for the random order (default Math.random); pass a seeded one for reproducible runs. */
  random?: () => number;
  /** How the projected gradients combine on the shared parameters: 'sum' (the paper's, default) or 'mean'. */
  reduction?: 'sum' | 'mean';
}

export interface PCGradResult {
  /** How many projections happened (pairs (i, j) where g_i's running projection conflicted with g_j). */
  conflicts: number;
  /** Cosine similarity of each pair of raw task gradients on the shared parameters, [i][j]. */
  cosines: number[][];
}

/**
 * PCGrad (Yu et al. 2020): backpropagates each task loss separately, then on `sharedParams` replaces
 * the sum of task gradients with the sum (or mean) of the projected ones — g_i^PC starts as g_i; for
 * each other task j in random order, if g_i^PC·g_j < 0, g_i^PC −= (g_i^PC·g_j)/‖g_j‖²·g_j. Other
 * parameters (task heads) get the plain sum of their gradients. Gradients accumulate onto existing
 * ones, as backward does.
 */
export function pcgradBackward(
  losses: Tensor[] | TaskLosses,
  sharedParams: Tensor[],
  options: PCGradOptions = {},
): PCGradResult {
  const list = Array.isArray(losses) ? losses : Object.values(losses);
  if (list.length === 0) throw new Error('pcgradBackward: no losses');
  if (sharedParams.length === 0) throw new Error('pcgradBackward: no shared parameters');
  const random = options.random ?? Math.random;
  const reduction = options.reduction ?? 'sum';
  if (reduction !== 'sum' && reduction !== 'mean')
    throw new Error(`pcgradBackward: reduction must be 'sum' or 'mean', got '${String(reduction)}'`);
  let conflicts = 0;
  const cosines: number[][] = [];
  backwardPerTask(list, sharedParams, null, (grads) => {
    const n = grads.length;
    const g64 = grads.map((g) => g.to({ dtype: 'float64' }));
    const dots = g64.map((a) => g64.map((b) => dot(a, b).item()));
    for (let i = 0; i < n; i++) cosines.push(dots[i].map((d, j) => d / Math.sqrt(dots[i][i] * dots[j][j])));
    const projected = g64.map((gi, i) => {
      let pc = gi.clone();
      for (const j of shuffled(n, i, random)) {
        const d = dot(pc, g64[j]).item();
        if (d < 0 && dots[j][j] > 0) {
          pc = pc.sub(g64[j].mul(d / dots[j][j]));
          conflicts += 1;
        }
      }
      return pc;
    });
    const sum = projected.reduce((a, b) => a.add(b));
    return (reduction === 'mean' ? sum.div(n) : sum).to({ dtype: grads[0].dtype });
  });
  return { conflicts, cosines };
}

/** The indices 0…n−1 but `skip`, in a random order (Fisher–Yates). */
function shuffled(n: number, skip: number, random: () => number): number[] {
  const order = [...Array(n).keys()].filter((j) => j !== skip);
  for (let k = order.length - 1; k > 0; k--) {
    const m = Math.floor(random() * (k + 1));
    [order[k], order[m]] = [order[m], order[k]];
  }
  return order;
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function checkLossValue(task: string, value: number | undefined): number {
  if (!(typeof value === 'number' && Number.isFinite(value)))
    throw new Error(`MultiTaskLoss: the loss of task '${task}' must be a finite number, got ${String(value)}`);
  return value;
}

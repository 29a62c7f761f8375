/**
 * The learning-rate range test with fastai's semantics (fastai/callback/schedule.py: LRFinder,
 * Learner.lr_find and the valley / minimum / steep suggestions), independent of any trainer:
 * it drives an optimizer and a `trainStep` callback, then puts the model and optimizer back.
 */
import type { Module } from '../nn/module.js';
import { dispose, keep, noGrad, tidy, Tensor } from '../tensor/index.js';
import type { HasParamGroups } from './param-group.js';

/** What lrFind needs of an optimizer: its groups, a step and (optionally) zeroGrad and a state dict to restore. */
export interface LrFindOptimizer extends HasParamGroups {
  step(): unknown;
  zeroGrad?(): unknown;
  stateDict?(): unknown;
  /** Must copy the tensors it is given (Optimizer.loadStateDict does): lrFind frees its snapshot after loading it. */
  loadStateDict?(state: never): unknown;
}

export type LrSuggestion = 'valley' | 'minimum' | 'steep';

export interface LrFindOptions<S = unknown> {
  optimizer: LrFindOptimizer;
  /** Forward and backward on batch `iteration`; returns the loss. lrFind then calls optimizer.step() and zeroGrad(). */
  trainStep: (iteration: number) => number | Promise<number>;
  /** The model to snapshot and restore (Module.stateDict() clones, loaded back with loadStateDict). */
  model?: Module;
  /** Or a custom snapshot/restore pair (used in addition to model's when both are given). */
  snapshot?: () => S;
  restore?: (snapshot: S) => void;
  /** First lr (default 1e-7); one for all groups or one per group. */
  startLr?: number | number[];
  /** Last lr of the exponential sweep (default 10). */
  endLr?: number | number[];
  /** Iterations (default 100; at least 6, as fastai). */
  numIt?: number;
  /** Stop when the smoothed loss exceeds 4× its best (default true). */
  stopDiv?: boolean;
  /** Smoothing of the loss (default 0.98, fastai's AvgSmoothLoss). */
  beta?: number;
  /** Suggestions to compute (default all three). */
  suggest?: LrSuggestion[];
}

export interface LrFindResult {
  /** The lr of each iteration run (the last group's, as fastai's recorder). */
  lrs: number[];
  /** The raw loss of each iteration. */
  losses: number[];
  /** The bias-corrected exponentially smoothed loss (what fastai plots and suggests from). */
  smoothed: number[];
  /** Suggested lrs; a name is missing when too few iterations ran to suggest (fewer than numIt/10 + 6). */
  suggestions: Partial<Record<LrSuggestion, number>>;
  /** The point each suggestion marks on the (lr, smoothed loss) curve, for plots. */
  points: Partial<Record<LrSuggestion, { lr: number; loss: number }>>;
  /** Whether the sweep stopped early because the loss diverged. */
  diverged: boolean;
}

/**
 * Runs the range test: iteration i (0-based) trains at lr = startLr·(endLr/startLr)^(i/numIt),
 * the loss is smoothed as avg = loss + β·(avg − loss), smoothed = avg / (1 − β^(i+1)), and the
 * sweep stops after numIt iterations or, with stopDiv, as soon as smoothed > 4 × the best smoothed
 * loss so far. Afterwards (also on error) the model weights, the optimizer's state and every
 * group's hyperparameters are restored and the gradients cleared. Suggestions are computed as
 * fastai's, on the smoothed losses with the first floor(numIt/10) and the last 5 points left out
 * and everything from the first NaN on dropped (see valley/minimum/steep).
 */
export async function lrFind<S>(options: LrFindOptions<S>): Promise<LrFindResult> {
  const { optimizer, trainStep, model } = options;
  const groups = optimizer.paramGroups;
  const numIt = Math.max(6, options.numIt ?? 100);
  const beta = options.beta ?? 0.98;
  const stopDiv = options.stopDiv ?? true;
  const perGroup = (value: number | number[] | undefined, fallback: number, what: string) => {
    if (Array.isArray(value)) {
      if (value.length !== groups.length) throw new Error(`lrFind: expected ${groups.length} ${what} values, got ${value.length}`);
      return value;
    }
    return groups.map(() => value ?? fallback);
  };
  const startLrs = perGroup(options.startLr, 1e-7, 'startLr');
  const endLrs = perGroup(options.endLr, 10, 'endLr');

  // Snapshots: model weights, optimizer state, group hyperparameters.
  const modelSnapshot = model ? cloneStateDict(model) : undefined;
  const customSnapshot = options.snapshot ? options.snapshot() : undefined;
  const optimizerSnapshot = optimizer.stateDict && optimizer.loadStateDict ? tidy(() => cloneTensors(optimizer.stateDict!())) : undefined;
  const groupSnapshot = groups.map((g) => {
    const { params, paramNames, ...hyper } = g;
    void params, paramNames;
    return structuredCloneHyper(hyper);
  });

  const lrs: number[] = [];
  const losses: number[] = [];
  const smoothed: number[] = [];
  let diverged = false;
  try {
    let avg = 0;
    let best = Infinity;
    for (let i = 0; i < numIt; i++) {
      const pos = i / numIt;
      groups.forEach((g, k) => {
        g.lr = startLrs[k] * (endLrs[k] / startLrs[k]) ** pos;
      });
      const loss = Number(await trainStep(i));
      optimizer.step();
      zeroGrad(optimizer);
      avg = loss + beta * (avg - loss);
      const smooth = avg / (1 - beta ** (i + 1));
      lrs.push(groups[groups.length - 1].lr);
      losses.push(loss);
      smoothed.push(smooth);
      if (smooth < best) best = smooth;
      if (stopDiv && smooth > 4 * best) {
        diverged = true;
        break;
      }
    }
  } finally {
    zeroGrad(optimizer);
    if (modelSnapshot && model) {
      model.loadStateDict(modelSnapshot);
      for (const t of modelSnapshot.values()) t.dispose();
    }
    if (options.restore) options.restore(customSnapshot as S);
    if (optimizerSnapshot !== undefined) {
      (optimizer.loadStateDict as (s: unknown) => unknown)(optimizerSnapshot);
      dispose(optimizerSnapshot);
    }
    groups.forEach((g, k) => Object.assign(g, groupSnapshot[k]));
  }

  // fastai's lr_find: suggestions on recorder.lrs[num_it//10:-5], recorder.losses[...] (smoothed).
  const lo = Math.floor(numIt / 10);
  let hi = Math.max(lo, lrs.length - 5);
  const nan = smoothed.slice(lo, hi).findIndex((v) => Number.isNaN(v));
  if (nan >= 0) hi = lo + nan;
  const sLrs = lrs.slice(lo, hi);
  const sLosses = smoothed.slice(lo, hi);
  const wanted = options.suggest ?? ['valley', 'minimum', 'steep'];
  const suggestions: LrFindResult['suggestions'] = {};
  const points: LrFindResult['points'] = {};
  const funcs = { valley, minimum, steep };
  for (const name of wanted) {
    if (!(name in funcs)) throw new Error(`lrFind: unknown suggestion '${name}' (valley, minimum, steep)`);
    if (sLosses.length < (name === 'steep' ? 2 : 1)) continue;
    const [lr, point] = funcs[name](sLrs, sLosses);
    suggestions[name] = lr;
    points[name] = point;
  }
  return { lrs, losses, smoothed, suggestions, points, diverged };
}

/**
 * fastai's `valley`: the longest valley is the longest strictly decreasing subsequence of the
 * losses (O(n²) dynamic programming: lds[i] = 1 + max lds[j] over j < i with losses[i] < losses[j]);
 * it ends at maxEnd (the first index reaching the longest length) and is taken to start at
 * maxStart = maxEnd − lds[maxEnd]. The suggestion is the lr at
 * idx = maxStart + int((maxEnd − maxStart)/3) + int((maxEnd − maxStart)/3/2) — about halfway
 * along the valley (1/3 + 1/6 of its span), where the loss still falls steeply. A negative idx
 * indexes from the end, as Python's.
 */
export function valley(lrs: number[], losses: number[]): [number, { lr: number; loss: number }] {
  const n = losses.length;
  let maxStart = 0;
  let maxEnd = 0;
  const lds = new Array<number>(n).fill(1);
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i; j++) {
      if (losses[i] < losses[j] && lds[i] < lds[j] + 1) lds[i] = lds[j] + 1;
      if (lds[maxEnd] < lds[i]) {
        maxEnd = i;
        maxStart = maxEnd - lds[maxEnd];
      }
    }
  }
  const sections = (maxEnd - maxStart) / 3;
  let idx = maxStart + Math.trunc(sections) + Math.trunc(sections / 2);
  if (idx < 0) idx += n;
  return [lrs[idx], { lr: lrs[idx], loss: losses[idx] }];
}

/** fastai's `minimum`: one tenth of the lr at the lowest loss. */
export function minimum(lrs: number[], losses: number[]): [number, { lr: number; loss: number }] {
  const i = argmin(losses);
  return [lrs[i] / 10, { lr: lrs[i], loss: losses[i] }];
}

/** fastai's `steep`: the lr where the loss falls fastest per unit of log(lr). */
export function steep(lrs: number[], losses: number[]): [number, { lr: number; loss: number }] {
  const grads = losses.slice(1).map((l, i) => (l - losses[i]) / (Math.log(lrs[i + 1]) - Math.log(lrs[i])));
  const i = argmin(grads);
  return [lrs[i], { lr: lrs[i], loss: losses[i] }];
}

function argmin(values: number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] < values[best] || (Number.isNaN(values[i]) && !Number.isNaN(values[best]))) best = i;
  return best;
}

function zeroGrad(optimizer: LrFindOptimizer): void {
  if (optimizer.zeroGrad) {
    optimizer.zeroGrad();
    return;
  }
  for (const g of optimizer.paramGroups) for (const p of g.params) p.grad = null;
}

/** Detached copies of a module's parameters and buffers, kept out of any enclosing tidy(). */
function cloneStateDict(model: Module): Map<string, Tensor> {
  return tidy(() =>
    noGrad(() => {
      const out = new Map<string, Tensor>();
      for (const [key, t] of model.stateDict()) out.set(key, keep(t.detach().clone()));
      return out;
    }),
  );
}

/** A deep copy of a state-dict-like value whose tensors are cloned (kept); the optimizer's loadStateDict copies them in, as Optimizer's does. */
function cloneTensors(value: unknown): unknown {
  return noGrad(() => {
    const walk = (v: unknown): unknown => {
      if (v instanceof Tensor) return keep(v.detach().clone());
      if (Array.isArray(v)) return v.map(walk);
      if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, walk(x)]));
      if (typeof v === 'object' && v !== null) {
        const proto = Object.getPrototypeOf(v);
        if (proto === Object.prototype || proto === null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
      }
      return v;
    };
    return walk(value);
  });
}

/** A copy of a group's hyperparameters (arrays such as betas copied, other values as they are). */
function structuredCloneHyper(hyper: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(hyper).map(([k, v]) => [k, Array.isArray(v) ? [...v] : v]));
}

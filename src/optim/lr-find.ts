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

/** fastai's sweep: 1e-7 to 10 over 100 iterations. */
export const LR_FIND_DEFAULTS = { startLr: 1e-7, endLr: 10, numIt: 100 } as const;

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
  /** Stop when the smoothed loss exceeds 4× its best or is NaN (default true). */
  stopDiv?: boolean;
  /** Smoothing of the loss (default 0.98, fastai's AvgSmoothLoss). */
  beta?: number;
  /** Suggestions to compute (default all three). */
  suggest?: LrSuggestion[];
  /**
   * The least fall of the smoothed loss below its start, as a fraction of the start, for the curve
   * to count as falling (default 0.05). A curve that falls less gets no suggestion (see
   * LrFindResult.refused); 0 with minSignalToNoise 0 suggests from any curve, as fastai does.
   */
  minDrop?: number;
  /** How many times the smoothed curve's noise (LrCurve.noise) the fall must be (default 3). */
  minSignalToNoise?: number;
}

/** What the suggestions rest on: how far the smoothed loss falls, against how much it wanders by chance. */
export interface LrCurve {
  /** The smoothed loss where the suggestions' window starts (the first numIt/10 steps left out). */
  startLoss: number;
  /** The lowest smoothed loss in the window, and the lr it was reached at. */
  minLoss: number;
  minLr: number;
  /** (startLoss − minLoss) / startLoss. */
  drop: number;
  /**
   * The chance wander of startLoss − minLoss: the batch-to-batch standard deviation of the raw loss
   * (from the differences between neighbouring steps, median-based, so a trend or a spike barely
   * moves it) through the smoothing — σ·√(1/(n₀) + (1 − β)/(1 + β)), n₀ the steps averaged into startLoss.
   */
  noise: number;
  /** The raw loss's batch-to-batch standard deviation. */
  rawNoise: number;
}

export interface LrFindResult {
  /** The lr of each iteration run (the last group's, as fastai's recorder). */
  lrs: number[];
  /** The raw loss of each iteration. */
  losses: number[];
  /** The bias-corrected exponentially smoothed loss (what fastai plots and suggests from). */
  smoothed: number[];
  /**
   * Suggested lrs; empty when the curve is refused (see `refused`), and a name is missing when too
   * few iterations ran to suggest (fewer than numIt/10 + 6).
   */
  suggestions: Partial<Record<LrSuggestion, number>>;
  /** The point each suggestion marks on the (lr, smoothed loss) curve, for plots. */
  points: Partial<Record<LrSuggestion, { lr: number; loss: number }>>;
  /** Whether the sweep stopped early because the loss diverged. */
  diverged: boolean;
  /** The fall and the noise of the smoothed loss in the suggestions' window (undefined when fewer than 2 points are in it). */
  curve?: LrCurve;
  /**
   * Why nothing is suggested, when the curve does not fall clearly: less than minDrop below its
   * start, or by less than minSignalToNoise × its noise. A suggestion from such a curve marks
   * noise (fastai's valley / minimum / steep are computed on any curve), so none is given.
   */
  refused?: string;
}

/**
 * Runs the range test: iteration i (0-based) trains at lr = startLr·(endLr/startLr)^(i/numIt),
 * the loss is smoothed as avg = loss + β·(avg − loss), smoothed = avg / (1 − β^(i+1)), and the
 * sweep stops after numIt iterations or, with stopDiv, as soon as smoothed > 4 × the best smoothed
 * loss so far or is NaN. Afterwards (also on error) the model weights, the optimizer's state and every
 * group's hyperparameters are restored and the gradients cleared. Suggestions are computed as
 * fastai's, on the smoothed losses with the first floor(numIt/10) and the last 5 points left out
 * and everything from the first NaN on dropped (see valley/minimum/steep) — unless the curve does
 * not fall clearly there (less than minDrop below its start, or within minSignalToNoise × its
 * noise): then `refused` says why and nothing is suggested.
 */
export async function lrFind<S>(options: LrFindOptions<S>): Promise<LrFindResult> {
  const { optimizer, trainStep, model } = options;
  const groups = optimizer.paramGroups;
  const numIt = Math.max(6, options.numIt ?? LR_FIND_DEFAULTS.numIt);
  const beta = options.beta ?? 0.98;
  const stopDiv = options.stopDiv ?? true;
  const perGroup = (value: number | number[] | undefined, fallback: number, what: string) => {
    if (Array.isArray(value)) {
      if (value.length !== groups.length)
        throw new Error(`lrFind: expected ${groups.length} ${what} values, got ${value.length}`);
      return value;
    }
    return groups.map(() => value ?? fallback);
  };
  const startLrs = perGroup(options.startLr, LR_FIND_DEFAULTS.startLr, 'startLr');
  const endLrs = perGroup(options.endLr, LR_FIND_DEFAULTS.endLr, 'endLr');

  // Snapshots: model weights, optimizer state, group hyperparameters.
  const modelSnapshot = model ? cloneStateDict(model) : undefined;
  const customSnapshot = options.snapshot ? options.snapshot() : undefined;
  const optimizerSnapshot =
    optimizer.stateDict && optimizer.loadStateDict ? tidy(() => cloneTensors(optimizer.stateDict!())) : undefined;
  const groupSnapshot = groups.map((g) => {
    const { params, paramNames, ...hyper } = g;
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
      if (stopDiv && (smooth > 4 * best || Number.isNaN(smooth))) {
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
  for (const name of wanted)
    if (!Object.hasOwn(funcs, name)) throw new Error(`lrFind: unknown suggestion '${name}' (valley, minimum, steep)`);
  const curve = sLosses.length >= 2 ? lrCurve(sLrs, sLosses, losses.slice(0, hi), lo + 1, beta) : undefined;
  const refused = curve ? refusal(curve, options.minDrop ?? 0.05, options.minSignalToNoise ?? 3) : undefined;
  if (refused === undefined) {
    for (const name of wanted) {
      if (sLosses.length < (name === 'steep' ? 2 : 1)) continue;
      const [lr, point] = funcs[name](sLrs, sLosses);
      suggestions[name] = lr;
      points[name] = point;
    }
  }
  return {
    lrs,
    losses,
    smoothed,
    suggestions,
    points,
    diverged,
    ...(curve ? { curve } : {}),
    ...(refused !== undefined ? { refused } : {}),
  };
}

/**
 * The fall and noise of a smoothed range-test curve (see LrCurve): `lrs` / `smoothed` are the
 * suggestions' window, `raw` the raw losses up to its end, `averaged` how many raw losses the
 * window's first smoothed value averages (bias-corrected: all of them so far, about equally).
 */
export function lrCurve(lrs: number[], smoothed: number[], raw: number[], averaged: number, beta = 0.98): LrCurve {
  const startLoss = smoothed[0];
  const at = argmin(smoothed);
  const minLoss = smoothed[at];
  // The median |difference| of neighbouring raw losses is 0.6745·√2·σ for independent Gaussian noise.
  const steps = raw
    .slice(1)
    .map((l, i) => Math.abs(l - raw[i]))
    .filter(Number.isFinite);
  const rawNoise = steps.length ? median(steps) / (0.6745 * Math.SQRT2) : 0;
  const noise = rawNoise * Math.sqrt(1 / averaged + (1 - beta) / (1 + beta));
  return { startLoss, minLoss, minLr: lrs[at], drop: (startLoss - minLoss) / Math.abs(startLoss), noise, rawNoise };
}

function refusal(curve: LrCurve, minDrop: number, minSignalToNoise: number): string | undefined {
  const { startLoss, minLoss, drop, noise, rawNoise } = curve;
  const fall = startLoss - minLoss;
  const shown = `${fmt(startLoss)} → ${fmt(minLoss)}`;
  if (minDrop <= 0 && minSignalToNoise <= 0) return undefined;
  if (!Number.isFinite(drop)) return `the smoothed loss is not finite (${shown})`;
  if (fall <= 0)
    return `the smoothed loss never falls below its start (${fmt(startLoss)}): a flat or rising curve, so no lr can be told from it`;
  if (drop < minDrop) {
    return `the smoothed loss never falls more than ${pct(minDrop)} below its start: at best ${shown} (${pct(drop)}): a flat curve, so no lr can be told from it`;
  }
  if (fall < minSignalToNoise * noise) {
    return `the fall of the smoothed loss, ${shown} (${pct(drop)}), is less than ${minSignalToNoise}× its noise (±${fmt(noise)}; the raw loss varies by ±${fmt(rawNoise)} from batch to batch), so the lowest point may be chance`;
  }
  return undefined;
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toPrecision(4) : String(x);
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
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
  for (let i = 1; i < values.length; i++)
    if (values[i] < values[best] || (Number.isNaN(values[i]) && !Number.isNaN(values[best]))) best = i;
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
        if (proto === Object.prototype || proto === null)
          return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
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

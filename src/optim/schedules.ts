/**
 * Learning-rate schedules as pure functions `(step) => multiplier`, with Hugging Face's formulas
 * (transformers/optimization.py) exactly, plus ULMFiT's slanted triangular and the one-cycle
 * policy (one-cycle.ts). `getScheduler(name, optimizer, options)` mirrors
 * transformers.get_scheduler and returns a scheduler that applies the schedule to every param
 * group each step (lr = group.initialLr × multiplier, PyTorch LambdaLR semantics).
 */
import type { HasParamGroups } from './param-group.js';
import { LRScheduler } from './lr-scheduler.js';
import { OneCycleLR, oneCycleSchedule, type OneCycleOptions } from './one-cycle.js';
import { ReduceLROnPlateau, type ReduceLROnPlateauOptions } from './reduce-on-plateau.js';

/** A schedule: the factor applied to a group's initial lr at a (0-based) optimizer step. */
export type Schedule = (step: number) => number;

export interface WarmupOptions {
  /** Steps of linear warmup from 0 (HF's num_warmup_steps). */
  numWarmupSteps: number;
}
export interface TrainingStepsOptions extends WarmupOptions {
  /** Total optimizer steps (HF's num_training_steps). */
  numTrainingSteps: number;
}

/** HF's warmup phase: step / max(1, warmup). */
function warmup(step: number, numWarmupSteps: number): number {
  return step / Math.max(1, numWarmupSteps);
}

/** `get_constant_schedule`: 1 at every step. */
export function constantSchedule(): Schedule {
  return () => 1;
}

/** `get_constant_schedule_with_warmup`: linear warmup from 0, then 1. */
export function constantScheduleWithWarmup({ numWarmupSteps }: WarmupOptions): Schedule {
  return (step) => (step < numWarmupSteps ? warmup(step, numWarmupSteps) : 1);
}

/** `get_linear_schedule_with_warmup`: warmup, then linear decay to 0 at numTrainingSteps. */
export function linearScheduleWithWarmup({ numWarmupSteps, numTrainingSteps }: TrainingStepsOptions): Schedule {
  return (step) => {
    if (step < numWarmupSteps) return warmup(step, numWarmupSteps);
    return Math.max(0, (numTrainingSteps - step) / Math.max(1, numTrainingSteps - numWarmupSteps));
  };
}

export interface CosineOptions extends TrainingStepsOptions {
  /** Waves of the cosine (default 0.5: a half cosine from 1 down to 0). */
  numCycles?: number;
}

/** `get_cosine_schedule_with_warmup`: warmup, then 0.5·(1 + cos(π·2·numCycles·progress)), floored at 0. */
export function cosineScheduleWithWarmup({
  numWarmupSteps,
  numTrainingSteps,
  numCycles = 0.5,
}: CosineOptions): Schedule {
  return cosineWithMinLrSchedule({ numWarmupSteps, numTrainingSteps, numCycles, minLrRate: 0 });
}

/** `get_cosine_with_hard_restarts_schedule_with_warmup`: numCycles (default 1) half-cosines, each restarting at 1; 0 from numTrainingSteps on. */
export function cosineWithHardRestartsScheduleWithWarmup({
  numWarmupSteps,
  numTrainingSteps,
  numCycles = 1,
}: CosineOptions): Schedule {
  return (step) => {
    if (step < numWarmupSteps) return warmup(step, numWarmupSteps);
    const progress = (step - numWarmupSteps) / Math.max(1, numTrainingSteps - numWarmupSteps);
    if (progress >= 1) return 0;
    return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * pyMod(numCycles * progress, 1))));
  };
}

export interface CosineWithMinLrOptions extends CosineOptions {
  /** The floor as a fraction of the initial lr. */
  minLrRate: number;
}

/**
 * `get_cosine_with_min_lr_schedule_with_warmup`: the cosine scaled into [minLrRate, 1]. (HF's
 * min_lr is converted to a rate by getScheduler: minLr / the optimizer's lr.)
 */
export function cosineWithMinLrSchedule({
  numWarmupSteps,
  numTrainingSteps,
  numCycles = 0.5,
  minLrRate,
}: CosineWithMinLrOptions): Schedule {
  return (step) => {
    if (step < numWarmupSteps) return warmup(step, numWarmupSteps);
    return cosineAboveFloor(
      (step - numWarmupSteps) / Math.max(1, numTrainingSteps - numWarmupSteps),
      numCycles,
      minLrRate,
    );
  };
}

/** The cosine decay at `progress` (0 → 1 over the decay steps) scaled into [minLrRate, 1], never below 0. */
function cosineAboveFloor(progress: number, numCycles: number, minLrRate: number): number {
  const factor = 0.5 * (1 + Math.cos(Math.PI * numCycles * 2 * progress));
  return Math.max(0, factor * (1 - minLrRate) + minLrRate);
}

export interface CosineWarmupWithMinLrOptions extends CosineWithMinLrOptions {
  /** Warmup starts at this fraction of the lr (default: warmup is (step + 1) / warmup). */
  warmupLrRate?: number;
}

/**
 * `get_cosine_with_min_lr_schedule_with_warmup_lr_rate` (HF's 'cosine_warmup_with_min_lr'): as
 * cosineWithMinLrSchedule but the warmup never starts at 0 and the decay is one step ahead.
 */
export function cosineWarmupWithMinLrSchedule(options: CosineWarmupWithMinLrOptions): Schedule {
  const { numWarmupSteps, numTrainingSteps, numCycles = 0.5, minLrRate, warmupLrRate } = options;
  return (step) => {
    if (step < numWarmupSteps) {
      if (warmupLrRate === undefined) return (step + 1) / Math.max(1, numWarmupSteps);
      return warmupLrRate + ((1 - warmupLrRate) * step) / Math.max(1, numWarmupSteps - 1);
    }
    return cosineAboveFloor(
      (step - numWarmupSteps + 1) / Math.max(1, numTrainingSteps - numWarmupSteps),
      numCycles,
      minLrRate,
    );
  };
}

export interface PolynomialOptions extends TrainingStepsOptions {
  /** The lr at the end (absolute, default 1e-7). */
  lrEnd?: number;
  /** Power of the decay (default 1: linear). */
  power?: number;
  /**
   * The optimizer's lr (HF: optimizer.defaults['lr']); the schedule decays from it to lrEnd in
   * absolute terms and returns that divided by lrInit, so groups with other lrs scale along.
   */
  lrInit: number;
}

/** `get_polynomial_decay_schedule_with_warmup`: warmup, then (lrInit − lrEnd)·(1 − progress)^power + lrEnd, as a multiplier of lrInit. */
export function polynomialDecayScheduleWithWarmup({
  numWarmupSteps,
  numTrainingSteps,
  lrEnd = 1e-7,
  power = 1,
  lrInit,
}: PolynomialOptions): Schedule {
  if (!(lrInit > lrEnd)) throw new Error(`lr_end (${lrEnd}) must be smaller than initial lr (${lrInit})`);
  return (step) => {
    if (step < numWarmupSteps) return warmup(step, numWarmupSteps);
    if (step > numTrainingSteps) return lrEnd / lrInit;
    const lrRange = lrInit - lrEnd;
    const decaySteps = numTrainingSteps - numWarmupSteps;
    const pctRemaining = 1 - (step - numWarmupSteps) / decaySteps;
    return (lrRange * pctRemaining ** power + lrEnd) / lrInit;
  };
}

export interface InverseSqrtOptions extends WarmupOptions {
  /** Default: numWarmupSteps, or 10 000 without warmup. */
  timescale?: number;
}

/** `get_inverse_sqrt_schedule`: warmup, then 1 / sqrt((step + timescale − warmup) / timescale). */
export function inverseSqrtSchedule({ numWarmupSteps, timescale }: InverseSqrtOptions): Schedule {
  const scale = timescale ?? (numWarmupSteps || 10_000);
  const shift = scale - numWarmupSteps;
  return (step) => (step < numWarmupSteps ? warmup(step, numWarmupSteps) : 1 / Math.sqrt((step + shift) / scale));
}

export type WsdShape = 'linear' | 'cosine' | '1-sqrt';

export interface WarmupStableDecayOptions extends WarmupOptions {
  numDecaySteps: number;
  /** Stable steps; default numTrainingSteps − warmup − decay (one of the two is required). */
  numStableSteps?: number;
  numTrainingSteps?: number;
  warmupType?: WsdShape;
  decayType?: WsdShape;
  /** Floor (and warmup start) as a fraction of the initial lr (default 0). */
  minLrRatio?: number;
  /** For the cosine decay (default 0.5). */
  numCycles?: number;
}

/** `get_wsd_schedule` ('warmup_stable_decay'): warmup (linear default), stable at 1, decay (cosine default) to minLrRatio, then minLrRatio. */
export function warmupStableDecaySchedule(options: WarmupStableDecayOptions): Schedule {
  const {
    numWarmupSteps,
    numDecaySteps,
    numTrainingSteps,
    warmupType = 'linear',
    decayType = 'cosine',
    minLrRatio = 0,
    numCycles = 0.5,
  } = options;
  if (numTrainingSteps === undefined && options.numStableSteps === undefined) {
    throw new Error('warmup_stable_decay: either numTrainingSteps or numStableSteps must be specified');
  }
  for (const [what, type] of [
    ['warmup', warmupType],
    ['decay', decayType],
  ] as const) {
    if (!['linear', 'cosine', '1-sqrt'].includes(type))
      throw new Error(`unknown ${what} type: ${type}, expected 'linear', 'cosine' or '1-sqrt'`);
  }
  const numStableSteps = options.numStableSteps ?? numTrainingSteps! - numWarmupSteps - numDecaySteps;
  return (step) => {
    if (step < numWarmupSteps) {
      const progress = step / Math.max(1, numWarmupSteps);
      const factor =
        warmupType === 'linear'
          ? progress
          : warmupType === 'cosine'
            ? 0.5 * (1 - Math.cos(Math.PI * progress))
            : 1 - Math.sqrt(1 - progress);
      return Math.max(0, factor * (1 - minLrRatio) + minLrRatio);
    }
    if (step < numWarmupSteps + numStableSteps) return 1;
    if (step < numWarmupSteps + numStableSteps + numDecaySteps) {
      const progress = (step - numWarmupSteps - numStableSteps) / Math.max(1, numDecaySteps);
      const factor =
        decayType === 'linear'
          ? 1 - progress
          : decayType === 'cosine'
            ? 0.5 * (1 + Math.cos(Math.PI * numCycles * 2 * progress))
            : 1 - Math.sqrt(progress);
      return Math.max(0, factor * (1 - minLrRatio) + minLrRatio);
    }
    return minLrRatio;
  };
}

export interface SlantedTriangularOptions {
  numTrainingSteps: number;
  /** Fraction of the steps spent increasing (default 0.1). */
  cutFrac?: number;
  /** How much smaller the lowest lr is than the peak (default 32). */
  ratio?: number;
}

/**
 * ULMFiT's slanted triangular lr (Howard & Ruder 2018, eq. 3), as a multiplier of the peak lr:
 * cut = floor(T·cutFrac) (at least 1), p = t/cut for t < cut, else 1 − (t − cut)/(cut·(1/cutFrac − 1));
 * multiplier = (1 + p·(ratio − 1)) / ratio. t is the 0-based step; p is floored at 0 past the end.
 */
export function slantedTriangularSchedule({
  numTrainingSteps,
  cutFrac = 0.1,
  ratio = 32,
}: SlantedTriangularOptions): Schedule {
  if (!(cutFrac > 0 && cutFrac < 1)) throw new Error(`slanted triangular: cutFrac must be in (0, 1), got ${cutFrac}`);
  const cut = Math.max(1, Math.floor(numTrainingSteps * cutFrac));
  return (step) => {
    const p = step < cut ? step / cut : Math.max(0, 1 - (step - cut) / (cut * (1 / cutFrac - 1)));
    return (1 + p * (ratio - 1)) / ratio;
  };
}

/** Python's float modulo (sign of the divisor). */
function pyMod(a: number, b: number): number {
  return ((a % b) + b) % b;
}

// ---- by name -------------------------------------------------------------------------

/** Hugging Face's SchedulerType names (less 'greedy') plus 'one_cycle' and 'slanted_triangular'. */
export const SCHEDULE_NAMES = [
  'linear',
  'cosine',
  'cosine_with_restarts',
  'polynomial',
  'constant',
  'constant_with_warmup',
  'inverse_sqrt',
  'reduce_lr_on_plateau',
  'cosine_with_min_lr',
  'cosine_warmup_with_min_lr',
  'warmup_stable_decay',
  'one_cycle',
  'slanted_triangular',
] as const;
export type ScheduleName = (typeof SCHEDULE_NAMES)[number];

/** What getSchedule / getScheduler take: the common step counts plus every schedule's own options (camelCase of HF's kwargs). */
export interface ScheduleOptions {
  /** Warmup steps; or give warmupRatio. Default 0. */
  numWarmupSteps?: number;
  /** Warmup as a fraction of numTrainingSteps: ceil(numTrainingSteps × ratio), as TrainingArguments.get_warmup_steps. */
  warmupRatio?: number;
  numTrainingSteps?: number;
  numCycles?: number;
  minLr?: number;
  minLrRate?: number;
  warmupLrRate?: number;
  lrEnd?: number;
  power?: number;
  timescale?: number;
  numStableSteps?: number;
  numDecaySteps?: number;
  warmupType?: WsdShape;
  decayType?: WsdShape;
  minLrRatio?: number;
  cutFrac?: number;
  ratio?: number;
  /**
   * The optimizer's lr for the schedules defined in absolute lrs (polynomial's lrEnd, cosine's
   * minLr). getScheduler reads it from the optimizer (`defaults.lr`, else the first group's
   * initialLr); pure getSchedule needs it given (default 1: lrEnd and minLr are then fractions).
   */
  lrInit?: number;
}

/** Options each name accepts beyond the step counts, to reject misspelt or misplaced ones as HF's TypeError does. */
const SPECIFIC: Record<ScheduleName, readonly string[]> = {
  constant: [],
  constant_with_warmup: [],
  linear: [],
  cosine: ['numCycles'],
  cosine_with_restarts: ['numCycles'],
  cosine_with_min_lr: ['numCycles', 'minLr', 'minLrRate'],
  cosine_warmup_with_min_lr: ['numCycles', 'minLr', 'minLrRate', 'warmupLrRate'],
  polynomial: ['lrEnd', 'power'],
  inverse_sqrt: ['timescale'],
  warmup_stable_decay: ['numStableSteps', 'numDecaySteps', 'warmupType', 'decayType', 'minLrRatio', 'numCycles'],
  slanted_triangular: ['cutFrac', 'ratio'],
  one_cycle: [
    'maxLr',
    'style',
    'pctStart',
    'divFactor',
    'divFinal',
    'finalDivFactor',
    'annealStrategy',
    'cycleMomentum',
    'moms',
    'baseMomentum',
    'maxMomentum',
    'threePhase',
    'epochs',
    'stepsPerEpoch',
    'totalSteps',
  ],
  reduce_lr_on_plateau: ['mode', 'factor', 'patience', 'threshold', 'thresholdMode', 'cooldown', 'minLr', 'eps'],
};
const COMMON = ['numWarmupSteps', 'warmupRatio', 'numTrainingSteps', 'lrInit', 'lastStep'];

function checkName(name: string): asserts name is ScheduleName {
  if (!(SCHEDULE_NAMES as readonly string[]).includes(name)) {
    throw new Error(`unknown schedule '${name}' (known: ${SCHEDULE_NAMES.join(', ')})`);
  }
}

function checkOptions(name: ScheduleName, options: object): void {
  const allowed = new Set([...COMMON, ...SPECIFIC[name]]);
  const extra = Object.entries(options)
    .filter(([k, v]) => v !== undefined && !allowed.has(k))
    .map(([k]) => k);
  if (extra.length)
    throw new Error(`schedule '${name}' does not take ${extra.join(', ')} (it takes ${[...allowed].join(', ')})`);
}

/**
 * The warmup steps from numWarmupSteps or warmupRatio: ceil(numTrainingSteps × ratio), as
 * transformers' TrainingArguments.get_warmup_steps. Default 0.
 */
export function resolveWarmupSteps(
  options: Pick<ScheduleOptions, 'numWarmupSteps' | 'warmupRatio' | 'numTrainingSteps'>,
): number {
  const { numWarmupSteps, warmupRatio, numTrainingSteps } = options;
  if (numWarmupSteps !== undefined && warmupRatio !== undefined)
    throw new Error('give numWarmupSteps or warmupRatio, not both');
  if (warmupRatio !== undefined) {
    if (!(warmupRatio >= 0 && warmupRatio <= 1)) throw new Error(`warmupRatio must be in [0, 1], got ${warmupRatio}`);
    if (numTrainingSteps === undefined) throw new Error('warmupRatio needs numTrainingSteps');
    return Math.ceil(numTrainingSteps * warmupRatio);
  }
  const steps = numWarmupSteps ?? 0;
  if (!Number.isInteger(steps) || steps < 0)
    throw new Error(`numWarmupSteps must be a non-negative integer, got ${steps}`);
  return steps;
}

function requireTraining(name: string, options: ScheduleOptions): number {
  if (options.numTrainingSteps === undefined) throw new Error(`${name} requires numTrainingSteps`);
  return options.numTrainingSteps;
}

/** A schedule's minimum-lr rate from minLr (absolute, divided by lrInit) or minLrRate, as HF. */
function minLrRateOf(name: string, options: ScheduleOptions, lrInit: number): number {
  if (options.minLr !== undefined && options.minLrRate !== undefined)
    throw new Error('only one of minLr or minLrRate should be set');
  if (options.minLr !== undefined) return options.minLr / lrInit;
  if (options.minLrRate === undefined) throw new Error(`${name}: one of minLr or minLrRate should be set`);
  return options.minLrRate;
}

/**
 * A schedule by name as a pure function `(step) => multiplier` (for plotting, or for
 * `new LRScheduler(optimizer, fn)`). 'one_cycle' gives the lr multiplier of the peak lr
 * (oneCycleSchedule also gives the momentum); 'reduce_lr_on_plateau' has no per-step form.
 */
export function getSchedule(
  name: ScheduleName | string,
  options: ScheduleOptions & Partial<OneCycleOptions> = {},
): Schedule {
  checkName(name);
  checkOptions(name, options);
  const numWarmupSteps = resolveWarmupSteps(options);
  const lrInit = options.lrInit ?? 1;
  switch (name) {
    case 'constant':
      if (numWarmupSteps) throw new Error("'constant' has no warmup; use 'constant_with_warmup'");
      return constantSchedule();
    case 'constant_with_warmup':
      return constantScheduleWithWarmup({ numWarmupSteps });
    case 'linear':
      return linearScheduleWithWarmup({ numWarmupSteps, numTrainingSteps: requireTraining(name, options) });
    case 'cosine':
      return cosineScheduleWithWarmup({
        numWarmupSteps,
        numTrainingSteps: requireTraining(name, options),
        numCycles: options.numCycles,
      });
    case 'cosine_with_restarts':
      return cosineWithHardRestartsScheduleWithWarmup({
        numWarmupSteps,
        numTrainingSteps: requireTraining(name, options),
        numCycles: options.numCycles,
      });
    case 'cosine_with_min_lr':
      return cosineWithMinLrSchedule({
        numWarmupSteps,
        numTrainingSteps: requireTraining(name, options),
        numCycles: options.numCycles,
        minLrRate: minLrRateOf(name, options, lrInit),
      });
    case 'cosine_warmup_with_min_lr':
      return cosineWarmupWithMinLrSchedule({
        numWarmupSteps,
        numTrainingSteps: requireTraining(name, options),
        numCycles: options.numCycles,
        minLrRate: minLrRateOf(name, options, lrInit),
        warmupLrRate: options.warmupLrRate,
      });
    case 'polynomial':
      return polynomialDecayScheduleWithWarmup({
        numWarmupSteps,
        numTrainingSteps: requireTraining(name, options),
        lrEnd: options.lrEnd,
        power: options.power,
        lrInit,
      });
    case 'inverse_sqrt':
      return inverseSqrtSchedule({ numWarmupSteps, timescale: options.timescale });
    case 'warmup_stable_decay':
      if (options.numDecaySteps === undefined) throw new Error('warmup_stable_decay requires numDecaySteps');
      return warmupStableDecaySchedule({ ...options, numWarmupSteps, numDecaySteps: options.numDecaySteps });
    case 'slanted_triangular':
      if (numWarmupSteps) throw new Error("'slanted_triangular' has its own warmup (cutFrac)");
      return slantedTriangularSchedule({
        numTrainingSteps: requireTraining(name, options),
        cutFrac: options.cutFrac,
        ratio: options.ratio,
      });
    case 'one_cycle': {
      if (numWarmupSteps) throw new Error("'one_cycle' has its own warmup (pctStart)");
      const totalSteps = options.totalSteps ?? options.numTrainingSteps;
      return oneCycleSchedule({ ...options, totalSteps }).lr;
    }
    case 'reduce_lr_on_plateau':
      throw new Error(
        "'reduce_lr_on_plateau' follows a metric, not the step: use getScheduler or new ReduceLROnPlateau",
      );
  }
}

/** The lr the schedules defined in absolute lrs start from: the optimizer's defaults.lr (as HF), else the first group's initialLr. */
function optimizerLr(optimizer: HasParamGroups): number {
  const defaults = (optimizer as { defaults?: { lr?: number } }).defaults;
  return defaults?.lr ?? optimizer.paramGroups[0]?.initialLr ?? optimizer.paramGroups[0]?.lr;
}

export type GetSchedulerOptions = ScheduleOptions &
  Partial<OneCycleOptions> &
  Partial<ReduceLROnPlateauOptions> & { lastStep?: number };

/**
 * transformers.get_scheduler: the schedule `name` applied to every param group of `optimizer`.
 * Step-based schedules return an LRScheduler (LambdaLR semantics: construction sets step 0's lr,
 * `step()` advances one optimizer step); 'one_cycle' a OneCycleLR (cycles momentum too);
 * 'reduce_lr_on_plateau' a ReduceLROnPlateau (`step(metric)`). numWarmupSteps defaults to 0.
 */
export function getScheduler(
  name: 'reduce_lr_on_plateau',
  optimizer: HasParamGroups,
  options?: GetSchedulerOptions,
): ReduceLROnPlateau;
export function getScheduler(name: 'one_cycle', optimizer: HasParamGroups, options?: GetSchedulerOptions): OneCycleLR;
export function getScheduler(
  name: ScheduleName | string,
  optimizer: HasParamGroups,
  options?: GetSchedulerOptions,
): LRScheduler;
export function getScheduler(
  name: ScheduleName | string,
  optimizer: HasParamGroups,
  options: GetSchedulerOptions = {},
): LRScheduler | ReduceLROnPlateau {
  checkName(name);
  checkOptions(name, options);
  if (name === 'reduce_lr_on_plateau') {
    const { numWarmupSteps, warmupRatio, numTrainingSteps, lrInit, lastStep, ...rest } = options;
    return new ReduceLROnPlateau(optimizer, rest as ReduceLROnPlateauOptions);
  }
  if (name === 'one_cycle') {
    if (resolveWarmupSteps(options)) throw new Error("'one_cycle' has its own warmup (pctStart)");
    const totalSteps = options.totalSteps ?? options.numTrainingSteps;
    const { numWarmupSteps, warmupRatio, numTrainingSteps, lrInit, ...rest } = options;
    return new OneCycleLR(optimizer, { ...(rest as Partial<OneCycleOptions>), totalSteps });
  }
  const schedule = getSchedule(name, {
    ...options,
    lastStep: undefined,
    lrInit: options.lrInit ?? optimizerLr(optimizer),
  } as ScheduleOptions);
  return new LRScheduler(optimizer, schedule, { lastStep: options.lastStep });
}

/**
 * The one-cycle policy (Smith 2018; fastai's fit_one_cycle): the lr rises from maxLr/div to maxLr
 * over the first pctStart of the steps and anneals to a tiny final lr, while the momentum moves
 * inversely (0.95 → 0.85 → 0.95). Two flavours, chosen with `style`:
 *
 * - 'fastai' (default) — fit_one_cycle: pctStart 0.25, div 25, final lr maxLr/1e5, cosine phases
 *   `combined_cos(pct, start, middle, end)` evaluated at pos = step / totalSteps (so the last
 *   step, pos = (T−1)/T, is just short of the final lr).
 * - 'torch' — torch.optim.lr_scheduler.OneCycleLR: pctStart 0.3, div 25, final lr
 *   (maxLr/25)/1e4, phase ends at pctStart·T − 1 and T − 1 (the last step reaches the final lr),
 *   optional three phases and linear annealing.
 *
 * The momentum goes to group.betas[0] for Adam-family groups (those with `betas`), else to
 * group.momentum (SGD).
 */
import { LRScheduler, type LRSchedulerOptions } from './lr-scheduler.js';
import type { HasParamGroups, ParamGroup } from './param-group.js';

export interface OneCycleOptions {
  /** Steps in the cycle; or epochs × stepsPerEpoch. */
  totalSteps?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  /** Peak lr, one for all groups or one per group (default: each group's initialLr). */
  maxLr?: number | number[];
  /** 'fastai' (default) or 'torch': sets the defaults below and the phase boundaries (see the module doc). */
  style?: 'fastai' | 'torch';
  /** Fraction of the steps spent increasing the lr (fastai 0.25, torch 0.3). */
  pctStart?: number;
  /** Start lr = maxLr / divFactor (25 in both). */
  divFactor?: number;
  /** Final lr = maxLr / divFinal (fastai's div_final, default 1e5). Give this or finalDivFactor. */
  divFinal?: number;
  /** Final lr = (maxLr / divFactor) / finalDivFactor (torch's final_div_factor, default 1e4). */
  finalDivFactor?: number;
  /** 'cos' (default) or 'linear' annealing within each phase. */
  annealStrategy?: 'cos' | 'linear';
  /** Torch's three-phase variant (back down to the start lr, then to the final lr). Torch style only. */
  threePhase?: boolean;
  /** Cycle the momentum inversely to the lr (default true). */
  cycleMomentum?: boolean;
  /** Momentum at the start, at the peak lr, and at the end (default [0.95, 0.85, 0.95]). */
  moms?: [number, number, number];
  /** Torch's names: the momentum at the peak lr (0.85) and at the ends (0.95). */
  baseMomentum?: number;
  maxMomentum?: number;
}

export interface OneCycleSchedule {
  totalSteps: number;
  /** The lr at a step as a multiplier of maxLr. */
  lr: (step: number) => number;
  /** The momentum (or beta1) at a step. */
  momentum: (step: number) => number;
}

// fastai's annealers (fastai/callback/schedule.py), written as there.
const schedCos = (start: number, end: number, pos: number) =>
  start + ((1 + Math.cos(Math.PI * (1 - pos))) * (end - start)) / 2;
const schedLin = (start: number, end: number, pos: number) => start + pos * (end - start);
// torch's annealers (OneCycleLR._annealing_cos / _annealing_linear).
const annealCos = (start: number, end: number, pct: number) =>
  end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
const annealLinear = (start: number, end: number, pct: number) => (end - start) * pct + start;

function totalStepsOf(options: OneCycleOptions): number {
  const total =
    options.totalSteps ??
    (options.epochs !== undefined && options.stepsPerEpoch !== undefined
      ? options.epochs * options.stepsPerEpoch
      : undefined);
  if (total === undefined) throw new Error('one-cycle: give totalSteps, or epochs and stepsPerEpoch');
  if (!Number.isInteger(total) || total <= 0)
    throw new Error(`one-cycle: expected a positive integer number of steps, got ${total}`);
  return total;
}

/** The one-cycle lr multiplier and momentum as pure functions of the step. */
export function oneCycleSchedule(options: OneCycleOptions): OneCycleSchedule {
  const style = options.style ?? 'fastai';
  if (style !== 'fastai' && style !== 'torch')
    throw new Error(`one-cycle: style must be 'fastai' or 'torch', got '${String(style)}'`);
  const totalSteps = totalStepsOf(options);
  const pct = options.pctStart ?? (style === 'fastai' ? 0.25 : 0.3);
  if (!(pct >= 0 && pct < 1)) throw new Error(`one-cycle: pctStart must be in [0, 1), got ${pct}`);
  const div = options.divFactor ?? 25;
  if (options.divFinal !== undefined && options.finalDivFactor !== undefined)
    throw new Error('one-cycle: give divFinal or finalDivFactor, not both');
  const start = 1 / div;
  const final =
    options.divFinal !== undefined
      ? 1 / options.divFinal
      : options.finalDivFactor !== undefined
        ? start / options.finalDivFactor
        : style === 'fastai'
          ? 1 / 1e5
          : start / 1e4;
  const anneal = options.annealStrategy ?? 'cos';
  if (anneal !== 'cos' && anneal !== 'linear')
    throw new Error(`one-cycle: annealStrategy must be 'cos' or 'linear', got '${String(anneal)}'`);
  if (options.moms && (options.baseMomentum !== undefined || options.maxMomentum !== undefined)) {
    throw new Error('one-cycle: give moms or baseMomentum/maxMomentum, not both');
  }
  const maxMom = options.maxMomentum ?? 0.95;
  const moms = options.moms ?? [maxMom, options.baseMomentum ?? 0.85, maxMom];

  if (style === 'fastai') {
    if (options.threePhase) throw new Error("one-cycle: threePhase is torch's variant (style: 'torch')");
    const f = anneal === 'cos' ? schedCos : schedLin;
    // combine_scheds([pct, 1 − pct], …): the phase is the last boundary ≤ pos, capped at the last phase.
    const combined = (a: number, b: number, c: number) => (pos: number) => {
      const idx = pos >= pct ? 1 : 0;
      return idx === 0 ? f(a, b, pos / pct) : f(b, c, (pos - pct) / (1 - pct));
    };
    const lr = combined(start, 1, final);
    const mom = combined(moms[0], moms[1], moms[2]);
    return {
      totalSteps,
      lr: (step) => lr(check(step) / totalSteps),
      momentum: (step) => mom(check(step) / totalSteps),
    };
  }

  const f = anneal === 'cos' ? annealCos : annealLinear;
  interface Phase {
    endStep: number;
    lr: [number, number];
    mom: [number, number];
  }
  const phases: Phase[] = options.threePhase
    ? [
        { endStep: pct * totalSteps - 1, lr: [start, 1], mom: [moms[0], moms[1]] },
        { endStep: 2 * pct * totalSteps - 2, lr: [1, start], mom: [moms[1], moms[0]] },
        { endStep: totalSteps - 1, lr: [start, final], mom: [moms[0], moms[2]] },
      ]
    : [
        { endStep: pct * totalSteps - 1, lr: [start, 1], mom: [moms[0], moms[1]] },
        { endStep: totalSteps - 1, lr: [1, final], mom: [moms[1], moms[2]] },
      ];
  const at = (step: number, which: 'lr' | 'mom') => {
    check(step);
    let startStep = 0;
    for (let i = 0; i < phases.length; i++) {
      const phase = phases[i];
      if (step <= phase.endStep || i === phases.length - 1) {
        const p = (step - startStep) / (phase.endStep - startStep);
        return f(phase[which][0], phase[which][1], p);
      }
      startStep = phase.endStep;
    }
    throw new Error('unreachable');
  };
  return { totalSteps, lr: (step) => at(step, 'lr'), momentum: (step) => at(step, 'mom') };

  function check(step: number): number {
    if (step > totalSteps) throw new Error(`one-cycle: tried to step ${step} times; the cycle has ${totalSteps} steps`);
    return step;
  }
}

/**
 * One-cycle as a scheduler: sets each group's lr (maxLr × multiplier) and, with cycleMomentum,
 * its beta1 or momentum, at construction (step 0) and on each step(). Stepping past totalSteps
 * throws, as torch's OneCycleLR. Groups' initialLr is left as it is.
 */
export class OneCycleLR extends LRScheduler {
  readonly schedule: OneCycleSchedule;
  readonly cycleMomentum: boolean;

  constructor(optimizer: HasParamGroups, options: OneCycleOptions & Pick<LRSchedulerOptions, 'lastStep'> = {}) {
    const schedule = oneCycleSchedule(options);
    const groups = optimizer.paramGroups;
    const maxLr = options.maxLr;
    if (Array.isArray(maxLr) && maxLr.length !== groups.length)
      throw new Error(`one-cycle: expected ${groups.length} maxLr values, got ${maxLr.length}`);
    const baseLrs = groups.map((g, i) => (Array.isArray(maxLr) ? maxLr[i] : (maxLr ?? g.initialLr ?? g.lr)));
    const cycleMomentum = options.cycleMomentum ?? true;
    if (cycleMomentum) {
      const lacking = groups.findIndex((g) => !Array.isArray(g.betas) && !('momentum' in g));
      if (lacking >= 0)
        throw new Error(
          `one-cycle: param group ${lacking} has neither betas nor momentum to cycle; pass cycleMomentum: false`,
        );
    }
    super(optimizer, schedule.lr, { baseLrs, lastStep: options.lastStep });
    this.schedule = schedule;
    this.cycleMomentum = cycleMomentum;
    this.apply(); // the base constructor set step 0's lr before these fields existed; now the momentum too
  }

  /** The momentum (or beta1) of step `step`. */
  momentumAt(step: number): number {
    return this.schedule.momentum(step);
  }

  protected override apply(): void {
    super.apply();
    if (this.schedule === undefined || !this.cycleMomentum) return;
    const m = this.momentumAt(this.lastStep);
    for (const group of this.optimizer.paramGroups as ParamGroup[]) {
      if (Array.isArray(group.betas)) group.betas = [m, group.betas[1]];
      else group.momentum = m;
    }
  }
}

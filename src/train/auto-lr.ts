/**
 * A learning rate from the range test, fastai's habit (`learn.lr_find()`, then `fit_one_cycle` at
 * the valley): Trainer.lrFind on the training data, the valley suggestion when the curve falls
 * clearly, else the Trainer's default lr with the reason the curve was refused.
 *
 *   const probe = new Trainer({ model: copyOfTheModel, args, trainDataset });
 *   const { lr, reason } = await autoLearningRate(probe);
 *   const trainer = new Trainer({ model, args: { ...args, learningRate: lr }, trainDataset });
 */
import { formatLr, type LrFindResult } from '../optim/index.js';
import type { Trainer } from './trainer.js';
import type { TrainerLrFindOptions } from './trainer-types.js';

export interface AutoLearningRate {
  /** The lr to train at: the range test's valley, or the Trainer's own (default) lr when the test refused the curve. */
  lr: number;
  /** 'lr-find': the valley; 'fallback': the Trainer's lr, because the curve was flat or noisy (see `refused`). */
  source: 'lr-find' | 'fallback';
  /** A printable line: 'lr-find valley 1.2e-3 (smoothed loss 0.695 → 0.607, 13% fall, …)' or the fallback and why. */
  reason: string;
  /** Why the range test suggested nothing (LrFindResult.refused), when source is 'fallback'. */
  refused?: string;
  result: LrFindResult;
}

/**
 * Runs `trainer.lrFind(options)` (which restores the model, the optimizer and the generator) and
 * picks fastai's valley (to 3 significant digits); when the curve is refused, or too few steps ran to suggest, the Trainer's
 * learningRate (its default rule's, or the one it was given) with the reason. The Trainer keeps its
 * lr: train a new Trainer at the returned one.
 */
export async function autoLearningRate(
  trainer: Trainer,
  options: TrainerLrFindOptions = {},
): Promise<AutoLearningRate> {
  const result = await trainer.lrFind(options);
  // Three significant digits: the sweep's lrs are points of a geometric grid, not more precise than that.
  const valley = result.suggestions.valley === undefined ? undefined : Number(result.suggestions.valley.toPrecision(3));
  if (valley !== undefined) {
    return {
      lr: valley,
      source: 'lr-find',
      reason: `lr ${formatLr(valley)}: lr-find valley (${describeLrCurve(result)})`,
      result,
    };
  }
  const refused = result.refused ?? `too few steps ran to suggest (${result.lrs.length})`;
  return {
    lr: trainer.learningRate,
    source: 'fallback',
    reason: `${trainer.learningRateReason} (lr-find found no lr: ${refused})`,
    refused,
    result,
  };
}

/** The curve a suggestion rests on, in a few words: 'smoothed loss 0.695 → 0.607 (13% fall, noise ±0.0047), 92 steps, stopped on divergence'. */
export function describeLrCurve(result: LrFindResult): string {
  const c = result.curve;
  const fall = c
    ? `smoothed loss ${c.startLoss.toPrecision(3)} → ${c.minLoss.toPrecision(3)} (${(100 * c.drop).toFixed(0)}% fall, noise ±${c.noise.toPrecision(2)})`
    : 'too few points';
  return `${fall}, ${result.lrs.length} steps${result.diverged ? ', stopped on divergence' : ''}`;
}

/**
 * Gradual unfreezing (Howard & Ruder, ULMFiT, 2018; fastai): training starts with only the head
 * trainable, and at each boundary — every epoch, or every N optimizer steps — the next layer
 * group down from the head is unfrozen, until the whole model trains. Fine-tuning the new head
 * first keeps its random gradients from wrecking the pretrained layers below it.
 *
 *   const unfreezing = new GradualUnfreezing(model, { every: 'epoch' }, {
 *     onUnfreeze: (names) => console.log('now training', names.join(', ')),
 *   });
 *   for (let epoch = 0; epoch < epochs; epoch++) { unfreezing.onEpochStart(epoch); … }
 */
import type { Module } from '../nn/index.js';
import { layerGroupsOf } from '../models/index.js';
import { freeze, freezeTo, type FreezeOptions } from './freeze.js';

/** When the next group is unfrozen: at each epoch, or every `everySteps` steps. */
export type UnfreezeSchedule = { every: 'epoch' } | { everySteps: number };

/** Gradual unfreezing (ULMFiT) as a training strategy: the head first, one more layer group every epoch or every N optimizer steps. */
export interface GradualUnfreezingStrategy {
  kind: 'gradual-unfreezing';
  /** Default { every: 'epoch' }. */
  schedule?: UnfreezeSchedule;
}

export interface GradualUnfreezingOptions extends FreezeOptions {
  /**
   * Called with the groups that just became trainable (nearest the head first), so a trainer can
   * give their parameters to its optimizer. Several names when a call skips stages (a resumed run).
   */
  onUnfreeze?: (groupNames: string[]) => void;
}

/**
 * Unfreezes one more layer group per epoch or per N steps. The stage is a function of the epoch or
 * step number given (stage = epoch, or ⌊step / everySteps⌋, capped at the last group), so calling a
 * hook twice or resuming mid-run lands on the right stage; it never goes back (groups once
 * unfrozen stay trainable, as the optimizer has them). Both hooks may be called: the one that
 * does not match the schedule does nothing.
 */
export class GradualUnfreezing {
  readonly #model: Module;
  readonly #schedule: UnfreezeSchedule;
  readonly #groupNames: string[];
  readonly #freezeOptions: FreezeOptions;
  readonly #onUnfreeze: ((groupNames: string[]) => void) | undefined;
  #stage = 0;

  /** Freezes every group but the head (stage 0). */
  constructor(model: Module, schedule: UnfreezeSchedule, options: GradualUnfreezingOptions = {}) {
    checkSchedule(schedule);
    this.#model = model;
    this.#schedule = schedule;
    this.#groupNames = layerGroupsOf(model).map(({ name }) => name);
    this.#freezeOptions = { trainBatchNorm: options.trainBatchNorm };
    this.#onUnfreeze = options.onUnfreeze;
    freeze(model, this.#freezeOptions);
  }

  /** Groups unfrozen below the head: 0 = head only, groups − 1 = the whole model. */
  get stage(): number {
    return this.#stage;
  }

  /** The trainable groups' names, input side first (the head last). */
  get trainableGroups(): string[] {
    return this.#groupNames.slice(this.#groupNames.length - 1 - this.#stage);
  }

  /** Call at the start of each epoch (0-based): epoch e trains the head and e groups below it. */
  onEpochStart(epoch: number): void {
    checkCounter('epoch', epoch);
    if ('every' in this.#schedule) this.#advanceTo(epoch);
  }

  /** Call before each optimizer step (0-based): step s trains the head and ⌊s / everySteps⌋ groups below it. */
  onStepStart(step: number): void {
    checkCounter('step', step);
    if ('everySteps' in this.#schedule) this.#advanceTo(Math.floor(step / this.#schedule.everySteps));
  }

  #advanceTo(stage: number): void {
    const target = Math.min(stage, this.#groupNames.length - 1);
    if (target <= this.#stage) return;
    const headIndex = this.#groupNames.length - 1;
    const unfrozen = this.#groupNames.slice(headIndex - target, headIndex - this.#stage).reverse();
    this.#stage = target;
    freezeTo(this.#model, -(target + 1), this.#freezeOptions);
    this.#onUnfreeze?.(unfrozen);
  }
}

/** Whether `schedule` is { every: 'epoch' } or { everySteps: N } with N a positive integer. */
export function isUnfreezeSchedule(schedule: UnfreezeSchedule): boolean {
  return 'everySteps' in schedule
    ? Number.isInteger(schedule.everySteps) && schedule.everySteps > 0
    : (schedule as { every?: unknown }).every === 'epoch';
}

function checkSchedule(schedule: UnfreezeSchedule): void {
  if (!isUnfreezeSchedule(schedule)) {
    throw new RangeError(
      `GradualUnfreezing: schedule must be { every: 'epoch' } or { everySteps: N } with N a positive integer, got ${JSON.stringify(schedule)}`,
    );
  }
}

function checkCounter(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0)
    throw new RangeError(`GradualUnfreezing: ${name} must be a non-negative integer, got ${value}`);
}

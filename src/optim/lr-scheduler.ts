/**
 * LRScheduler: a per-step multiplier applied to every param group, with PyTorch's LambdaLR
 * semantics — lr = group.initialLr × schedule(step); construction sets step 0's lr, each
 * `step()` (called after optimizer.step()) advances one step.
 */
import type { HasParamGroups, ParamGroup } from './param-group.js';

/** A multiplier of the group's base lr at a 0-based step. */
export type LrLambda = (step: number) => number;

export interface LRSchedulerOptions {
  /**
   * The last step already taken (PyTorch's last_epoch): −1 (default) starts at step 0; N resumes
   * so that the lr of step N + 1 is set. Prefer loadStateDict for resuming.
   */
  lastStep?: number;
  /** Base lrs per group (default: each group's initialLr). */
  baseLrs?: number[];
}

/** What stateDict() returns: plain JSON. */
export interface LRSchedulerState {
  lastStep: number;
  baseLrs: number[];
  lastLr: number[];
  [extra: string]: unknown;
}

export class LRScheduler {
  readonly optimizer: HasParamGroups;
  /** Each group's lr at multiplier 1 (PyTorch's base_lrs). */
  baseLrs: number[];
  /** The step whose lr is set now (PyTorch's last_epoch): 0 after construction. */
  lastStep: number;
  protected readonly lambdas: LrLambda[];
  protected lastLr: number[] = [];

  constructor(optimizer: HasParamGroups, lrLambda: LrLambda | LrLambda[], options: LRSchedulerOptions = {}) {
    this.optimizer = optimizer;
    const groups = optimizer.paramGroups;
    if (groups.length === 0) throw new Error('the optimizer has no param groups');
    this.lambdas = Array.isArray(lrLambda) ? lrLambda : groups.map(() => lrLambda);
    if (this.lambdas.length !== groups.length)
      throw new Error(`expected ${groups.length} lr lambdas, got ${this.lambdas.length}`);
    this.baseLrs = options.baseLrs ? [...options.baseLrs] : groups.map((g) => g.initialLr ?? g.lr);
    if (this.baseLrs.length !== groups.length)
      throw new Error(`expected ${groups.length} base lrs, got ${this.baseLrs.length}`);
    this.lastStep = options.lastStep ?? -1;
    this.step();
  }

  /** Advances one step and sets each group's lr (and whatever else a subclass schedules). */
  step(): void {
    this.lastStep += 1;
    this.apply();
  }

  /** The lrs of step `step`, without changing anything. */
  lrsAt(step: number): number[] {
    return this.baseLrs.map((base, i) => base * this.lambdas[i](step));
  }

  /** The lrs set by the last step() (or construction), per group, as PyTorch's get_last_lr(). */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** Plain-JSON state to resume: { lastStep, baseLrs, lastLr } (plus a subclass's fields). */
  stateDict(): LRSchedulerState {
    return { lastStep: this.lastStep, baseLrs: [...this.baseLrs], lastLr: [...this.lastLr] };
  }

  /**
   * Restores a stateDict() and sets the groups' lrs for its step again (PyTorch leaves that to the
   * optimizer's own state dict; doing it here makes resuming independent of whether it holds lrs).
   */
  loadStateDict(state: LRSchedulerState): void {
    if (state.baseLrs.length !== this.optimizer.paramGroups.length) {
      throw new Error(
        `the state has ${state.baseLrs.length} groups, the optimizer ${this.optimizer.paramGroups.length}`,
      );
    }
    this.lastStep = state.lastStep;
    this.baseLrs = [...state.baseLrs];
    this.apply();
  }

  /** Sets every group's hyperparameters for lastStep. */
  protected apply(): void {
    const lrs = this.lrsAt(this.lastStep);
    this.optimizer.paramGroups.forEach((group: ParamGroup, i) => {
      group.lr = lrs[i];
    });
    this.lastLr = lrs;
  }
}

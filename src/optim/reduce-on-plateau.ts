/**
 * ReduceLROnPlateau with PyTorch's semantics (torch.optim.lr_scheduler.ReduceLROnPlateau): after
 * more than `patience` steps without improving on the best metric by the threshold, multiply each
 * group's lr by `factor` (not below its minLr, and only if that changes it by more than eps), then
 * wait `cooldown` steps ignoring bad ones.
 */
import type { HasParamGroups } from './param-group.js';

export interface ReduceLROnPlateauOptions {
  /** 'min' (default): lower is better; 'max': higher is better. */
  mode?: 'min' | 'max';
  /** new lr = lr × factor (default 0.1; must be < 1). */
  factor?: number;
  /** Bad steps tolerated before reducing (default 10). */
  patience?: number;
  /** Significance of an improvement (default 1e-4). */
  threshold?: number;
  /** 'rel' (default): best·(1 ∓ threshold); 'abs': best ∓ threshold. */
  thresholdMode?: 'rel' | 'abs';
  /** Steps to wait after a reduction before counting bad steps again (default 0). */
  cooldown?: number;
  /** Lower bound on the lr, for all groups or per group (default 0). */
  minLr?: number | number[];
  /** Reductions smaller than this are skipped (default 1e-8). */
  eps?: number;
}

export interface ReduceLROnPlateauState {
  lastStep: number;
  best: number;
  numBadSteps: number;
  cooldownCounter: number;
  minLrs: number[];
  lastLr: number[];
}

export class ReduceLROnPlateau {
  readonly optimizer: HasParamGroups;
  readonly mode: 'min' | 'max';
  readonly factor: number;
  readonly patience: number;
  readonly threshold: number;
  readonly thresholdMode: 'rel' | 'abs';
  readonly cooldown: number;
  readonly eps: number;
  minLrs: number[];
  /** The best metric so far (±Infinity before the first step). */
  best: number;
  /** Consecutive steps without improvement (PyTorch's num_bad_epochs). */
  numBadSteps = 0;
  cooldownCounter = 0;
  /** Steps taken (PyTorch's last_epoch). */
  lastStep = 0;
  private lastLr: number[];
  private readonly defaultMinLr: number | undefined;

  constructor(optimizer: HasParamGroups, options: ReduceLROnPlateauOptions = {}) {
    this.optimizer = optimizer;
    this.mode = options.mode ?? 'min';
    this.factor = options.factor ?? 0.1;
    this.patience = options.patience ?? 10;
    this.threshold = options.threshold ?? 1e-4;
    this.thresholdMode = options.thresholdMode ?? 'rel';
    this.cooldown = options.cooldown ?? 0;
    this.eps = options.eps ?? 1e-8;
    if (this.factor >= 1) throw new Error('ReduceLROnPlateau: factor should be < 1.0');
    if (this.mode !== 'min' && this.mode !== 'max')
      throw new Error(`ReduceLROnPlateau: mode ${String(this.mode)} is unknown`);
    if (this.thresholdMode !== 'rel' && this.thresholdMode !== 'abs')
      throw new Error(`ReduceLROnPlateau: threshold mode ${String(this.thresholdMode)} is unknown`);
    const groups = optimizer.paramGroups;
    const minLr = options.minLr ?? 0;
    if (Array.isArray(minLr)) {
      if (minLr.length !== groups.length)
        throw new Error(`ReduceLROnPlateau: expected ${groups.length} minLr values, got ${minLr.length}`);
      this.minLrs = [...minLr];
    } else {
      this.defaultMinLr = minLr;
      this.minLrs = groups.map(() => minLr);
    }
    this.best = this.modeWorse;
    this.lastLr = groups.map((g) => g.lr);
  }

  private get modeWorse(): number {
    return this.mode === 'min' ? Infinity : -Infinity;
  }

  get inCooldown(): boolean {
    return this.cooldownCounter > 0;
  }

  /** Whether `a` improves on `best` by the threshold. */
  isBetter(a: number, best: number): boolean {
    if (this.mode === 'min')
      return this.thresholdMode === 'rel' ? a < best * (1 - this.threshold) : a < best - this.threshold;
    return this.thresholdMode === 'rel' ? a > best * (1 + this.threshold) : a > best + this.threshold;
  }

  /** Records a metric (e.g. the validation loss after an epoch) and reduces the lrs if it has plateaued. */
  step(metric: number): void {
    const current = Number(metric);
    this.lastStep += 1;
    if (this.isBetter(current, this.best)) {
      this.best = current;
      this.numBadSteps = 0;
    } else {
      this.numBadSteps += 1;
    }
    if (this.inCooldown) {
      this.cooldownCounter -= 1;
      this.numBadSteps = 0;
    }
    if (this.numBadSteps > this.patience) {
      this.reduceLr();
      this.cooldownCounter = this.cooldown;
      this.numBadSteps = 0;
    }
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  private reduceLr(): void {
    const groups = this.optimizer.paramGroups;
    if (groups.length !== this.minLrs.length) {
      if (this.defaultMinLr === undefined)
        throw new Error(`ReduceLROnPlateau: the optimizer has ${groups.length} groups, minLr ${this.minLrs.length}`);
      this.minLrs = groups.map(() => this.defaultMinLr!);
    }
    groups.forEach((group, i) => {
      const oldLr = group.lr;
      const newLr = Math.max(oldLr * this.factor, this.minLrs[i]);
      if (oldLr - newLr > this.eps) group.lr = newLr;
    });
  }

  /** Each group's lr after the last step. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** Plain-JSON state (best is ±Infinity before the first step: JSON writes it as null, which loadStateDict reads back). */
  stateDict(): ReduceLROnPlateauState {
    return {
      lastStep: this.lastStep,
      best: this.best,
      numBadSteps: this.numBadSteps,
      cooldownCounter: this.cooldownCounter,
      minLrs: [...this.minLrs],
      lastLr: [...this.lastLr],
    };
  }

  /** Restores a stateDict() and sets the groups' lrs to its lastLr. */
  loadStateDict(state: ReduceLROnPlateauState): void {
    this.lastStep = state.lastStep;
    this.best = state.best ?? this.modeWorse;
    this.numBadSteps = state.numBadSteps;
    this.cooldownCounter = state.cooldownCounter;
    this.minLrs = [...state.minLrs];
    this.lastLr = [...state.lastLr];
    this.optimizer.paramGroups.forEach((g, i) => {
      if (this.lastLr[i] !== undefined) g.lr = this.lastLr[i];
    });
  }
}

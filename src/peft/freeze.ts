/**
 * Which parameters train: freezing by layer groups (fastai's freeze / freeze_to / unfreeze) and
 * the usual fine-tuning strategies — full, head only, top-k groups, BitFit, LayerNorm-only.
 * Only `requiresGrad` changes: the module tree, the weights and the training mode stay as they
 * are, so strategies can be applied, summarised and switched at any time, and the model saves
 * and loads as before.
 */
import type { Tensor } from '../tensor/index.js';
import { BatchNorm2d, GroupNorm, LayerNorm, type Module } from '../nn/index.js';
import { hasLayerGroups, LlamaRMSNorm, parameterGroupsOf, type ParameterGroup } from '../models/index.js';

export type FreezingStrategy =
  /** Every parameter trains. */
  | { kind: 'full' }
  /** Only the head (the last layer group). */
  | { kind: 'head' }
  /** The head and the k layer groups below it. */
  | { kind: 'top-k'; k: number }
  /** Every bias and the head (Ben Zaken et al., 2021). */
  | { kind: 'bitfit' }
  /** Every LayerNorm / GroupNorm weight and bias, and the head. */
  | { kind: 'ln' };

export interface FreezeOptions {
  /**
   * Keep BatchNorm2d weights and biases trainable in frozen groups (fastai's `train_bn`), default
   * true. Frozen BatchNorm affine parameters keep rescaling features for the pretraining domain
   * while the statistics they act on come from the new data, which costs accuracy; training them
   * is cheap (a few thousand numbers) and fastai does so by default.
   */
  trainBatchNorm?: boolean;
}

export interface GroupSummary {
  name: string;
  /** Trainable parameter elements. */
  trainable: number;
  /** All parameter elements. */
  total: number;
}

/** Parameter elements that train, overall and per layer group (counted as PEFT's print_trainable_parameters does). */
export interface TrainableSummary {
  trainable: number;
  total: number;
  /** 100 · trainable / total (0 for a model without parameters). */
  percent: number;
  /** Per layer group, input side first; empty when the model's family declares no groups. */
  groups: GroupSummary[];
}

/**
 * fastai's freeze_to: layer groups [n:] train, [:n] are frozen; a negative n counts from the end
 * (-1: only the head). n runs from -groups (all train) to groups (all frozen).
 */
export function freezeTo(model: Module, n: number, options: FreezeOptions = {}): void {
  const groups = parameterGroupsOf(model);
  setTrainable(model, parametersOf(groups.slice(firstTrainableGroup(n, groups.length))), options);
}

/** Only the head trains (freezeTo(-1)), the first step of fine-tuning a new head. */
export function freeze(model: Module, options: FreezeOptions = {}): void {
  freezeTo(model, -1, options);
}

/** Every parameter trains. */
export function unfreeze(model: Module): void {
  model.requiresGrad_(true);
}

/** Sets which parameters of `model` train according to `strategy`, and returns the resulting summary. */
export function applyFreezingStrategy(
  model: Module,
  strategy: FreezingStrategy,
  options: FreezeOptions = {},
): TrainableSummary {
  if (strategy.kind === 'full') {
    unfreeze(model);
  } else {
    setTrainable(model, strategyParameters(model, strategy), options);
  }
  return summarizeTrainable(model);
}

/** How many parameter elements train, overall and per layer group (when the model's family declares them). */
export function summarizeTrainable(model: Module): TrainableSummary {
  const { trainable, total } = countElements(model.parameters());
  const groups = hasLayerGroups(model)
    ? parameterGroupsOf(model).map(({ name, parameters }) => ({ name, ...countElements(parameters.map(([, p]) => p)) }))
    : [];
  return { trainable, total, percent: total ? (100 * trainable) / total : 0, groups };
}

/** The parameters a non-full strategy trains (before the BatchNorm exception). */
function strategyParameters(model: Module, strategy: Exclude<FreezingStrategy, { kind: 'full' }>): Tensor[] {
  const groups = parameterGroupsOf(model);
  const head = parametersOf(groups.slice(-1));
  switch (strategy.kind) {
    case 'head':
      return head;
    case 'top-k':
      return parametersOf(groups.slice(-(checkedK(strategy.k, groups.length) + 1)));
    case 'bitfit':
      return [...head, ...ownParametersWhere(model, (_, name) => name === 'bias')];
    case 'ln':
      return [
        ...head,
        // The Llama family's RMSNorm (a weight, no bias) is its LayerNorm.
        ...ownParametersWhere(
          model,
          (module) => module instanceof LayerNorm || module instanceof GroupNorm || module instanceof LlamaRMSNorm,
        ),
      ];
    default:
      throw new Error(
        `unknown freezing strategy ${JSON.stringify(strategy)} (known kinds: full, head, top-k, bitfit, ln)`,
      );
  }
}

/** k for top-k: the head has groups − 1 groups below it. */
function checkedK(k: number, groupCount: number): number {
  if (!Number.isInteger(k) || k < 0 || k > groupCount - 1) {
    throw new RangeError(
      `top-k: k must be an integer in [0, ${groupCount - 1}] (the model has ${groupCount - 1} layer groups below its head), got ${k}`,
    );
  }
  return k;
}

/** The index of the first trainable group for freezeTo(n), checked. */
function firstTrainableGroup(n: number, groupCount: number): number {
  if (!Number.isInteger(n) || n < -groupCount || n > groupCount) {
    throw new RangeError(
      `freezeTo: n must be an integer in [${-groupCount}, ${groupCount}] for a model of ${groupCount} layer groups, got ${n}`,
    );
  }
  return n < 0 ? groupCount + n : n;
}

/** requiresGrad = true for `trainable` (and BatchNorm parameters unless trainBatchNorm is false), false for every other parameter. */
function setTrainable(model: Module, trainable: Tensor[], options: FreezeOptions): void {
  const train = new Set(trainable);
  if (options.trainBatchNorm ?? true) {
    for (const p of ownParametersWhere(model, (module) => module instanceof BatchNorm2d)) train.add(p);
  }
  for (const p of model.parameters()) p.requiresGrad_(train.has(p));
}

function parametersOf(groups: ParameterGroup[]): Tensor[] {
  return groups.flatMap(({ parameters }) => parameters.map(([, p]) => p));
}

/** Parameters held directly by modules of `model` for which `keep(module, attributeName)` holds. */
function ownParametersWhere(model: Module, keep: (module: Module, name: string) => boolean): Tensor[] {
  return model.modules().flatMap((module) =>
    module
      .ownParameters()
      .filter(([name]) => keep(module, name))
      .map(([, p]) => p),
  );
}

function countElements(parameters: Tensor[]): { trainable: number; total: number } {
  let trainable = 0;
  let total = 0;
  for (const p of parameters) {
    total += p.numel();
    if (p.requiresGrad) trainable += p.numel();
  }
  return { trainable, total };
}

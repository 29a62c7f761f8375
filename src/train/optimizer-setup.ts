/**
 * The optimizer the Trainer builds from its TrainingArguments (HF's create_optimizer): parameter
 * groups with or without weight decay, discriminative or layer-wise learning rates, the optimizer
 * named by args.optim; and groups added to a running optimizer and scheduler (gradual unfreezing,
 * the multi-task loss's weights).
 */
import type { Module } from '../nn/index.js';
import { parameterGroupsOf } from '../models/index.js';
import {
  Adam,
  AdamW,
  SGD,
  LRScheduler,
  discriminativeLr,
  layerwiseLrDecay,
  lrRange,
  noWeightDecayNames,
  weightDecayGroups,
  type DiscriminativeLr,
  type Optimizer,
  type ParamGroup,
  type ParamGroupSpec,
} from '../optim/index.js';
import type { SchedulerLike } from './checkpoint.js';
import { innerModel } from './model-io.js';
import { describeStrategy, type DiscriminativeLrSetting, type TrainingArguments } from './training-args.js';

/** The head's lr and a discriminative setting → optim's DiscriminativeLr. */
function discriminativeSpec(setting: DiscriminativeLrSetting, lr: number): DiscriminativeLr {
  if (setting === 'slice') return [lr];
  if ('factor' in setting) return { hi: lr, factor: setting.factor };
  return [setting.lo, lr];
}

/** The optimizer's parameter groups from the arguments: weight-decay groups, discriminative or layer-wise lrs (`lr` the head's). */
export function parameterGroups(model: Module, args: TrainingArguments, lr: number): ParamGroupSpec[] {
  const options = { weightDecay: args.weightDecay, rule: args.weightDecayRule };
  let groups: ParamGroupSpec[];
  if (args.discriminativeLr) groups = discriminativeLr(model, discriminativeSpec(args.discriminativeLr, lr), options);
  else if (args.layerwiseLrDecay !== null)
    groups = layerwiseLrDecay(model, { lr, decay: args.layerwiseLrDecay, ...options });
  else groups = weightDecayGroups(model, options);
  if (groups.length === 0) {
    throw new Error(
      `Trainer: no parameter of ${model.constructor.name} requires grad (strategy: ${describeStrategy(args.strategy)}), so there is nothing to train`,
    );
  }
  return groups;
}

/** The optimizer args.optim names over these groups. */
export function buildOptimizer(groups: ParamGroupSpec[], args: TrainingArguments, lr: number): Optimizer {
  switch (args.optim) {
    case 'adamw_torch':
    case 'adamw_torch_fused':
      return new AdamW(groups, {
        lr,
        betas: [args.adamBeta1, args.adamBeta2],
        eps: args.adamEpsilon,
        weightDecay: args.weightDecay,
      });
    case 'adam':
      return new Adam(groups, {
        lr,
        betas: [args.adamBeta1, args.adamBeta2],
        eps: args.adamEpsilon,
        weightDecay: args.weightDecay,
      });
    case 'sgd':
      return new SGD(groups, { lr, momentum: args.sgdMomentum, weightDecay: args.weightDecay });
  }
}

/** Each layer group's lr (input side first), as parameterGroups gives them. */
function layerLrs(args: TrainingArguments, lr: number, count: number): number[] {
  if (args.discriminativeLr) return lrRange(discriminativeSpec(args.discriminativeLr, lr), count);
  const decay = args.layerwiseLrDecay;
  if (decay !== null) return Array.from({ length: count }, (_, i) => lr * decay ** (count - 1 - i));
  return new Array<number>(count).fill(lr);
}

/** Lets an LRScheduler scale groups added to its optimizer after it was built: same multiplier, their own base lr, from the current step on. */
export function scheduleAddedGroups(scheduler: SchedulerLike | null, added: ParamGroup[]): void {
  if (added.length === 0 || !(scheduler instanceof LRScheduler)) return;
  const s = scheduler as unknown as { baseLrs: number[]; lambdas: ((step: number) => number)[]; apply(): void };
  for (const group of added) {
    s.baseLrs.push(group.initialLr);
    s.lambdas.push(s.lambdas[0]);
  }
  s.apply();
}

/**
 * Gives the optimizer the trainable parameters of these layer groups that it does not hold yet, one
 * parameter group per layer group and weight-decay class (`<group>:decay`, `<group>:no_decay`), at the
 * group's lr (`lr` the head's); the scheduler scales them from the current step on.
 */
export function addLayerGroups(
  optimizer: Optimizer,
  scheduler: SchedulerLike | null,
  model: Module,
  args: TrainingArguments,
  lr: number,
  groupNames: string[],
): void {
  const layerGroups = parameterGroupsOf(innerModel(model));
  const held = new Set(optimizer.paramGroups.flatMap((g) => g.params));
  const exemptNames = new Set(noWeightDecayNames(model, { rule: args.weightDecayRule }));
  const lrs = layerLrs(args, lr, layerGroups.length);
  const added: ParamGroup[] = [];
  for (const name of groupNames) {
    const index = layerGroups.findIndex((g) => g.name === name);
    if (index < 0)
      throw new Error(
        `addLayerGroupsToOptimizer: no layer group '${name}' (groups: ${layerGroups.map((g) => g.name).join(', ')})`,
      );
    const fresh = layerGroups[index].parameters.filter(([, p]) => p.requiresGrad && !held.has(p));
    for (const [suffix, weightDecay, keep] of [
      ['decay', args.weightDecay, (n: string) => !exemptNames.has(n)],
      ['no_decay', 0, (n: string) => exemptNames.has(n)],
    ] as const) {
      const part = fresh.filter(([n]) => keep(n));
      if (part.length === 0) continue;
      added.push(
        optimizer.addParamGroup({
          name: `${name}:${suffix}`,
          params: part.map(([, p]) => p),
          paramNames: part.map(([n]) => n),
          lr: lrs[index],
          weightDecay,
        }),
      );
      for (const [, p] of part) held.add(p);
    }
  }
  scheduleAddedGroups(scheduler, added);
}

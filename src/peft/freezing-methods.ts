/**
 * The freezing methods, registered as every method is (methods.ts): they choose which of the
 * model's own parameters train (freeze.ts) and need no tuner. Registered in the order of
 * `finetune inspect`'s table.
 */
import type { Module } from '../nn/index.js';
import { CNN_MODEL_TYPES, FAMILY_NAMES } from './constants.js';
import { applyFreezingStrategy, type FreezingStrategy } from './freeze.js';
import type { GradualUnfreezingStrategy } from './gradual-unfreezing.js';
import { registerMethod, type LrDefault, type MethodContext } from './methods.js';

/** top-k's k when none is given: about a quarter of the layer groups below the head, at least one. */
export function defaultTopK(groups: number): number {
  return Math.max(1, Math.round((groups - 1) / 4));
}

/**
 * The default lr of the methods that update the pretrained weights. Transformers: 2e-5 — BERT
 * (Devlin et al. 2019, "BERT", appendix A.3) fine-tunes with Adam at {5e-5, 3e-5, 2e-5}; the low end
 * is the safe default (also the usual ViT fine-tuning rate with AdamW). CNNs: 1e-3 — PyTorch's
 * transfer-learning tutorial (SGD, momentum 0.9, lr 0.001 to fine-tune all of a ResNet-18).
 */
function pretrainedWeightsLr(what: string): (modelType: string | undefined) => LrDefault {
  return (modelType) => {
    const family = modelType
      ? Object.hasOwn(FAMILY_NAMES, modelType)
        ? FAMILY_NAMES[modelType]
        : modelType
      : undefined;
    if (modelType !== undefined && CNN_MODEL_TYPES.has(modelType))
      return { lr: 1e-3, why: `${family} ${what} default (PyTorch transfer-learning tutorial: SGD, momentum 0.9)` };
    if (!family || modelType === 'bert')
      return { lr: 2e-5, why: `${family ?? 'transformer'} ${what} default (Devlin et al. 2019)` };
    return { lr: 2e-5, why: `${family} ${what} default (as BERT, Devlin et al. 2019)` };
  };
}

function requireLayerGroups(context: MethodContext, method: string): void {
  if (!context.facts.groups)
    context.refuse(`--method ${method} needs layer groups, which ${context.facts.architecture} does not declare`);
}

/**
 * Whether a freezing strategy trains exactly what --method head trains on this model (BitFit on a
 * network whose only biases are the head's and BatchNorm's, LN-only on one without LayerNorm): the
 * user asked for something else and would get head-only training without knowing it.
 */
function trainsOnlyTheHead(model: Module, strategy: FreezingStrategy, trainBatchNorm: boolean): boolean {
  const freezeOptions = { trainBatchNorm };
  const parameters = model.parameters();
  const before = parameters.map((p) => p.requiresGrad);
  const trained = () => parameters.map((p) => p.requiresGrad).join();
  applyFreezingStrategy(model, strategy, freezeOptions);
  const chosen = trained();
  applyFreezingStrategy(model, { kind: 'head' }, freezeOptions);
  const head = trained();
  parameters.forEach((p, i) => p.requiresGrad_(before[i]));
  return chosen === head;
}

registerMethod({
  name: 'full',
  label: 'full',
  summary: 'every parameter trains',
  strategyKind: 'full',
  updatesPretrainedWeights: true,
  defaultLr: pretrainedWeightsLr('full fine-tuning'),
  build: () => ({ strategy: { kind: 'full' }, describe: 'every parameter trains' }),
});

registerMethod({
  name: 'head',
  label: 'head',
  summary: 'only the head (the last layer group) trains',
  strategyKind: 'head',
  // Adam's default, as in Keras's transfer-learning guide for training the new classifier on a frozen base.
  defaultLr: () => ({ lr: 1e-3, why: 'head-only training default (Adam default; Keras transfer-learning guide)' }),
  build: (context) => {
    requireLayerGroups(context, 'head');
    return { strategy: { kind: 'head' }, describe: `only the head trains (${context.facts.headPaths.join(', ')})` };
  },
});

registerMethod({
  name: 'top-k',
  label: 'top-k',
  summary: 'the head and the k layer groups below it train (--k)',
  strategyKind: 'top-k',
  updatesPretrainedWeights: true,
  defaultLr: pretrainedWeightsLr('top-k fine-tuning'),
  describeStrategy: (strategy) => `top-k (k=${(strategy as { k: number }).k})`,
  build: (context) => {
    requireLayerGroups(context, 'top-k');
    const { groups, architecture } = context.facts;
    const k = context.number('k') ?? defaultTopK(groups);
    if (!Number.isInteger(k) || k < 0 || k > groups - 1)
      context.refuse(`--k must be an integer in [0, ${groups - 1}] for ${architecture}, got ${k}`);
    return { strategy: { kind: 'top-k', k }, describe: `the head and the ${k} layer group(s) below it train` };
  },
});

registerMethod({
  name: 'gradual',
  aliases: ['gradual-unfreezing'],
  label: 'gradual unfreezing',
  summary: 'ULMFiT: the head first, one more layer group every epoch or --unfreeze-every-steps',
  strategyKind: 'gradual-unfreezing',
  updatesPretrainedWeights: true,
  defaultLr: pretrainedWeightsLr('gradual unfreezing'),
  describeStrategy: (strategy) => {
    const schedule = (strategy as GradualUnfreezingStrategy).schedule ?? { every: 'epoch' };
    return `gradual unfreezing (${'everySteps' in schedule ? `every ${schedule.everySteps} steps` : 'every epoch'})`;
  },
  build: (context) => {
    requireLayerGroups(context, 'gradual');
    const every = context.number('unfreeze-every-steps');
    if (every !== undefined && !(Number.isInteger(every) && every > 0))
      context.refuse(`--unfreeze-every-steps must be a positive integer, got ${every}`);
    return {
      strategy: { kind: 'gradual-unfreezing', schedule: every ? { everySteps: every } : { every: 'epoch' } },
      describe: `gradual unfreezing: the head first, one more of ${context.facts.groups} layer groups ${every ? `every ${every} steps` : 'every epoch'}`,
    };
  },
});

registerMethod({
  name: 'bitfit',
  label: 'bitfit',
  summary: 'every bias and the head train (BitFit)',
  strategyKind: 'bitfit',
  // BitFit (Ben Zaken et al. 2022) sweeps 1e-4…1e-3 and needs rates at the high end of that range.
  defaultLr: () => ({ lr: 1e-3, why: 'BitFit default (Ben Zaken et al. 2022: 1e-4 to 1e-3)' }),
  build: (context) => {
    requireLayerGroups(context, 'bitfit');
    if (trainsOnlyTheHead(context.model, { kind: 'bitfit' }, context.boolean('train-bn') ?? true)) {
      context.refuse(
        `--method bitfit trains every bias, and ${context.facts.architecture} has none outside the head and its BatchNorm layers, which every freezing method trains (--train-bn): it would train what --method head does; use --method head, or --train-bn false to train BatchNorm biases alone`,
      );
    }
    return { strategy: { kind: 'bitfit' }, describe: 'every bias and the head train (BitFit)' };
  },
});

registerMethod({
  name: 'ln',
  aliases: ['layer-norm'],
  label: 'ln',
  summary: 'LayerNorm / GroupNorm weights and biases and the head train',
  strategyKind: 'ln',
  // LayerNorm-only tuning trains a sliver of parameters similar to BitFit's.
  defaultLr: () => ({ lr: 1e-3, why: 'LayerNorm tuning default (as BitFit, Ben Zaken et al. 2022)' }),
  build: (context) => {
    requireLayerGroups(context, 'ln');
    if (trainsOnlyTheHead(context.model, { kind: 'ln' }, context.boolean('train-bn') ?? true)) {
      context.refuse(
        `--method ln trains LayerNorm / GroupNorm weights, and ${context.facts.architecture} has none (it would train the head alone): use --method head or bitfit`,
      );
    }
    return { strategy: { kind: 'ln' }, describe: 'LayerNorm weights and biases and the head train' };
  },
});

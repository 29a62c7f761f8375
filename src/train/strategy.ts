/**
 * The training strategy applied to a model: a PEFT config wraps it (getPeftModel), a freezing
 * strategy freezes parts of it, none trains what already requires grad. The registered fine-tuning
 * method it resolves to (peft's registerMethod) picks the default learning rate
 * (optim.defaultFineTuneLr) and names the run.
 */
import type { Module } from '../nn/index.js';
import {
  applyFreezingStrategy,
  getPeftModel,
  methodOfStrategy,
  PeftConfig,
  PeftModel,
  type MethodName,
} from '../peft/index.js';
import { describeStrategy, type TrainingArguments } from './training-args.js';

/** Applies args.strategy to the model: the model to train (a PeftModel for a PEFT config) and its fine-tuning method. */
export function applyStrategy(model: Module, args: TrainingArguments): { model: Module; method: MethodName } {
  const strategy = args.strategy;
  if (strategy instanceof PeftConfig) {
    if (model instanceof PeftModel)
      throw new Error('Trainer: the model is already a PeftModel; leave strategy out (or pass the base model)');
    const wrapped = getPeftModel(model, strategy);
    return { model: wrapped, method: methodOfStrategy(strategy).name };
  }
  if (model instanceof PeftModel) {
    if (strategy)
      throw new Error(
        `Trainer: strategy '${describeStrategy(strategy)}' does not apply to a PeftModel (its adapter decides what trains)`,
      );
    return { model, method: methodOfStrategy([...model.peftConfig.values()][0]).name };
  }
  if (!strategy) {
    const all = model.parameters();
    return { model, method: all.every((p) => p.requiresGrad) ? 'full' : 'head' };
  }
  const method = methodOfStrategy(strategy).name;
  if (strategy.kind !== 'gradual-unfreezing')
    applyFreezingStrategy(model, strategy, { trainBatchNorm: args.trainBatchNorm });
  return { model, method };
}

/**
 * The training strategy applied to a model: a PEFT config wraps it (getPeftModel), a freezing
 * strategy freezes parts of it, none trains what already requires grad. The fine-tuning method it
 * resolves to picks the default learning rate (optim.defaultFineTuneLr) and names the run.
 */
import type { Module } from '../nn/index.js';
import { applyFreezingStrategy, getPeftModel, PeftConfig, PeftModel } from '../peft/index.js';
import type { FineTuneMethod } from '../optim/index.js';
import { describeStrategy, type TrainingArguments } from './training-args.js';

/** Applies args.strategy to the model: the model to train (a PeftModel for a PEFT config) and its fine-tuning method. */
export function applyStrategy(model: Module, args: TrainingArguments): { model: Module; method: FineTuneMethod } {
  const strategy = args.strategy;
  if (strategy instanceof PeftConfig) {
    if (model instanceof PeftModel)
      throw new Error('Trainer: the model is already a PeftModel; leave strategy out (or pass the base model)');
    const wrapped = getPeftModel(model, strategy);
    return { model: wrapped, method: peftMethod(wrapped) };
  }
  if (model instanceof PeftModel) {
    if (strategy)
      throw new Error(
        `Trainer: strategy '${describeStrategy(strategy)}' does not apply to a PeftModel (its adapter decides what trains)`,
      );
    return { model, method: peftMethod(model) };
  }
  if (!strategy) {
    const all = model.parameters();
    return { model, method: all.every((p) => p.requiresGrad) ? 'full' : 'head' };
  }
  if (strategy.kind === 'gradual-unfreezing') return { model, method: 'gradual' };
  applyFreezingStrategy(model, strategy, { trainBatchNorm: args.trainBatchNorm });
  return { model, method: strategy.kind };
}

/** The fine-tuning method of a PeftModel's (first) adapter; a PEFT type it does not know is an error. */
export function peftMethod(model: PeftModel): FineTuneMethod {
  const config = [...model.peftConfig.values()][0] as PeftConfig & { useDora?: boolean; variant?: string };
  switch (config.peftType) {
    case 'LORA':
      return config.useDora ? 'dora' : 'lora';
    case 'IA3':
      return 'ia3';
    case 'PROMPT_TUNING':
      return 'prompt-tuning';
    case 'BOTTLENECK':
      return config.variant === 'pfeiffer' ? 'pfeiffer' : config.variant === 'houlsby' ? 'houlsby' : 'adapters';
    default:
      throw new Error(
        `Trainer: no fine-tuning method for PEFT type '${String(config.peftType)}' (known: LORA, IA3, PROMPT_TUNING, BOTTLENECK)`,
      );
  }
}

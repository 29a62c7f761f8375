/**
 * A model split at a layer-group boundary, for training on cached features: the first `groups` layer
 * groups (a frozen prefix, run once per example) and the rest (run every step from what the prefix
 * left). A family that supports it declares `frozenPrefix` (ModelFamily); the split points are its
 * layer groups, so the Trainer finds the cut from the model's structure (the first group that holds
 * a trainable parameter), not from a per-run setting.
 */
import type { Module } from '../nn/index.js';
import type { Tensor } from '../tensor/index.js';

/**
 * What a prefix leaves for the rest of the model: tensors with the batch first, so that each example's
 * row can be cached. A feature named `attentionMask` ([batch, length], nonzero on real tokens) marks
 * the features of shape [batch, length, …] as sequences: the cache keeps each example's rows up to
 * its last real token and pads them back with zeros (mask 0) when it batches them again.
 */
export type PrefixFeatures = Record<string, Tensor>;

export interface FrozenPrefixSplit {
  /** Whether this architecture of the family can be split (BERT: sequence classification only). */
  supports(model: Module): boolean;
  /**
   * Runs layer groups [0, groups) (1 ≤ groups < the number of groups) on a batch given as the model's forward takes it (BatchInput):
   * the features the rest of the model needs. Called in eval mode without gradients.
   */
  forwardFrozenPrefix(model: Module, inputs: unknown, groups: number): PrefixFeatures;
  /** The model's logits from `features` (batched rows of forwardFrozenPrefix's) onward: layer groups [groups, …). */
  forwardFromCache(model: Module, features: PrefixFeatures, groups: number): Tensor;
}

/**
 * The split of a network that is a chain of stages on one tensor, stage i being layer group i (a CNN):
 * `stages(model)` lists them, input side first, the head last. A stage may end with parameterless
 * steps of the next group (pooling, flattening) so that the cache holds the smaller tensor.
 */
export function stagedSplit<M extends Module>(
  architecture: abstract new (...args: never[]) => M,
  stages: (model: M) => ((x: Tensor) => Tensor)[],
): FrozenPrefixSplit {
  const of = (model: Module): ((x: Tensor) => Tensor)[] => stages(model as M);
  const run = (steps: ((x: Tensor) => Tensor)[], x: Tensor) => steps.reduce((value, step) => step(value), x);
  return {
    supports: (model) => model instanceof architecture,
    forwardFrozenPrefix: (model, inputs, groups) => ({ features: run(of(model).slice(0, groups), inputs as Tensor) }),
    forwardFromCache: (model, features, groups) => run(of(model).slice(groups), features.features),
  };
}

/** The models layer: model families (registered on import), their configs and builders. */
export {
  registerModelFamily,
  modelFamily,
  modelFamilies,
  findPreset,
  layerGroupsOf,
  parameterGroupsOf,
  hasLayerGroups,
  frozenPrefixSplitOf,
  checkModelSize,
  estimateModelBytes,
  maxModelBytes,
  MAX_LABELS,
  MAX_LAYERS,
  type ModelFamily,
  type ModelSizePart,
  type HfConfig,
  type LayerGroup,
  type ParameterGroup,
} from './registry.js';
export * from './bert.js';
export * from './alexnet.js';
export * from './resnet.js';
export * from './vit.js';
export * from './gpt2.js';
export {
  generate,
  generationSteps,
  processLogits,
  selectNextTokens,
  type CausalLanguageModel,
  type GenerateOptions,
  type LogitsProcessing,
} from './generation.js';
export { KeyValueCache } from './kv-cache.js';
export { PretrainedCausalLM, TiedLmHead, type CausalLMOutput } from './causal-lm-head.js';
export {
  generationConfigFromModelConfig,
  generationConfigJson,
  generationOptions,
  parseGenerationConfig,
  withGenerationDefaults,
  type GenerationConfig,
} from './generation-config.js';
export { PackedTokens, setPaddingFree, isPaddingFree } from './packed-tokens.js';
export { classificationLoss, type ProblemType } from './classification-loss.js';
export { causalLmLoss, IGNORE_INDEX } from './causal-lm-loss.js';
export {
  PROBLEM_TYPES,
  ConfigJsonReader,
  checkFields,
  defaultLabels,
  field,
  fieldsToJson,
  invertLabels,
  labelsToJson,
  orNull,
  snakeCase,
  sortedKeys,
  unnamedClasses,
  type ConfigField,
  type ConfigFields,
  type HeadLabels,
  type LabelsConfig,
} from './pretrained-config.js';
export { PretrainedModel, hasLabels, isPretrainedModel } from './pretrained-model.js';
export { stagedSplit, type FrozenPrefixSplit, type PrefixFeatures } from './frozen-prefix.js';
export { batchInputOf, type BatchInput } from './batch-input.js';
export * from './llama.js';

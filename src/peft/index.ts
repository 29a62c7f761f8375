/** The peft layer: which parameters train (freezing strategies, gradual unfreezing) and parameter-efficient methods. */
export {
  freeze,
  freezeTo,
  unfreeze,
  applyFreezingStrategy,
  summarizeTrainable,
  type FreezingStrategy,
  type FreezeOptions,
  type GroupSummary,
  type TrainableSummary,
} from './freeze.js';
export {
  GradualUnfreezing,
  type GradualUnfreezingStrategy,
  type UnfreezeSchedule,
  type GradualUnfreezingOptions,
} from './gradual-unfreezing.js';
export {
  checkFieldKinds,
  PEFT_CONFIG_FIELDS,
  PeftConfig,
  PeftConfigFieldError,
  peftConfigFromJson,
  peftField,
  registerPeftConfig,
  requiredPeftField,
  type PeftField,
  type PeftFieldKind,
  type PeftFieldsOf,
  type PeftFieldTable,
  type PeftOptionsOf,
  SEQ_CLS_HEAD_NAMES,
  type PeftConfigOptions,
  type PeftType,
  type TaskType,
} from './config.js';
export {
  checkAdapterName,
  getPeftModel,
  PeftModel,
  registerAdapterFiles,
  type AdapterFiles,
  type AdapterLoadResult,
  type LoadPeftOptions,
  type SavePeftOptions,
} from './peft-model.js';
export { BaseTuner, type TunerConfig } from './tuners/base-tuner.js';
export {
  isTunerLayer,
  matchTarget,
  ModulesToSaveWrapper,
  replaceSubmodule,
  type TargetSpec,
  type TunerLayer,
} from './tuners/tuner-utils.js';
export {
  CNN_MODEL_TYPES,
  DEFAULT_TARGET_MODULES,
  defaultTargets,
  FAMILY_NAMES,
  type DefaultSource,
  type DefaultTargets,
} from './constants.js';
export {
  getMethod,
  isMethodName,
  methodAliases,
  methodNames,
  methodOfStrategy,
  registeredMethods,
  registerMethod,
  strategyKinds,
  tunerKeyPrefixes,
  type FineTuningMethod,
  type LrDefault,
  type MethodName,
  type MethodContext,
  type MethodPlan,
  type MethodStrategy,
  type ModelFacts,
  type PeftMethodParts,
} from './methods.js';
// The built-in methods register in this order, the order of tables and help: freezing methods, then PEFT's.
export { defaultTopK } from './freezing-methods.js';
export * from './tuners/bottleneck/index.js';
export * from './tuners/lora/index.js';
export * from './tuners/ia3/index.js';
export * from './tuners/prompt-tuning/index.js';

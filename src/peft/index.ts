/** The peft layer: which parameters train (freezing strategies, gradual unfreezing) and parameter-efficient methods. */
export { freeze, freezeTo, unfreeze, applyFreezingStrategy, summarizeTrainable, type FreezingStrategy, type FreezeOptions, type GroupSummary, type TrainableSummary } from './freeze.js';
export { GradualUnfreezing, type UnfreezeSchedule, type GradualUnfreezingOptions } from './gradual-unfreezing.js';
export { checkFieldKinds, PeftConfig, PeftConfigFieldError, peftConfigFromJson, registerPeftConfig, type PeftFieldKind, SEQ_CLS_HEAD_NAMES, type PeftConfigOptions, type PeftType, type TaskType } from './config.js';
export {
  checkAdapterName,
  getPeftModel,
  PeftModel,
  registerAdapterFiles,
  registerTuner,
  type AdapterFiles,
  type AdapterLoadResult,
  type LoadPeftOptions,
  type SavePeftOptions,
} from './peft-model.js';
export { BaseTuner, type TunerConfig } from './tuners/base-tuner.js';
export { isTunerLayer, matchTarget, ModulesToSaveWrapper, type TargetSpec, type TunerLayer } from './tuners/tuner-utils.js';
export { LoraConfig, type LoraBias, type LoraConfigOptions } from './tuners/lora/config.js';
export { LoraConv2d, LoraEmbedding, LoraLayer, LoraLinear } from './tuners/lora/layer.js';
export { DoraMagnitude } from './tuners/lora/dora.js';
export { LoraModel } from './tuners/lora/model.js';
export { IA3Config, type IA3ConfigOptions } from './tuners/ia3/config.js';
export { IA3Conv2d, IA3Layer, IA3Linear, type IA3AdapterSettings } from './tuners/ia3/layer.js';
export { IA3Model, IA3_FEEDFORWARD_MODULES_BY_MODEL_TYPE, IA3_TARGET_MODULES_BY_MODEL_TYPE, isFeedforward } from './tuners/ia3/model.js';
export { PromptTuningConfig, type PromptTuningConfigOptions, type PromptTuningInit } from './tuners/prompt-tuning/config.js';
export { PromptEmbedding } from './tuners/prompt-tuning/model.js';
export { BottleneckConfig, type BottleneckConfigOptions, type BottleneckInit, type BottleneckNonLinearity, type BottleneckVariant } from './tuners/bottleneck/config.js';
export { BottleneckLayer, type BottleneckAdapterSettings, type BottleneckFeatureAxis } from './tuners/bottleneck/layer.js';
export { BottleneckModel, defaultBottleneckTargets } from './tuners/bottleneck/model.js';

export type { GroupOptions, ParamGroupSpec, ParamGroup, HasParamGroups } from './param-group.js';
export {
  Optimizer,
  byDeviceAndDtype,
  fusedSupports,
  type OptimizerStateDict,
  type StateDictGroup,
  type ParamState,
  type ParamsInput,
  type OptimizerDefaults,
  type Bucket,
} from './optimizer.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export { SGD, type SGDOptions } from './sgd.js';
export {
  clipGradNorm_,
  clipGradValue_,
  getTotalNorm,
  clipGradsWithNorm_,
  type NormType,
  type ClipGradNormOptions,
} from './clip.js';
export { GradientAccumulation } from './grad-accumulation.js';
export * from './schedules.js';
export * from './lr-scheduler.js';
export * from './one-cycle.js';
export * from './reduce-on-plateau.js';
export * from './lr-find.js';
export * from './param-group-builders.js';
export * from './lr-rules.js';
export * from './multi-task.js';

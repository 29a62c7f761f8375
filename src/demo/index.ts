/** The transfer-learning demo (`finetune demo`, what `npm start` runs): see run.ts. */
export { runDemoExperiment, type DemoResult, type DemoModelResult } from './run.js';
export {
  demoSettings,
  defaultCacheDir,
  classList,
  SOURCE_CLASSES,
  TARGET_CLASSES,
  DEMO_LEARNING_RATES,
  type DemoSettings,
} from './settings.js';
export {
  DEMO_MODELS,
  DEMO_MODEL_KEYS,
  buildModel,
  resetHead,
  pretrainingHash,
  type DemoModelKey,
  type DemoModelSpec,
  type PretrainingSettings,
} from './models.js';
export { DEMO_METHODS, planDemoMethod, type DemoMethod, type DemoMethodPlan } from './strategies.js';
export { runFineTune, type FineTuneJob, type DemoRow } from './finetune.js';
export { pretrain, pretrainedDir, cachedPretraining, describePretraining, type PretrainingInfo } from './pretrain.js';
export { PeakMemory, describePeakMemory, type PeakMemoryMethod } from './memory.js';
export {
  readFashionSplit,
  taskCollate,
  TaskDataset,
  packSplit,
  writeSplit,
  readSplit,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  type FashionSplit,
  type TaskExample,
  type ImageBatch,
} from './data.js';
export { accuracyMetric, parameterCounts } from './training.js';

/**
 * finetune: fine-tune pretrained neural networks from TypeScript on libtorch.
 * Layers, lowest first; a folder imports only from its own layer and those before it (test/layering.test.ts):
 * pattern, format, install → tensor → nn → models → peft → optim, amp → data, io, hub, distributed → train → pretrain, report → demo → cli
 */
export * from './tensor/index.js';
export * from './io/index.js';
export * from './hub/index.js';
export * as nn from './nn/index.js';
export * as models from './models/index.js';
export * as peft from './peft/index.js';
export * as data from './data/index.js';
export * as distributed from './distributed/index.js';
export * as optim from './optim/index.js';
export * as amp from './amp/index.js';
export * as train from './train/index.js';
export * as report from './report/index.js';
export * as pretrain from './pretrain/index.js';
export * as pattern from './pattern/index.js';
// PEFT's everyday names at the top level, as `from peft import get_peft_model, LoraConfig`.
export { getPeftModel, PeftModel, LoraConfig, IA3Config, PromptTuningConfig, type TaskType } from './peft/index.js';
// Hugging Face's everyday training names at the top level, as `from transformers import Trainer, TrainingArguments`.
export { Trainer, TrainingArguments } from './train/index.js';
/** This package's version, from package.json. */
export { version } from './install/package.js';

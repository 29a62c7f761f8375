/** Masked-language-model pretraining: the MLM collator, unlabelled text datasets and the training loop. */
export { MlmCollator, mlmCollator, type MlmCollatorOptions, type MlmBatch, type MaskedIds } from './collator.js';
export {
  TextLinesDataset,
  readTexts,
  readTextsAndColumn,
  type TextLinesOptions,
  type TextLinesExample,
} from './text-dataset.js';
export {
  pretrainMlm,
  evaluateMlm,
  mlmForward,
  reportMarkdown,
  newCounts,
  type MlmCounts,
  type MlmMetrics,
  type PretrainOptions,
  type PretrainReport,
  type PretrainLogEntry,
} from './mlm.js';

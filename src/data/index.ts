/** The data layer: datasets, transforms, loading. */
export * from './dataset.js';
export * from './random.js';
export * from './idx.js';
export { DataFileError, MAX_TEXT_FILE_BYTES, readDataFile, readDataFileSync, type ReadDataFileOptions } from './read-file.js';
export * from './image.js';
export * as transforms from './transforms.js';
export type { Transform, TransformContext } from './transforms.js';
export { IMAGENET_GRAY_MEAN, IMAGENET_GRAY_STD, IMAGENET_MEAN, IMAGENET_STD } from './transforms.js';
export { imageTransform, preprocessorJson, type ImagePreprocessing } from './preprocessing.js';
export * from './loader.js';
export { DistributedSampler, type DistributedSamplerOptions } from './distributed-sampler.js';
export * from './split.js';
export * from './multi-task.js';
export { MAX_CHARS_PER_TOKEN, Tokenizer, type EncodeOptions, type Encoding, type DecodeOptions, type FromFileOptions, type SpecialToken, type SpecialTokenRole, type TextSide, type TokenizerConfigOptions, type TruncationStrategy } from './tokenizer.js';
export { DataFormatError, DELIMITERS, decodeText, formatFromPath, parseTable, readTable, readTextFile, TEXT_ENCODINGS, textEncoding, type TextEncoding, type BadRowPolicy, type ReadTableOptions, type SkippedRow, type Table, type TableFormat, type TableRow, type TableValue } from './table.js';
export { LabelCheckError, rareLabelThreshold, TextClassificationDataset, type LabelProblem, type TextClassificationExample, type TextClassificationOptions, type TextTask } from './text.js';
export { collateText, textCollator, type TextBatch, type TextCollateOptions, type TextExample } from './collate-text.js';
export { findLabelColumn, findTextColumn, findTextPairColumn, LABEL_COLUMN_NAMES, TEXT_COLUMN_NAMES, TEXT_PAIR_COLUMNS } from './columns.js';

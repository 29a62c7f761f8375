/**
 * The data of the training commands: labelled text tables (columns, encoding, delimiter, max length,
 * the vocabulary check), image folders and Fashion-MNIST, and the train / eval split of a run.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type HfConfig } from '../../models/index.js';
import {
  DataFormatError,
  DELIMITERS,
  LabelCheckError,
  textEncoding,
  findLabelColumn,
  findTextColumn,
  findTextPairColumn,
  fashionMnist,
  readTable,
  Subset,
  TextClassificationDataset,
  Tokenizer,
  trainValidationSplit,
  IMAGENET_GRAY_MEAN,
  IMAGENET_GRAY_STD,
  IMAGENET_MEAN,
  IMAGENET_STD,
  imageTransform,
  type Dataset,
  type ImagePreprocessing,
  type ReadTableOptions,
  type Table,
} from '../../data/index.js';
import {
  optBoolean as bool,
  optList as list,
  optNumber as num,
  optString as str,
  optPositiveInteger as positiveInteger,
  UsageError,
  type Options,
} from './flags.js';
import { readImageFolder, reportSkipped, skippedRowsOf } from './data-check.js';
import { requirePath } from './paths.js';
import { parseMethod } from './method.js';
import { DEFAULT_VIRTUAL_TOKENS } from '../../peft/index.js';
import { isDir, readJsonFile } from './paths.js';
import { formatInteger } from '../../report/format.js';
import { CAUSAL_LM_FLAGS, type Task } from './run-flags.js';
import { loadCausalLmRunData } from './causal-lm-data.js';
import { isCausalLmConfig, type ModelSource } from './model-source.js';
import { type LoadedTokenizer, loadTokenizer } from './tokenizer.js';

// ---- text data -----------------------------------------------------------------------------------

export interface TextColumns {
  text: string;
  pair?: string;
  label: string;
}

/** The text, pair and label columns of a table: given ones must be there, the others are detected. */
export function detectColumns(
  table: Table,
  given: { text?: string; pair?: string; label?: string },
  flags: { text: string } = { text: 'text-column' },
): TextColumns {
  const columns = table.columns;
  const need = (name: string, flag: string) => {
    if (table.format !== 'jsonl' && !columns.includes(name))
      throw new DataFormatError(table.file, 1, `no column '${name}' (--${flag}; columns: ${columns.join(', ')})`);
    return name;
  };
  // A header read as one column that holds another delimiter: the delimiter is the likelier mistake.
  const otherDelimiter =
    columns.length === 1 ? DELIMITERS.find((d) => d !== table.delimiter && columns[0].includes(d)) : undefined;
  const delimiterHint =
    otherDelimiter === undefined
      ? ''
      : `; the header is one column: if the delimiter is ${delimiterArg(otherDelimiter)}, give --delimiter ${delimiterArg(otherDelimiter)}`;
  const label = given.label !== undefined ? need(given.label, 'label-column') : findLabelColumn(columns, table.rows);
  // A file without a label column the CLI can find is a data error (exit 1), as its other missing columns are.
  if (label === undefined)
    throw new DataFormatError(
      table.file,
      1,
      `which column is the label? give --label-column (columns: ${columns.join(', ')})${delimiterHint}`,
    );
  const text = given.text !== undefined ? need(given.text, flags.text) : findTextColumn(columns, [label, given.pair]);
  if (text === undefined)
    throw new DataFormatError(
      table.file,
      1,
      `which column is the text? give --${flags.text} (columns: ${columns.join(', ')})`,
    );
  let pair = given.pair !== undefined ? need(given.pair, 'text-pair-column') : undefined;
  if (pair === undefined && given.text === undefined) pair = findTextPairColumn(columns, text);
  return { text, pair, label };
}

/** Library options named in the data layer's messages, and the flags that set them. */
const DATA_OPTION_FLAGS: [RegExp, (...groups: string[]) => string][] = [
  [/onBad(?:Row|File): 'skip'/g, () => '--skip-bad-rows'],
  [/allowRareLabels: true/g, () => '--allow-rare-labels'],
  [/labels: (\["[^\]\n]*"\])/g, (match, names) => `--labels ${labelList(names) ?? match}`],
  [/encoding: '([\w-]+)'/g, (_, name) => `--encoding ${name}`],
  [/delimiter: '(\\t|.)'/g, (_, d) => `--delimiter ${delimiterArg(d === '\\t' ? '\t' : d)}`],
  [/\btextColumn\b/g, () => '--text-column'],
  [/\bmaxImagePixels\b/g, () => '--max-image-pixels'],
  [/\bmaxLength (\d+)/g, (_, n) => `--max-length ${n}`],
  [/\bvalidationFraction (\S+) of/g, (_, f) => `--validation-split ${f} of`],
];

/** A JSON array of label names as --labels takes them (a,b,c), or undefined when it is not one. */
function labelList(json: string): string | undefined {
  try {
    const names: unknown = JSON.parse(json);
    return Array.isArray(names) && names.every((n) => typeof n === 'string') ? names.join(',') : undefined;
  } catch {
    return undefined;
  }
}

/** A data-layer message for CLI users: the library options it suggests become the flags that set them. */
export function dataFlagsInMessage(message: string): string {
  return DATA_OPTION_FLAGS.reduce(
    (out, [pattern, flag]) => out.replace(pattern, (...match: string[]) => flag(...match)),
    message,
  );
}

/** --encoding and --delimiter as readTable options (a usage error when they name no encoding or no one-character delimiter). */
/**
 * --encoding and --delimiter; `trained` (a run_config.json) supplies what the training run was given,
 * so that eval and predict read the user's other files of the same kind without the flags again.
 */
export function tableReading(
  options: Options,
  trained: Record<string, unknown> = {},
): Pick<ReadTableOptions, 'encoding' | 'delimiter'> {
  const recorded = (key: string) => (typeof trained[key] === 'string' ? (trained[key] as string) : undefined);
  const encoding = str(options, 'encoding') ?? recorded('encoding');
  if (encoding !== undefined) {
    try {
      textEncoding(encoding);
    } catch (error) {
      throw new UsageError(`--encoding: ${(error as Error).message}`);
    }
  }
  const given = str(options, 'delimiter') ?? recorded('delimiter');
  const delimiter = given === undefined ? undefined : ['tab', '\\t', '\t'].includes(given) ? '\t' : given;
  if (delimiter !== undefined && (delimiter.length !== 1 || '"\r\n'.includes(delimiter))) {
    throw new UsageError(
      `--delimiter must be one character other than a quote or a line break (or 'tab'), got '${given}'`,
    );
  }
  return { encoding, delimiter };
}

/** A delimiter as --delimiter takes it: 'tab', or the character quoted. */
function delimiterArg(delimiter: string): string {
  return delimiter === '\t' ? 'tab' : `'${delimiter}'`;
}

/** How the plan names a delimiter that is not the format's usual one. */
function delimiterNote(table: Table): string {
  const usual = table.format === 'tsv' ? '\t' : ',';
  return table.delimiter === undefined || table.delimiter === usual
    ? ''
    : `; delimiter ${delimiterArg(table.delimiter)}`;
}

export interface TextSplit {
  dataset: TextClassificationDataset;
  columns: TextColumns;
  file: string;
  /** '; delimiter X' when it is not the format's usual one (for the plan), else ''. */
  delimiterNote: string;
}

/** Reads and tokenises a labelled text file. */
export async function loadTextFile(
  file: string,
  flag: string,
  options: {
    columns: { text?: string; pair?: string; label?: string };
    /** The text column to use when this file has it and columns.text is not given (the training file's). */
    preferText?: string;
    textFlag?: string;
    labels?: readonly string[];
    tokenizer: Tokenizer;
    maxLength?: number;
    skipBadRows?: boolean;
    allowRareLabels?: boolean;
    /** --encoding and --delimiter (tableReading). */
    reading?: Pick<ReadTableOptions, 'encoding' | 'delimiter'>;
  },
): Promise<TextSplit> {
  requirePath(file, flag, 'file');
  let table: Table;
  try {
    table = await readTable(file, { ...options.reading, onBadRow: options.skipBadRows ? 'skip' : 'error' });
  } catch (error) {
    if (error instanceof DataFormatError) throw error;
    const message = (error as Error).message;
    if (/cannot tell the table format/.test(message))
      throw new UsageError(`--${flag} ${file}: use a .csv, .tsv or .jsonl file`);
    throw error;
  }
  const given = { ...options.columns };
  if (given.text === undefined && options.preferText !== undefined && table.columns.includes(options.preferText))
    given.text = options.preferText;
  const columns = detectColumns(table, given, { text: options.textFlag ?? 'text-column' });
  let dataset: TextClassificationDataset;
  try {
    dataset = await TextClassificationDataset.fromTable(table, {
      textColumn: columns.text,
      textPairColumn: columns.pair,
      labelColumn: columns.label,
      labels: options.labels,
      tokenizer: options.tokenizer,
      maxLength: options.maxLength,
      onBadRow: options.skipBadRows ? 'skip' : 'error',
      allowRareLabels: options.allowRareLabels,
    });
  } catch (error) {
    // Labels that look like mistakes need the user's decision (a flag), as a usage error does.
    if (error instanceof LabelCheckError) throw new UsageError(dataFlagsInMessage(error.message));
    throw error;
  }
  if (dataset.length === 0)
    throw new Error(`${file}: no examples${dataset.skipped ? ` (${dataset.skipped} bad rows left out)` : ''}`);
  reportSkipped(file, 'row', skippedRowsOf(file, dataset.skippedRows));
  return { dataset, columns, file, delimiterNote: delimiterNote(table) };
}

/**
 * The longest tokenised input: --max-length, else the tokenizer's model_max_length — never more
 * than the model has positions for, less the virtual tokens prompt tuning puts in front (a longer
 * input would fail in the middle of training).
 */
function textMaxLength(options: Options, source: ModelSource, tokenizer: Tokenizer): number | undefined {
  const given = positiveInteger(options, 'max-length');
  const positions = source.config.max_position_embeddings;
  if (typeof positions !== 'number') return given;
  const virtualTokens =
    parseMethod(str(options, 'method')) === 'prompt-tuning'
      ? (num(options, 'num-virtual-tokens') ?? DEFAULT_VIRTUAL_TOKENS)
      : 0;
  const room = positions - virtualTokens;
  const why = `${source.arg} has ${positions} positions (max_position_embeddings)${virtualTokens ? `, ${virtualTokens} of them for prompt tuning's virtual tokens` : ''}`;
  if (room < 2)
    throw new UsageError(`--num-virtual-tokens ${virtualTokens}: ${why}, which leaves no room for the text`);
  if (given !== undefined && given > room)
    throw new UsageError(`--max-length ${given} is too long: ${why}; give --max-length ${room} or less`);
  return given ?? Math.min(tokenizer.modelMaxLength ?? room, room);
}

/** Checks that every token id fits the model's vocabulary (a tokenizer for another model would fail deep inside). */
function checkVocabulary(
  datasets: readonly Dataset<unknown>[],
  vocabSize: number | undefined,
  tokenizerSource: string,
): void {
  if (!vocabSize) return;
  for (const dataset of datasets) {
    for (let i = 0; i < dataset.length; i++) {
      const ids = (dataset.get(i) as { inputIds?: number[] }).inputIds;
      if (!ids) return;
      for (const id of ids) {
        if (id >= vocabSize) {
          throw new UsageError(
            `the tokenizer (${tokenizerSource}) gives token id ${id}, but the model's vocabulary has ${vocabSize} entries: give the model's own tokenizer with --tokenizer`,
          );
        }
      }
    }
  }
}

// ---- image data ----------------------------------------------------------------------------------

/**
 * The image size, channels and normalisation: --image-size, preprocessor_config.json in the model
 * folder, the model's config, ImageNet's statistics (through the luma weights for a one-channel model).
 */
export function imagePreprocessing(
  modelType: string,
  config: HfConfig,
  dirs: readonly (string | undefined)[],
  sizeFlag?: number,
): ImagePreprocessing {
  let pre: Record<string, unknown> | undefined;
  for (const dir of dirs) {
    if (dir && existsSync(join(dir, 'preprocessor_config.json'))) {
      pre = readJsonFile(join(dir, 'preprocessor_config.json'));
      break;
    }
  }
  const preSize = pre?.size as { height?: number; shortest_edge?: number } | number | undefined;
  const fromPre = typeof preSize === 'number' ? preSize : (preSize?.height ?? preSize?.shortest_edge);
  const configSize =
    typeof config.image_size === 'number'
      ? config.image_size
      : Array.isArray(config.image_size)
        ? Number(config.image_size[0])
        : undefined;
  const size = sizeFlag ?? fromPre ?? configSize ?? 224;
  const vit = modelType === 'vit';
  const declared = vit ? config.num_channels : config.in_channels;
  const channels = typeof declared === 'number' ? declared : 3;
  if (channels !== 1 && channels !== 3)
    throw new UsageError(
      `the model takes ${channels}-channel images; finetune's image pipeline makes RGB (3) or grayscale (1)`,
    );
  const gray = channels === 1;
  const mean = Array.isArray(pre?.image_mean)
    ? (pre.image_mean as number[])
    : vit
      ? Array<number>(channels).fill(0.5)
      : gray
        ? [IMAGENET_GRAY_MEAN]
        : [...IMAGENET_MEAN];
  const std = Array.isArray(pre?.image_std)
    ? (pre.image_std as number[])
    : vit
      ? Array<number>(channels).fill(0.5)
      : gray
        ? [IMAGENET_GRAY_STD]
        : [...IMAGENET_STD];
  return { size, channels, mean, std };
}

/** The subfolders of an image folder that hold the training and evaluation images, when it is split. */
export function splitFolders(root: string): { train: string; eval?: string } {
  const train = join(root, 'train');
  if (isDir(train)) {
    const evalDir = ['val', 'validation', 'valid', 'test', 'eval'].map((n) => join(root, n)).find(isDir);
    return { train, eval: evalDir };
  }
  return { train: root };
}

// ---- the data of a run ---------------------------------------------------------------------------

export interface RunData {
  task: Task;
  train: Dataset<unknown>;
  eval: Dataset<unknown> | null;
  labelNames: string[];
  /** Lines for the plan. */
  describe: string[];
  /** What run_config.json records about the data. */
  record: Record<string, unknown>;
  tokenizer?: LoadedTokenizer;
  maxLength?: number;
  image?: ImagePreprocessing;
  /** The model source fitted to the data: a preset's vocabulary and special tokens set to the tokenizer's (causal-lm). */
  modelSource?: ModelSource;
}

/** The task from --task, the data flags and the model (a *ForCausalLM / GPT2LMHeadModel config trains as a causal LM). */
export function taskOf(options: Options, modelType: string, config: HfConfig = {}): Task {
  const task = str(options, 'task') as Task | undefined;
  const imageData = options['image-folder'] !== undefined || options['fashion-mnist'] === true;
  const textData = options['train-file'] !== undefined || options['text-file'] !== undefined;
  if (imageData && textData)
    throw new UsageError(
      'give text data (--train-file, --text-file) or images (--image-folder, --fashion-mnist), not both',
    );
  if (task) return task;
  if (isCausalLmConfig(config) || options['text-file'] !== undefined) return 'causal-lm';
  if (imageData) return 'image-classification';
  if (textData) return 'text-classification';
  return modelType === 'bert' ? 'text-classification' : 'image-classification';
}

function limit<T>(dataset: Dataset<T>, n: number | undefined): Dataset<T> {
  if (n === undefined || n >= dataset.length) return dataset;
  return new Subset(
    dataset,
    Array.from({ length: n }, (_, i) => i),
  );
}

function labelSummary(dataset: Dataset<unknown>, names: readonly string[]): string {
  const targets = (dataset as { targets?: ArrayLike<number> }).targets;
  let counts: number[] | undefined;
  if (targets) {
    counts = new Array<number>(names.length).fill(0);
    for (let i = 0; i < targets.length; i++) counts[targets[i]]++;
  } else if (dataset instanceof TextClassificationDataset) counts = dataset.labelCounts();
  else if (dataset instanceof Subset) {
    counts = new Array<number>(names.length).fill(0);
    for (let i = 0; i < dataset.length; i++) {
      const label = (dataset.get(i) as { label?: unknown }).label;
      if (typeof label === 'number') counts[label]++;
    }
  }
  if (names.length > 12) return `${names.length} labels`;
  return `labels ${names.map((n, i) => (counts ? `${n}: ${counts[i]}` : n)).join(', ')}`;
}

/** ', N bad files skipped' for the plan (--skip-bad-rows), or ''. */
function badFilesSkipped(n: number): string {
  return n ? `, ${n} bad file${n === 1 ? '' : 's'} skipped` : '';
}

/** Loads the training (and evaluation) data of `train` / `lr-find` / `compare`. */
export async function loadRunData(
  options: Options,
  source: ModelSource,
  config: { requireEval?: boolean } = {},
): Promise<RunData> {
  const task = taskOf(options, source.modelType, source.config);
  if (task === 'causal-lm') return loadCausalLmRunData(options, source, config);
  const causalFlag = Object.keys(CAUSAL_LM_FLAGS).find((flag) => options[flag] !== undefined);
  if (causalFlag)
    throw new UsageError(
      `--${causalFlag} is for --task causal-lm (a decoder such as GPT-2 or Llama); --task ${task} takes --train-file and its columns`,
    );
  const validationSplit = num(options, 'validation-split');
  if (validationSplit !== undefined && !(validationSplit > 0 && validationSplit < 1))
    throw new UsageError(`--validation-split must be in (0, 1), got ${validationSplit}`);
  const maxTrain = positiveInteger(options, 'max-train-samples');
  const maxEval = positiveInteger(options, 'max-eval-samples');
  const seed = num(options, 'seed') ?? 42;
  const skipBadRows = bool(options, 'skip-bad-rows') ?? false;
  const describe: string[] = [];
  const record: Record<string, unknown> = { task };

  if (task === 'text-classification') {
    if (source.modelType !== 'bert')
      throw new UsageError(
        `--task text-classification needs a text model (BERT); ${source.arg} is a ${source.modelType}`,
      );
    const trainFile = str(options, 'train-file');
    if (!trainFile)
      throw new UsageError('--train-file is required (a .csv, .tsv or .jsonl with a text and a label column)');
    for (const flag of ['eval-folder', 'image-size']) {
      if (options[flag] !== undefined)
        throw new UsageError(
          `--${flag} is for images; text data takes --train-file, --eval-file or --validation-split`,
        );
    }
    if (options['eval-file'] !== undefined && validationSplit !== undefined)
      throw new UsageError('give --eval-file or --validation-split, not both');
    const tokenizer = await loadTokenizer(
      str(options, 'tokenizer'),
      [source.dir],
      source.modelType,
      source.kind === 'hub' ? source.arg : undefined,
    );
    const maxLength = textMaxLength(options, source, tokenizer.tokenizer);
    const given = {
      text: str(options, 'text-column'),
      pair: str(options, 'text-pair-column'),
      label: str(options, 'label-column'),
    };
    const reading = tableReading(options);
    if (reading.encoding !== undefined) record.encoding = reading.encoding;
    if (reading.delimiter !== undefined) record.delimiter = reading.delimiter;
    const train = await loadTextFile(trainFile, 'train-file', {
      columns: given,
      labels: list(options, 'labels'),
      tokenizer: tokenizer.tokenizer,
      maxLength,
      skipBadRows,
      allowRareLabels: bool(options, 'allow-rare-labels'),
      reading,
    });
    const labelNames = [...train.dataset.labelNames];
    const counts = train.dataset.labelCounts();
    const present = labelNames.filter((_, id) => counts[id] > 0);
    if (present.length < 2) {
      throw new UsageError(
        `${trainFile}: every row has the label '${present[0]}' (column '${train.columns.label}'): a classifier needs two classes or more` +
          (labelNames.length > 1 ? ` (--labels names ${labelNames.length}: ${labelNames.join(', ')})` : ''),
      );
    }
    let trainSet: Dataset<unknown> = train.dataset;
    let evalSet: Dataset<unknown> | null = null;
    const evalFile = str(options, 'eval-file');
    let evalText = '';
    if (evalFile) {
      const evalSplit = await loadTextFile(evalFile, 'eval-file', {
        columns: { text: str(options, 'eval-text-column'), pair: given.pair, label: given.label },
        preferText: given.text,
        textFlag: 'eval-text-column',
        labels: labelNames,
        tokenizer: tokenizer.tokenizer,
        maxLength,
        skipBadRows,
        reading,
      });
      evalSet = evalSplit.dataset;
      evalText = `eval EVAL_COUNT from ${evalFile} (text: ${evalSplit.columns.text}${evalSplit.columns.pair ? ` + ${evalSplit.columns.pair}` : ''}${evalSplit.delimiterNote})`;
      record.eval_file = evalFile;
      record.eval_text_column = evalSplit.columns.text;
      if (evalSplit.dataset.skipped) evalText += `, ${evalSplit.dataset.skipped} bad rows skipped`;
    } else if (validationSplit !== undefined) {
      const split = trainValidationSplit(train.dataset, { validationFraction: validationSplit, seed, stratify: true });
      trainSet = split.train;
      evalSet = split.validation;
      evalText = `eval EVAL_COUNT held out (--validation-split ${validationSplit}, stratified, seed ${seed})`;
      record.validation_split = validationSplit;
    } else if (config.requireEval)
      throw new UsageError('give --eval-file or --validation-split: the comparison needs an evaluation');
    trainSet = limit(trainSet, maxTrain);
    if (evalSet) evalSet = limit(evalSet, maxEval);
    evalText = evalText.replace('EVAL_COUNT', formatInteger(evalSet?.length ?? 0));
    const vocab = typeof source.config.vocab_size === 'number' ? source.config.vocab_size : undefined;
    checkVocabulary(evalSet ? [trainSet, evalSet] : [trainSet], vocab, tokenizer.source);
    describe.push(
      `data: train ${formatInteger(trainSet.length)} from ${trainFile} (text: ${train.columns.text}${train.columns.pair ? ` + ${train.columns.pair}` : ''}, label: ${train.columns.label}; ${labelSummary(trainSet, labelNames)}${train.delimiterNote})` +
        (train.dataset.skipped ? `, ${train.dataset.skipped} bad rows skipped` : ''),
    );
    if (evalText) describe.push(`      ${evalText}`);
    describe.push(
      `tokenizer: ${tokenizer.source}${tokenizer.note ? ` (${tokenizer.note})` : ''}; max length ${train.dataset.maxLength ?? 'none'}`,
    );
    Object.assign(record, {
      train_file: trainFile,
      text_column: train.columns.text,
      text_pair_column: train.columns.pair ?? null,
      label_column: train.columns.label,
      labels: labelNames,
      max_length: train.dataset.maxLength ?? null,
      tokenizer: tokenizer.source,
    });
    return {
      task,
      train: trainSet,
      eval: evalSet,
      labelNames,
      describe,
      record,
      tokenizer,
      maxLength: train.dataset.maxLength,
    };
  }

  // images
  for (const flag of [
    'eval-file',
    'text-column',
    'eval-text-column',
    'text-pair-column',
    'label-column',
    'max-length',
  ]) {
    if (options[flag] !== undefined)
      throw new UsageError(
        `--${flag} is for text data; images take --image-folder, --eval-folder, --fashion-mnist and --image-size`,
      );
  }
  if (source.modelType === 'bert')
    throw new UsageError(
      `--task image-classification needs an image model (ViT, ResNet, AlexNet); ${source.arg} is a BERT`,
    );
  const pre = imagePreprocessing(source.modelType, source.config, [source.dir], positiveInteger(options, 'image-size'));
  const transform = imageTransform(pre);
  let trainSet: Dataset<unknown>;
  let evalSet: Dataset<unknown> | null = null;
  let labelNames: string[];
  let from: string;
  let skippedFiles = 0;
  let evalText = '';
  if (options['fashion-mnist'] === true) {
    const train = fashionMnist({ split: 'train', transform });
    trainSet = train;
    labelNames = [...train.classNames];
    from = 'Fashion-MNIST train';
    if (validationSplit === undefined) {
      evalSet = fashionMnist({ split: 'test', transform });
      evalText = `eval ${formatInteger(Math.min(evalSet.length, maxEval ?? Infinity))} from Fashion-MNIST test`;
    }
    record.dataset = 'fashion-mnist';
  } else {
    const folder = str(options, 'image-folder');
    if (!folder) throw new UsageError('give --image-folder DIR or --fashion-mnist (or --train-file for text)');
    requirePath(folder, 'image-folder', 'folder');
    const { train: trainDir, eval: evalDir } = splitFolders(folder);
    const train = readImageFolder(trainDir, options, transform);
    if (train.numClasses < 2) {
      throw new UsageError(
        `--image-folder ${trainDir}: one class sub-folder ('${train.classNames[0]}'): a classifier needs two classes or more, each in its own sub-folder (${join(trainDir, '<class>', '<image>')})`,
      );
    }
    trainSet = train;
    labelNames = [...train.classNames];
    from = trainDir;
    skippedFiles = train.skippedCount;
    const evalFolder = str(options, 'eval-folder') ?? (validationSplit === undefined ? evalDir : undefined);
    if (evalFolder) {
      requirePath(evalFolder, 'eval-folder', 'folder');
      const ev = readImageFolder(evalFolder, options, transform);
      if (ev.classNames.join('\n') !== labelNames.join('\n')) {
        throw new Error(
          `${evalFolder}: its classes (${ev.classNames.join(', ')}) differ from the training folder's (${labelNames.join(', ')})`,
        );
      }
      evalSet = ev;
      evalText = `eval ${formatInteger(Math.min(ev.length, maxEval ?? Infinity))} from ${evalFolder}${badFilesSkipped(ev.skippedCount)}`;
      record.eval_folder = evalFolder;
    }
    record.image_folder = trainDir;
  }
  if (validationSplit !== undefined) {
    const split = trainValidationSplit(trainSet, { validationFraction: validationSplit, seed, stratify: true });
    trainSet = split.train;
    evalSet = split.validation;
    evalText = `eval ${formatInteger(Math.min(split.validation.length, maxEval ?? Infinity))} held out (--validation-split ${validationSplit}, stratified, seed ${seed})`;
    record.validation_split = validationSplit;
  } else if (!evalSet && config.requireEval)
    throw new UsageError('give --eval-folder or --validation-split: the comparison needs an evaluation');
  trainSet = limit(trainSet, maxTrain);
  if (evalSet) evalSet = limit(evalSet, maxEval);
  describe.push(
    `data: train ${formatInteger(trainSet.length)} images from ${from} (${labelNames.length} classes${labelNames.length <= 12 ? `: ${labelNames.join(', ')}` : ''})` +
      badFilesSkipped(skippedFiles),
  );
  if (evalText) describe.push(`      ${evalText}`);
  describe.push(
    `images: ${pre.channels === 1 ? 'grayscale, ' : ''}resized to ${pre.size}×${pre.size}, normalised with mean [${pre.mean.map((v) => +v.toFixed(3)).join(', ')}] and std [${pre.std.map((v) => +v.toFixed(3)).join(', ')}]`,
  );
  Object.assign(record, { labels: labelNames, image_size: pre.size, image_mean: pre.mean, image_std: pre.std });
  return { task, train: trainSet, eval: evalSet, labelNames, describe, record, image: pre };
}

/**
 * The data of `finetune train --task causal-lm`: a text file (plain text, a text column, prompt/response
 * pairs or conversations) tokenised into blocks by data.CausalLmDataset, its evaluation split, and the
 * plan's lines on what was kept (blocks × block size, tokens dropped or masked).
 */
import { extname } from 'node:path';
import {
  CausalLmDataset,
  DataFormatError,
  type CausalLmDataOptions,
  type CausalLmExample,
  type Dataset,
} from '../../data/index.js';
import { IGNORE_INDEX, type HfConfig } from '../../models/index.js';
import { DEFAULT_VIRTUAL_TOKENS } from '../../peft/index.js';
import { formatInteger } from '../../report/format.js';
import { mulberry32, shuffleInPlace } from '../../data/random.js';
import {
  optBoolean as bool,
  optNumber as num,
  optString as str,
  optPositiveInteger as positiveInteger,
  UsageError,
  type Options,
} from './flags.js';
import { reportSkipped, skippedRowsOf } from './data-check.js';
import { requirePath } from './paths.js';
import { parseMethod } from './method.js';
import { tableReading, type RunData } from './data.js';
import { causalLmArchitecture, type ModelSource } from './model-source.js';
import { loadTokenizer, type LoadedTokenizer } from './tokenizer.js';
import { evalSource, evalSourceNote } from './trained-model.js';

/** The longest block a run defaults to (run_clm.py's cap on block_size). */
const DEFAULT_MAX_BLOCK = 1024;

/** The positions a decoder has (GPT-2's n_positions, the Llama family's max_position_embeddings). */
function modelPositions(config: HfConfig): number | undefined {
  const positions = config.n_positions ?? config.max_position_embeddings;
  return typeof positions === 'number' ? positions : undefined;
}

/**
 * Some examples of a CausalLmDataset (a validation split, --max-train-samples), keeping what the
 * Trainer reads off it: the tokenizer (sample generations) and the collator.
 */
export class CausalLmSubset implements Dataset<CausalLmExample> {
  constructor(
    readonly dataset: CausalLmDataset,
    readonly indices: readonly number[],
  ) {}

  get length(): number {
    return this.indices.length;
  }

  get(index: number): CausalLmExample {
    if (!(index >= 0 && index < this.indices.length))
      throw new RangeError(`CausalLmSubset: index ${index} out of range [0, ${this.indices.length})`);
    return this.dataset.get(this.indices[index]);
  }

  get tokenizer(): CausalLmDataset['tokenizer'] {
    return this.dataset.tokenizer;
  }

  collator(): ReturnType<CausalLmDataset['collator']> {
    return this.dataset.collator();
  }

  predictedTokens(): Int32Array {
    return this.dataset.predictedTokens(this.indices);
  }
}

type CausalLmData = CausalLmDataset | CausalLmSubset;

/** The first `n` examples (all when n is undefined or not fewer). */
function firstExamples(dataset: CausalLmData, n: number | undefined): CausalLmData {
  if (n === undefined || n >= dataset.length) return dataset;
  const base = dataset instanceof CausalLmSubset ? dataset.dataset : dataset;
  const indices = dataset instanceof CausalLmSubset ? dataset.indices : [...Array(dataset.length).keys()];
  return new CausalLmSubset(base, indices.slice(0, n));
}

/** The tokens a loss is computed on (the unigram baseline's counts) of a causal-LM run's data. */
export function predictedTokens(dataset: Dataset<unknown>): Int32Array {
  return (dataset as CausalLmData).predictedTokens();
}

/** Tokens, trained-on tokens and masked tokens of some examples. */
function tokenCounts(dataset: Dataset<unknown>): { tokens: number; masked: number } {
  let tokens = 0;
  let masked = 0;
  for (let i = 0; i < dataset.length; i++) {
    const { labels } = dataset.get(i) as CausalLmExample;
    tokens += labels.length;
    for (const label of labels) if (label === IGNORE_INDEX) masked++;
  }
  return { tokens, masked };
}

/** The flags of classification data, and what causal-lm takes instead. */
const NOT_CAUSAL_LM: Record<string, string> = {
  'label-column': 'a causal LM has no labels: its targets are the next tokens',
  labels: 'a causal LM has no labels: its targets are the next tokens',
  'allow-rare-labels': 'a causal LM has no labels',
  'num-labels': 'a causal LM predicts tokens, not classes',
  'text-pair-column': 'give pairs as --prompt-column and --response-column',
  'eval-text-column': 'the evaluation file is read with the training columns',
  'max-length': 'give --block-size',
  'image-folder': 'causal-lm trains on text (--text-file)',
  'eval-folder': 'causal-lm trains on text (--text-file)',
  'fashion-mnist': 'causal-lm trains on text (--text-file)',
  'image-size': 'causal-lm trains on text (--text-file)',
};

/** The source of a preset fitted to its tokenizer: vocabulary and BOS / EOS ids as the tokenizer's (a preset has random weights). */
function fittedPreset(source: ModelSource, tokenizer: LoadedTokenizer): ModelSource {
  const { tokenizer: t } = tokenizer;
  const eos = t.eosTokenId ?? source.config.eos_token_id;
  return {
    ...source,
    config: { ...source.config, vocab_size: t.vocabSize, bos_token_id: t.bosTokenId ?? eos, eos_token_id: eos },
  };
}

/** --block-size, else min(the model's positions, 1024, the tokenizer's model_max_length), within the positions less prompt tuning's virtual tokens. */
function blockSizeOf(options: Options, source: ModelSource, tokenizer: LoadedTokenizer): number {
  const given = positiveInteger(options, 'block-size');
  if (given !== undefined && given < 2)
    throw new UsageError(`--block-size must be at least 2 (a token and the one it predicts), got ${given}`);
  const positions = modelPositions(source.config);
  const virtualTokens =
    parseMethod(str(options, 'method')) === 'prompt-tuning'
      ? (num(options, 'num-virtual-tokens') ?? DEFAULT_VIRTUAL_TOKENS)
      : 0;
  const room = positions === undefined ? Infinity : positions - virtualTokens;
  if (given !== undefined && given > room)
    throw new UsageError(
      `--block-size ${given} is too long: ${source.arg} has ${positions} positions${virtualTokens ? `, ${virtualTokens} of them for prompt tuning's virtual tokens` : ''}; give --block-size ${room} or less`,
    );
  return given ?? Math.min(room, DEFAULT_MAX_BLOCK, tokenizer.tokenizer.modelMaxLength ?? DEFAULT_MAX_BLOCK);
}

/** The data set options from the column and packing flags, checked against the file's kind. */
function datasetOptions(options: Options, file: string, flag: string): Omit<CausalLmDataOptions, 'tokenizer'> {
  const prompt = str(options, 'prompt-column');
  const response = str(options, 'response-column');
  const messages = str(options, 'messages-column');
  const text = str(options, 'text-column');
  if (response !== undefined && prompt === undefined)
    throw new UsageError('--response-column needs --prompt-column (the loss is on the response, after the prompt)');
  if (prompt !== undefined && response === undefined)
    throw new UsageError('--prompt-column needs --response-column (the text trained on after the prompt)');
  if (messages !== undefined && prompt !== undefined)
    throw new UsageError(
      'give --messages-column (conversations) or --prompt-column/--response-column (pairs), not both',
    );
  const columns = [prompt && 'prompt-column', messages && 'messages-column'].filter(Boolean);
  if (text !== undefined && columns.length)
    throw new UsageError(`--text-column is for plain texts; --${columns[0]} takes the text from its own columns`);
  const table = /\.(csv|tsv|tab|jsonl|ndjson|json)$/i.test(file);
  if (!table && (text !== undefined || columns.length))
    throw new UsageError(
      `--${text !== undefined ? 'text-column' : columns[0]}: --${flag} ${file} is plain text (${extname(file) || 'no extension'}), which has no columns; give a .jsonl, .csv or .tsv file`,
    );
  return {
    textColumn: text,
    promptColumn: prompt,
    responseColumn: response,
    messagesColumn: messages,
    packing: bool(options, 'packing'),
    onBadRow: bool(options, 'skip-bad-rows') ? 'skip' : 'error',
  };
}

/** Reads one file into a CausalLmDataset; a missing column names its flag. */
async function readCausalLmFile(
  file: string,
  flag: string,
  settings: CausalLmDataOptions,
  options: Options,
): Promise<CausalLmDataset> {
  requirePath(file, flag, 'file');
  let dataset: CausalLmDataset;
  try {
    dataset = await CausalLmDataset.fromFile(file, settings);
  } catch (error) {
    const missing = /^(?:missing column|no column) '([^']*)'/.exec(
      error instanceof DataFormatError ? error.reason : '',
    );
    if (missing && error instanceof DataFormatError) {
      const columnFlag =
        (['prompt-column', 'response-column', 'messages-column', 'text-column'] as const).find(
          (name) => str(options, name) === missing[1],
        ) ?? 'text-column';
      throw new DataFormatError(file, error.line, `${error.reason} — give the column with --${columnFlag}`);
    }
    throw error;
  }
  reportSkipped(file, 'row', skippedRowsOf(file, dataset.skippedRows));
  return dataset;
}

/** How the plan describes a causal-LM split: blocks or examples, tokens kept, dropped and masked. */
function describeSplit(dataset: CausalLmData, whole: CausalLmDataset, supervised: boolean): string {
  const { tokens, masked } = tokenCounts(dataset);
  const size = whole.blockSize;
  const shape = whole.packed
    ? `${formatInteger(dataset.length)} blocks × ${size} tokens (packing; ${formatInteger(whole.droppedTokens)} tokens after the last full block dropped)`
    : `${formatInteger(dataset.length)} examples of up to ${size} tokens (no packing; ${formatInteger(tokens)} tokens${whole.truncatedExamples ? `, ${formatInteger(whole.truncatedExamples)} examples cut to ${size}` : ''})`;
  const maskedNote = supervised ? `, ${formatInteger(masked)} prompt tokens masked (no loss)` : '';
  const skipped = whole.skippedRows.length ? `, ${whole.skippedRows.length} bad rows skipped` : '';
  return `${shape}${maskedNote}${skipped}`;
}

/** Loads the training (and evaluation) data of a causal-LM run. */
export async function loadCausalLmRunData(
  options: Options,
  source: ModelSource,
  config: { requireEval?: boolean } = {},
): Promise<RunData> {
  for (const [flag, instead] of Object.entries(NOT_CAUSAL_LM))
    if (options[flag] !== undefined) throw new UsageError(`--${flag} does not apply to --task causal-lm: ${instead}`);
  if (!causalLmArchitecture(source.modelType))
    throw new UsageError(
      `--task causal-lm needs a decoder language model (GPT-2, Llama, Qwen2, Mistral); ${source.arg} is a ${source.modelType}`,
    );
  const textFile = str(options, 'text-file');
  const trainFileFlag = str(options, 'train-file');
  if (textFile !== undefined && trainFileFlag !== undefined)
    throw new UsageError('give --text-file or --train-file (the same for --task causal-lm), not both');
  const trainFile = textFile ?? trainFileFlag;
  const fileFlag = textFile !== undefined ? 'text-file' : 'train-file';
  if (!trainFile)
    throw new UsageError(
      '--text-file is required for --task causal-lm (a .txt, or a .jsonl / .csv / .tsv with a text column or --prompt-column/--response-column)',
    );
  const validationSplit = num(options, 'validation-split');
  const evalFile = str(options, 'eval-file');
  if (evalFile !== undefined && validationSplit !== undefined)
    throw new UsageError('give --eval-file or --validation-split, not both');
  const sampleMaxNewTokens = positiveInteger(options, 'sample-max-new-tokens');
  if (sampleMaxNewTokens !== undefined && options['sample-prompt'] === undefined)
    throw new UsageError('--sample-max-new-tokens needs --sample-prompt (the prompt to continue)');

  let tokenizer: LoadedTokenizer;
  try {
    tokenizer = await loadTokenizer(
      str(options, 'tokenizer'),
      [source.dir],
      source.modelType,
      source.kind === 'hub' ? source.arg : undefined,
    );
  } catch (error) {
    if (source.kind !== 'preset' || !(error instanceof UsageError)) throw error;
    throw new UsageError(
      `--model ${source.arg} is a preset (random weights) and has no tokenizer: give --tokenizer <dir|tokenizer.json> (a byte-level BPE such as a GPT-2 or Llama 3 checkpoint's; the preset's vocabulary is set to its size), or a model folder with tokenizer.json`,
    );
  }
  const modelSource = source.kind === 'preset' ? fittedPreset(source, tokenizer) : source;
  const blockSize = blockSizeOf(options, modelSource, tokenizer);
  const reading = tableReading(options);
  const trainOptions = datasetOptions(options, trainFile, fileFlag);
  const settings: CausalLmDataOptions = { ...trainOptions, ...reading, tokenizer: tokenizer.tokenizer, blockSize };
  const supervised = trainOptions.promptColumn !== undefined || trainOptions.messagesColumn !== undefined;
  const train = await readCausalLmFile(trainFile, fileFlag, settings, options);

  const seed = num(options, 'seed') ?? 42;
  let trainSet: CausalLmData = train;
  let evalSet: CausalLmData | null = null;
  let evalWhole: CausalLmDataset | null = null;
  let evalFrom = '';
  const record: Record<string, unknown> = { task: 'causal-lm' };
  if (evalFile !== undefined) {
    datasetOptions(options, evalFile, 'eval-file');
    evalWhole = await readCausalLmFile(evalFile, 'eval-file', settings, options);
    evalSet = evalWhole;
    evalFrom = `from ${evalFile}`;
    record.eval_file = evalFile;
  } else if (validationSplit !== undefined) {
    if (!(validationSplit > 0 && validationSplit < 1))
      throw new UsageError(`--validation-split must be in (0, 1), got ${validationSplit}`);
    ({ train: trainSet, heldOut: evalSet } = validationSplitOf(train, validationSplit, seed));
    evalWhole = train;
    evalFrom = `held out (--validation-split ${validationSplit}, seed ${seed})`;
    record.validation_split = validationSplit;
  } else if (config.requireEval)
    throw new UsageError('give --eval-file or --validation-split: the comparison needs an evaluation');
  trainSet = firstExamples(trainSet, positiveInteger(options, 'max-train-samples'));
  if (evalSet) evalSet = firstExamples(evalSet, positiveInteger(options, 'max-eval-samples'));
  if (options['sample-prompt'] !== undefined && !evalSet)
    throw new UsageError(
      '--sample-prompt continues its prompt at each evaluation: give --eval-file or --validation-split',
    );
  checkVocabulary(evalSet ? [trainSet, evalSet] : [trainSet], modelSource, tokenizer);

  const kind = trainOptions.messagesColumn
    ? `conversations: ${trainOptions.messagesColumn}, chat template`
    : trainOptions.promptColumn
      ? `prompt: ${trainOptions.promptColumn} → response: ${trainOptions.responseColumn}${tokenizer.tokenizer.chatTemplate ? ', chat template' : ''}`
      : /\.(csv|tsv|tab|jsonl|ndjson|json)$/i.test(trainFile)
        ? `text: ${trainOptions.textColumn ?? 'text'}`
        : 'plain text';
  const describe = [`data: causal-lm, train ${describeSplit(trainSet, train, supervised)} from ${trainFile} (${kind})`];
  if (evalSet && evalWhole) describe.push(`      eval ${describeSplit(evalSet, evalWhole, supervised)} ${evalFrom}`);
  describe.push(
    `tokenizer: ${tokenizer.source} (${formatInteger(tokenizer.tokenizer.vocabSize)} tokens${tokenizer.tokenizer.chatTemplate ? ', chat template' : ''})${modelSource !== source ? `; the preset's vocab_size set to ${formatInteger(tokenizer.tokenizer.vocabSize)}` : ''}`,
  );
  const trainCounts = tokenCounts(trainSet);
  Object.assign(record, {
    train_file: trainFile,
    text_column: trainOptions.textColumn ?? null,
    prompt_column: trainOptions.promptColumn ?? null,
    response_column: trainOptions.responseColumn ?? null,
    messages_column: trainOptions.messagesColumn ?? null,
    block_size: blockSize,
    packing: train.packed,
    train_tokens: trainCounts.tokens,
    masked_tokens: trainCounts.masked,
    dropped_tokens: train.droppedTokens,
    truncated_examples: train.truncatedExamples,
    tokenizer: tokenizer.source,
    ...(reading.encoding !== undefined ? { encoding: reading.encoding } : {}),
    ...(reading.delimiter !== undefined ? { delimiter: reading.delimiter } : {}),
  });
  return {
    task: 'causal-lm',
    train: trainSet,
    eval: evalSet,
    labelNames: [],
    describe,
    record,
    tokenizer,
    ...(modelSource !== source ? { modelSource } : {}),
  };
}

/** Every token id must fit the model's vocabulary (a tokenizer of another model would fail deep inside the embedding). */
function checkVocabulary(datasets: readonly CausalLmData[], source: ModelSource, tokenizer: LoadedTokenizer): void {
  const vocabSize = source.config.vocab_size;
  if (typeof vocabSize !== 'number') return;
  for (const dataset of datasets) {
    for (let i = 0; i < dataset.length; i++) {
      const outside = dataset.get(i).inputIds.find((id) => id >= vocabSize);
      if (outside !== undefined)
        throw new UsageError(
          `the tokenizer (${tokenizer.source}, ${formatInteger(tokenizer.tokenizer.vocabSize)} tokens) gives token id ${outside}, but the model's vocabulary has ${vocabSize} entries: give the model's own tokenizer with --tokenizer`,
        );
    }
  }
}

/** --validation-split's seeded split of the blocks (examples), as train made it; `finetune eval` rebuilds it from run_config.json. */
function validationSplitOf(
  data: CausalLmDataset,
  validationSplit: number,
  seed: number,
): { train: CausalLmSubset; heldOut: CausalLmSubset } {
  const held = Math.ceil(validationSplit * data.length - 1e-9);
  if (held < 1 || held >= data.length)
    throw new UsageError(
      `--validation-split ${validationSplit} of ${data.length} ${data.packed ? 'blocks' : 'examples'} leaves ${held} for evaluation and ${data.length - held} for training; both need at least one (more text, or a smaller --block-size)`,
    );
  const order = shuffleInPlace([...Array(data.length).keys()], mulberry32(seed));
  const subset = (indices: number[]) =>
    new CausalLmSubset(
      data,
      indices.sort((a, b) => a - b),
    );
  return { heldOut: subset(order.slice(0, held)), train: subset(order.slice(held)) };
}

/** What `finetune train --task causal-lm` recorded in run_config.json, as the flags that set it. */
const RECORDED_FLAGS: Record<string, string> = {
  text_column: 'text-column',
  prompt_column: 'prompt-column',
  response_column: 'response-column',
  messages_column: 'messages-column',
  block_size: 'block-size',
  packing: 'packing',
};

/**
 * Evaluation data for a trained causal LM (finetune eval): the file read as the run read its data —
 * the columns, block size and packing it recorded, unless flags say otherwise — with the model's tokenizer.
 */
export async function loadCausalLmEvalData(
  trained: { runConfig: Record<string, unknown>; dirs: string[]; modelType: string; hubId?: string; config: HfConfig },
  given: Options,
  fileFlag: string,
): Promise<{ dataset: Dataset<unknown>; describe: string }> {
  const run = trained.runConfig;
  const options: Options = { ...given };
  // The run's columns go together: a flag for any of them replaces all of them.
  const columnsGiven = ['text-column', 'prompt-column', 'response-column', 'messages-column'].some(
    (flag) => given[flag] !== undefined,
  );
  for (const [key, flag] of Object.entries(RECORDED_FLAGS)) {
    const value = run[key];
    if (flag.endsWith('-column') && columnsGiven) continue;
    if (
      options[flag] === undefined &&
      (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
    )
      options[flag] = value;
  }
  // Without a file, the blocks the run held out with --validation-split: its training file, split again.
  const source = evalSource(str(options, fileFlag) ?? str(options, 'text-file'), run, 'train_file', fileFlag);
  const { path: file, heldOut } = source;
  if (!file)
    throw new UsageError(
      `--${fileFlag} is required (text as the model was trained on: a .txt, or a .jsonl / .csv / .tsv with its columns)`,
    );
  const tokenizer = await loadTokenizer(str(options, 'tokenizer'), trained.dirs, trained.modelType, trained.hubId);
  const blockSize =
    positiveInteger(options, 'block-size') ??
    Math.min(modelPositions(trained.config) ?? DEFAULT_MAX_BLOCK, DEFAULT_MAX_BLOCK);
  // A table's columns do not apply to a .txt file evaluated after training on one (and the reverse).
  const plain = !/\.(csv|tsv|tab|jsonl|ndjson|json)$/i.test(file);
  if (plain && !columnsGiven)
    for (const key of ['text-column', 'prompt-column', 'response-column', 'messages-column']) delete options[key];
  const settings: CausalLmDataOptions = {
    ...datasetOptions(options, file, fileFlag),
    ...tableReading(options, run),
    tokenizer: tokenizer.tokenizer,
    blockSize,
  };
  const whole = await readCausalLmFile(file, fileFlag, settings, options);
  const evaluated = heldOut ? validationSplitOf(whole, heldOut.fraction, heldOut.seed).heldOut : whole;
  const dataset = firstExamples(evaluated, positiveInteger(options, 'max-eval-samples'));
  const supervised = settings.promptColumn !== undefined || settings.messagesColumn !== undefined;
  return { dataset, describe: `${describeSplit(dataset, whole, supervised)} ${evalSourceNote(source, false)}` };
}

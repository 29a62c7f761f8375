/**
 * `finetune pretrain`: masked-language-model pretraining of a BERT on unlabelled text (a .txt, one
 * text a line, or a column of a CSV / TSV / JSONL table), with a real tokenizer; saved in Hugging
 * Face's format (config.json + model.safetensors + the tokenizer's files) that `fromPretrained`
 * (any BERT head: the backbone loads, a new head is initialised) and transformers read.
 *
 *   finetune pretrain --model bert-mini --text-file ../shared/data/sst2/train.tsv --text-column sentence \
 *     --output-dir runs/bert-mini-mlm --max-steps 2000 --max-length 64
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';

import { manualSeed } from '../tensor/index.js';
import { BERT_PRESETS, BertForMaskedLM } from '../models/bert.js';
import { fromPretrained } from '../io/pretrained.js';
import { Tokenizer } from '../data/tokenizer.js';
import { DataFormatError, TEXT_ENCODINGS } from '../data/table.js';
import { mulberry32 } from '../data/random.js';
import { TextLinesDataset, readTextsAndColumn } from '../pretrain/text-dataset.js';
import { pretrainMlm } from '../pretrain/mlm.js';
import { flagHelp, parseCommandLine, type FlagTable, type Options } from './core/flags.js';
import { dataFlagsInMessage, tableReading } from './core/data.js';
import { isLocalPath, requireModelPath, requirePath } from './core/paths.js';
import { applyThreads, THREADS_FLAG } from './core/threads.js';
import { defaultBertTokenizerDir } from './core/tokenizer.js';

export const PRETRAIN_USAGE = `Usage: finetune pretrain --model <bert-tiny|bert-mini|bert-base-uncased|dir> --text-file FILE --output-dir DIR
                         [--text-column NAME] [--encoding utf-8] [--delimiter ,] [--tokenizer DIR] [--max-steps N] [--max-length 64] [--batch-size 32]
                         [--learning-rate 5e-4] [--warmup-ratio 0.06] [--weight-decay 0.01] [--mlm-probability 0.15]
                         [--whole-word-mask] [--eval-texts N] [--eval-steps N] [--save-steps N] [--logging-steps N]
                         [--limit N] [--seed 42] [--threads N] [--json] [--allow-eval-text]

Masked-language-model pretraining (BERT's objective: 15 % of the tokens selected, 80 % of those
replaced by [MASK], 10 % by a random token, 10 % kept; loss and accuracy on the selected tokens).

FLAGS

Writes to --output-dir: config.json (with pretraining_learning_rate: finetune train fine-tunes fully at a tenth of
it), model.safetensors, tokenizer.json, tokenizer_config.json, vocab.txt, pretrain_report.json, pretrain_report.md,
trainer_state.json, metrics.jsonl.`;

export const FLAGS: FlagTable = {
  model: {
    kind: 'string',
    arg: 'PRESET|DIR',
    help: "a BERT preset (random initialisation, the tokenizer's vocabulary size) or a folder to continue from",
  },
  'text-file': {
    kind: 'string',
    arg: 'FILE',
    help: 'unlabelled text: .txt (one text a line) or .csv / .tsv / .jsonl with --text-column',
  },
  'text-column': {
    kind: 'string',
    arg: 'NAME',
    help: 'the column with the text (default: as train finds it — text, sentence, content, review, … or the only column that is not the label)',
  },
  encoding: {
    kind: 'string',
    arg: 'NAME',
    help: `the file's encoding: ${TEXT_ENCODINGS.join(', ')} (default utf-8; a byte-order mark decides)`,
  },
  delimiter: {
    kind: 'string',
    arg: 'CHAR',
    help: "the field delimiter of a .csv / .tsv: ',', ';', '|' or tab (default: found from the header line)",
  },
  tokenizer: {
    kind: 'string',
    arg: 'DIR',
    help: "a folder with tokenizer.json (default: the model folder's, else the bert-base-uncased one finetune ships)",
  },
  'output-dir': { kind: 'string', arg: 'DIR', help: 'where the model, the tokenizer and the reports go' },
  'max-steps': { kind: 'number', arg: 'N', help: 'optimizer steps (default 1000)' },
  'max-length': { kind: 'number', arg: 'N', help: 'longest tokenised text, special tokens included (default 64)' },
  'batch-size': { kind: 'number', arg: 'N', help: 'texts per batch (default 32)' },
  'learning-rate': { kind: 'number', arg: 'LR', help: 'peak learning rate (default 5e-4)' },
  'warmup-ratio': { kind: 'number', arg: 'R', help: 'linear warmup over this fraction of the steps (default 0.06)' },
  'weight-decay': { kind: 'number', arg: 'X', help: 'AdamW weight decay (default 0.01)' },
  'mlm-probability': { kind: 'number', arg: 'P', help: 'fraction of the tokens selected for the loss (default 0.15)' },
  'whole-word-mask': { kind: 'boolean', help: 'select whole words (all their word pieces) instead of single tokens' },
  'eval-texts': {
    kind: 'number',
    arg: 'N',
    help: 'texts held out of training (seeded) for the MLM loss / accuracy reports (default min(1000, 2 %))',
  },
  'eval-steps': { kind: 'number', arg: 'N', help: 'report the held-out loss and accuracy every N steps' },
  'save-steps': { kind: 'number', arg: 'N', help: 'write a checkpoint every N steps' },
  'logging-steps': {
    kind: 'number',
    arg: 'N',
    help: 'log the loss every N steps (default: a twentieth of the run, at most 100)',
  },
  limit: { kind: 'number', arg: 'N', help: 'use only the first N texts of the file' },
  seed: { kind: 'number', arg: 'N', help: 'seeds the held-out texts, the masks and the initialisation (default 42)' },
  ...THREADS_FLAG,
  json: { kind: 'boolean', help: 'print the report as JSON at the end' },
  'allow-eval-text': {
    kind: 'boolean',
    help: 'a --text-file named like an evaluation split (dev, validation, test) is refused unless this is given',
  },
};

export function pretrainHelp(): string {
  return PRETRAIN_USAGE.replace('FLAGS', flagHelp(FLAGS));
}

function usageError(message: string): number {
  console.error(`finetune pretrain: ${message}\n\n${pretrainHelp()}`);
  return 2;
}

export async function runPretrain(argv: string[]): Promise<number> {
  let flags: Options;
  try {
    const parsed = parseCommandLine(argv, FLAGS);
    if (parsed.help) {
      console.log(pretrainHelp());
      return 0;
    }
    flags = parsed.flags;
    applyThreads(flags.threads);
  } catch (error) {
    return usageError((error as Error).message);
  }
  for (const required of ['model', 'text-file', 'output-dir'])
    if (flags[required] === undefined) return usageError(`--${required} is required`);
  const modelName = String(flags.model);
  const outputDir = String(flags['output-dir']);
  const seed = (flags.seed as number | undefined) ?? 42;
  const maxLength = (flags['max-length'] as number | undefined) ?? 64;
  const maxSteps = (flags['max-steps'] as number | undefined) ?? 1000;
  const mlmProbability = (flags['mlm-probability'] as number | undefined) ?? 0.15;
  if (!Number.isInteger(maxSteps) || maxSteps < 1)
    return usageError(`--max-steps must be a positive integer, got ${maxSteps}`);
  if (!(mlmProbability > 0 && mlmProbability < 1))
    return usageError(`--mlm-probability must be in (0, 1), got ${mlmProbability}`);
  // Pretraining on the evaluation text leaks it into the model (the SST-2 experiment must never see dev).
  if (
    /(^|[-_./])(dev|validation|valid|test)([-_.]|$)/i.test(basename(String(flags['text-file']))) &&
    !flags['allow-eval-text']
  ) {
    return usageError(
      `${String(flags['text-file'])} looks like an evaluation split; pretrain on training text (or pass --allow-eval-text)`,
    );
  }

  const isPreset = Object.hasOwn(BERT_PRESETS, modelName);
  let modelDir: string | undefined;
  let tokenizerFlag: string | undefined;
  try {
    if (!isPreset && isLocalPath(modelName)) modelDir = requireModelPath(modelName, 'model', 'folder');
    if (flags.tokenizer !== undefined) tokenizerFlag = requirePath(String(flags.tokenizer), 'tokenizer');
  } catch (error) {
    return usageError((error as Error).message);
  }
  if (!isPreset && !(modelDir && existsSync(join(modelDir, 'config.json')))) {
    return usageError(
      `--model '${modelName}' is neither a BERT preset (${Object.keys(BERT_PRESETS).join(', ')}) nor a folder with config.json`,
    );
  }
  const tokenizerDir =
    tokenizerFlag ?? (modelDir && existsSync(join(modelDir, 'tokenizer.json')) ? modelDir : defaultBertTokenizerDir());
  const tokenizer = Tokenizer.fromFile(tokenizerDir);

  // Texts, a seeded held-out slice for the reports.
  const textFile = String(flags['text-file']);
  if (!existsSync(textFile)) return usageError(`--text-file ${textFile} does not exist`);
  let texts: string[];
  let column: string | undefined;
  try {
    const reading = tableReading(flags);
    ({ texts, column } = await readTextsAndColumn(textFile, {
      textColumn: flags['text-column'] as string | undefined,
      limit: flags.limit as number | undefined,
      ...reading,
    }));
  } catch (error) {
    const message = dataFlagsInMessage((error as Error).message);
    // A bad line of the file is a runtime error (exit 1); the rest (which column, which encoding) is the command line's.
    if (error instanceof DataFormatError) {
      console.error(`finetune pretrain: ${message}`);
      return 1;
    }
    return usageError(message);
  }
  if (texts.length < 2) throw new Error(`${String(flags['text-file'])}: only ${texts.length} texts`);
  const evalCount = Math.min(
    texts.length - 1,
    (flags['eval-texts'] as number | undefined) ?? Math.min(1000, Math.floor(texts.length * 0.02)),
  );
  const order = texts.map((_, i) => i);
  const rng = mulberry32(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const heldOut = new Set(order.slice(0, evalCount));
  const trainTexts = texts.filter((_, i) => !heldOut.has(i));
  const evalTexts = texts.filter((_, i) => heldOut.has(i));
  const trainDataset = await TextLinesDataset.fromTexts(trainTexts, tokenizer, { maxLength });
  const evalDataset = evalTexts.length ? await TextLinesDataset.fromTexts(evalTexts, tokenizer, { maxLength }) : null;
  console.log(
    `${textFile}: ${texts.length} texts${column !== undefined ? ` (column '${column}')` : ''} → ${trainDataset.length} train (${trainDataset.numTokens} tokens), ${evalTexts.length} held out; max length ${maxLength}`,
  );

  manualSeed(seed);
  let model: BertForMaskedLM;
  if (modelDir === undefined) {
    model = new BertForMaskedLM({
      ...BERT_PRESETS[modelName as keyof typeof BERT_PRESETS],
      vocabSize: tokenizer.vocabSize,
    });
  } else {
    const loaded = await fromPretrained(modelDir, { architecture: 'BertForMaskedLM' });
    if (!(loaded instanceof BertForMaskedLM)) throw new Error(`${modelName}: not a BERT checkpoint`);
    model = loaded;
  }
  if (model.config.maxPositionEmbeddings < maxLength)
    return usageError(`--max-length ${maxLength} exceeds the model's ${model.config.maxPositionEmbeddings} positions`);

  const report = await pretrainMlm({
    model,
    tokenizer,
    tokenizerDir,
    trainDataset,
    evalDataset,
    outputDir,
    maxSteps,
    batchSize: flags['batch-size'] as number | undefined,
    learningRate: flags['learning-rate'] as number | undefined,
    warmupRatio: flags['warmup-ratio'] as number | undefined,
    weightDecay: flags['weight-decay'] as number | undefined,
    mlmProbability,
    wholeWordMask: flags['whole-word-mask'] as boolean | undefined,
    seed,
    loggingSteps: flags['logging-steps'] as number | undefined,
    evalSteps: flags['eval-steps'] as number | undefined,
    saveSteps: flags['save-steps'] as number | undefined,
  });
  if (flags.json) console.log(JSON.stringify(report, null, 2));
  else {
    const e = report.finalEval ?? report.finalTrain;
    console.log(
      `done: ${report.steps} steps in ${report.runtimeSeconds.toFixed(0)} s; MLM loss ${e?.loss.toFixed(4)}, masked-token accuracy ${e?.accuracy.toFixed(4)}${report.finalEval ? ' (held out)' : ' (train)'}`,
    );
  }
  model.dispose();
  return 0;
}

/**
 * `finetune predict`: labels with scores (softmax; sigmoid for multi-label models) for texts or
 * images, from a trained model (or a base model plus an adapter).
 *
 *   finetune predict --model runs/lora --text "a gripping, beautifully acted film"
 *   finetune predict --model runs/lora --file reviews.txt --top-k 2 --json
 *   finetune predict --model runs/resnet cat.png dog.jpg
 */
import { existsSync } from 'node:fs';
import { extname } from 'node:path';

import { noGrad, stack, tidy, Tensor } from '../tensor/index.js';
import {
  collateText,
  DataFormatError,
  findLabelColumn,
  findTextColumn,
  imageTransform,
  loadImage,
  readTable,
  readTextFile,
  type ReadTableOptions,
  type TextExample,
} from '../data/index.js';
import { defaultForward } from '../train/index.js';
import { PeftModel } from '../peft/index.js';
import { isPretrainedModel } from '../models/pretrained-model.js';
import { EXIT_CODES_HELP, runCommand } from './core/command.js';
import { imagePreprocessing, tableReading } from './core/data.js';
import { IMAGE_CHECK_FLAGS, imageLimits } from './core/data-check.js';
import { EXIT, flagHelp, type FlagTable, optBoolean, optList, optNumber, optString, UsageError } from './core/flags.js';
import { CONFIG_FLAG, TABLE_FLAGS } from './core/run-flags.js';
import { resolveCommandOptions, THREADS_FLAG } from './core/threads.js';
import { loadTokenizer } from './core/tokenizer.js';
import { loadTrainedModel, TRAINED_MODEL_FLAG } from './core/trained-model.js';

export const PREDICT_FLAGS: FlagTable = {
  ...CONFIG_FLAG,
  ...TRAINED_MODEL_FLAG,
  adapter: { kind: 'string', arg: 'DIR', group: 'Model', help: 'an adapter folder to put on --model' },
  tokenizer: {
    kind: 'string',
    arg: 'DIR|FILE',
    group: 'Model',
    help: "tokenizer.json or its folder (default: the model's)",
  },
  text: { kind: 'strings', arg: '"…"', group: 'Inputs', help: 'a text to classify (repeatable)' },
  'text-pair': {
    kind: 'string',
    arg: '"…"',
    group: 'Inputs',
    help: 'the second text, for pair models (with one --text)',
  },
  file: {
    kind: 'string',
    arg: 'FILE',
    group: 'Inputs',
    help: 'texts to classify: a .txt with one per line, or a .csv / .tsv / .jsonl (its text column)',
  },
  'text-column': {
    kind: 'string',
    arg: 'NAME',
    group: 'Inputs',
    help: "the --file table's text column (default: as trained)",
  },
  ...TABLE_FLAGS,
  'max-length': { kind: 'integer', group: 'Inputs', help: 'longest tokenised input (default: as trained)' },
  'image-size': { kind: 'integer', group: 'Inputs', help: 'resize images to N×N (default: as trained)' },
  'max-image-pixels': IMAGE_CHECK_FLAGS['max-image-pixels'],
  'top-k': { kind: 'integer', group: 'Output', help: 'labels shown per input (default 1; 0: all)' },
  'batch-size': { kind: 'integer', group: 'Output', help: 'inputs per forward pass (default 32)' },
  json: { kind: 'boolean', group: 'Output', help: 'one JSON object per input: {input, predictions: [{label, score}]}' },
  ...THREADS_FLAG,
};

const HELP = `Usage: finetune predict --model <dir|hub id> [--adapter DIR] (--text "…" | --file inputs.txt | IMAGE…) [--top-k N] [--json]

Prints each input's most likely labels with their probabilities (softmax over the classes; sigmoid for multi-label
models). Images are given as paths after the flags.

FLAGS

Examples:
  finetune predict --model runs/lora --text "a gripping, beautifully acted film" --text "dull and far too long"
  finetune predict --model runs/lora --file data/sst2/dev.tsv --top-k 2 --json
  finetune predict --model runs/resnet photos/cat.png photos/dog.jpg

EXIT`;

export function predictHelp(): string {
  return HELP.replace('FLAGS', flagHelp(PREDICT_FLAGS)).replace('EXIT', EXIT_CODES_HELP);
}

interface Prediction {
  input: string;
  predictions: { label: string; score: number }[];
}

/** Probabilities from logits rows: softmax, or sigmoid for multi-label heads. */
function probabilities(logits: Tensor, multiLabel: boolean): number[][] {
  return tidy(() => {
    const p = (multiLabel ? logits.sigmoid() : logits.softmax(-1)).to('float32').contiguous();
    const [n, c] = p.shape;
    const data = p.data() as Float32Array;
    return Array.from({ length: n }, (_, i) => Array.from(data.subarray(i * c, (i + 1) * c)));
  });
}

export async function runPredict(argv: string[]): Promise<number> {
  return runCommand('predict', async () => {
    const { options, positionals, help: wantsHelp } = resolveCommandOptions(argv, PREDICT_FLAGS, { positionals: true });
    if (wantsHelp) {
      console.log(predictHelp());
      return EXIT.ok;
    }
    const texts = optList(options, 'text') ?? [];
    const file = optString(options, 'file');
    const images = positionals;
    const sources = [texts.length > 0, file !== undefined, images.length > 0].filter(Boolean).length;
    if (sources === 0) throw new UsageError('nothing to predict: give --text "…", --file FILE or image paths');
    if (sources > 1) throw new UsageError('give one kind of input: --text, --file or image paths');
    const topKFlag = optNumber(options, 'top-k') ?? 1;
    if (!(Number.isInteger(topKFlag) && topKFlag >= 0))
      throw new UsageError(`--top-k must be an integer ≥ 0, got ${topKFlag}`);
    const batchSize = optNumber(options, 'batch-size') ?? 32;
    const json = optBoolean(options, 'json') ?? false;

    const trained = await loadTrainedModel(optString(options, 'model'), optString(options, 'adapter'));
    const inner = trained.model instanceof PeftModel ? trained.model.model : trained.model;
    const problemType = isPretrainedModel(inner) ? inner.headLabels().problemType : null;
    const multiLabel = problemType === 'multi_label_classification';
    const topK = topKFlag === 0 ? trained.labels.length : Math.min(topKFlag, trained.labels.length);
    const results: Prediction[] = [];
    const emit = (inputs: string[], probs: number[][]) => {
      probs.forEach((row, i) => {
        const order = row
          .map((score, id) => ({ label: trained.labels[id] ?? String(id), score }))
          .sort((a, b) => b.score - a.score);
        results.push({ input: inputs[i], predictions: order.slice(0, topK) });
      });
    };
    /** The class probabilities of the batch `makeBatch` builds, with every tensor freed once they are read. */
    const predictBatch = (makeBatch: () => unknown): number[][] =>
      tidy(() =>
        noGrad(() => {
          const output = defaultForward(trained.model, makeBatch(), false);
          return probabilities(output instanceof Tensor ? output : output.logits, multiLabel);
        }),
      );

    if (trained.modelType === 'bert') {
      if (images.length) throw new UsageError(`${trained.describe} is a text model: give --text or --file`);
      let inputs = texts;
      if (file !== undefined)
        inputs = await readInputs(
          file,
          optString(options, 'text-column') ??
            (typeof trained.runConfig.text_column === 'string' ? trained.runConfig.text_column : undefined),
          tableReading(options, trained.runConfig),
        );
      if (inputs.length === 0) throw new UsageError(`${file}: no texts in it`);
      const pair = optString(options, 'text-pair');
      if (pair !== undefined && inputs.length !== 1) throw new UsageError('--text-pair goes with exactly one --text');
      const { tokenizer } = await loadTokenizer(
        optString(options, 'tokenizer'),
        trained.dirs,
        trained.modelType,
        trained.hubId,
      );
      const run = trained.runConfig;
      const maxLength =
        optNumber(options, 'max-length') ??
        (typeof run.max_length === 'number' ? run.max_length : (tokenizer.modelMaxLength ?? 512));
      const padTokenId = tokenizer.padTokenId ?? 0;
      for (let start = 0; start < inputs.length; start += batchSize) {
        const chunk = inputs.slice(start, start + batchSize);
        const encodings = await Promise.all(chunk.map((text) => tokenizer.encode(text, pair, { maxLength })));
        const examples: TextExample[] = encodings.map((e) => ({ inputIds: e.inputIds, tokenTypeIds: e.tokenTypeIds }));
        emit(
          chunk,
          predictBatch(() => collateText(examples, { padTokenId })),
        );
      }
    } else {
      if (!images.length) throw new UsageError(`${trained.describe} is an image model: give image paths`);
      for (const path of images) if (!existsSync(path)) throw new UsageError(`${path} does not exist`);
      const imageSize =
        optNumber(options, 'image-size') ??
        (typeof trained.runConfig.image_size === 'number' ? trained.runConfig.image_size : undefined);
      const transform = imageTransform(imagePreprocessing(trained.modelType, trained.config, trained.dirs, imageSize));
      const limits = imageLimits(options);
      for (let start = 0; start < images.length; start += batchSize) {
        const chunk = images.slice(start, start + batchSize);
        const pixels = () =>
          chunk.map((path, index) => transform(loadImage(path, limits) as never, { epoch: 0, index }) as Tensor);
        emit(
          chunk,
          predictBatch(() => ({ image: stack(pixels()) })),
        );
      }
    }

    if (json) {
      for (const r of results) console.log(JSON.stringify(r));
    } else {
      const shorten = (s: string) => (s.length > 70 ? `${s.slice(0, 67)}…` : s);
      const width = Math.min(70, Math.max(...results.map((r) => shorten(r.input).length)));
      for (const r of results) {
        console.log(
          `${shorten(r.input).padEnd(width)}  ${r.predictions.map((p) => `${p.label} ${p.score.toFixed(4)}`).join(' · ')}`,
        );
      }
    }
    return EXIT.ok;
  });
}

/** Texts from a file: one per line (.txt), or a table's text column. */
async function readInputs(
  file: string,
  column: string | undefined,
  reading: Pick<ReadTableOptions, 'encoding' | 'delimiter'>,
): Promise<string[]> {
  if (!existsSync(file)) throw new UsageError(`--file: ${file} does not exist`);
  const ext = extname(file).toLowerCase();
  if (!['.csv', '.tsv', '.tab', '.jsonl', '.ndjson', '.json'].includes(ext)) {
    return (await readTextFile(file, reading.encoding))
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter(Boolean);
  }
  const table = await readTable(file, reading);
  const name =
    column !== undefined && table.columns.includes(column)
      ? column
      : findTextColumn(table.columns, [findLabelColumn(table.columns, table.rows)]);
  if (name === undefined)
    throw new DataFormatError(
      file,
      1,
      `which column holds the text? give --text-column (columns: ${table.columns.join(', ')})`,
    );
  return table.rows.map((r) => r.values[name]).filter((v): v is string => typeof v === 'string');
}

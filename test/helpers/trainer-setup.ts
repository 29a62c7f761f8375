/**
 * Shared by test/trainer*.test.ts and the child process of the kill test: a tiny BERT (random
 * init, hidden 16, 2 layers, dropout on) and SST-2's 200 training rows tokenised with
 * bert-base-uncased's tokenizer.
 */
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { data, manualSeed, models, noGrad, train, type Tensor } from 'finetune';

import { BERT_TOKENIZER_DIR, SST2_TRAIN } from './cli.js';

/** The repository root, for the tests and tools that import it from here. */
export { ROOT } from './cli.js';

let tokenizer: data.Tokenizer | undefined;
const cache = new Map<number, data.TextClassificationDataset>();

/**
 * A function that makes a fresh temporary folder (`<prefix>-…`) at each call, for a test's output; every
 * folder it made is removed after the test file's tests.
 */
export function tempFolders(prefix: string): () => string {
  const folders: string[] = [];
  after(() => {
    for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
    folders.push(dir);
    return dir;
  };
}

/** SST-2 train-200 (label, sentence), tokenised to at most maxLength tokens. */
export async function sst2(maxLength = 24): Promise<data.TextClassificationDataset> {
  let dataset = cache.get(maxLength);
  if (!dataset) {
    tokenizer ??= data.Tokenizer.fromFile(join(BERT_TOKENIZER_DIR, 'tokenizer.json'));
    dataset = await data.TextClassificationDataset.fromFile(SST2_TRAIN, {
      textColumn: 'sentence',
      labelColumn: 'label',
      tokenizer,
      maxLength,
    });
    cache.set(maxLength, dataset);
  }
  return dataset;
}

/** The first n examples (or those at `indices`) of a dataset. */
export function slice<T>(dataset: data.Dataset<T>, start: number, end: number): data.Subset<T> {
  return new data.Subset(
    dataset,
    Array.from({ length: end - start }, (_, i) => start + i),
  );
}

/** A tiny BertForSequenceClassification, the same weights for the same seed. */
export function tinyBert(seed = 0, overrides: Partial<models.BertConfig> = {}): models.BertForSequenceClassification {
  manualSeed(seed);
  return new models.BertForSequenceClassification({
    vocabSize: 30522,
    hiddenSize: 16,
    numHiddenLayers: 2,
    numAttentionHeads: 2,
    intermediateSize: 32,
    maxPositionEmbeddings: 64,
    numLabels: 2,
    hiddenDropoutProb: 0.1,
    attentionProbsDropoutProb: 0.1,
    ...overrides,
  });
}

/** A copy of every tensor of the state dict (to compare runs after the models are gone). */
export function snapshot(module: { stateDict(): Map<string, Tensor> }): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  noGrad(() => {
    for (const [key, t] of module.stateDict())
      if (t.dtype === 'float32') out.set(key, Float32Array.from(t.contiguous().data() as Float32Array));
  });
  return out;
}

/** Keys whose values differ (bit for bit) between two snapshots. */
export function differences(a: Map<string, Float32Array>, b: Map<string, Float32Array>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  const out: string[] = [];
  for (const key of keys) {
    const x = a.get(key);
    const y = b.get(key);
    if (!x || !y || x.length !== y.length || x.some((v, i) => !Object.is(v, y[i]))) out.push(key);
  }
  return out;
}

/**
 * The run of the kill test, the same in the child process (killed while writing a checkpoint)
 * and in the test (uninterrupted, and resumed): a tiny BERT, full fine-tuning, 12 shuffled examples
 * in batches of 4, dropout on, a checkpoint every 2 steps.
 */
export async function killTestTrainer(outputDir: string, options: { resume?: boolean } = {}): Promise<train.Trainer> {
  const dataset = await sst2(16);
  return new train.Trainer({
    model: tinyBert(7),
    args: new train.TrainingArguments({
      outputDir,
      maxSteps: 8,
      perDeviceTrainBatchSize: 4,
      learningRate: 1e-3,
      saveSteps: 2,
      loggingSteps: 1,
      seed: 11,
      threads: 1,
      strategy: { kind: 'full' },
      resumeFromCheckpoint: options.resume ? true : null,
    }),
    trainDataset: slice(dataset, 0, 12),
    log: null,
  });
}

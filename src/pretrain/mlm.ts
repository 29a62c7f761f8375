/**
 * Masked-language-model pretraining of a BERT through the Trainer: the MLM collator masks each
 * batch (BERT's 15 %, 80/10/10), the loss is cross entropy over the selected tokens only, and the
 * vocabulary projection runs on the selected positions only — the same loss and gradients as
 * transformers' BertForMaskedLM (which projects every position and ignores label -100), at a
 * seventh of the decoder's cost. Reports MLM loss and masked-token accuracy (argmax = original
 * token at selected positions) on training batches and on a held-out slice of the text, then
 * saves the model in Hugging Face's format with the tokenizer's files beside it.
 */
import { mkdir } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { functional as F, noGrad, tidy, type Tensor } from '../tensor/index.js';
import type { Module } from '../nn/index.js';
import { BertForMaskedLM } from '../models/bert.js';
import type { Tokenizer } from '../data/tokenizer.js';
import type { Dataset } from '../data/dataset.js';
import { savePretrained } from '../io/pretrained.js';
import { copyFileAtomic, writeFileAtomic } from '../io/files.js';
import { Trainer } from '../train/trainer.js';
import type { ModelOutput } from '../train/model-io.js';
import { TrainingArguments } from '../train/training-args.js';
import type { TrainerCallback } from '../train/callbacks.js';
import type { TextExample } from '../data/collate-text.js';
import { mlmCollator, type MlmBatch, type MlmCollator } from './collator.js';

/** Running masked-token counts (what the forward saw since the last reset). */
export interface MlmCounts {
  lossSum: number;
  correct: number;
  masked: number;
  batches: number;
}

export function newCounts(): MlmCounts {
  return { lossSum: 0, correct: 0, masked: 0, batches: 0 };
}

function bertOf(model: Module): BertForMaskedLM {
  if (!(model instanceof BertForMaskedLM))
    throw new Error(`MLM pretraining needs a BertForMaskedLM, got ${model.constructor.name}`);
  return model;
}

/**
 * The MLM forward on a masked batch: encoder on every position, prediction head on the selected
 * ones. `logits` are [selected, vocab]; `loss` is their mean cross entropy. Adds to `counts` when given.
 */
export function mlmForward(model: Module, batch: MlmBatch, counts?: MlmCounts): ModelOutput {
  const m = bertOf(model);
  const hidden = m.bert.forward({
    inputIds: batch.inputIds,
    attentionMask: batch.attentionMask,
    tokenTypeIds: batch.tokenTypeIds,
  }).lastHiddenState;
  const size = hidden.shape[hidden.ndim - 1];
  const labels = batch.labels.reshape([-1]);
  const selected = labels.ne(-100);
  const count = Number(selected.sum().item());
  if (count === 0) {
    // Nothing selected (a tiny batch can draw none): a zero loss that still reaches every parameter.
    return { logits: hidden.reshape([-1, size]).narrow(0, 0, 0), loss: hidden.sum().mul(0) };
  }
  const logits = m.cls.forward(hidden.reshape([-1, size]).index([selected]));
  const targets = labels.index([selected]);
  const loss = F.crossEntropy(logits, targets);
  if (counts) {
    noGrad(() => {
      counts.correct += Number(logits.argmax(-1).eq(targets).sum().item());
    });
    counts.lossSum += Number(loss.item()) * count;
    counts.masked += count;
    counts.batches += 1;
  }
  return { logits, loss };
}

export interface MlmMetrics {
  /** Mean cross entropy per masked token. */
  loss: number;
  /** exp(loss). */
  perplexity: number;
  /** Share of masked tokens whose argmax is the original token. */
  accuracy: number;
  maskedTokens: number;
}

function metricsOf(c: MlmCounts): MlmMetrics {
  const loss = c.masked > 0 ? c.lossSum / c.masked : NaN;
  return {
    loss,
    perplexity: Math.exp(loss),
    accuracy: c.masked > 0 ? c.correct / c.masked : NaN,
    maskedTokens: c.masked,
  };
}

/**
 * MLM loss and masked-token accuracy on a dataset, with the collator reseeded first so that every
 * call masks the same tokens (comparable from one evaluation to the next).
 */
export function evaluateMlm(
  model: Module,
  dataset: Dataset<TextExample>,
  collator: MlmCollator,
  options: { batchSize?: number } = {},
): MlmMetrics {
  const batchSize = options.batchSize ?? 64;
  const wasTraining = model.training;
  model.eval();
  collator.reseed();
  const counts = newCounts();
  try {
    for (let start = 0; start < dataset.length; start += batchSize) {
      const examples: TextExample[] = [];
      for (let i = start; i < Math.min(dataset.length, start + batchSize); i++) examples.push(dataset.get(i));
      tidy(() => noGrad(() => void mlmForward(model, collator.collate(examples), counts)));
    }
  } finally {
    model.train(wasTraining);
  }
  return metricsOf(counts);
}

export interface PretrainOptions {
  model: BertForMaskedLM;
  tokenizer: Tokenizer;
  /** Folder whose tokenizer files (tokenizer.json, tokenizer_config.json, vocab.txt, special_tokens_map.json) are copied next to the model. */
  tokenizerDir?: string;
  trainDataset: Dataset<TextExample>;
  /** Held-out text for the MLM loss / accuracy reports (never the task's dev set). */
  evalDataset?: Dataset<TextExample> | null;
  outputDir: string;
  maxSteps: number;
  batchSize?: number;
  /** Default 5e-4 (small BERTs from scratch). */
  learningRate?: number;
  warmupRatio?: number;
  weightDecay?: number;
  mlmProbability?: number;
  wholeWordMask?: boolean;
  seed?: number;
  loggingSteps?: number;
  /** Held-out evaluation every N steps (default: at the start and the end only). */
  evalSteps?: number;
  /** Checkpoints every N steps (default none: only the final model). */
  saveSteps?: number;
  threads?: number;
  /** Where progress lines go (default console.log; null: nowhere). */
  log?: ((line: string) => void) | null;
}

export interface PretrainLogEntry {
  step: number;
  loss: number;
  accuracy: number;
  learningRate: number;
  elapsedSeconds: number;
}

export interface PretrainReport {
  outputDir: string;
  architecture: string;
  config: Record<string, unknown>;
  parameters: number;
  trainTexts: number;
  evalTexts: number;
  steps: number;
  batchSize: number;
  learningRate: number;
  mlmProbability: number;
  wholeWordMask: boolean;
  seed: number;
  runtimeSeconds: number;
  stepsPerSecond: number;
  /** Training batches' MLM loss / accuracy: the first logging interval and the last. */
  firstTrain: MlmMetrics | null;
  finalTrain: MlmMetrics | null;
  /** Held-out MLM loss / accuracy before training and at the end (null without evalDataset). */
  initialEval: MlmMetrics | null;
  finalEval: MlmMetrics | null;
  evalHistory: ({ step: number } & MlmMetrics)[];
  log: PretrainLogEntry[];
}

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'vocab.txt', 'special_tokens_map.json'];

function fmt(x: number, digits = 4): string {
  return Number.isFinite(x) ? x.toFixed(digits) : String(x);
}

/** Trains `model` with the MLM objective, saves it (HF format, config.json with pretraining_learning_rate, + tokenizer files) and returns the report. */
export async function pretrainMlm(options: PretrainOptions): Promise<PretrainReport> {
  const { model, tokenizer, trainDataset, outputDir } = options;
  const out = options.log === undefined ? (line: string) => console.log(line) : options.log;
  const say = (line: string): void => out?.(line);
  const seed = options.seed ?? 42;
  const batchSize = options.batchSize ?? 32;
  const learningRate = options.learningRate ?? 5e-4;
  const mlmProbability = options.mlmProbability ?? 0.15;
  const wholeWordMask = options.wholeWordMask ?? false;
  const loggingSteps = options.loggingSteps ?? Math.max(1, Math.min(100, Math.floor(options.maxSteps / 20)));
  const collator = mlmCollator(tokenizer, { mlmProbability, wholeWordMask, seed });
  const evalCollator = mlmCollator(tokenizer, { mlmProbability, wholeWordMask, seed: seed + 1 });
  const evalDataset = options.evalDataset ?? null;

  const counts = newCounts();
  const log: PretrainLogEntry[] = [];
  const evalHistory: ({ step: number } & MlmMetrics)[] = [];
  let firstTrain: MlmMetrics | null = null;
  let lastTrain: MlmMetrics | null = null;
  const started = performance.now();
  const evaluate = (step: number): MlmMetrics | null => {
    if (!evalDataset || evalDataset.length === 0) return null;
    const metrics = evaluateMlm(model, evalDataset, evalCollator);
    evalHistory.push({ step, ...metrics });
    say(
      `eval  step ${step}: mlm_loss ${fmt(metrics.loss)}  perplexity ${fmt(metrics.perplexity, 1)}  masked_accuracy ${fmt(metrics.accuracy)}  (${metrics.maskedTokens} masked tokens)`,
    );
    return metrics;
  };

  const parameters = [...model.parameters()].reduce((n, p: Tensor) => n + p.numel(), 0);
  say(
    `MLM pretraining: ${parameters.toLocaleString('en-US')} parameters, ${trainDataset.length} train texts, ${evalDataset?.length ?? 0} held-out texts, ` +
      `${options.maxSteps} steps × batch ${batchSize}, lr ${learningRate}, mask ${mlmProbability}${wholeWordMask ? ' (whole words)' : ''}, seed ${seed}`,
  );
  const initialEval = evaluate(0);

  const callback: TrainerCallback = {
    onLog(_args, state, _control, context) {
      const entry = context.logs;
      if (!entry || typeof entry.loss !== 'number' || counts.masked === 0) return;
      const m = metricsOf(counts);
      entry.mlm_accuracy = m.accuracy;
      firstTrain ??= m;
      lastTrain = m;
      const elapsed = (performance.now() - started) / 1000;
      const lr = Number(entry.learning_rate);
      log.push({
        step: state.globalStep,
        loss: m.loss,
        accuracy: m.accuracy,
        learningRate: lr,
        elapsedSeconds: elapsed,
      });
      const rate = state.globalStep / elapsed;
      const eta = (options.maxSteps - state.globalStep) / rate;
      say(
        `step ${state.globalStep}/${options.maxSteps}  mlm_loss ${fmt(m.loss)}  masked_accuracy ${fmt(m.accuracy)}  lr ${lr.toExponential(2)}  ` +
          `${rate.toFixed(2)} steps/s  elapsed ${elapsed.toFixed(0)} s  eta ${eta.toFixed(0)} s`,
      );
      Object.assign(counts, newCounts());
    },
    onStepEnd(_args, state) {
      if (options.evalSteps && state.globalStep % options.evalSteps === 0 && state.globalStep < options.maxSteps)
        evaluate(state.globalStep);
    },
  };

  const trainer = new Trainer({
    model,
    args: new TrainingArguments({
      outputDir,
      maxSteps: options.maxSteps,
      perDeviceTrainBatchSize: batchSize,
      learningRate,
      warmupRatio: options.warmupRatio ?? 0.06,
      weightDecay: options.weightDecay ?? 0.01,
      lrSchedulerType: 'linear',
      loggingSteps,
      saveStrategy: options.saveSteps ? 'steps' : 'no',
      ...(options.saveSteps ? { saveSteps: options.saveSteps } : {}),
      seed,
      ...(options.threads ? { threads: options.threads } : {}),
    }),
    trainDataset,
    collate: (examples) => collator.collate(examples as TextExample[]),
    forward: (m, batch) => mlmForward(m, batch as MlmBatch, m.training ? counts : undefined),
    computeMetrics: null,
    callbacks: [callback],
    log: out ?? null,
  });
  const result = await trainer.train();
  const runtimeSeconds = (performance.now() - started) / 1000;
  const finalEval = evaluate(result.globalStep);

  await mkdir(outputDir, { recursive: true });
  // The fine-tuning lr rule (optim.defaultFineTuneLr) reads it: full / top-k / gradual fine-tune at a tenth of it.
  await savePretrained(model, outputDir, { extraConfig: { pretraining_learning_rate: learningRate } });
  if (options.tokenizerDir ?? tokenizer.source) {
    const dir =
      options.tokenizerDir ??
      (existsSync(tokenizer.source) && statSync(tokenizer.source).isFile()
        ? dirname(tokenizer.source)
        : tokenizer.source);
    for (const name of TOKENIZER_FILES)
      if (existsSync(join(dir, name))) await copyFileAtomic(join(dir, name), join(outputDir, name));
  }
  const report: PretrainReport = {
    outputDir,
    architecture: 'BertForMaskedLM',
    config: { ...model.config },
    parameters,
    trainTexts: trainDataset.length,
    evalTexts: evalDataset?.length ?? 0,
    steps: result.globalStep,
    batchSize,
    learningRate,
    mlmProbability,
    wholeWordMask,
    seed,
    runtimeSeconds,
    stepsPerSecond: result.globalStep / runtimeSeconds,
    firstTrain,
    finalTrain: lastTrain,
    initialEval,
    finalEval,
    evalHistory,
    log,
  };
  await writeFileAtomic(join(outputDir, 'pretrain_report.json'), JSON.stringify(report, null, 2) + '\n');
  await writeFileAtomic(join(outputDir, 'pretrain_report.md'), reportMarkdown(report));
  say(`saved ${outputDir}: config.json, model.safetensors, tokenizer files, pretrain_report.json / .md`);
  return report;
}

/** The report as Markdown. */
export function reportMarkdown(r: PretrainReport): string {
  const row = (name: string, m: MlmMetrics | null): string =>
    m
      ? `| ${name} | ${fmt(m.loss)} | ${fmt(m.perplexity, 1)} | ${fmt(m.accuracy)} | ${m.maskedTokens} |`
      : `| ${name} | – | – | – | – |`;
  return [
    `# MLM pretraining report`,
    '',
    `BertForMaskedLM, ${r.parameters.toLocaleString('en-US')} parameters (hidden ${String(r.config.hiddenSize)}, layers ${String(r.config.numHiddenLayers)}, heads ${String(r.config.numAttentionHeads)}); ` +
      `${r.trainTexts} training texts, ${r.evalTexts} held out; ${r.steps} steps × batch ${r.batchSize}, lr ${r.learningRate}, masking ${r.mlmProbability}` +
      `${r.wholeWordMask ? ' (whole words)' : ''}, seed ${r.seed}; ${r.runtimeSeconds.toFixed(0)} s (${r.stepsPerSecond.toFixed(2)} steps/s).`,
    '',
    '| | MLM loss | perplexity | masked-token accuracy | masked tokens |',
    '|:--|--:|--:|--:|--:|',
    row('held out, before', r.initialEval),
    row('held out, after', r.finalEval),
    row('train, first log interval', r.firstTrain),
    row('train, last log interval', r.finalTrain),
    '',
  ].join('\n');
}

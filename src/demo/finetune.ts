/**
 * One fine-tuning run (or from-scratch run) at one learning rate on the target task's labelled
 * images, evaluated on the validation images (which choose the row's lr) and the test images. The demo runs each in a process of its own (worker.ts), so
 * that its peak memory is its own: the process's peak RSS during training (VmHWM, reset right before
 * train()) minus its RSS at that moment — the data and the model are loaded by then, so the figure is
 * what training adds (gradients, optimizer state, activations).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { manualSeed, setNumThreads, Tensor, tidy } from '../tensor/index.js';
import type { Module } from '../nn/index.js';
import { layerGroupsOf, type HfConfig } from '../models/index.js';
import { fromPretrained } from '../io/index.js';
import type { Dataset } from '../data/index.js';
import { formatLr } from '../optim/index.js';
import { defaultForward, Trainer, type OutputStream } from '../train/index.js';
import type { ComparisonRun } from '../report/index.js';
import { formatBytes, formatInteger, formatNumber } from '../format/numbers.js';
import { readSplit, taskCollate, TaskDataset, type TaskExample } from './data.js';
import { PeakMemory, type PeakMemoryMethod } from './memory.js';
import { buildModel, DEMO_MODELS, resetHead, type DemoModelKey } from './models.js';
import type { DemoSettings } from './settings.js';
import { planDemoMethod, type DemoMethod } from './strategies.js';
import { accuracyMetric, accuracyOf, parameterCounts, progressCallback } from './training.js';

export interface FineTuneJob {
  settings: DemoSettings;
  model: DemoModelKey;
  strategy: DemoMethod;
  /** The pretrained checkpoint: savePretrained's folder, config.json with pretraining_learning_rate. */
  checkpoint: string;
  /** writeSplit's file: the labelled training images of the target classes, their validation images, then their test images. */
  images: string;
  trainCount: number;
  validationCount: number;
  lr: number;
  /** "[3/16]": where the run stands among the demo's phases. */
  phase: string;
  /** Print what the strategy trains and the library's lr rule (the first of a strategy's runs). */
  describe: boolean;
}

/** One run's results; the table's row of a strategy is its run with the best validation accuracy. */
export interface DemoRow extends ComparisonRun {
  model: DemoModelKey;
  key: DemoMethod;
  lr: number;
  validationAccuracy: number;
  /** The lr the library's rule would give (optim.defaultFineTuneLr), and why. */
  ruleLr: number;
  ruleReason: string;
  note: string;
  steps: number;
  trainLoss: number;
  testExamples: number;
  peakMemoryMethod: PeakMemoryMethod;
}

/**
 * One forward and backward pass on two images, in eval mode (no dropout: libtorch's generator is left
 * alone) and with the gradients dropped afterwards, so that libtorch's lazily created kernels, thread
 * pools and autograd machinery exist before the peak-memory measurement starts.
 */
function warmUp(
  model: Module,
  collate: (examples: TaskExample[]) => { image: Tensor; label: Tensor },
  dataset: TaskDataset,
): void {
  const batch = collate([dataset.get(0), dataset.get(Math.min(1, dataset.length - 1))]);
  const training = model.training;
  model.eval();
  try {
    tidy(() => {
      const out = defaultForward(model, batch, false);
      (out instanceof Tensor ? out : out.logits).sum().backward();
    });
  } finally {
    model.zeroGrad();
    model.train(training);
    batch.image.dispose();
    batch.label.dispose();
  }
}

export async function runFineTune(job: FineTuneJob, stream: OutputStream = process.stdout): Promise<DemoRow> {
  const { settings } = job;
  const spec = DEMO_MODELS[job.model];
  const line = (text: string) => stream.write(`${text}\n`);
  setNumThreads(settings.threads);

  const images = readSplit(job.images);
  const rows = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
  const validationEnd = job.trainCount + job.validationCount;
  const train = new TaskDataset(images, settings.targetClasses, rows(0, job.trainCount));
  const validation = new TaskDataset(images, settings.targetClasses, rows(job.trainCount, validationEnd));
  const test = new TaskDataset(images, settings.targetClasses, rows(validationEnd, images.labels.length));

  const base = await fromPretrained(job.checkpoint, { warn: (message) => line(`  ${message}`) });
  const config = JSON.parse(readFileSync(join(job.checkpoint, 'config.json'), 'utf8')) as HfConfig;
  const plan = planDemoMethod(job.strategy, spec, {
    pretrainedConfig: config,
    pretrainingLr: settings.pretraining[job.model].learningRate,
    layerGroups: layerGroupsOf(base).length,
    steps: settings.fineTuneSteps,
  });

  // The same seed before every run: the head's (or the whole network's) initialisation, the adapters', dropout, the data order.
  manualSeed(settings.seed);
  const model = buildModel(spec, settings.sourceClasses.length);
  if (plan.pretrained) model.loadStateDict(base.stateDict());
  base.dispose();
  resetHead(model, settings.targetClasses.length);

  const steps = settings.fineTuneSteps;
  const collate = taskCollate(spec.imageSize);
  const trainer = new Trainer({
    model,
    args: {
      outputDir: join(settings.outputDir, 'runs', job.model, plan.key, `lr-${formatLr(job.lr)}`),
      maxSteps: steps,
      perDeviceTrainBatchSize: settings.fineTuneBatchSize,
      perDeviceEvalBatchSize: 500,
      learningRate: job.lr,
      weightDecay: 0.01,
      lrSchedulerType: 'linear',
      warmupRatio: 0.1,
      evalStrategy: 'no',
      saveStrategy: 'no',
      loggingSteps: Math.max(1, Math.ceil(steps / 4)),
      seed: settings.seed,
      threads: settings.threads,
      strategy: plan.strategy,
      // Head-only and top-k rows train on their frozen layers' outputs, computed once (stated below).
      cacheFrozenFeatures: 'auto',
    },
    trainDataset: train,
    collate: collate as (examples: unknown[]) => unknown,
    computeMetrics: accuracyMetric,
    callbacks: [progressCallback(stream, steps, false)],
    log: null,
  });
  const probe = new PeakMemory();
  trainer.addCallback({ onStepEnd: () => probe.sample() });

  const before = parameterCounts(trainer.model);
  if (job.describe) {
    line(
      `${job.model} · ${plan.label}: ${plan.note}; trainable at the start ${formatInteger(before.trainable)} of ${formatInteger(before.total)}`,
    );
    line(`  the library's lr rule: ${plan.ruleReason.replace(/^lr /, '')}`);
  }
  line(`${job.phase} ${job.model} · ${plan.label} · lr ${formatLr(job.lr)}`);
  warmUp(trainer.model, collate, train);
  probe.start();
  const { metrics } = await trainer.train();
  const peakMemoryBytes = probe.stop();
  const counts = parameterCounts(trainer.model); // gradual unfreezing: its last stage
  const validationAccuracy = await accuracyOf(trainer, validation as Dataset<unknown>);
  const accuracy = await accuracyOf(trainer, test as Dataset<unknown>);
  trainer.model.dispose();
  line(
    `  → validation accuracy ${formatNumber(validationAccuracy)} · test accuracy ${formatNumber(accuracy)} · train time ${metrics.train_runtime.toFixed(1)} s · peak memory +${formatBytes(peakMemoryBytes)}`,
  );
  if (job.describe && trainer.frozenFeaturesLine) line(`  ${trainer.frozenFeaturesLine}`);
  return {
    model: job.model,
    key: plan.key,
    strategy: plan.label,
    trainableParams: counts.trainable,
    totalParams: counts.total,
    accuracy,
    trainTimeSeconds: metrics.train_runtime,
    peakMemoryBytes,
    lr: job.lr,
    validationAccuracy,
    ruleLr: plan.ruleLr,
    ruleReason: plan.ruleReason,
    note: plan.note,
    steps,
    trainLoss: metrics.train_loss,
    testExamples: test.length,
    peakMemoryMethod: probe.method,
  };
}

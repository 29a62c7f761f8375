/**
 * Pretraining on the source classes, cached: the network trained on every training image of the
 * source classes — to classify them and, as a second task, to reconstruct them from its head's input
 * (reconstruction.ts) —, saved without the decoder with savePretrained under <cacheDir>/<model>-<hash>/ (the hash covers the
 * config, the pretraining settings, the source classes and the seed) with config.json recording
 * pretraining_learning_rate — which the fine-tuning lr rule reads —, preprocessor_config.json (the
 * side, one channel and Fashion-MNIST's normalisation, so that `finetune train --model <that folder>`
 * feeds it images as it was trained on) and demo.json describing the run.
 * A later run with the same settings finds it there and skips pretraining.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { manualSeed } from '../tensor/index.js';
import type { HfConfig } from '../models/index.js';
import { isLocalCheckpoint, savePretrained } from '../io/index.js';
import { writeFileAtomicSync } from '../io/files.js';
import { preprocessorJson, type Dataset } from '../data/index.js';
import { Trainer, type OutputStream } from '../train/index.js';
import { formatDuration, formatInteger, formatNumber } from '../format/numbers.js';
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD, taskCollate, type ImageBatch, type TaskDataset } from './data.js';
import {
  buildModel,
  pretrainingHash,
  type DemoModelKey,
  type DemoModelSpec,
  type PretrainingSettings,
} from './models.js';
import { PretrainingNetwork, pretrainingTaskLosses, pretrainingWeighting, type DemoNetwork } from './reconstruction.js';
import { classList, type DemoSettings } from './settings.js';
import { accuracyMetric, accuracyOf, progressCallback } from './training.js';

/** What the cache keeps beside the checkpoint (demo.json). */
export interface PretrainingInfo {
  model: DemoModelKey;
  sourceClasses: number[];
  settings: PretrainingSettings;
  seed: number;
  trainExamples: number;
  sourceTestExamples: number;
  sourceAccuracy: number;
  /** The weighted loss, mean over the run. */
  trainLoss: number;
  /** Each task's loss over the last quarter of the run (the last logging interval). */
  taskLosses: { class: number; reconstruction: number };
  trainSeconds: number;
}

export const DEMO_JSON = 'demo.json';

/** The cache folder of a network's pretraining under `settings`. */
export function pretrainedDir(spec: DemoModelSpec, settings: DemoSettings): string {
  const hash = pretrainingHash(spec, settings.pretraining[spec.key], settings.sourceClasses, settings.seed);
  return join(settings.cacheDir, `${spec.key}-${hash}`);
}

/** The cached pretraining's info, when the cache holds it complete. */
export function cachedPretraining(dir: string): PretrainingInfo | null {
  if (!isLocalCheckpoint(dir) || !existsSync(join(dir, DEMO_JSON))) return null;
  try {
    return JSON.parse(readFileSync(join(dir, DEMO_JSON), 'utf8')) as PretrainingInfo;
  } catch {
    return null;
  }
}

/** A line describing a pretraining. */
export function describePretraining(info: PretrainingInfo): string {
  const weight = info.settings.reconstructionWeight;
  const tasks =
    weight > 0
      ? ` to classify them and to reconstruct them from its head's input (weight ${weight}; final MSE ${formatNumber(info.taskLosses.reconstruction)})`
      : '';
  return (
    `pretrained on ${classList(info.sourceClasses)} (${formatInteger(info.trainExamples)} images)${tasks}, ${info.settings.steps} steps in ${formatDuration(info.trainSeconds)}; ` +
    `source-task accuracy ${formatNumber(info.sourceAccuracy)} on ${formatInteger(info.sourceTestExamples)} test images`
  );
}

/**
 * Pretrains the network on the source task and saves it into `dir` (savePretrained's files, config.json
 * with pretraining_learning_rate, demo.json), written beside the folder and renamed into place, so a
 * run killed midway leaves no half-written cache entry.
 */
export async function pretrain(
  spec: DemoModelSpec,
  settings: DemoSettings,
  data: { train: TaskDataset; test: TaskDataset },
  dir: string,
  stream: OutputStream,
): Promise<PretrainingInfo> {
  const pre = settings.pretraining[spec.key];
  manualSeed(settings.seed);
  const network = buildModel(spec, settings.sourceClasses.length) as DemoNetwork;
  const model = new PretrainingNetwork(network);
  const weighting = pretrainingWeighting(pre.reconstructionWeight);
  const collate = taskCollate(spec.imageSize);
  const trainer = new Trainer({
    model,
    args: {
      outputDir: join(settings.outputDir, 'runs', spec.key, 'pretraining'),
      maxSteps: pre.steps,
      perDeviceTrainBatchSize: pre.batchSize,
      perDeviceEvalBatchSize: 500,
      learningRate: pre.learningRate,
      weightDecay: pre.weightDecay,
      lrSchedulerType: 'linear',
      warmupRatio: 0.05,
      evalStrategy: 'no',
      saveStrategy: 'no',
      loggingSteps: Math.max(1, Math.ceil(pre.steps / 4)),
      seed: settings.seed,
      threads: settings.threads,
    },
    trainDataset: data.train,
    collate: collate as (examples: unknown[]) => unknown,
    forward: (pretraining, batch) => (pretraining as PretrainingNetwork).forward((batch as ImageBatch).image),
    multiTask: { loss: weighting, computeTaskLosses: pretrainingTaskLosses },
    computeMetrics: null,
    callbacks: [progressCallback(stream, pre.steps)],
    log: null,
  });
  try {
    const { metrics } = await trainer.train();
    const last = trainer.state.logHistory.filter((entry) => entry.loss_reconstruction !== undefined).at(-1);
    const evaluator = new Trainer({
      model: network,
      args: {
        outputDir: join(settings.outputDir, 'runs', spec.key, 'pretraining'),
        perDeviceEvalBatchSize: 500,
        threads: settings.threads,
      },
      collate: collate as (examples: unknown[]) => unknown,
      computeMetrics: accuracyMetric,
      log: null,
    });
    const sourceAccuracy = await accuracyOf(evaluator, data.test as Dataset<unknown>);
    const info: PretrainingInfo = {
      model: spec.key,
      sourceClasses: [...settings.sourceClasses],
      settings: pre,
      seed: settings.seed,
      trainExamples: data.train.length,
      sourceTestExamples: data.test.length,
      sourceAccuracy,
      trainLoss: metrics.train_loss,
      taskLosses: { class: Number(last?.loss_class ?? NaN), reconstruction: Number(last?.loss_reconstruction ?? NaN) },
      trainSeconds: metrics.train_runtime,
    };
    await saveCheckpoint(network, dir, pre.learningRate, info, spec.imageSize);
    return info;
  } finally {
    model.dispose();
    weighting.dispose();
  }
}

async function saveCheckpoint(
  model: DemoNetwork,
  dir: string,
  learningRate: number,
  info: PretrainingInfo,
  imageSize: number,
): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  await savePretrained(model, tmp);
  const configPath = join(tmp, 'config.json');
  const config: HfConfig = {
    ...(JSON.parse(readFileSync(configPath, 'utf8')) as HfConfig),
    pretraining_learning_rate: learningRate,
  };
  writeFileAtomicSync(configPath, JSON.stringify(config, null, 2) + '\n');
  const preprocessing = { size: imageSize, channels: 1, mean: [FASHION_MNIST_MEAN], std: [FASHION_MNIST_STD] };
  writeFileAtomicSync(
    join(tmp, 'preprocessor_config.json'),
    JSON.stringify(preprocessorJson(preprocessing), null, 2) + '\n',
  );
  writeFileAtomicSync(join(tmp, DEMO_JSON), JSON.stringify(info, null, 2) + '\n');
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
}

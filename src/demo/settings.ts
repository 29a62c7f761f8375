/**
 * What the demo runs: the tasks (which Fashion-MNIST classes pretrain, which are held out), the
 * budgets of the full and the quick run, the learning rates, where things go.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

import { FASHION_MNIST_CLASSES } from '../data/index.js';
import { DEMO_MODEL_KEYS, type DemoModelKey, type PretrainingSettings } from './models.js';
import { STRATEGY_KEYS, type StrategyKey } from './strategies.js';

/**
 * The source (pretraining) classes: T-shirt/top, Trouser, Pullover, Sandal, Bag; the target classes
 * are the other five: Dress, Coat, Shirt, Sneaker, Ankle boot. Each target class has relatives among
 * the source classes (tops; footwear), the situation transfer learning is for. With classes 0–4 as the
 * source instead (clothes → footwear, bag and shirt), the top layers learnt on the source classes fit
 * the new ones badly and frozen-feature strategies lose to training from scratch:
 * `finetune demo --source-classes 0,1,2,3,4` shows it (numbers in the README).
 */
export const SOURCE_CLASSES: readonly number[] = [0, 1, 2, 5, 8];
export const TARGET_CLASSES: readonly number[] = [3, 4, 6, 7, 9];

/**
 * The learning-rate multipliers. The pretrained rows take the library's default for their method
 * (optim.defaultFineTuneLr, given the checkpoint's config.json) × 10: those defaults are meant for
 * thousands of steps on large models, these runs are 100 steps on small ones. From scratch takes the
 * pretraining lr × 3 (3e-3), the best of 3e-4, 1e-3, 3e-3 and 1e-2 for both networks in a sweep, so
 * the baseline is not handicapped by the choice.
 */
export const DEMO_LR_SCALE: Readonly<Record<StrategyKey, number>> = { scratch: 3, head: 10, 'top-k': 10, gradual: 10, adapters: 10, lora: 10, full: 10 };

export interface DemoSettings {
  models: DemoModelKey[];
  strategies: StrategyKey[];
  /** Labelled training images per target class. */
  labelsPerClass: number;
  seed: number;
  outputDir: string;
  /** Read and write the pretrained models' cache. */
  cache: boolean;
  /** Where pretrained models are cached (default $XDG_CACHE_HOME/finetune/demo or ~/.cache/finetune/demo). */
  cacheDir: string;
  /** libtorch threads. */
  threads: number;
  quick: boolean;
  pretraining: Record<DemoModelKey, PretrainingSettings>;
  /** Optimizer steps of every fine-tuning run (the same for every strategy). */
  fineTuneSteps: number;
  fineTuneBatchSize: number;
  /** Test images per target class (null: all 1,000). */
  evalPerClass: number | null;
  /** Source-task test images per class for the pretrained model's accuracy (null: all 1,000). */
  sourceEvalPerClass: number | null;
  /** Multiplies a strategy's default lr (see strategies.ts); 1 when absent. */
  lrScale: Partial<Record<StrategyKey, number>>;
  /** The Fashion-MNIST classes of the source (pretraining) and target (fine-tuning) tasks. */
  sourceClasses: readonly number[];
  targetClasses: readonly number[];
  /** Where Fashion-MNIST is (default: $FASHION_MNIST_DIR or Debian's /usr/share/datasets/fashion-mnist). */
  dataRoot?: string;
}

/** The default cache folder: $XDG_CACHE_HOME/finetune/demo, else ~/.cache/finetune/demo. */
export function defaultCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), '.cache'), 'finetune', 'demo');
}

/**
 * The full run's settings, or the quick one's (`quick: true`: a smoke test of the whole pipeline in
 * seconds), with `overrides` on top. Giving sourceClasses alone makes the other classes the target.
 */
export function demoSettings(overrides: Partial<DemoSettings> = {}): DemoSettings {
  const quick = overrides.quick ?? false;
  const settings: DemoSettings = {
    models: [...DEMO_MODEL_KEYS],
    strategies: [...STRATEGY_KEYS],
    labelsPerClass: 50,
    seed: 0,
    outputDir: 'demo-output',
    cache: true,
    cacheDir: defaultCacheDir(),
    threads: 2,
    quick,
    pretraining: {
      cnn: { steps: 300, batchSize: 64, learningRate: 1e-3, weightDecay: 0.01 },
      vit: { steps: 600, batchSize: 64, learningRate: 1e-3, weightDecay: 0.01 },
    },
    fineTuneSteps: 100,
    fineTuneBatchSize: 32,
    evalPerClass: null,
    sourceEvalPerClass: null,
    lrScale: { ...DEMO_LR_SCALE },
    sourceClasses: SOURCE_CLASSES,
    targetClasses: TARGET_CLASSES,
  };
  if (quick) {
    Object.assign(settings, {
      labelsPerClass: 10,
      pretraining: {
        cnn: { steps: 20, batchSize: 32, learningRate: 1e-3, weightDecay: 0.01 },
        vit: { steps: 20, batchSize: 32, learningRate: 1e-3, weightDecay: 0.01 },
      },
      fineTuneSteps: 6,
      fineTuneBatchSize: 16,
      evalPerClass: 40,
      sourceEvalPerClass: 40,
    });
  }
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) (settings as unknown as Record<string, unknown>)[key] = value;
  if (overrides.sourceClasses && !overrides.targetClasses) {
    settings.targetClasses = FASHION_MNIST_CLASSES.map((_, c) => c).filter((c) => !settings.sourceClasses.includes(c));
  }
  checkClasses(settings.sourceClasses, settings.targetClasses);
  return settings;
}

function checkClasses(source: readonly number[], target: readonly number[]): void {
  const valid = (c: number) => Number.isInteger(c) && c >= 0 && c < FASHION_MNIST_CLASSES.length;
  for (const [name, list] of [['source', source], ['target', target]] as const) {
    if (list.length < 2 || !list.every(valid) || new Set(list).size !== list.length) {
      throw new Error(`the ${name} classes must be at least 2 distinct Fashion-MNIST classes 0–9, got ${list.join(',') || 'none'}`);
    }
  }
  const shared = source.filter((c) => target.includes(c));
  if (shared.length) throw new Error(`source and target classes overlap (${shared.join(', ')}): the target task must be held out`);
}

/** "T-shirt/top, Trouser, …" */
export function classList(classes: readonly number[]): string {
  return classes.map((c) => FASHION_MNIST_CLASSES[c]).join(', ');
}

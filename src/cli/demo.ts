/**
 * `finetune demo` (what `npm start` runs): transfer learning on Fashion-MNIST — pretrain a small
 * AlexNet-style CNN and a small ViT on five classes (cached), fine-tune them on the five others from a
 * few labels per class with each strategy, and print and chart the trade-offs. The experiment is
 * src/demo; this file reads the flags.
 */
import {
  demoSettings,
  DEMO_MODEL_KEYS,
  runDemoExperiment,
  DEMO_METHODS,
  type DemoModelKey,
  type DemoMethod,
} from '../demo/index.js';
import { flagHelp, parseCommandLine, UsageError, type FlagTable } from './core/flags.js';
import { threadsFlag } from './core/threads.js';

const USAGE = `finetune demo: transfer learning on Fashion-MNIST, every fine-tuning strategy compared

Pretrains a small AlexNet-style CNN and a small ViT on five Fashion-MNIST classes (T-shirt/top,
Trouser, Pullover, Sandal, Bag) — to classify them and to reconstruct the image from the features
their head reads (cached under $XDG_CACHE_HOME/finetune/demo, or ~/.cache/finetune/demo),
fine-tunes each on the five others (Dress, Coat, Shirt, Sneaker, Ankle boot) from a few labels per
class with each strategy — and trains it from scratch on the same labels —, each at three learning
rates of which the validation images pick one, evaluates on the 5,000
test images of those classes and prints strategy | trainable params | % | accuracy | train time |
peak memory, with comparison.html and comparison.png per network in the output folder. A few minutes
on 2 cores. Needs Fashion-MNIST: Debian's dataset-fashion-mnist (npm run setup installs it; or
apt-get install dataset-fashion-mnist), or FASHION_MNIST_DIR naming a folder with the IDX files.

FLAGS`;

function list<T extends string>(value: unknown, known: readonly T[], flag: string): T[] | undefined {
  if (value === undefined) return undefined;
  const items = String(value)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = items.filter((s) => !(known as readonly string[]).includes(s));
  if (unknown.length || items.length === 0)
    throw new UsageError(
      `--${flag}: unknown ${unknown.length ? `'${unknown.join("', '")}'` : 'empty list'} (known: ${known.join(', ')})`,
    );
  return [...new Set(items)] as T[];
}

function learningRates(value: unknown): number[] | undefined {
  if (value === undefined) return undefined;
  const items = String(value)
    .split(',')
    .map((s) => s.trim());
  const lrs = items.map(Number);
  if (!items.length || lrs.some((lr, i) => items[i] === '' || !Number.isFinite(lr) || lr <= 0))
    throw new UsageError(`--learning-rates must be positive numbers separated by commas, got '${String(value)}'`);
  return lrs;
}

function positiveInteger(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    throw new UsageError(`--${flag} must be a positive integer, got ${String(value)}`);
  return value;
}

export const DEMO_FLAGS: FlagTable = {
  quick: { kind: 'boolean', help: 'a tiny run (seconds; for tests): few steps, labels and test images' },
  models: { kind: 'string', arg: 'cnn,vit', help: 'which networks (default both)' },
  strategies: { kind: 'string', arg: 'LIST', help: `of ${DEMO_METHODS.join(',')} (default all)` },
  'source-classes': {
    kind: 'string',
    arg: 'LIST',
    help: 'the pretraining classes (default 0,1,2,5,8); the other classes are the target',
  },
  'labels-per-class': {
    kind: 'number',
    arg: 'N',
    help: 'labelled training images per target class (default 50; --quick 10)',
  },
  steps: { kind: 'number', arg: 'N', help: 'optimizer steps of every fine-tuning run (default 100; --quick 6)' },
  'learning-rates': {
    kind: 'string',
    arg: 'LIST',
    help: 'every row trains at each and keeps the best on validation (default 1e-3,3e-3,1e-2; --quick 3e-3)',
  },
  'validation-per-class': {
    kind: 'number',
    arg: 'N',
    help: 'labelled validation images per target class, apart from the training labels (default 100; --quick 10)',
  },
  'reconstruction-weight': {
    kind: 'number',
    arg: 'W',
    help: "the pretraining's second task, reconstructing the image from the head's input, weighted W beside the classes' 1 (default 3; 0: the classes alone)",
  },
  seed: { kind: 'number', arg: 'N', help: 'seeds everything (default 0): the same seed gives the same accuracies' },
  threads: { kind: 'number', arg: 'N', help: 'libtorch threads (default 2)' },
  'output-dir': { kind: 'string', arg: 'DIR', help: 'where the reports go (default ./demo-output)' },
  cache: { kind: 'boolean', hidden: true, help: 'false: as --no-cache' },
  'no-cache': { kind: 'boolean', help: 'pretrain again and leave the cache alone' },
};

export function demoHelp(): string {
  return USAGE.replace('FLAGS', flagHelp(DEMO_FLAGS));
}

export async function runDemo(argv: string[]): Promise<number> {
  let settings;
  try {
    const { flags, help } = parseCommandLine(argv, DEMO_FLAGS);
    if (help) {
      console.log(demoHelp());
      return 0;
    }
    const seed = flags.seed as number | undefined;
    if (seed !== undefined && (!Number.isInteger(seed) || seed < 0))
      throw new UsageError(`--seed must be an integer ≥ 0, got ${seed}`);
    settings = demoSettings({
      quick: flags.quick === true,
      models: list<DemoModelKey>(flags.models, DEMO_MODEL_KEYS, 'models'),
      strategies: list<DemoMethod>(flags.strategies, DEMO_METHODS, 'strategies'),
      labelsPerClass: positiveInteger(flags['labels-per-class'], 'labels-per-class'),
      fineTuneSteps: positiveInteger(flags.steps, 'steps'),
      learningRates: learningRates(flags['learning-rates']),
      validationPerClass: positiveInteger(flags['validation-per-class'], 'validation-per-class'),
      seed,
      threads: threadsFlag(flags.threads),
      outputDir: flags['output-dir'] as string | undefined,
      sourceClasses:
        flags['source-classes'] === undefined
          ? undefined
          : String(flags['source-classes'])
              .split(',')
              .map((c) => Number(c.trim())),
      cache: flags['no-cache'] === true || flags.cache === false ? false : undefined,
    });
    const weight = flags['reconstruction-weight'] as number | undefined;
    if (weight !== undefined) {
      if (!Number.isFinite(weight) || weight < 0)
        throw new UsageError(`--reconstruction-weight must be a number ≥ 0, got ${weight}`);
      for (const key of DEMO_MODEL_KEYS)
        settings.pretraining[key] = { ...settings.pretraining[key], reconstructionWeight: weight };
    }
  } catch (error) {
    console.error(`finetune demo: ${(error as Error).message} (finetune demo --help lists the flags)`);
    return 2;
  }
  await runDemoExperiment(settings);
  return 0;
}

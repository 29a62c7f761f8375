/**
 * Cached frozen features (cacheFrozenFeatures / --cache-frozen-features): a head-only or top-k run
 * trained on the cached outputs of its frozen layer groups ends with the weights of the uncached run
 * whose frozen groups are in eval mode (BERT and ResNet, in memory and on disk), differs from
 * transformers' head-only run (dropout on in the frozen part), and is refused, with the reason, where
 * it would change the result or has nothing to cache.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { data, fromTypedArray, LoraConfig, manualSeed, models, randn, train, type nn, type Tensor } from 'finetune';
import { runCli, SST2_TRAIN, writeTinyBertModelFolder } from './helpers/cli.js';
import { TINY_VIT_CONFIG } from './helpers/tiny-configs.js';
import { slice, snapshot, sst2, tempFolders, tinyBert } from './helpers/trainer-setup.js';

const tmp = tempFolders('finetune-frozen-cache');

interface Run {
  weights: Map<string, Float32Array>;
  logHistory: Record<string, unknown>[];
  lines: string[];
  outputDir: string;
}

/**
 * Keeps the first `groups` layer groups in eval mode at every step: the uncached run that a cached
 * one must equal (train() puts the whole model in train mode when it starts).
 */
function frozenGroupsInEval(groups: number): train.TrainerCallback {
  return {
    onStepBegin: (_args, _state, _control, { model }) => {
      for (const group of models.layerGroupsOf(model).slice(0, groups)) for (const m of group.modules) m.eval();
    },
  };
}

async function run(
  model: nn.Module,
  dataset: data.Dataset<unknown>,
  settings: Partial<train.TrainingArgumentsOptions>,
  callbacks: train.TrainerCallback[] = [],
  evalDataset?: data.Dataset<unknown>,
): Promise<Run> {
  const outputDir = tmp();
  const lines: string[] = [];
  const trainer = new train.Trainer({
    model,
    args: new train.TrainingArguments({
      outputDir,
      numTrainEpochs: 3,
      perDeviceTrainBatchSize: 8,
      perDeviceEvalBatchSize: 16,
      learningRate: 1e-2,
      saveStrategy: 'no',
      loggingStrategy: 'no',
      seed: 3,
      threads: 1,
      ...settings,
    }),
    trainDataset: dataset,
    evalDataset,
    callbacks,
    log: (line) => lines.push(line),
  });
  await trainer.train();
  return { weights: snapshot(trainer.model), lines, outputDir, logHistory: trainer.state.logHistory };
}

function maxDifference(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  let max = 0;
  for (const [key, x] of a) {
    const y = b.get(key)!;
    for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i] - y[i]));
  }
  return max;
}

const cacheLine = (r: Run) => r.lines.find((line) => line.startsWith('frozen features:'));

/** The cached run equals the uncached one with the frozen groups in eval mode (≤ 1e-6), and moved the trained weights. */
async function assertCachedEqualsEvalPrefix(
  build: () => nn.Module,
  dataset: data.Dataset<unknown>,
  strategy: train.TrainingStrategy,
  groups: number,
  settings: Partial<train.TrainingArgumentsOptions> = {},
): Promise<{ cached: Run; reference: Run; initial: Map<string, Float32Array> }> {
  const initial = snapshot(build());
  const cached = await run(build(), dataset, { strategy, cacheFrozenFeatures: true, ...settings });
  const reference = await run(build(), dataset, { strategy, ...settings }, [frozenGroupsInEval(groups)]);
  assert.equal(cacheLine(reference), undefined);
  const difference = maxDifference(cached.weights, reference.weights);
  assert.ok(difference <= 1e-6, `cached vs uncached (frozen part in eval mode): max |Δw| ${difference}`);
  assert.ok(maxDifference(cached.weights, initial) > 1e-3, 'the run trained');
  return { cached, reference, initial };
}

const { ResNet } = models;

test('BERT head-only: the cached run ends with the weights of the uncached run whose frozen part is in eval mode', async () => {
  const dataset = slice(await sst2(24), 0, 48);
  const { cached, initial } = await assertCachedEqualsEvalPrefix(() => tinyBert(5), dataset, { kind: 'head' }, 3);
  assert.match(
    cacheLine(cached)!,
    /^frozen features: cached \(bert embeddings … encoder\.layer\.1, 48 examples, [\d.]+ KiB in memory\); the frozen part runs in eval mode: dropout off there \(transformers' head-only run keeps it on\)$/,
  );
  // Transformers' head-only run (dropout on in the frozen layers) ends elsewhere: the eval-mode semantics are real.
  const transformersLike = await run(tinyBert(5), dataset, { strategy: { kind: 'head' } });
  assert.ok(maxDifference(cached.weights, transformersLike.weights) > 1e-4);
  // Only the head trained.
  for (const [key, value] of cached.weights)
    if (!/^(bert\.pooler|classifier)\./.test(key)) assert.deepEqual(value, initial.get(key), key);
});

test('BERT top-k: the unfrozen layers train on cached hidden states (padded per batch) as on the model', async () => {
  const dataset = slice(await sst2(24), 0, 48);
  const { cached } = await assertCachedEqualsEvalPrefix(() => tinyBert(6), dataset, { kind: 'top-k', k: 1 }, 2);
  assert.match(cacheLine(cached)!, /^frozen features: cached \(bert embeddings … encoder\.layer\.0, 48 examples, /);
});

test('the evaluations during training read cached features of the evaluation data: the uncached losses and accuracies', async () => {
  const all = await sst2(24);
  const [trainSet, evalSet] = [slice(all, 0, 40), slice(all, 40, 72)];
  const settings = { strategy: { kind: 'top-k', k: 1 } as const, evalStrategy: 'epoch' as const };
  const cached = await run(tinyBert(9), trainSet, { ...settings, cacheFrozenFeatures: true }, [], evalSet);
  const reference = await run(tinyBert(9), trainSet, settings, [frozenGroupsInEval(2)], evalSet);
  assert.match(
    cacheLine(cached)!,
    /, 40 training examples, [\d.]+ KiB in memory; 32 evaluation examples, [\d.]+ KiB in memory\)/,
  );
  const evaluations = (r: Run) => r.logHistory.filter((entry) => 'eval_loss' in entry);
  assert.equal(evaluations(cached).length, 3);
  evaluations(cached).forEach((entry, i) => {
    const other = evaluations(reference)[i];
    assert.ok(Math.abs((entry.eval_loss as number) - (other.eval_loss as number)) <= 1e-6, `epoch ${i + 1} eval_loss`);
    assert.equal(entry.eval_accuracy, other.eval_accuracy);
  });
  assert.ok(maxDifference(cached.weights, reference.weights) <= 1e-6);
});

test('on disk (a memory budget of 0 bytes): the same weights, and the file is gone after train()', async () => {
  const dataset = slice(await sst2(24), 0, 32);
  const inMemory = await run(tinyBert(8), dataset, { strategy: { kind: 'top-k', k: 1 }, cacheFrozenFeatures: true });
  process.env.FINETUNE_FEATURE_CACHE_MEMORY_BYTES = '0';
  try {
    const onDisk = await run(tinyBert(8), dataset, { strategy: { kind: 'top-k', k: 1 }, cacheFrozenFeatures: true });
    assert.match(cacheLine(onDisk)!, /, 32 examples, [\d.]+ KiB on disk in .*\.frozen-features-\w+\)/);
    assert.equal(maxDifference(onDisk.weights, inMemory.weights), 0);
    assert.deepEqual(
      readdirSync(onDisk.outputDir).filter((name) => name.startsWith('.frozen-features-')),
      [],
    );
  } finally {
    delete process.env.FINETUNE_FEATURE_CACHE_MEMORY_BYTES;
  }
  process.env.FINETUNE_FEATURE_CACHE_MEMORY_BYTES = '-1';
  try {
    await assert.rejects(
      run(tinyBert(8), dataset, { strategy: { kind: 'head' }, cacheFrozenFeatures: true }),
      /FINETUNE_FEATURE_CACHE_MEMORY_BYTES must be a whole number of bytes/,
    );
  } finally {
    delete process.env.FINETUNE_FEATURE_CACHE_MEMORY_BYTES;
  }
});

/** Random images (3×32×32 unless `shape`) with 3 classes; `transform` is applied to each (the augmentation check reads it). */
class Images implements data.Dataset<{ image: Tensor; label: number }> {
  readonly pixels: Float32Array[];
  readonly labels: number[];
  constructor(
    count: number,
    readonly transform?: data.Transform,
    readonly shape: number[] = [3, 32, 32],
  ) {
    manualSeed(99);
    this.pixels = Array.from({ length: count }, () => randn([shape.reduce((a, b) => a * b)]).data() as Float32Array);
    this.labels = Array.from({ length: count }, (_, i) => i % 3);
  }
  get length(): number {
    return this.labels.length;
  }
  get(index: number): { image: Tensor; label: number } {
    const image = fromTypedArray(this.pixels[index], this.shape);
    return { image: this.transform ? this.transform(image, { epoch: 0, index }) : image, label: this.labels[index] };
  }
}

const tinyResnet = (): nn.Module => {
  manualSeed(4);
  return new ResNet({ block: 'basic', layers: [1, 1, 1, 1], numClasses: 3 });
};

test('ResNet head-only and top-k (BatchNorm frozen): cached = uncached with the frozen part in eval mode', async () => {
  const images = new Images(24);
  const settings = { trainBatchNorm: false, optim: 'sgd' as const, sgdMomentum: 0.9, learningRate: 0.05 };
  const head = await assertCachedEqualsEvalPrefix(tinyResnet, images, { kind: 'head' }, 5, settings);
  assert.match(
    cacheLine(head.cached)!,
    /^frozen features: cached \(resnet stem … layer4, 24 examples, 48\.2 KiB in memory\); the frozen part runs in eval mode: BatchNorm on its running statistics$/,
  );
  const topK = await assertCachedEqualsEvalPrefix(tinyResnet, images, { kind: 'top-k', k: 1 }, 4, settings);
  assert.match(cacheLine(topK.cached)!, /^frozen features: cached \(resnet stem … layer3, 24 examples, /);
});

test('ViT and AlexNet (dropout in its frozen fc6 and fc7): cached = uncached with the frozen part in eval mode', async () => {
  const vit = () => {
    manualSeed(12);
    return new models.ViTForImageClassification(TINY_VIT_CONFIG);
  };
  const images = new Images(24);
  const head = await assertCachedEqualsEvalPrefix(vit, images, { kind: 'head' }, 3);
  assert.match(cacheLine(head.cached)!, /^frozen features: cached \(vit embeddings … encoder\.layer\.1, 24 examples, /);
  await assertCachedEqualsEvalPrefix(vit, images, { kind: 'top-k', k: 1 }, 2);
  const alexnet = () => {
    manualSeed(13);
    return new models.AlexNet({ ...models.ALEXNET_PRESETS['alexnet-small'], numClasses: 3 });
  };
  const gray = new Images(16, undefined, [1, 64, 64]);
  const frozenBody = await assertCachedEqualsEvalPrefix(alexnet, gray, { kind: 'head' }, 7);
  assert.match(
    cacheLine(frozenBody.cached)!,
    /^frozen features: cached \(alexnet conv1 … fc7, 16 examples, [\d.]+ KiB in memory\); the frozen part runs in eval mode: dropout off there/,
  );
  await assertCachedEqualsEvalPrefix(alexnet, gray, { kind: 'top-k', k: 1 }, 6);
});

test('refused with the reason where nothing is frozen, the examples change or the model cannot split', async () => {
  const dataset = slice(await sst2(16), 0, 16);
  const refusals: [string, () => nn.Module, data.Dataset<unknown>, Partial<train.TrainingArgumentsOptions>, RegExp][] =
    [
      [
        'full',
        () => tinyBert(1),
        dataset,
        { strategy: { kind: 'full' } },
        /nothing is frozen: layer group 'embeddings', the first, trains/,
      ],
      [
        'LoRA',
        () => tinyBert(1),
        dataset,
        { strategy: new LoraConfig({ taskType: 'SEQ_CLS', r: 2, targetModules: ['query', 'value'] }) },
        /a PEFT method puts trainable adapters inside the layers/,
      ],
      [
        'gradual unfreezing',
        () => tinyBert(1),
        dataset,
        { strategy: { kind: 'gradual-unfreezing', schedule: { every: 'epoch' } } },
        /gradual unfreezing changes the frozen part while training/,
      ],
      [
        'ResNet with trainable BatchNorm in the stem',
        tinyResnet,
        new Images(8),
        { strategy: { kind: 'head' } },
        /nothing is frozen: layer group 'stem', the first, trains \(its BatchNorm weights train with trainBatchNorm: --train-bn false freezes them\)/,
      ],
      [
        'random augmentation',
        tinyResnet,
        new Images(8, data.transforms.compose([data.transforms.randomHorizontalFlip(0.5, { seed: 1 })])),
        { strategy: { kind: 'head' }, trainBatchNorm: false },
        /the training examples change every epoch: Images's transform is random \(augmentation\)/,
      ],
    ];
  for (const [what, build, examples, settings, reason] of refusals) {
    await assert.rejects(run(build(), examples, { ...settings, cacheFrozenFeatures: true }), (error: Error) => {
      assert.match(error.message, /^cacheFrozenFeatures \(--cache-frozen-features\): /, what);
      assert.match(error.message, reason, what);
      return true;
    });
    const auto = await run(build(), examples, { ...settings, cacheFrozenFeatures: 'auto', maxSteps: 4 });
    assert.match(cacheLine(auto)!, /^frozen features: not cached \(/, what);
    assert.match(cacheLine(auto)!, reason, what);
  }
  // 'auto' on a run that reads each example once: nothing to reuse. A deterministic transform is no augmentation.
  const once = await run(tinyBert(1), dataset, {
    strategy: { kind: 'head' },
    cacheFrozenFeatures: 'auto',
    numTrainEpochs: 1,
  });
  assert.equal(
    cacheLine(once),
    'frozen features: not cached (the run reads each training example at most once: nothing to reuse)',
  );
  const plain = new Images(8, data.transforms.compose([data.transforms.normalize([0, 0, 0], [2, 2, 2])]));
  assert.equal(data.randomAugmentationOf(plain), null);
});

test('finetune train --cache-frozen-features: the plan line, the trained model, no cache left behind', () => {
  const dir = tmp();
  const modelDir = writeTinyBertModelFolder(join(dir, 'model'));
  const outputDir = join(dir, 'out');
  const result = runCli([
    'train',
    '--model',
    modelDir,
    '--train-file',
    SST2_TRAIN,
    '--method',
    'head',
    '--cache-frozen-features',
    '--num-train-epochs',
    '2',
    '--max-length',
    '24',
    '--output-dir',
    outputDir,
    '--save-strategy',
    'no',
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    /frozen features: cached \(bert embeddings … encoder\.layer\.1, \d+ examples, [\d.]+ KiB in memory\); the frozen part runs in eval mode/,
  );
  assert.ok(existsSync(join(outputDir, 'model.safetensors')));
  assert.deepEqual(
    readdirSync(outputDir).filter((name) => name.startsWith('.frozen-features-')),
    [],
  );
  const refused = runCli([
    'train',
    '--model',
    modelDir,
    '--train-file',
    SST2_TRAIN,
    '--method',
    'full',
    '--cache-frozen-features',
    '--max-steps',
    '1',
    '--output-dir',
    join(dir, 'full'),
  ]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /--cache-frozen-features\): nothing is frozen/);

  // compare turns it on where it applies: the head row caches (2 epochs), the full row says why not.
  const compareDir = join(dir, 'compare');
  const compare = runCli([
    'compare',
    '--model',
    modelDir,
    '--train-file',
    SST2_TRAIN,
    '--validation-split',
    '0.2',
    '--methods',
    'head,full',
    '--learning-rate',
    '1e-3',
    '--num-train-epochs',
    '2',
    '--max-length',
    '24',
    '--output-dir',
    compareDir,
  ]);
  assert.equal(compare.code, 0, compare.stderr);
  assert.match(
    readFileSync(join(compareDir, 'head.log'), 'utf8'),
    /frozen features: cached \(bert embeddings … encoder\.layer\.1, 160 training examples, [\d.]+ KiB in memory; 40 evaluation examples, [\d.]+ KiB in memory\)/,
  );
  assert.match(
    readFileSync(join(compareDir, 'full.log'), 'utf8'),
    /frozen features: not cached \(nothing is frozen: layer group 'embeddings', the first, trains\)/,
  );
});

// The Trainer on a tiny BERT (random init, hidden 16, 2 layers, dropout on) and SST-2 rows tokenised
// with bert-base-uncased's tokenizer: learning, the checkpoint layout, memory, keep-last-K, the
// best model at the end, early stopping, NaN handling, evaluation and predict, argument checks.
// Resuming (bit for bit, and after SIGKILL) is in trainer-resume.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import {
  LoraConfig,
  Trainer,
  TrainingArguments,
  data,
  loadSafetensorsSync,
  manualSeed,
  memory,
  models,
  randn,
  setNumThreads,
  train,
  type Tensor,
} from 'finetune';
import { differences, slice, snapshot, sst2, tempFolders, tinyBert } from './helpers/trainer-setup.js';

// One thread: these models are tiny, and libtorch's worker threads crawl when the cores are busy.
setNumThreads(1);

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
const tmp = tempFolders('finetune-trainer');
const lora = (): LoraConfig =>
  new LoraConfig({ taskType: 'SEQ_CLS', r: 4, loraAlpha: 8, targetModules: ['query', 'value'], loraDropout: 0.1 });
/** `actual` equals a value pinned from a run of this test, to float32 precision across machines. */
function near(actual: number, pinned: number, what: string): void {
  assert.ok(Math.abs(actual - pinned) <= 1e-5 * Math.max(1, Math.abs(pinned)), `${what}: ${actual}, pinned ${pinned}`);
}
const json = (path: string): Record<string, unknown> =>
  JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

/** A computeMetrics that reports `score` from a script, one value per evaluation. */
function scripted(values: number[]): (p: train.EvalPrediction) => train.Metrics {
  let k = 0;
  return () => ({ score: values[Math.min(k++, values.length - 1)] });
}

test('full fine-tuning lowers the training loss; LoRA trains only the adapter and the head copy', async () => {
  const dataset = await sst2(16);
  const trainer = new Trainer({
    model: tinyBert(1),
    args: new TrainingArguments({
      outputDir: tmp(),
      maxSteps: 24,
      perDeviceTrainBatchSize: 8,
      learningRate: 1e-2,
      lrSchedulerType: 'constant',
      loggingSteps: 1,
      saveStrategy: 'no',
      seed: 1,
      strategy: { kind: 'full' },
    }),
    trainDataset: slice(dataset, 0, 8),
    log: null,
  });
  const { globalStep, trainingLoss } = await trainer.train();
  assert.equal(globalStep, 24);
  const losses = trainer.state.logHistory.filter((e) => typeof e.loss === 'number').map((e) => e.loss as number);
  assert.equal(losses.length, 24);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(
    mean(losses.slice(-4)) < mean(losses.slice(0, 4)) - 0.3,
    `loss should fall: ${losses.map((l) => l.toFixed(3)).join(' ')}`,
  );
  assert.ok(Math.abs(trainingLoss - mean(losses)) < 1e-12, 'train_loss is the mean step loss');
  // Pinned (this run, one thread): a change to the loop, the loss or the optimizer shows here.
  near(trainingLoss, 0.3680177404700468, 'train_loss');
  near(losses[0], 0.6943084001541138, 'the first step loss');
  near(losses[23], 0.00920938141644001, 'the last step loss');

  const model = tinyBert(2);
  const base = model.parameters();
  const before = base.map((p) => Float32Array.from(p.data() as Float32Array));
  const peftTrainer = new Trainer({
    model,
    args: new TrainingArguments({
      outputDir: tmp(),
      maxSteps: 6,
      perDeviceTrainBatchSize: 4,
      loggingSteps: 1,
      saveStrategy: 'no',
      strategy: lora(),
    }),
    trainDataset: slice(dataset, 0, 12),
    log: null,
  });
  assert.equal(peftTrainer.learningRate, 2e-4, 'LoRA default lr');
  assert.match(
    peftTrainer.planLines().join('\n'),
    /LoRA default .*\n.*schedule linear\n6 optimizer steps: 2 epoch\(s\) × 3 steps/,
  );
  await peftTrainer.train();
  // The base model's own tensors (wrapped in place, so under new names) are untouched.
  assert.ok(base.every((p, i) => (p.data() as Float32Array).every((v, j) => Object.is(v, before[i][j]))));
  const peft = peftTrainer.model as unknown as { adapterStateDict(): Map<string, Tensor> };
  const losses2 = peftTrainer.state.logHistory.filter((e) => typeof e.loss === 'number').map((e) => e.loss as number);
  [
    0.691339373588562, 0.6913818120956421, 0.6944670677185059, 0.693115770816803, 0.6925942301750183,
    0.6927341222763062,
  ].forEach((loss, i) => near(losses2[i], loss, `LoRA step ${i + 1} loss`));
  assert.ok([...peft.adapterStateDict().keys()].some((k) => k.includes('lora_B')));
});

test('checkpoints follow the documented layout; log history, metrics.jsonl; memory stays flat', async () => {
  // The previous test's trainers are garbage whose tensors a collection frees at any moment: free them first.
  collectGarbage();
  await new Promise((resolve) => setTimeout(resolve, 0));
  const dataset = await sst2(16);
  const outputDir = tmp();
  const counts: number[] = [];
  const events: string[] = [];
  const trainer = new Trainer({
    model: tinyBert(3),
    args: new TrainingArguments({
      outputDir,
      maxSteps: 6,
      perDeviceTrainBatchSize: 4,
      perDeviceEvalBatchSize: 8,
      learningRate: 1e-3,
      loggingSteps: 1,
      evalStrategy: 'steps',
      evalSteps: 2,
      saveSteps: 2,
      dataloaderPrefetch: 0,
      strategy: lora(),
    }),
    trainDataset: slice(dataset, 0, 12),
    evalDataset: slice(dataset, 100, 116),
    log: null,
    callbacks: [
      {
        onStepEnd: (_args, state) => {
          if (state.globalStep >= 2) counts.push(memory().numTensors);
        },
        onTrainBegin: () => void events.push('trainBegin'),
        onEpochBegin: (_a, _s, _c, context) => void events.push(`epochBegin ${context.epochIndex}`),
        onEvaluate: (_a, state, _c, context) =>
          void events.push(`evaluate ${state.globalStep} ${Object.keys(context.metrics!).slice(0, 2).join(',')}`),
        onSave: (_a, _s, _c, context) => void events.push(`save ${context.checkpoint!.split('/').pop()}`),
        onTrainEnd: () => void events.push('trainEnd'),
      },
    ],
  });
  await trainer.train();

  // Memory: the same live tensors after every step, evaluations and saves included.
  assert.equal(new Set(counts).size, 1, `live tensors per step: ${counts.join(' ')}`);
  assert.deepEqual(events.slice(0, 2), ['trainBegin', 'epochBegin 0']);
  assert.ok(
    events.includes('evaluate 2 eval_loss,eval_accuracy') &&
      events.includes('save checkpoint-6') &&
      events.at(-1) === 'trainEnd',
    events.join(' | '),
  );

  assert.deepEqual(readdirSync(outputDir).sort(), [
    'checkpoint-2',
    'checkpoint-4',
    'checkpoint-6',
    'metrics.jsonl',
    'trainer_state.json',
  ]);
  const dir = join(outputDir, 'checkpoint-4');
  assert.deepEqual(readdirSync(dir).sort(), [
    'adapter_config.json',
    'adapter_model.safetensors',
    'optimizer.json',
    'optimizer.safetensors',
    'rng_state.safetensors',
    'scheduler.json',
    'trainer_state.json',
    'training_args.json',
  ]);
  assert.equal(json(join(dir, 'adapter_config.json')).peft_type, 'LORA');
  const state = json(join(dir, 'trainer_state.json'));
  for (const key of [
    'global_step',
    'epoch',
    'max_steps',
    'num_train_epochs',
    'logging_steps',
    'eval_steps',
    'save_steps',
    'train_batch_size',
    'best_metric',
    'best_model_checkpoint',
    'log_history',
    'stateful_callbacks',
  ]) {
    assert.ok(key in state, `trainer_state.json has ${key}`);
  }
  assert.equal(state.global_step, 4);
  assert.equal(state.max_steps, 6);
  assert.equal(state.epoch, 4 / 3);
  const history = state.log_history as Record<string, number>[];
  assert.deepEqual(Object.keys(history[0]), ['loss', 'grad_norm', 'learning_rate', 'epoch', 'step']);
  const evalEntry = history.find((e) => 'eval_loss' in e)!;
  assert.deepEqual(Object.keys(evalEntry), [
    'eval_loss',
    'eval_accuracy',
    'eval_f1',
    'eval_runtime',
    'eval_samples_per_second',
    'eval_steps_per_second',
    'epoch',
    'step',
  ]);
  assert.equal(evalEntry.step, 2);

  const optimizer = json(join(dir, 'optimizer.json'));
  assert.equal(optimizer.optimizer, 'AdamW');
  const groups = optimizer.param_groups as {
    name: string;
    params: number[];
    param_names: string[];
    lr: number;
    initial_lr: number;
  }[];
  assert.deepEqual(
    groups.map((g) => g.name),
    ['decay', 'no_decay'],
  );
  assert.ok(groups[0].param_names[0].endsWith('query.lora_A.default.weight'));
  const optimizerTensors = loadSafetensorsSync(join(dir, 'optimizer.safetensors')).tensors;
  assert.deepEqual([...optimizerTensors.keys()].filter((k) => k.startsWith('state.0.')).sort(), [
    'state.0.exp_avg',
    'state.0.exp_avg_sq',
    'state.0.step',
  ]);
  assert.equal(optimizerTensors.get('state.0.step')!.item(), 4);
  const scheduler = json(join(dir, 'scheduler.json'));
  assert.deepEqual(
    [scheduler.type, scheduler.name, (scheduler.state as { lastStep: number }).lastStep],
    ['LRScheduler', 'linear', 4],
  );
  const rng = loadSafetensorsSync(join(dir, 'rng_state.safetensors')).tensors;
  assert.equal(rng.get('cpu_rng_state')!.dtype, 'uint8');
  assert.deepEqual(
    ['epoch', 'position', 'seed', 'batches_per_epoch'].map((k) => rng.get(`data_loader.${k}`)!.item()),
    [1, 1, 42, 3],
  );
  const args = json(join(dir, 'training_args.json'));
  assert.equal(args.output_dir, outputDir);
  assert.equal(args.learning_rate, 1e-3);
  assert.equal((args.strategy as { peft_type: string }).peft_type, 'LORA');

  // The final trainer_state.json ends with the train summary; metrics.jsonl holds every entry.
  const final = json(join(outputDir, 'trainer_state.json'));
  const finalHistory = final.log_history as Record<string, number>[];
  assert.ok('train_loss' in finalHistory.at(-1)! && 'train_runtime' in finalHistory.at(-1)!);
  const lines = readFileSync(join(outputDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  assert.deepEqual(lines, finalHistory);
  assert.equal(finalHistory.filter((e) => 'loss' in e).length, 6);
  assert.equal(finalHistory.filter((e) => 'eval_loss' in e).length, 3);
});

test('saveTotalLimit keeps the newest checkpoints, and the best; loadBestModelAtEnd restores it', async () => {
  const dataset = await sst2(16);
  const base = {
    maxSteps: 5,
    perDeviceTrainBatchSize: 4,
    learningRate: 1e-2,
    saveSteps: 1,
    loggingSteps: 5,
    saveTotalLimit: 2,
    strategy: lora(),
  } as const;

  const plainDir = tmp();
  await new Trainer({
    model: tinyBert(4),
    args: { ...base, outputDir: plainDir, strategy: lora() },
    trainDataset: slice(dataset, 0, 8),
    log: null,
  }).train();
  assert.deepEqual(
    readdirSync(plainDir)
      .filter((n) => n.startsWith('checkpoint'))
      .sort(),
    ['checkpoint-4', 'checkpoint-5'],
  );

  const outputDir = tmp();
  let atBest: Map<string, Float32Array> | undefined;
  const trainer = new Trainer({
    model: tinyBert(4),
    args: {
      ...base,
      outputDir,
      strategy: lora(),
      evalStrategy: 'steps',
      evalSteps: 1,
      loadBestModelAtEnd: true,
      metricForBestModel: 'score',
    },
    trainDataset: slice(dataset, 0, 8),
    evalDataset: slice(dataset, 100, 104),
    computeMetrics: scripted([0.2, 0.9, 0.1, 0.3, 0.4]),
    callbacks: [
      { onSave: (_a, state, _c, context) => void (state.globalStep === 2 && (atBest = snapshot(context.model))) },
    ],
    log: null,
  });
  await trainer.train();
  assert.deepEqual(
    readdirSync(outputDir)
      .filter((n) => n.startsWith('checkpoint'))
      .sort(),
    ['checkpoint-2', 'checkpoint-5'],
  );
  assert.equal(trainer.state.bestMetric, 0.9);
  assert.equal(trainer.state.bestModelCheckpoint, join(outputDir, 'checkpoint-2'));
  assert.equal(trainer.state.bestGlobalStep, 2);
  assert.deepEqual(differences(atBest!, snapshot(trainer.model)), [], 'the model at the end is the best checkpoint');
});

test('early stopping follows HF: patience counts evaluations without an improvement above the threshold', async () => {
  const dataset = await sst2(16);
  const run = async (values: number[], threshold: number) => {
    const trainer = new Trainer({
      model: tinyBert(5),
      args: {
        outputDir: tmp(),
        maxSteps: 8,
        perDeviceTrainBatchSize: 4,
        saveStrategy: 'no',
        evalStrategy: 'steps',
        evalSteps: 1,
        metricForBestModel: 'score',
        earlyStoppingPatience: 2,
        earlyStoppingThreshold: threshold,
        strategy: lora(),
      },
      trainDataset: slice(dataset, 0, 8),
      evalDataset: slice(dataset, 100, 102),
      computeMetrics: scripted(values),
      log: null,
    });
    await trainer.train();
    return trainer.state.globalStep;
  };
  assert.equal(await run([0.5, 0.5, 0.5, 0.5], 0), 3, 'best at 1, no improvement at 2 and 3');
  assert.equal(await run([0.5, 0.505, 0.51, 0.6, 0.7], 0.01), 3, 'improvements within the threshold do not count');
  assert.equal(await run([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], 0.01), 8, 'steady improvement never stops');
});

test("a NaN loss stops training naming the step, or with nanPolicy 'skip' skips that update", async () => {
  const dataset = await sst2(16);
  const poisoned = () => {
    let calls = 0;
    return (model: unknown, batch: unknown): train.ModelOutput => {
      const out = train.defaultForward(
        model as Parameters<typeof train.defaultForward>[0],
        batch,
        true,
      ) as train.ModelOutput;
      return ++calls === 3 ? { logits: out.logits, loss: out.loss!.mul(NaN) } : out;
    };
  };
  const args = (nanPolicy: 'stop' | 'skip') => ({
    outputDir: tmp(),
    maxSteps: 5,
    perDeviceTrainBatchSize: 4,
    learningRate: 1e-2,
    saveStrategy: 'no' as const,
    loggingSteps: 1,
    nanPolicy,
    strategy: lora(),
  });
  const stopper = new Trainer({
    model: tinyBert(6),
    args: args('stop'),
    trainDataset: slice(dataset, 0, 8),
    forward: poisoned(),
    log: null,
  });
  await assert.rejects(
    stopper.train(),
    /training stopped at step 3 \(epoch 1, batch 1 of 2\): the loss is NaN \(nanPolicy 'stop'\)/,
  );

  const snapshots = new Map<number, Map<string, Float32Array>>();
  const messages: string[] = [];
  const skipper = new Trainer({
    model: tinyBert(6),
    args: args('skip'),
    trainDataset: slice(dataset, 0, 8),
    forward: poisoned(),
    log: (line) => messages.push(line),
    callbacks: [
      { onStepEnd: (_a, state, _c, context) => void snapshots.set(state.globalStep, snapshot(context.model)) },
    ],
  });
  const { globalStep, metrics } = await skipper.train();
  assert.equal(globalStep, 5);
  assert.equal(metrics.train_skipped_steps, 1);
  assert.ok(
    messages.some((m) => /step 3: the loss is NaN; update skipped/.test(m)),
    messages.join('\n'),
  );
  assert.deepEqual(differences(snapshots.get(2)!, snapshots.get(3)!), [], 'step 3 changed nothing');
  assert.ok(differences(snapshots.get(3)!, snapshots.get(4)!).length > 0, 'step 4 trained');
  const entries = skipper.state.logHistory.filter((e) => e.step === 3);
  assert.equal(entries[0].grad_norm, null);
  assert.ok(!('loss' in entries[0]), 'no loss logged for a skipped step');
  assert.ok([...snapshots.get(5)!.values()].every((a) => a.every(Number.isFinite)));
});

test('evaluate and predict: loss, metrics and logits', async () => {
  const dataset = await sst2(16);
  const evalData = slice(dataset, 100, 110);
  const trainer = new Trainer({
    model: tinyBert(8),
    args: { outputDir: tmp(), perDeviceEvalBatchSize: 4, strategy: { kind: 'head' } },
    evalDataset: evalData,
    log: null,
  });
  assert.equal(trainer.learningRate, 1e-3, 'head-only default lr');
  const metrics = await trainer.evaluate();
  assert.deepEqual(Object.keys(metrics), [
    'eval_loss',
    'eval_accuracy',
    'eval_f1',
    'eval_runtime',
    'eval_samples_per_second',
    'eval_steps_per_second',
    'epoch',
  ]);
  const { predictions, labelIds, metrics: test } = await trainer.predict(evalData);
  assert.equal(predictions.length, 10);
  assert.equal(predictions[0].length, 2);
  assert.deepEqual(
    labelIds,
    Array.from({ length: 10 }, (_, i) => dataset.get(100 + i).label),
  );
  assert.equal(test.test_loss, metrics.eval_loss, 'same data, same loss');
  const accuracy = train.accuracyScore(labelIds as number[], train.argmax(predictions));
  assert.equal(test.test_accuracy, accuracy);
  assert.ok(trainer.model.training, 'evaluation restores the training mode');
});

test('image models: ViT gets the batch (image as pixelValues), ResNet the image tensor; label smoothing', async () => {
  class Images {
    readonly length = 8;
    get(i: number): { image: Tensor; label: number } {
      return { image: randn([3, 32, 32]), label: i % 3 };
    }
  }
  manualSeed(0);
  const vit = new models.ViTForImageClassification({
    hiddenSize: 16,
    numHiddenLayers: 1,
    numAttentionHeads: 2,
    intermediateSize: 16,
    imageSize: 32,
    patchSize: 16,
    numLabels: 3,
  });
  const resnet = new models.ResNet({ block: 'basic', layers: [1, 1, 1, 1], numClasses: 3 });
  for (const [model, extra] of [
    [vit, { labelSmoothingFactor: 0.1, optim: 'adam' }],
    [resnet, { strategy: { kind: 'head' }, optim: 'sgd', sgdMomentum: 0.9 }],
  ] as const) {
    const trainer = new Trainer({
      model,
      args: { outputDir: tmp(), maxSteps: 2, perDeviceTrainBatchSize: 4, saveStrategy: 'no', ...extra },
      trainDataset: new Images(),
      evalDataset: new Images(),
      log: null,
    });
    const { trainingLoss } = await trainer.train();
    assert.ok(Number.isFinite(trainingLoss) && trainingLoss > 0.5, `${model.constructor.name}: ${trainingLoss}`);
    const metrics = await trainer.evaluate();
    const [pinnedTrain, pinnedEval] =
      model === vit ? [1.126717209815979, 1.1273573637008667] : [0.9679931700229645, 1.100097417831421];
    near(trainingLoss, pinnedTrain, `${model.constructor.name} train_loss`);
    near(metrics.eval_loss, pinnedEval, `${model.constructor.name} eval_loss`);
    assert.deepEqual(Object.keys(metrics).slice(0, 3), ['eval_loss', 'eval_accuracy', 'eval_f1_macro']);
  }
});

test('total_flos: 6 × non-embedding parameters × tokens, as transformers estimates it; a ViT counts its patches and [CLS]; a CNN none', async () => {
  // Sentences of at least 8 tokens, cut to 8: every batch of 4 holds 32 input ids, padding-free.
  const dataset = await sst2(8);
  const long = Array.from({ length: dataset.length }, (_, i) => i)
    .filter((i) => dataset.get(i).inputIds.length === 8)
    .slice(0, 12);
  assert.equal(long.length, 12);
  const bert = tinyBert(5);
  const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const all = bert.parameters().reduce((n, p) => n + p.numel(), 0);
  // The word, position and token-type embedding tables (vocab 30522, 64 positions, 2 types, hidden 16) are left out.
  const nonEmbedding = all - numel([30522, 16]) - numel([64, 16]) - numel([2, 16]);
  const steps = 3;
  const text = new Trainer({
    model: bert,
    args: { outputDir: tmp(), maxSteps: steps, perDeviceTrainBatchSize: 4, saveStrategy: 'no' },
    trainDataset: new data.Subset(dataset, long),
    log: null,
  });
  const { metrics } = await text.train();
  assert.equal(metrics.total_flos, 6 * nonEmbedding * steps * 4 * 8);
  assert.equal(text.state.totalFlos, metrics.total_flos);

  class Images {
    readonly length = 8;
    get(i: number): { image: Tensor; label: number } {
      return { image: randn([3, 32, 32]), label: i % 3 };
    }
  }
  // 32×32 images in 16×16 patches: 4 patches and the [CLS] token per image.
  manualSeed(0);
  const vit = new models.ViTForImageClassification({
    hiddenSize: 16,
    numHiddenLayers: 1,
    numAttentionHeads: 2,
    intermediateSize: 16,
    imageSize: 32,
    patchSize: 16,
    numLabels: 3,
  });
  const vitParams = vit.parameters().reduce((n, p) => n + p.numel(), 0);
  const image = new Trainer({
    model: vit,
    args: { outputDir: tmp(), maxSteps: 2, perDeviceTrainBatchSize: 4, saveStrategy: 'no' },
    trainDataset: new Images(),
    log: null,
  });
  assert.equal((await image.train()).metrics.total_flos, 6 * vitParams * 2 * 4 * 5);

  const cnn = new Trainer({
    model: new models.ResNet({ block: 'basic', layers: [1, 1, 1, 1], numClasses: 3 }),
    args: { outputDir: tmp(), maxSteps: 1, perDeviceTrainBatchSize: 4, saveStrategy: 'no' },
    trainDataset: new Images(),
    log: null,
  });
  assert.equal((await cnn.train()).metrics.total_flos, 0);
});

test('TrainingArguments: HF defaults, clear errors, JSON round trip', () => {
  const args = new TrainingArguments({ outputDir: 'out' });
  assert.deepEqual(
    [
      args.numTrainEpochs,
      args.maxSteps,
      args.perDeviceTrainBatchSize,
      args.weightDecay,
      args.adamBeta2,
      args.adamEpsilon,
      args.maxGradNorm,
      args.lrSchedulerType,
      args.optim,
      args.saveSteps,
      args.loggingSteps,
      args.evalSteps,
      args.seed,
    ],
    [3, -1, 8, 0, 0.999, 1e-8, 1, 'linear', 'adamw_torch', 500, 500, 500, 42],
  );
  assert.equal(
    new TrainingArguments({ loadBestModelAtEnd: true, evalStrategy: 'epoch', saveStrategy: 'epoch' })
      .metricForBestModel,
    'loss',
  );
  assert.equal(new TrainingArguments({ metricForBestModel: 'accuracy' }).greaterIsBetter, true);
  assert.equal(new TrainingArguments({ metricForBestModel: 'eval_loss' }).greaterIsBetter, false);
  const bad: [object, RegExp][] = [
    [{ learningRate: -1 }, /learningRate must be a number > 0, got -1/],
    [{ perDeviceTrainBatchSize: 0 }, /perDeviceTrainBatchSize must be a positive integer, got 0/],
    [{ warmupSteps: 10, warmupRatio: 0.1 }, /give warmupSteps \(10\) or warmupRatio \(0.1\), not both/],
    [
      { loadBestModelAtEnd: true, evalStrategy: 'steps', saveStrategy: 'epoch' },
      /requires the save and eval strategy to match/,
    ],
    [
      { loadBestModelAtEnd: true, evalStrategy: 'steps', evalSteps: 3, saveSteps: 10 },
      /saveSteps to be a round multiple of evalSteps/,
    ],
    [{ optim: 'lamb' }, /optim must be one of 'adamw_torch', 'adamw_torch_fused', 'adam', 'sgd', got 'lamb'/],
    [{ lrSchedulerType: 'cosinus' }, /lrSchedulerType must be one of .*got 'cosinus'/],
    [{ nanPolicy: 'ignore' }, /nanPolicy must be one of 'stop', 'skip'/],
    [{ earlyStoppingPatience: 2 }, /earlyStoppingPatience needs evaluations/],
    [{ strategy: { kind: 'lora' } }, /unknown strategy kind 'lora'/],
    [{ strategy: { kind: 'gradual-unfreezing', schedule: { everySteps: 0 } } }, /everySteps: N/],
    [{ discriminativeLr: { factor: 2.6 }, layerwiseLrDecay: 0.8 }, /not both/],
    [{ numTrainEpochs: 0 }, /numTrainEpochs must be a number > 0/],
    [{ learning_rate: 1e-3 }, /unknown option\(s\) learning_rate/],
  ];
  for (const [options, message] of bad)
    assert.throws(() => new TrainingArguments(options as never), message, JSON.stringify(options));

  const original = new TrainingArguments({
    outputDir: 'o',
    learningRate: 1e-4,
    strategy: lora(),
    evalStrategy: 'epoch',
    discriminativeLr: { factor: 2.6 },
  });
  const json = original.toJson();
  assert.equal(json.per_device_train_batch_size, 8);
  assert.equal(json.eval_strategy, 'epoch');
  const back = TrainingArguments.fromJson(JSON.parse(JSON.stringify(json)));
  assert.deepEqual(back.toJson(), json);
  assert.ok(back.strategy instanceof LoraConfig);

  // A Trainer names the problem when the data cannot be evaluated or nothing trains.
  const model = tinyBert(9);
  model.requiresGrad_(false);
  assert.throws(
    () => new Trainer({ model, args: { outputDir: tmp() }, log: null }).createOptimizer(),
    /no parameter of BertForSequenceClassification requires grad/,
  );
});

// Resuming continues bit for bit: the final weights after resuming from a checkpoint equal those of
// an uninterrupted run — full fine-tuning with gradient accumulation (a partial cycle at each epoch's
// end), LoRA with dropout resuming at an epoch boundary, gradual unfreezing with discriminative lrs
// (parameter groups added on the way) — on a tiny BERT with dropout on and shuffled data. Then the
// kill test: a child process is SIGKILLed while it writes a checkpoint; the earlier checkpoints are
// intact, the half-written one is never picked, and resuming gives the uninterrupted run's weights.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { LoraConfig, Trainer, setNumThreads, train, type TrainingArguments } from 'finetune';
import { differences, killTestTrainer, slice, snapshot, sst2, tempFolders, tinyBert } from './helpers/trainer-setup.js';

setNumThreads(1);

const tmp = tempFolders('finetune-resume');

/** Entries without the timing fields, which differ between runs. */
const comparable = (history: train.LogEntry[]) =>
  history
    .filter((e) => !('train_runtime' in e))
    .map((e) => Object.fromEntries(Object.entries(e).filter(([k]) => !/_runtime$|_per_second$/.test(k))));

type ArgsOptions = ConstructorParameters<typeof TrainingArguments>[0];

/** Trains uninterrupted, then again from `checkpoint` of that run with a fresh model, and checks the two end equal. */
async function checkResume(
  name: string,
  makeModel: () => train.TrainerOptions['model'],
  args: ArgsOptions,
  checkpoint: number,
  rows: number,
): Promise<Trainer> {
  const dataset = await sst2(16);
  const outputDir = tmp();
  const full = new Trainer({
    model: makeModel(),
    args: { ...args, outputDir },
    trainDataset: slice(dataset, 0, rows),
    evalDataset: slice(dataset, 100, 108),
    log: null,
  });
  await full.train();
  const expected = snapshot(full.model);
  assert.ok(existsSync(join(outputDir, `checkpoint-${checkpoint}`)), `${name}: checkpoint-${checkpoint} written`);

  const resumed = new Trainer({
    model: makeModel(),
    args: { ...args, outputDir: tmp(), resumeFromCheckpoint: join(outputDir, `checkpoint-${checkpoint}`) },
    trainDataset: slice(dataset, 0, rows),
    evalDataset: slice(dataset, 100, 108),
    log: null,
  });
  const before = snapshot(resumed.model);
  await resumed.train();
  const actual = snapshot(resumed.model);
  assert.ok(differences(before, actual).length > 0, `${name}: the resumed run trained`);
  assert.deepEqual(
    differences(expected, actual),
    [],
    `${name}: resumed weights equal the uninterrupted run's bit for bit`,
  );
  assert.deepEqual(
    comparable(resumed.state.logHistory),
    comparable(full.state.logHistory),
    `${name}: the same log history`,
  );
  return resumed;
}

test('resuming a full fine-tuning run mid-epoch, with gradient accumulation, is bit-exact', async () => {
  // 12 examples in batches of 4: 3 micro-batches per epoch, accumulation 2 → updates of 2 and 1 micro-batches.
  const args: ArgsOptions = {
    maxSteps: 6,
    perDeviceTrainBatchSize: 4,
    gradientAccumulationSteps: 2,
    learningRate: 2e-3,
    warmupSteps: 2,
    weightDecay: 0.01,
    saveSteps: 3,
    loggingSteps: 1,
    evalStrategy: 'steps',
    evalSteps: 3,
    seed: 5,
    strategy: { kind: 'full' },
  };
  const resumed = await checkResume('full', () => tinyBert(10), args, 3, 12);
  const files = readdirSync(join(resumed.args.outputDir, 'checkpoint-6')).sort();
  assert.deepEqual(files, [
    'config.json',
    'model.safetensors',
    'optimizer.json',
    'optimizer.safetensors',
    'rng_state.safetensors',
    'scheduler.json',
    'trainer_state.json',
    'training_args.json',
  ]);
  const state = JSON.parse(readFileSync(join(resumed.args.outputDir, 'checkpoint-6', 'trainer_state.json'), 'utf8'));
  assert.equal(state.epoch, 3);
});

test('resuming a LoRA run (dropout in the adapter) at an epoch boundary is bit-exact', async () => {
  const args: ArgsOptions = {
    maxSteps: 7,
    perDeviceTrainBatchSize: 4,
    learningRate: 5e-3,
    saveSteps: 3,
    loggingSteps: 2,
    seed: 6,
    lrSchedulerType: 'cosine',
    strategy: new LoraConfig({
      taskType: 'SEQ_CLS',
      r: 4,
      loraAlpha: 8,
      targetModules: ['query', 'value'],
      loraDropout: 0.2,
    }),
  };
  await checkResume('lora', () => tinyBert(11), args, 3, 12);
});

test('resuming gradual unfreezing (groups join the optimizer on the way) with discriminative lrs is bit-exact', async () => {
  const args: ArgsOptions = {
    maxSteps: 6,
    perDeviceTrainBatchSize: 4,
    learningRate: 3e-3,
    saveSteps: 3,
    loggingSteps: 3,
    seed: 7,
    weightDecay: 0.01,
    discriminativeLr: { factor: 2.6 },
    strategy: { kind: 'gradual-unfreezing', schedule: { everySteps: 2 } },
  };
  const resumed = await checkResume('gradual', () => tinyBert(12), args, 3, 8);
  const groups = resumed.optimizer!.paramGroups;
  assert.deepEqual(
    groups.map((g) => g.name),
    [
      'head:decay',
      'head:no_decay',
      'encoder.layer.1:decay',
      'encoder.layer.1:no_decay',
      'encoder.layer.0:decay',
      'encoder.layer.0:no_decay',
    ],
  );
  // ULMFiT: the head at lr, each group below ÷ 2.6 (embeddings, the 4th group, never unfrozen in 6 steps).
  assert.ok(
    Math.abs(groups[2].initialLr - 3e-3 / 2.6) < 1e-15 && Math.abs(groups[4].initialLr - 3e-3 / 2.6 ** 2) < 1e-15,
  );
  const stage = (resumed.state.statefulCallbacks.GradualUnfreezingCallback as train.CallbackState).attributes.stage;
  assert.equal(stage, 2);
});

test('SIGKILL while a checkpoint is written: earlier checkpoints intact, the half one ignored, resuming is bit-exact', async () => {
  const outputDir = tmp();
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL('./helpers/trainer-child.js', import.meta.url)), outputDir],
    {
      env: { ...process.env, FINETUNE_TEST_PAUSE_IN_SAVE: '6' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ? null : code)),
  );
  const paused = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(
      () => reject(new Error(`the child never paused in the save; stdout: ${stdout}; stderr: ${stderr}`)),
      40_000,
    );
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const match = /FINETUNE_TEST_PAUSED_IN_SAVE 6 (\S+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on('exit', () => reject(new Error(`the child exited before pausing; stdout: ${stdout}; stderr: ${stderr}`)));
  });
  child.kill('SIGKILL');
  assert.equal(await exited, null, 'killed by the signal');

  // The half-written checkpoint is a temporary folder that resuming does not pick.
  assert.ok(existsSync(paused) && paused.includes('.tmp-checkpoint-6-'), paused);
  assert.ok(
    readdirSync(paused).includes('model.safetensors') && !readdirSync(paused).includes('trainer_state.json'),
    'killed halfway',
  );
  assert.deepEqual(
    readdirSync(outputDir)
      .filter((n) => n.startsWith('checkpoint'))
      .sort(),
    ['checkpoint-2', 'checkpoint-4'],
  );
  assert.equal(train.latestCheckpoint(outputDir), join(outputDir, 'checkpoint-4'));
  assert.equal(JSON.parse(readFileSync(join(outputDir, 'checkpoint-4', 'trainer_state.json'), 'utf8')).global_step, 4);

  // Uninterrupted, for reference.
  const reference = await killTestTrainer(tmp());
  await reference.train();
  // Resumed in the killed run's folder: from checkpoint-4, the stale temporary folder removed.
  const resumed = await killTestTrainer(outputDir, { resume: true });
  await resumed.train();
  assert.deepEqual(
    differences(snapshot(reference.model), snapshot(resumed.model)),
    [],
    'resumed after SIGKILL = uninterrupted',
  );
  assert.ok(!existsSync(paused), 'the temporary folder is gone');
  assert.deepEqual(
    readdirSync(outputDir)
      .filter((n) => n.startsWith('checkpoint'))
      .sort(),
    ['checkpoint-2', 'checkpoint-4', 'checkpoint-6', 'checkpoint-8'],
  );
  const lines = readFileSync(join(outputDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((e) => e.step),
    [1, 2, 3, 4, 5, 6, 7, 8, 8],
    "metrics.jsonl: the checkpoint's history, then the resumed steps, then the summary",
  );
});

test('resumeFromCheckpoint: true without a checkpoint, and a checkpoint from other data, fail clearly', async () => {
  const dataset = await sst2(16);
  const empty = tmp();
  const trainer = new Trainer({
    model: tinyBert(1),
    args: { outputDir: empty, maxSteps: 2, resumeFromCheckpoint: true },
    trainDataset: slice(dataset, 0, 8),
    log: null,
  });
  await assert.rejects(
    trainer.train(),
    /resumeFromCheckpoint: no valid checkpoint \(checkpoint-<step> with trainer_state.json\) in /,
  );

  const outputDir = tmp();
  await new Trainer({
    model: tinyBert(1),
    args: { outputDir, maxSteps: 2, saveSteps: 2, perDeviceTrainBatchSize: 4 },
    trainDataset: slice(dataset, 0, 8),
    log: null,
  }).train();
  const other = new Trainer({
    model: tinyBert(1),
    args: { outputDir, maxSteps: 4, perDeviceTrainBatchSize: 4, resumeFromCheckpoint: true },
    trainDataset: slice(dataset, 0, 12),
    log: null,
  });
  await assert.rejects(
    other.train(),
    /written with 2 batches per epoch, this run has 3: the training data, batch size or dataloaderDropLast differ/,
  );
  const lora = new Trainer({
    model: tinyBert(1),
    args: {
      outputDir,
      maxSteps: 4,
      perDeviceTrainBatchSize: 4,
      resumeFromCheckpoint: true,
      strategy: new LoraConfig({ taskType: 'SEQ_CLS', targetModules: ['query'] }),
    },
    trainDataset: slice(dataset, 0, 8),
    log: null,
  });
  await assert.rejects(lora.train(), /is not a complete checkpoint \(missing adapter_model.safetensors\)/);
});

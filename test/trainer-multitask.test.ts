// Multi-task training through the Trainer: a two-head MLP on one shared backbone, on synthetic data
// (x ∈ R^8; a clean 3-class task `cls`, a noisy regression `reg`, a binary `pos`) through
// data.MultiTaskDataset, trained with each MultiTaskLoss strategy:
// (a) scheduled α linear 1 → 0: the logged alpha / weights equal the formula at every log, and each
//     step's loss is α·L_cls + (1 − α)·L_reg with the α of that step;
// (b) uncertainty: the noisy task's weight drops, the clean one's rises; the s_i train in their own
//     parameter group (no weight decay, their own lr) and stay out of grad_norm; per-task eval metrics;
// (c) DWA: weights 1 for two epochs, then K·softmax(r/T) of the logged epoch averages;
// (d) GradNorm (with gradient accumulation): the weights sum to the number of tasks at every log;
// and resuming bit for bit (weights, the loss's state, the log) with uncertainty weighting mid-epoch
// and with DWA at an epoch boundary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  data,
  manualSeed,
  memory,
  nn,
  optim,
  report,
  setNumThreads,
  tensor,
  Trainer,
  type Tensor,
  type train,
} from 'finetune';
import { differences, snapshot, tempFolders } from './helpers/trainer-setup.js';

setNumThreads(1);

const tmp = tempFolders('finetune-mtl');

// ---- data and model --------------------------------------------------------------------------------

interface Row {
  x: number[];
  cls: number;
  reg: number;
  pos: number;
}

function synthetic(n: number, seed: number): Row[] {
  const random = data.mulberry32FromState(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const W = [0, 1, 2].map((c) => Array.from({ length: 8 }, (_, j) => Math.sin(1 + c * 8 + j)));
  const v = Array.from({ length: 8 }, (_, j) => Math.cos(j));
  return Array.from({ length: n }, () => {
    const x = Array.from({ length: 8 }, normal);
    const scores = W.map((w) => w.reduce((s, wj, j) => s + wj * x[j], 0));
    const cls = scores.indexOf(Math.max(...scores));
    const dot = v.reduce((s, vj, j) => s + vj * x[j], 0);
    return { x, cls, reg: 0.5 * dot + 1.5 * normal(), pos: x[0] + x[1] > 0 ? 1 : 0 };
  });
}

/** A base dataset of { image, row } (a fresh tensor each get: the loader frees what it collates). */
class Rows implements data.Dataset<{ image: Tensor; row: Row }> {
  constructor(readonly rows: Row[]) {}
  get length(): number {
    return this.rows.length;
  }
  get(index: number): { image: Tensor; row: Row } {
    return { image: tensor(this.rows[index].x), row: this.rows[index] };
  }
}

const TASKS = {
  cls: { target: (e: { row: Row }) => e.row.cls, numClasses: 3 },
  reg: { target: (e: { row: Row }) => e.row.reg, kind: 'regression' as const },
  pos: { target: (e: { row: Row }) => e.row.pos, kind: 'binary' as const },
};

function datasets(tasks: (keyof typeof TASKS)[]) {
  const spec = Object.fromEntries(tasks.map((t) => [t, TASKS[t]]));
  return {
    train: new data.MultiTaskDataset(new Rows(synthetic(96, 1)), { tasks: spec }),
    eval: new data.MultiTaskDataset(new Rows(synthetic(48, 2)), { tasks: spec }),
  };
}

/** One shared backbone, a head per task; forward returns { logits: { <task>: Tensor } }. */
class TwoHeads extends nn.Module {
  body = new nn.Linear(8, 32);
  shared = new nn.Linear(32, 32);
  heads: nn.ModuleDict<nn.Linear>;
  constructor(outputs: Record<string, number>) {
    super();
    this.heads = new nn.ModuleDict(
      Object.fromEntries(Object.entries(outputs).map(([t, n]) => [t, new nn.Linear(32, n)])),
    );
  }
  forward(x: Tensor): { logits: Record<string, Tensor> } {
    const h = this.shared.forward(this.body.forward(x).relu()).relu();
    return { logits: Object.fromEntries(this.heads.keys().map((t) => [t, this.heads.get(t).forward(h)])) };
  }
}

const OUTPUTS: Record<string, number> = { cls: 3, reg: 1, pos: 1 };
function makeModel(tasks: string[], seed = 0): TwoHeads {
  manualSeed(seed);
  return new TwoHeads(Object.fromEntries(tasks.map((t) => [t, OUTPUTS[t]])));
}

type ArgsOptions = ConstructorParameters<typeof train.TrainingArguments>[0];
const BASE: ArgsOptions = {
  perDeviceTrainBatchSize: 16,
  perDeviceEvalBatchSize: 48,
  learningRate: 1e-2,
  seed: 3,
  saveStrategy: 'no',
};

const trainLogs = (history: train.LogEntry[]) => history.filter((e) => 'loss' in e);
const num = (e: train.LogEntry, key: string): number => {
  const v = e[key];
  assert.equal(typeof v, 'number', `${key} logged as a number in ${JSON.stringify(e)}`);
  return v as number;
};
const close = (actual: number, expected: number, tol: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${what}: ${actual} ≠ ${expected}`);

// ---- (a) scheduled α ---------------------------------------------------------------------------------

test('scheduled α linear 1 → 0: logged alpha and weights follow the formula; each step weighs its losses by α(t)', async () => {
  const tasks = ['cls', 'reg'];
  const { train: trainSet } = datasets(['cls', 'reg']);
  const loss = new optim.MultiTaskLoss(tasks, { kind: 'scheduled', from: 1, to: 0, steps: 24 });
  const trainer = new Trainer({
    model: makeModel(tasks),
    args: { ...BASE, outputDir: tmp(), maxSteps: 30, loggingSteps: 1 },
    trainDataset: trainSet,
    multiTask: { loss },
    log: null,
  });
  assert.deepEqual(trainer.planLines().at(-1), 'multi-task: 2 tasks (cls, reg), scheduled weighting');
  await trainer.train();
  const logs = trainLogs(trainer.state.logHistory);
  assert.equal(logs.length, 30);
  for (const e of logs) {
    const step = num(e, 'step');
    // The weights in effect from this step on (as learning_rate): α(step).
    const alpha = Math.max(1 - step / 24, 0);
    close(num(e, 'alpha'), alpha, 1e-15, `alpha at step ${step}`);
    close(num(e, 'weight_cls'), alpha, 1e-15, `weight_cls at step ${step}`);
    close(num(e, 'weight_reg'), 1 - alpha, 1e-15, `weight_reg at step ${step}`);
    // The step's own loss used α(step − 1).
    const used = Math.max(1 - (step - 1) / 24, 0);
    close(num(e, 'loss'), used * num(e, 'loss_cls') + (1 - used) * num(e, 'loss_reg'), 1e-5, `loss at step ${step}`);
  }
  assert.equal(loss.state.step, 30);
  // HF-style flat keys in metrics.jsonl too.
  const jsonl = readFileSync(join(trainer.args.outputDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(Object.keys(jsonl[0]), [
    'loss',
    'grad_norm',
    'learning_rate',
    'loss_cls',
    'loss_reg',
    'weight_cls',
    'weight_reg',
    'alpha',
    'epoch',
    'step',
  ]);
  loss.dispose();
});

// ---- (b) uncertainty --------------------------------------------------------------------------------

test('uncertainty weighting: the noisy task’s weight drops, the clean one’s rises; own param group; per-task eval metrics', async () => {
  const tasks = ['cls', 'reg'];
  const { train: trainSet, eval: evalSet } = datasets(['cls', 'reg']);
  const loss = new optim.MultiTaskLoss(tasks, { kind: 'uncertainty' });
  const trainer = new Trainer({
    model: makeModel(tasks),
    args: {
      ...BASE,
      outputDir: tmp(),
      maxSteps: 30,
      loggingSteps: 5,
      weightDecay: 0.01,
      evalStrategy: 'steps',
      evalSteps: 15,
    },
    trainDataset: trainSet,
    evalDataset: evalSet,
    multiTask: { loss, lr: 0.05 },
    log: null,
  });
  await trainer.train();
  const group = trainer.optimizer!.paramGroups.at(-1)!;
  assert.equal(group.name, 'multi_task');
  assert.deepEqual(group.paramNames, ['multi_task.log_variances']);
  assert.equal(group.params[0], loss.parameters()[0]);
  assert.equal(group.weightDecay, 0);
  assert.equal(group.initialLr, 0.05);
  assert.ok(trainer.optimizer!.paramGroups.slice(0, -1).every((g) => g.initialLr === 1e-2));

  const logs = trainLogs(trainer.state.logHistory);
  assert.equal(logs.length, 6);
  const reg = logs.map((e) => num(e, 'weight_reg'));
  const cls = logs.map((e) => num(e, 'weight_cls'));
  for (let i = 1; i < reg.length; i++) assert.ok(reg[i] < reg[i - 1], `weight_reg falls: ${reg}`);
  assert.ok(
    reg.at(-1)! < 0.4 && cls.at(-1)! > 0.6,
    `the noisy task ends lighter: reg ${reg.at(-1)}, cls ${cls.at(-1)}`,
  );
  assert.ok(
    logs.every((e) => num(e, 'loss_reg') > num(e, 'loss_cls')),
    'the regression task is the noisier one',
  );
  // The logged weights are e^{−s_i}/2 of the loss's own state.
  const s = loss.state.logVariances!;
  close(cls.at(-1)!, Math.exp(-s.cls) / 2, 1e-15, 'weight_cls');
  close(reg.at(-1)!, Math.exp(-s.reg) / 2, 1e-15, 'weight_reg');

  const evals = trainer.state.logHistory.filter((e) => 'eval_loss' in e);
  assert.equal(evals.length, 2);
  const last = evals[1];
  for (const key of [
    'eval_cls_loss',
    'eval_reg_loss',
    'eval_cls_accuracy',
    'eval_cls_f1_macro',
    'eval_reg_pearson',
    'eval_reg_spearmanr',
  ])
    num(last, key);
  // eval_loss is the training objective at the current weights: Σ L_i·e^{−s_i}/2 + s_i/2.
  close(
    num(last, 'eval_loss'),
    num(last, 'eval_cls_loss') * cls.at(-1)! + num(last, 'eval_reg_loss') * reg.at(-1)! + (s.cls + s.reg) / 2,
    1e-12,
    'eval_loss',
  );
  assert.ok(num(last, 'eval_cls_accuracy') > 0.6, `cls learns: ${num(last, 'eval_cls_accuracy')}`);
  const predicted = await trainer.predict(evalSet);
  assert.deepEqual(Object.keys(predicted.tasks!), ['cls', 'reg']);
  assert.equal(predicted.tasks!.cls.predictions.length, 48);
  assert.equal(predicted.tasks!.cls.predictions[0].length, 3);
  assert.equal(predicted.metrics.test_cls_accuracy, num(last, 'eval_cls_accuracy'));
  // The report charts the task losses and weights.
  const { html } = await report.writeReport(trainer.args.outputDir, { png: false });
  const page = readFileSync(html, 'utf8');
  for (const name of [
    'train_loss_cls',
    'train_loss_reg',
    'eval_cls_loss',
    'Task weights',
    'weight_reg',
    'eval_cls_accuracy',
  ])
    assert.ok(page.includes(name), `report.html shows ${name}`);
  loss.dispose();
});

// ---- (c) DWA ----------------------------------------------------------------------------------------

test('DWA: weights 1 for two epochs, then K·softmax(r/T) of the logged epoch-average task losses', async () => {
  const tasks = ['cls', 'reg'];
  const { train: trainSet } = datasets(['cls', 'reg']);
  const loss = new optim.MultiTaskLoss(tasks, { kind: 'dwa' });
  // 96 examples in batches of 16: 6 steps an epoch, a log at each epoch's end (its loss_<task> is the epoch average).
  const trainer = new Trainer({
    model: makeModel(tasks),
    args: { ...BASE, outputDir: tmp(), numTrainEpochs: 5, loggingSteps: 6 },
    trainDataset: trainSet,
    multiTask: { loss },
    log: null,
  });
  await trainer.train();
  const logs = trainLogs(trainer.state.logHistory);
  assert.deepEqual(
    logs.map((e) => e.step),
    [6, 12, 18, 24, 30],
  );
  for (const [epoch, e] of logs.entries()) {
    if (epoch < 2) {
      assert.equal(num(e, 'weight_cls'), 1);
      assert.equal(num(e, 'weight_reg'), 1);
      continue;
    }
    const r = tasks.map((t) => num(logs[epoch - 1], `loss_${t}`) / num(logs[epoch - 2], `loss_${t}`));
    const exp = r.map((v) => Math.exp(v / 2));
    const expected = exp.map((v) => (2 * v) / (exp[0] + exp[1]));
    close(num(e, 'weight_cls'), expected[0], 1e-12, `weight_cls in epoch ${epoch}`);
    close(num(e, 'weight_reg'), expected[1], 1e-12, `weight_reg in epoch ${epoch}`);
    assert.notEqual(num(e, 'weight_cls'), 1);
  }
  assert.equal(loss.state.epoch, 5);
  // The loss's last two epoch averages are the last two logs'.
  assert.deepEqual(
    loss.state.epochLosses,
    logs.slice(-2).map((e) => ({ cls: e.loss_cls, reg: e.loss_reg })),
  );
  loss.dispose();
});

// ---- (d) GradNorm -----------------------------------------------------------------------------------

test('GradNorm (with gradient accumulation): the weights sum to the number of tasks at every log; a binary task’s metrics', async () => {
  const tasks = ['cls', 'pos'];
  const { train: trainSet, eval: evalSet } = datasets(['cls', 'pos']);
  const model = makeModel(tasks);
  const loss = new optim.MultiTaskLoss(tasks, { kind: 'gradnorm', sharedParameters: model.shared.weight });
  const counts: number[] = [];
  const trainer = new Trainer({
    model,
    args: {
      ...BASE,
      outputDir: tmp(),
      maxSteps: 24,
      loggingSteps: 2,
      perDeviceTrainBatchSize: 8,
      gradientAccumulationSteps: 2,
      evalStrategy: 'steps',
      evalSteps: 24,
    },
    trainDataset: trainSet,
    evalDataset: evalSet,
    multiTask: { loss, lr: 0.02 },
    callbacks: [{ onStepEnd: (_a, state) => void (state.globalStep >= 2 && counts.push(memory().numTensors)) }],
    log: null,
  });
  assert.match(
    trainer.planLines().at(-1)!,
    /gradnorm weighting, its own backward; 2 learnable weights in parameter group 'multi_task' at lr 2e-2/,
  );
  await trainer.train();
  const logs = trainLogs(trainer.state.logHistory);
  assert.equal(logs.length, 12);
  for (const e of logs) close(num(e, 'weight_cls') + num(e, 'weight_pos'), 2, 1e-6, `Σ w at step ${e.step}`);
  // Live tensors stay flat: the same count at the same place of each epoch (6 steps; the loader's prefetch empties at an epoch's end).
  assert.ok(
    counts.length > 12 && counts.every((c, i) => i < 6 || c === counts[i - 6]),
    `live tensors stay flat: ${counts}`,
  );
  assert.ok(
    logs.some((e) => Math.abs(num(e, 'weight_cls') - 1) > 1e-3),
    'the weights move',
  );
  const state = loss.state;
  assert.ok(state.initialLosses && state.gradNorms, 'GradNorm ran its own backward');
  const evaluation = trainer.state.logHistory.find((e) => 'eval_loss' in e)!;
  for (const key of ['eval_cls_accuracy', 'eval_pos_accuracy', 'eval_pos_f1', 'eval_pos_loss']) num(evaluation, key);
  // Its state (w_i, L_i(0), the last backward's quantities) round-trips through stateDict.
  const copy = new optim.MultiTaskLoss(tasks, { kind: 'gradnorm', sharedParameters: model.shared.weight });
  copy.loadStateDict(JSON.parse(JSON.stringify(loss.stateDict())));
  assert.deepEqual(copy.stateDict(), loss.stateDict());
  assert.deepEqual(copy.state, state);
  assert.throws(
    () => new optim.MultiTaskLoss(tasks, { kind: 'dwa' }).loadStateDict(loss.stateDict()),
    /the state is of a 'gradnorm' weighting, this one is 'dwa'/,
  );
  copy.dispose();
  loss.dispose();
});

// ---- resume ---------------------------------------------------------------------------------------

/** Trains uninterrupted, then from `checkpoint` with a fresh model and loss; the two end equal bit for bit. */
async function checkResume(
  name: string,
  strategy: optim.MultiTaskStrategy,
  args: ArgsOptions,
  checkpoint: number,
): Promise<void> {
  const tasks = ['cls', 'reg'];
  const { train: trainSet, eval: evalSet } = datasets(['cls', 'reg']);
  const outputDir = tmp();
  const fullLoss = new optim.MultiTaskLoss(tasks, strategy);
  const full = new Trainer({
    model: makeModel(tasks, 4),
    args: { ...args, outputDir },
    trainDataset: trainSet,
    evalDataset: evalSet,
    multiTask: { loss: fullLoss, lr: 0.05 },
    log: null,
  });
  await full.train();
  const ckpt = join(outputDir, `checkpoint-${checkpoint}`);
  assert.ok(existsSync(join(ckpt, 'multi_task.json')), `${name}: multi_task.json in the checkpoint`);
  const saved = JSON.parse(readFileSync(join(ckpt, 'multi_task.json'), 'utf8'));
  assert.deepEqual(saved.tasks, tasks);

  const resumedLoss = new optim.MultiTaskLoss(tasks, strategy);
  const resumed = new Trainer({
    model: makeModel(tasks, 5),
    args: { ...args, outputDir: tmp(), resumeFromCheckpoint: ckpt },
    trainDataset: trainSet,
    evalDataset: evalSet,
    multiTask: { loss: resumedLoss, lr: 0.05 },
    log: null,
  });
  await resumed.train();
  assert.deepEqual(
    differences(snapshot(full.model), snapshot(resumed.model)),
    [],
    `${name}: resumed weights equal the uninterrupted run's bit for bit`,
  );
  assert.deepEqual(resumedLoss.stateDict(), fullLoss.stateDict(), `${name}: the same multi-task loss state`);
  const comparable = (h: train.LogEntry[]) =>
    h
      .filter((e) => !('train_runtime' in e))
      .map((e) => Object.fromEntries(Object.entries(e).filter(([k]) => !/_runtime$|_per_second$/.test(k))));
  assert.deepEqual(
    comparable(resumed.state.logHistory),
    comparable(full.state.logHistory),
    `${name}: the same log history`,
  );
  fullLoss.dispose();
  resumedLoss.dispose();
}

test('resuming uncertainty weighting mid-epoch is bit-exact (weights, s_i and their Adam state, logs)', async () => {
  await checkResume(
    'uncertainty',
    { kind: 'uncertainty' },
    {
      ...BASE,
      maxSteps: 16,
      loggingSteps: 4,
      saveStrategy: 'steps',
      saveSteps: 7,
      evalStrategy: 'steps',
      evalSteps: 8,
      weightDecay: 0.01,
      warmupSteps: 3,
    },
    7,
  );
});

test('resuming DWA from a checkpoint at an epoch’s last step is bit-exact (the epoch closes on resume)', async () => {
  await checkResume(
    'dwa',
    { kind: 'dwa' },
    { ...BASE, numTrainEpochs: 4, loggingSteps: 3, saveStrategy: 'steps', saveSteps: 12 },
    12,
  );
});

test('multi-task options are checked', () => {
  const tasks = ['cls', 'reg'];
  const { train: trainSet } = datasets(['cls', 'reg']);
  const model = makeModel(tasks);
  const uncertainty = new optim.MultiTaskLoss(tasks, { kind: 'uncertainty' });
  const wrong = new optim.MultiTaskLoss(['cls', 'other'], { kind: 'fixed' });
  const args = { ...BASE, outputDir: tmp(), maxSteps: 1 };
  assert.throws(
    () => new Trainer({ model, args, trainDataset: trainSet, multiTask: { loss: wrong }, log: null }),
    /the training dataset has no task\(s\) other/,
  );
  assert.throws(
    () =>
      new Trainer({
        model,
        args,
        trainDataset: trainSet,
        multiTask: { loss: uncertainty },
        computeLoss: (o) => o.logits,
        log: null,
      }),
    /either computeLoss or multiTask/,
  );
  assert.throws(
    () =>
      new Trainer({
        model,
        args,
        trainDataset: trainSet,
        multiTask: { loss: uncertainty, pcgrad: { sharedParameters: [model.shared.weight] } },
        log: null,
      }),
    /pcgrad combines with a fixed, scheduled or dwa/,
  );
  assert.throws(
    () => new Trainer({ model, args, trainDataset: trainSet, multiTask: { loss: uncertainty, lr: -1 }, log: null }),
    /multiTask.lr must be a number > 0/,
  );
  uncertainty.dispose();
});

test('PCGrad with fixed weights trains and repeats run to run', async () => {
  const tasks = ['cls', 'reg'];
  const { train: trainSet } = datasets(['cls', 'reg']);
  const run = async () => {
    const model = makeModel(tasks, 6);
    const loss = new optim.MultiTaskLoss(tasks, { kind: 'fixed', weights: { cls: 1, reg: 0.5 } });
    const counts: number[] = [];
    const trainer = new Trainer({
      model,
      args: { ...BASE, outputDir: tmp(), maxSteps: 12, loggingSteps: 4 },
      trainDataset: trainSet,
      multiTask: { loss, pcgrad: { sharedParameters: [model.body.weight, model.shared.weight] } },
      callbacks: [{ onStepEnd: (_a, state) => void (state.globalStep >= 2 && counts.push(memory().numTensors)) }],
      log: null,
    });
    await trainer.train();
    assert.ok(
      counts.every((c, i) => i < 6 || c === counts[i - 6]),
      `live tensors stay flat: ${counts}`,
    );
    return { weights: snapshot(model), logs: trainLogs(trainer.state.logHistory) };
  };
  const [a, b] = [await run(), await run()];
  assert.deepEqual(differences(a.weights, b.weights), []);
  assert.ok(num(a.logs.at(-1)!, 'loss_cls') < num(a.logs[0], 'loss_cls'), 'cls loss falls');
  for (const e of a.logs)
    close(num(e, 'loss'), num(e, 'loss_cls') + 0.5 * num(e, 'loss_reg'), 1e-12, 'loss = Σ w_i·L_i');
});

/**
 * Mixed precision in the Trainer (bf16 / fp16, HF's flags): a tiny BERT trained in bf16 and fp16
 * follows the float32 run within a stated tolerance (and does run in the lower precision: its
 * losses are not the float32 ones bit for bit); an fp16 run whose step overflows skips the update,
 * halves the scale and leaves the scheduler where it was, step for step as PyTorch's GradScaler in
 * transformers' loop (test/fixtures/precision/fp16-overflow.json, tools/gen_precision_fixtures.py);
 * a resumed fp16 run restores the scale from scaler.json and ends as the uninterrupted one (two
 * processes: test/trainer-precision-ddp.test.ts); both
 * flags together are refused; `finetune train --bf16` runs end to end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { aten, functional as F, nn, setNumThreads, tensor, train, type Tensor } from 'finetune';

import { readJson, runCli, SST2_DEV, SST2_TRAIN, writeTinyBertModelFolder } from './helpers/cli.js';
import { assertWeightsClose } from './helpers/fp16-fixture.js';
import { fp16Trainer, reference, type StepRecord } from './helpers/fp16-reference.js';
import { differences, slice, snapshot, sst2, tempFolders, tinyBert } from './helpers/trainer-setup.js';

setNumThreads(1);

const tmp = tempFolders('finetune-precision');

type Mode = 'fp32' | 'bf16' | 'fp16';

/** 16 steps of full fine-tuning of a tiny BERT (dropout on) on 64 SST-2 rows, evaluated on 32 more; the per-step losses. */
async function bertRun(mode: Mode): Promise<{ losses: number[]; evalLoss: number; plan: string[] }> {
  const dataset = await sst2(24);
  const plan: string[] = [];
  const trainer = new train.Trainer({
    model: tinyBert(3),
    trainDataset: slice(dataset, 0, 64),
    evalDataset: slice(dataset, 64, 96),
    args: {
      outputDir: tmp(),
      maxSteps: 16,
      perDeviceTrainBatchSize: 8,
      learningRate: 1e-3,
      loggingSteps: 1,
      seed: 5,
      threads: 1,
      strategy: { kind: 'full' },
      saveStrategy: 'no',
      disableTqdm: true,
      bf16: mode === 'bf16',
      fp16: mode === 'fp16',
    },
    log: (line) => plan.push(line),
  });
  await trainer.train();
  const losses = trainer.state.logHistory.filter((e) => e.loss !== undefined).map((e) => e.loss as number);
  const { eval_loss: evalLoss } = await trainer.evaluate();
  return { losses, evalLoss, plan };
}

test('bf16 and fp16 training of a tiny BERT follow the float32 run (same seed) within the stated tolerance', async () => {
  const fp32 = await bertRun('fp32');
  assert.equal(fp32.losses.length, 16);
  assert.ok(!fp32.plan.some((line) => line.includes('mixed precision')), 'fp32 states no precision');
  // bfloat16 keeps 8 bits of mantissa, float16 11: the tolerances on each step's loss (≈ 0.69 here).
  for (const [mode, tolerance] of [
    ['bf16', 2e-3],
    ['fp16', 5e-4],
  ] as const) {
    const run = await bertRun(mode);
    assert.equal(run.losses.length, 16, `${mode}: every step logged a finite loss`);
    const worst = Math.max(...run.losses.map((loss, i) => Math.abs(loss - fp32.losses[i])));
    assert.ok(worst <= tolerance, `${mode}: the largest difference to fp32 over 16 steps is ${worst} (> ${tolerance})`);
    assert.ok(worst > 0, `${mode}: the losses equal fp32's bit for bit: autocast did not run`);
    assert.ok(
      Math.abs(run.evalLoss - fp32.evalLoss) <= tolerance,
      `${mode}: eval_loss ${run.evalLoss} vs ${fp32.evalLoss}`,
    );
    assert.ok(
      run.plan.some((line) => line.startsWith(`mixed precision ${mode}: forward and loss under`)),
      `${mode}: the plan states the precision (${run.plan.join(' | ')})`,
    );
    assert.equal(
      run.plan.some((line) => line.startsWith('fp16 on the CPU: ')),
      mode === 'fp16',
      `${mode}: fp16 on the CPU says what it costs`,
    );
  }
});

// ---- fp16 against PyTorch's GradScaler ---------------------------------------------------------------

test("fp16: an overflowing step is skipped, the scale halved and the schedule held, as PyTorch's GradScaler in transformers' loop", async () => {
  const dir = tmp();
  const steps: StepRecord = new Map();
  const trainer = fp16Trainer(dir, steps);
  await trainer.train();
  const logged = trainer.state.logHistory.filter((e) => e.loss !== undefined);
  for (const expected of reference.steps) {
    const where = `step ${expected.step}`;
    const entry = logged.find((e) => e.step === expected.step)!;
    assert.ok(
      Math.abs((entry.loss as number) - expected.loss) <= 1e-5 * Math.abs(expected.loss),
      `${where}: loss ${entry.loss} vs ${expected.loss}`,
    );
    if (expected.grad_norm === null) assert.equal(entry.grad_norm, null, `${where}: the gradient norm overflowed`);
    else
      assert.ok(
        Math.abs((entry.grad_norm as number) - expected.grad_norm) <= 1e-5,
        `${where}: grad_norm ${entry.grad_norm} vs ${expected.grad_norm}`,
      );
    assert.ok(
      Math.abs((entry.learning_rate as number) - expected.lr) <= 1e-12,
      `${where}: lr ${entry.learning_rate} vs ${expected.lr}`,
    );
    assert.equal(steps.get(expected.step)!.scale, expected.scale, `${where}: the loss scale`);
    assertWeightsClose(steps.get(expected.step)!.weights, expected.weights, where);
  }
  // The skipped update left every weight as it was, bit for bit.
  const overflow = reference.overflow_step;
  assert.equal(reference.steps[overflow - 1].stepped, false);
  for (const [name, before] of steps.get(overflow - 1)!.weights)
    assert.deepEqual(steps.get(overflow)!.weights.get(name), before, `${name} unchanged by the skipped step`);
  assert.deepEqual(trainer.precision.scaler!.stateDict(), reference.scaler_state);
  // The checkpoint written at the overflow step holds the halved scale (transformers' scaler.pt, as JSON).
  assert.deepEqual(readJson(join(dir, `checkpoint-${overflow}`, 'scaler.json')), {
    ...reference.scaler_state,
    scale: reference.steps[overflow - 1].scale,
    _growth_tracker: 0,
  });
});

test('fp16: a run resumed from a checkpoint restores the loss scale and ends as the uninterrupted run', async () => {
  const dir = tmp();
  const uninterrupted: StepRecord = new Map();
  await fp16Trainer(dir, uninterrupted).train();
  const resumed: StepRecord = new Map();
  const trainer = fp16Trainer(dir, resumed, { resume: true });
  await trainer.train();
  const first = reference.overflow_step + 1;
  assert.equal(resumed.get(first)!.scale, reference.steps[first - 1].scale, 'the halved scale came back');
  assert.deepEqual(trainer.precision.scaler!.stateDict(), reference.scaler_state);
  const last = reference.steps.length;
  for (const [name, weights] of uninterrupted.get(last)!.weights)
    assert.deepEqual(resumed.get(last)!.weights.get(name), weights, `${name}: resumed = uninterrupted, bit for bit`);
});

test('fp16: the lr range test runs through the loss scaler (an overflowed iteration leaves the weights), and restores it', async () => {
  const dataset = await sst2(16);
  let iteration = 0;
  const seen: { weights: Map<string, Float32Array>; scale: number }[] = [];
  const trainer: train.Trainer = new train.Trainer({
    model: tinyBert(2),
    trainDataset: slice(dataset, 0, 32),
    // The third iteration's gradients × 1e8 overflow float16 (its loss value stays, which the range test reads).
    computeLoss: (outputs, labels) => {
      iteration++;
      seen.push({ weights: snapshot(trainer.model), scale: trainer.precision.scaler!.getScale() });
      const loss = F.crossEntropy(outputs.logits, labels!);
      if (iteration !== 3) return loss;
      const boosted = loss.mul(1e8);
      return loss.add(boosted.sub(boosted.detach()));
    },
    args: {
      outputDir: tmp(),
      fp16: true,
      maxSteps: 2,
      perDeviceTrainBatchSize: 8,
      saveStrategy: 'no',
      threads: 1,
      disableTqdm: true,
    },
    log: null,
  });
  const found = await trainer.lrFind({ numIt: 6, startLr: 1e-4, endLr: 1e-2 });
  assert.equal(found.losses.length, 6);
  assert.ok(found.losses.every(Number.isFinite), `losses ${found.losses}`);
  assert.deepEqual(
    seen.map((s) => s.scale),
    [65536, 65536, 65536, 32768, 32768, 32768],
    'the overflow halved the scale',
  );
  assert.notDeepEqual(differences(seen[1].weights, seen[2].weights), [], 'a clean iteration moves the weights');
  assert.deepEqual(differences(seen[2].weights, seen[3].weights), [], 'the overflowed iteration left them');
  assert.deepEqual(trainer.precision.scaler!.stateDict(), {
    ...reference.scaler_state,
    scale: 65536,
    _growth_tracker: 0,
  });
  assert.equal((await trainer.train()).globalStep, 2);
});

test('bf16 and fp16 together are refused, naming both; a bf16 run writes no scaler.json; an operator without a float16 kernel is named', async () => {
  assert.throws(() => new train.TrainingArguments({ bf16: true, fp16: true }), /bf16 and fp16 are both set/);
  const dir = tmp();
  const dataset = await sst2(16);
  await new train.Trainer({
    model: tinyBert(1),
    trainDataset: slice(dataset, 0, 8),
    args: {
      outputDir: dir,
      bf16: true,
      maxSteps: 1,
      perDeviceTrainBatchSize: 8,
      saveSteps: 1,
      threads: 1,
      disableTqdm: true,
    },
    log: null,
  }).train();
  assert.ok(existsSync(join(dir, 'checkpoint-1', 'optimizer.json')));
  assert.ok(!existsSync(join(dir, 'checkpoint-1', 'scaler.json')), 'bf16 scales no loss');

  // An operator without a float16 CPU kernel in libtorch 2.13 (the determinant's LU) is named with the way out.
  class Determinant extends nn.Module {
    fc = new nn.Linear(2, 4);
    forward(x: Tensor): Tensor {
      const y = this.fc.forward(x);
      return y.narrow(1, 0, 2).mul(aten.linalg_det(y.reshape([-1, 2, 2])).unsqueeze(1));
    }
  }
  const trainer = new train.Trainer({
    model: new Determinant(),
    trainDataset: { length: 2, get: (i: number) => ({ input: tensor([i, 1]), labels: tensor(i, { dtype: 'int64' }) }) },
    args: { outputDir: tmp(), fp16: true, maxSteps: 1, saveStrategy: 'no', threads: 1, disableTqdm: true },
    log: null,
  });
  await assert.rejects(
    trainer.train(),
    /^Error: fp16: aten::linalg_det: "lu_cpu" not implemented for 'Half' — libtorch has no float16 kernel for this operator on cpu: train this model in float32 \(without fp16\)$/,
  );
});

test('finetune train --bf16: the plan states it, the run ends with a model; --bf16 --fp16 exits 2 naming both flags', () => {
  const dir = tmp();
  const modelDir = writeTinyBertModelFolder(join(dir, 'tiny-bert'));
  const output = join(dir, 'out');
  const common = [
    'train',
    '--model',
    modelDir,
    '--train-file',
    SST2_TRAIN,
    '--labels',
    'negative,positive',
    '--max-length',
    '24',
  ];
  const run = runCli([
    ...common,
    '--eval-file',
    SST2_DEV,
    '--max-eval-samples',
    '32',
    '--max-steps',
    '3',
    '--bf16',
    '--output-dir',
    output,
    '--report=false',
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(
    run.stdout,
    /mixed precision bf16: forward and loss under bfloat16 autocast, float32 weights and optimizer state/,
  );
  assert.match(run.stdout, /final evaluation \(step 3\): eval_loss \d/);
  assert.ok(existsSync(join(output, 'adapter_model.safetensors')) || existsSync(join(output, 'model.safetensors')));
  assert.equal(readJson(join(output, 'checkpoint-3', 'training_args.json')).bf16, true);

  const both = runCli([...common, '--bf16', '--fp16', '--output-dir', join(dir, 'both')]);
  assert.equal(both.code, 2, both.stderr);
  assert.match(both.stderr, /--bf16 and --fp16 are both set: give one of them/);
});

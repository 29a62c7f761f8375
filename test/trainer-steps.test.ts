// The Trainer's steps against references computed here: transformers' RegressionModel (y = a·x + b,
// MSE; tests/trainer/test_trainer.py) trained in float64 by SGD and AdamW under a linear schedule
// with warmup, gradient accumulation and clipping, the weights after every step equal to a float64
// re-computation from the closed-form gradients; label smoothing equal to transformers'
// LabelSmoother on fixed logits; a subclass's overrides of computeLoss, trainingStep and
// trainingLogs used by train(); saveModel, the step every weight file goes through; a module of
// one's own that takes a tensor gets the image tensor; an unknown PEFT type refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  LoraConfig,
  Trainer,
  functional as F,
  getPeftModel,
  manualSeed,
  models,
  nn,
  optim,
  setNumThreads,
  tensor,
  train,
  zeros,
  type Tensor,
} from 'finetune';

import { tempFolders } from './helpers/trainer-setup.js';

setNumThreads(1);

const tmp = tempFolders('finetune-trainer-steps');

// ---- the regression model and its float64 reference -------------------------------------------------

/** transformers' RegressionModel: y = a·x + b with MSE against the labels, in float64 (a as a 1×1 weight, b as a bias). */
class RegressionModel extends nn.Module {
  static readonly batchInput: models.BatchInput = 'inputs';
  weight: Tensor;
  bias: Tensor;
  constructor(a: number, b: number) {
    super();
    this.weight = nn.parameter(tensor([[a]], { dtype: 'float64' }));
    this.bias = nn.parameter(tensor([b], { dtype: 'float64' }));
  }
  forward({ inputX, labels }: { inputX: Tensor; labels?: Tensor }): { logits: Tensor; loss?: Tensor } {
    const logits = inputX.mul(this.weight.reshape([])).add(this.bias);
    return labels ? { logits, loss: F.mseLoss(logits, labels) } : { logits };
  }
}

const XS = Array.from({ length: 8 }, (_, i) => (i - 3.5) / 2);
const YS = XS.map((x, i) => 2 * x + 3 + (i % 2 ? 0.25 : -0.25));
const A0 = 0.5;
const B0 = -0.25;
const regressionData = { length: XS.length, get: (i: number) => ({ x: XS[i], y: YS[i] }) };
const collate = (examples: unknown[]) => {
  const rows = examples as { x: number; y: number }[];
  return {
    inputX: tensor(
      rows.map((r) => r.x),
      { dtype: 'float64' },
    ),
    labels: tensor(
      rows.map((r) => r.y),
      { dtype: 'float64' },
    ),
  };
};

type Optim = 'sgd' | 'adamw_torch';
const LR = 0.1;
const WEIGHT_DECAY = 0.1;
const STEPS = 6;
const WARMUP = 2;

/**
 * The run in float64, step by step as PyTorch does it: batches of 4 accumulated over 2 micro-batches
 * (the step's gradient is the mean gradient over all 8 examples, whatever the order), the loss scaled
 * by `lossScale`, clip_grad_norm_(1.0), get_linear_schedule_with_warmup, weight decay on the weight
 * only (timm's rule: no decay for ≤ 1-dimensional parameters), torch.optim.SGD (momentum 0.9) or AdamW.
 */
function reference(optim: Optim, lossScale = 1): { a: number; b: number; loss: number; gradNorm: number }[] {
  let a = A0;
  let b = B0;
  const momentum = [0, 0];
  const m = [0, 0];
  const v = [0, 0];
  const steps: { a: number; b: number; loss: number; gradNorm: number }[] = [];
  for (let t = 0; t < STEPS; t++) {
    const residuals = XS.map((x, i) => a * x + b - YS[i]);
    const loss = (lossScale * residuals.reduce((s, r) => s + r * r, 0)) / XS.length;
    let grads = [
      (lossScale * 2 * residuals.reduce((s, r, i) => s + r * XS[i], 0)) / XS.length,
      (lossScale * 2 * residuals.reduce((s, r) => s + r, 0)) / XS.length,
    ];
    const gradNorm = Math.hypot(...grads);
    grads = grads.map((g) => g * Math.min(1, 1 / (gradNorm + 1e-6)));
    const lr = LR * (t < WARMUP ? t / WARMUP : (STEPS - t) / (STEPS - WARMUP));
    const params = [a, b];
    const decay = [WEIGHT_DECAY, 0];
    for (let k = 0; k < 2; k++) {
      if (optim === 'sgd') {
        const d = grads[k] + decay[k] * params[k];
        momentum[k] = t === 0 ? d : 0.9 * momentum[k] + d;
        params[k] -= lr * momentum[k];
      } else {
        params[k] *= 1 - lr * decay[k];
        m[k] = 0.9 * m[k] + 0.1 * grads[k];
        v[k] = 0.999 * v[k] + 0.001 * grads[k] * grads[k];
        const denom = Math.sqrt(v[k]) / Math.sqrt(1 - 0.999 ** (t + 1)) + 1e-8;
        params[k] -= (lr / (1 - 0.9 ** (t + 1))) * (m[k] / denom);
      }
    }
    [a, b] = params;
    steps.push({ a, b, loss, gradNorm });
  }
  return steps;
}

const regressionArgs = (optim: Optim) => ({
  outputDir: tmp(),
  maxSteps: STEPS,
  perDeviceTrainBatchSize: 4,
  gradientAccumulationSteps: 2,
  learningRate: LR,
  lrSchedulerType: 'linear' as const,
  warmupSteps: WARMUP,
  weightDecay: WEIGHT_DECAY,
  optim,
  sgdMomentum: 0.9,
  loggingSteps: 1,
  saveStrategy: 'no' as const,
});

/** Runs `trainer`, recording a and b after every step. */
async function trainRecording(trainer: Trainer, model: RegressionModel): Promise<{ a: number; b: number }[]> {
  const weights: { a: number; b: number }[] = [];
  trainer.addCallback({
    onStepEnd: () => void weights.push({ a: model.weight.item() as number, b: model.bias.item() as number }),
  });
  await trainer.train();
  return weights;
}

function assertClose(actual: number, expected: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= 1e-12 * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} vs the reference's ${expected}`,
  );
}

for (const optim of ['sgd', 'adamw_torch'] as const) {
  test(`RegressionModel, ${optim}: the weights after every step equal the float64 reference (linear schedule with warmup, accumulation, clipping, weight decay)`, async () => {
    const model = new RegressionModel(A0, B0);
    assert.deepEqual(
      model.namedParameters().map(([name]) => name),
      ['weight', 'bias'],
    );
    const trainer = new Trainer({
      model,
      args: regressionArgs(optim),
      trainDataset: regressionData,
      collate,
      log: null,
    });
    const weights = await trainRecording(trainer, model);
    const expected = reference(optim);
    assert.equal(weights.length, STEPS);
    expected.forEach((step, t) => {
      assertClose(weights[t].a, step.a, `a after step ${t + 1}`);
      assertClose(weights[t].b, step.b, `b after step ${t + 1}`);
    });
    const logs = trainer.state.logHistory.filter((e) => typeof e.loss === 'number');
    expected.forEach((step, t) => {
      assertClose(logs[t].loss as number, step.loss, `logged loss of step ${t + 1}`);
      assertClose(logs[t].grad_norm as number, step.gradNorm, `logged grad_norm of step ${t + 1}`);
    });
    // The schedule: the lr logged after step t is the one step t + 1 uses.
    [0.05, 0.1, 0.075, 0.05, 0.025, 0].forEach((lr, t) =>
      assertClose(logs[t].learning_rate as number, lr, `learning_rate after step ${t + 1}`),
    );
    // Hand checks that pin the reference itself: the first loss (residuals −1.5x − 3 ∓ 0.25), and
    // step 1 at lr 0 (warmup) leaving the weights as they were.
    assert.equal(expected[0].loss, 13.765625);
    assert.deepEqual([expected[0].a, expected[0].b], [A0, B0]);
  });
}

test('a subclass that overrides computeLoss, trainingStep and trainingLogs gets them used by train()', async () => {
  const calls: string[] = [];
  class ScaledLossTrainer extends Trainer {
    override computeLoss(batch: unknown): train.LossAndOutputs {
      const result = super.computeLoss(batch);
      return { ...result, loss: result.loss!.mul(3) };
    }
    override trainingStep(batch: unknown, microBatch: train.MicroBatch): number {
      calls.push(`${microBatch.index}/${microBatch.count}`);
      return super.trainingStep(batch, microBatch);
    }
    protected override trainingLogs(): train.LogEntry {
      return { ...super.trainingLogs(), calls: calls.length };
    }
  }
  const model = new RegressionModel(A0, B0);
  const trainer = new ScaledLossTrainer({
    model,
    args: regressionArgs('sgd'),
    trainDataset: regressionData,
    collate,
    log: null,
  });
  const weights = await trainRecording(trainer, model);
  assert.deepEqual(calls, Array.from({ length: STEPS }, () => ['0/2', '1/2']).flat());
  const expected = reference('sgd', 3);
  expected.forEach((step, t) => assertClose(weights[t].a, step.a, `a after step ${t + 1} (loss × 3)`));
  const logs = trainer.state.logHistory.filter((e) => typeof e.loss === 'number');
  assert.deepEqual(
    logs.map((e) => e.calls),
    [2, 4, 6, 8, 10, 12],
  );
  assertClose(logs[0].loss as number, 3 * 13.765625, 'the logged loss is the override’s');
});

test('saveModel is the step checkpoints and the final save write the weights through; an override is used', async () => {
  const saved: string[] = [];
  class RecordingTrainer extends Trainer {
    override async saveModel(outputDir?: string): Promise<void> {
      saved.push(outputDir ?? '(default)');
      await super.saveModel(outputDir);
    }
  }
  const model = new RegressionModel(A0, B0);
  const args = { ...regressionArgs('sgd'), saveStrategy: 'steps' as const, saveSteps: 3 };
  const trainer = new RecordingTrainer({ model, args, trainDataset: regressionData, collate, log: null });
  await trainer.train();
  // Each checkpoint's weights went through it (written into the checkpoint's temporary folder, then renamed).
  assert.equal(saved.length, 2);
  assert.deepEqual(
    readdirSync(args.outputDir).filter((name) => name.startsWith('checkpoint-')),
    ['checkpoint-3', 'checkpoint-6'],
  );
  assert.ok(!readdirSync(args.outputDir).includes('model.safetensors'), 'train() itself saves no final model');
  await trainer.saveModel();
  assert.equal(saved.at(-1), '(default)');
  // The default step writes what saveModelWeights writes, byte for byte, and the last checkpoint holds the same weights.
  const reference = tmp();
  await train.saveModelWeights(model, reference);
  assert.deepEqual(readdirSync(reference), ['model.safetensors']);
  const weights = readFileSync(join(reference, 'model.safetensors'));
  assert.deepEqual(readFileSync(join(args.outputDir, 'model.safetensors')), weights);
  assert.deepEqual(readFileSync(join(args.outputDir, 'checkpoint-6', 'model.safetensors')), weights);
});

test("label smoothing equals transformers' LabelSmoother on fixed logits", async () => {
  const rows = [
    [2, -1, 0.5],
    [0.1, 0.2, 3],
    [-0.5, 1.5, 0],
  ];
  const labels = [0, 2, 1];
  const epsilon = 0.1;
  // LabelSmoother: log_probs = -log_softmax(logits); nll = log_probs[label]; smoothed = Σ log_probs;
  // (1 − ε)·mean(nll) + ε·mean(smoothed) / classes.
  const negLogProbs = rows.map((row) => {
    const logSum = Math.log(row.reduce((s, z) => s + Math.exp(z), 0));
    return row.map((z) => logSum - z);
  });
  const nll = negLogProbs.reduce((s, lp, i) => s + lp[labels[i]], 0) / rows.length;
  const smoothed = negLogProbs.reduce((s, lp) => s + lp.reduce((t, x) => t + x, 0), 0) / rows.length / 3;
  const expected = (1 - epsilon) * nll + epsilon * smoothed;
  assert.ok(
    Math.abs(expected - 0.3713117133581453) < 1e-15,
    `reference ${expected} (Python float64 gives 0.3713117133581453)`,
  );

  class FixedLogits extends nn.Module {
    static readonly batchInput: models.BatchInput = 'inputs';
    offset = nn.parameter(zeros([3], { dtype: 'float64' }));
    forward(): { logits: Tensor } {
      return { logits: tensor(rows, { dtype: 'float64' }).add(this.offset) };
    }
  }
  const batch = { inputIds: tensor([[1], [2], [3]]), labels: tensor(labels, { dtype: 'int64' }) };
  const trainer = new Trainer({
    model: new FixedLogits(),
    args: { outputDir: tmp(), labelSmoothingFactor: epsilon, learningRate: 0.1 },
    log: null,
  });
  const { loss } = trainer.computeLoss(batch);
  assert.ok(Math.abs((loss!.item() as number) - expected) < 1e-12, `${loss!.item()} vs ${expected}`);
  assert.ok(
    Math.abs(
      (nn.labelSmoothedCrossEntropy(tensor(rows, { dtype: 'float64' }), batch.labels, epsilon).item() as number) -
        expected,
    ) < 1e-12,
  );
  const plain = new Trainer({
    model: new FixedLogits(),
    args: { outputDir: tmp(), learningRate: 0.1 },
    log: null,
  }).computeLoss(batch).loss!;
  assert.ok(Math.abs((plain.item() as number) - nll) < 1e-12, 'without smoothing: cross entropy');
});

test('a module of your own that takes a tensor gets the image tensor; predictions come back per example', async () => {
  const seen: string[] = [];
  class TinyCnn extends nn.Module {
    conv = new nn.Conv2d(1, 2, 3);
    head = new nn.Linear(32, 3);
    forward(x: Tensor): Tensor {
      seen.push(x instanceof Object && 'shape' in x ? `[${x.shape}]` : typeof x);
      return this.head.forward(this.conv.forward(x).relu().flatten(1));
    }
  }
  assert.equal(models.batchInputOf(new TinyCnn()), null, 'it declares nothing');
  assert.equal(
    models.batchInputOf(new models.ResNet({ block: 'basic', layers: [1, 1, 1, 1], numClasses: 2 })),
    'tensor',
  );
  manualSeed(0);
  const images = {
    length: 8,
    get: (i: number) => ({
      image: tensor(Array.from({ length: 36 }, (_, k) => Math.sin(i + k))).reshape([1, 6, 6]),
      label: i % 3,
    }),
  };
  const trainer = new Trainer({
    model: new TinyCnn(),
    args: { outputDir: tmp(), maxSteps: 2, perDeviceTrainBatchSize: 4, learningRate: 0.01, saveStrategy: 'no' },
    trainDataset: images,
    log: null,
  });
  await trainer.train();
  assert.deepEqual(seen, ['[4,1,6,6]', '[4,1,6,6]']);
  const { predictions, labelIds } = await trainer.predict(images);
  assert.equal(predictions.length, 8);
  assert.equal(predictions[0].length, 3);
  assert.deepEqual(labelIds, [0, 1, 2, 0, 1, 2, 0, 1]);
});

test('an unknown PEFT type is an error, not LoRA', () => {
  manualSeed(0);
  const base = new models.BertForSequenceClassification({
    vocabSize: 50,
    hiddenSize: 8,
    numHiddenLayers: 1,
    numAttentionHeads: 2,
    intermediateSize: 8,
    maxPositionEmbeddings: 16,
    numLabels: 2,
  });
  const peftModel = getPeftModel(base, new LoraConfig({ taskType: 'SEQ_CLS', r: 2, targetModules: ['query'] }));
  const config = [...peftModel.peftConfig.values()][0];
  Object.defineProperty(config, 'peftType', { value: 'NOT_A_METHOD' });
  assert.throws(
    () => new Trainer({ model: peftModel, args: { outputDir: tmp() }, log: null }),
    /unknown PEFT type "NOT_A_METHOD" \(registered: [A-Z_, ]*LORA/,
  );
});

test('multiTask makes the Trainer a MultiTaskTrainer; a subclass of Trainer is told to extend MultiTaskTrainer', () => {
  class TwoHeads extends nn.Module {
    a = new nn.Linear(2, 2);
    b = new nn.Linear(2, 1);
    forward(x: Tensor): { logits: Record<string, Tensor> } {
      return { logits: { a: this.a.forward(x), b: this.b.forward(x) } };
    }
  }
  const loss = new optim.MultiTaskLoss(['a', 'b'], { kind: 'fixed' });
  const trainer = new Trainer({
    model: new TwoHeads(),
    args: { outputDir: tmp(), learningRate: 0.1 },
    multiTask: { loss },
    log: null,
  });
  assert.ok(trainer instanceof train.MultiTaskTrainer && trainer instanceof Trainer);
  assert.match(trainer.planLines().at(-1)!, /^multi-task: 2 tasks \(a, b\), fixed weighting$/);
  class MyTrainer extends Trainer {}
  assert.throws(
    () => new MyTrainer({ model: new TwoHeads(), args: { outputDir: tmp() }, multiTask: { loss }, log: null }),
    /MyTrainer: multiTask needs MultiTaskTrainer/,
  );
  class MyMultiTaskTrainer extends train.MultiTaskTrainer {}
  assert.ok(
    new MyMultiTaskTrainer({
      model: new TwoHeads(),
      args: { outputDir: tmp(), learningRate: 0.1 },
      multiTask: { loss },
      log: null,
    }) instanceof train.MultiTaskTrainer,
  );
  loss.dispose();
});

/**
 * The fp16 reference run of test/fixtures/precision/fp16-overflow.json (tools/gen_precision_fixtures.py)
 * on the Trainer, shared by test/trainer-precision.test.ts and its two-rank worker
 * (fp16-rank.ts): the fixture's MLP (fp16-fixture.ts), its 8 examples, the loss × boost at the overflow step.
 */
import { join } from 'node:path';

import { functional as F, nn, tensor, train, type Tensor } from 'finetune';
import { reference, TORCH_NAMES } from './fp16-fixture.js';
import { snapshot } from './trainer-setup.js';

export { reference, TORCH_NAMES };

/** The fixture's MLP (4 → 8 → 3, ReLU): torch's Sequential names its layers 0 and 2. */
class Mlp extends nn.Module {
  fc1 = new nn.Linear(4, 8);
  fc2 = new nn.Linear(8, 3);
  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.fc1.forward(x).relu());
  }
}

function referenceMlp(): Mlp {
  const model = new Mlp();
  const state = new Map<string, Tensor>();
  for (const [torchName, name] of Object.entries(TORCH_NAMES)) {
    const shape = model.stateDict().get(name)!.shape;
    state.set(name, tensor(reference.initial[torchName]).reshape(shape));
  }
  model.loadStateDict(state);
  return model;
}

/** What the run records after each step: the weights and the loss scale. */
export type StepRecord = Map<number, { weights: Map<string, Float32Array>; scale: number }>;

/**
 * A Trainer on the fixture's run (a checkpoint at the overflow step): the examples of a batch in their
 * order, the loss × boost at the overflow step when `boost` says so (default: always).
 */
export function fp16Trainer(
  outputDir: string,
  steps: StepRecord,
  options: { resume?: boolean; batchSize?: number; boost?: boolean } = {},
): train.Trainer {
  const examples = { length: reference.y.length, get: (i: number) => ({ index: i }) };
  // The loader shuffles; the fixture's batch is in order (the same sums, bit for bit).
  const collate = (rows: unknown[]) => {
    const order = (rows as { index: number }[]).map((r) => r.index).sort((a, b) => a - b);
    return {
      input: tensor(order.map((i) => reference.x[i])),
      labels: tensor(
        order.map((i) => reference.y[i]),
        { dtype: 'int64' },
      ),
    };
  };
  const boost = options.boost ?? true;
  const trainer: train.Trainer = new train.Trainer({
    model: referenceMlp(),
    trainDataset: examples,
    collate,
    computeLoss: (outputs, labels) => {
      const loss = F.crossEntropy(outputs.logits, labels!);
      return boost && trainer.state.globalStep + 1 === reference.overflow_step ? loss.mul(reference.boost) : loss;
    },
    callbacks: [
      {
        onStepEnd: (_args, state, _control, { model }) => {
          steps.set(state.globalStep, { weights: snapshot(model), scale: trainer.precision.scaler!.getScale() });
        },
      },
    ],
    args: {
      outputDir,
      fp16: true,
      maxSteps: reference.steps.length,
      perDeviceTrainBatchSize: options.batchSize ?? 8,
      learningRate: reference.lr,
      loggingSteps: 1,
      saveSteps: reference.overflow_step,
      threads: 1,
      disableTqdm: true,
      resumeFromCheckpoint: options.resume ? join(outputDir, `checkpoint-${reference.overflow_step}`) : null,
    },
    log: null,
  });
  return trainer;
}

/**
 * Padding-free execution (models.PackedTokens, BertModel.paddingFree, TrainingArguments.paddingFree):
 * the layers' per-token work runs on the real tokens only, and gives the padded run's outputs at
 * every real token, its loss and its gradients — in float64, for sequence classification and masked
 * LM, plain, with LoRA and with gradient checkpointing — and the Trainer's run ends on the same weights.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { getPeftModel, LoraConfig, manualSeed, models, nn, tensor, tidy, Trainer, type Tensor } from 'finetune';
import { slice, snapshot, sst2, tempFolders, tinyBert } from './helpers/trainer-setup.js';

const tmp = tempFolders('finetune-padding-free');
const { BertForMaskedLM, BertForSequenceClassification, PackedTokens } = models;

const CONFIG = {
  vocabSize: 50,
  hiddenSize: 16,
  numHiddenLayers: 2,
  numAttentionHeads: 2,
  intermediateSize: 32,
  maxPositionEmbeddings: 16,
  hiddenDropoutProb: 0,
  attentionProbsDropoutProb: 0,
};
/** Three right-padded rows of 6 tokens: 5, 3 and 6 real. */
const IDS = [
  [2, 11, 17, 23, 3, 0],
  [2, 31, 3, 0, 0, 0],
  [2, 5, 7, 9, 13, 3],
];
const MASK = IDS.map((row) => row.map((id) => (id === 0 ? 0 : 1)));

interface Case {
  name: string;
  build(): nn.Module;
  /** The labels for the batch. */
  labels(): Tensor;
  /** The output compared at the real tokens: [batch, classes] or [batch, length, vocab]. */
  perToken: boolean;
  lora?: boolean;
  checkpointing?: boolean;
}

const classification = () => {
  manualSeed(3);
  return new BertForSequenceClassification({ ...CONFIG, numLabels: 3 });
};
const maskedLm = () => {
  manualSeed(4);
  return new BertForMaskedLM(CONFIG);
};
const classLabels = () => tensor([0, 2, 1], { dtype: 'int64' });
/** Masked-LM labels: a few real positions, -100 elsewhere (the padding included). */
const mlmLabels = () =>
  tensor(
    IDS.map((row, r) => row.map((id, i) => (MASK[r][i] && i % 2 === 1 ? id : -100))),
    { dtype: 'int64' },
  );

const CASES: Case[] = [
  { name: 'sequence classification', build: classification, labels: classLabels, perToken: false },
  { name: 'sequence classification + LoRA', build: classification, labels: classLabels, perToken: false, lora: true },
  {
    name: 'sequence classification, gradient checkpointing',
    build: classification,
    labels: classLabels,
    perToken: false,
    checkpointing: true,
  },
  { name: 'masked LM', build: maskedLm, labels: mlmLabels, perToken: true },
  { name: 'masked LM + LoRA', build: maskedLm, labels: mlmLabels, perToken: true, lora: true },
];

interface Run {
  loss: number;
  /** The compared outputs, real tokens only. */
  outputs: number[];
  grads: Map<string, Float64Array>;
}

function run(model: nn.Module, c: Case, paddingFree: boolean): Run {
  assert.equal(models.setPaddingFree(model, paddingFree), 1);
  model.zeroGrad();
  return tidy(() => {
    const inputIds = tensor(IDS, { dtype: 'int64' });
    const attentionMask = tensor(MASK, { dtype: 'int64' });
    const out = (model as unknown as { forward(i: object): { logits: Tensor; loss: Tensor } }).forward({
      inputIds,
      attentionMask,
      labels: c.labels(),
    });
    out.loss.backward();
    const logits = out.logits.data() as Float64Array;
    const width = logits.length / (c.perToken ? IDS.length * IDS[0].length : IDS.length);
    const outputs = c.perToken
      ? MASK.flat().flatMap((real, t) => (real ? [...logits.subarray(t * width, (t + 1) * width)] : []))
      : [...logits];
    const grads = new Map<string, Float64Array>();
    for (const [name, p] of model.namedParameters())
      if (p.requiresGrad) grads.set(name, Float64Array.from(p.grad!.data() as Float64Array));
    return { loss: out.loss.item(), outputs, grads };
  });
}

function maxAbs(values: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]));
  return max;
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
  return diff;
}

describe('padding-free BERT gives the padded run at every real token (float64)', () => {
  for (const c of CASES) {
    test(c.name, () => {
      let model: nn.Module = c.build();
      if (c.lora) model = getPeftModel(model, new LoraConfig({ r: 4, targetModules: ['query', 'value'] }));
      model.to({ dtype: 'float64' });
      nn.setGradientCheckpointing(model, c.checkpointing === true);
      model.train();
      const padded = run(model, c, false);
      const packed = run(model, c, true);
      assert.ok(Math.abs(padded.loss - packed.loss) <= 1e-12, `loss ${padded.loss} vs ${packed.loss}`);
      assert.equal(packed.outputs.length, padded.outputs.length);
      assert.ok(maxDifference(padded.outputs, packed.outputs) <= 1e-12, 'outputs at the real tokens differ');
      // relative to the largest gradient: some are zero in exact arithmetic (the key bias: softmax ignores a shift)
      const scale = Math.max(...[...padded.grads.values()].map((grad) => maxAbs(grad)));
      assert.ok(scale > 0, 'no gradients');
      for (const [name, grad] of padded.grads)
        assert.ok(maxDifference(grad, packed.grads.get(name)!) <= 1e-10 * scale, `${name}: gradients differ`);
      if (c.lora) assert.ok([...padded.grads.keys()].every((name) => name.includes('lora_')));
    });
  }

  test('the padding of lastHiddenState is zero, the real tokens as padded', () => {
    const model = classification().to({ dtype: 'float64' });
    model.eval();
    const hidden = (paddingFree: boolean) =>
      tidy(() => {
        model.bert.paddingFree = paddingFree;
        const out = model.bert.forward({
          inputIds: tensor(IDS, { dtype: 'int64' }),
          attentionMask: tensor(MASK, { dtype: 'int64' }),
        });
        return [...(out.lastHiddenState.data() as Float64Array)];
      });
    const padded = hidden(false);
    const packed = hidden(true);
    const width = CONFIG.hiddenSize;
    MASK.flat().forEach((real, t) => {
      const row = (values: number[]) => values.slice(t * width, (t + 1) * width);
      if (real) assert.ok(maxDifference(row(padded), row(packed)) <= 1e-12, `token ${t}`);
      else assert.deepEqual(row(packed), new Array<number>(width).fill(0), `padding token ${t}`);
    });
  });
});

describe('PackedTokens', () => {
  test('packs the real tokens in order and unpacks them with zeros at the padding', () => {
    tidy(() => {
      const packing = PackedTokens.fromMask(
        tensor(
          [
            [1, 1, 0],
            [1, 1, 1],
          ],
          { dtype: 'int64' },
        ),
      )!;
      assert.equal(packing.count, 5);
      assert.deepEqual([...(packing.indices.data() as BigInt64Array)].map(Number), [0, 1, 3, 4, 5]);
      const x = tensor([
        [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
        [
          [7, 8],
          [9, 10],
          [11, 12],
        ],
      ]);
      const packed = packing.pack(x);
      assert.deepEqual(packed.shape, [5, 2]);
      assert.deepEqual([...(packed.data() as Float32Array)], [1, 2, 3, 4, 7, 8, 9, 10, 11, 12]);
      assert.deepEqual([...(packing.unpack(packed).data() as Float32Array)], [1, 2, 3, 4, 0, 0, 7, 8, 9, 10, 11, 12]);
    });
  });

  test('nothing to pack: no padding, left padding (heads read position 0), or a mask that is not [batch, length]', () => {
    tidy(() => {
      assert.equal(
        PackedTokens.fromMask(
          tensor(
            [
              [1, 1],
              [1, 1],
            ],
            { dtype: 'int64' },
          ),
        ),
        null,
      );
      assert.equal(
        PackedTokens.fromMask(
          tensor(
            [
              [0, 1, 1],
              [1, 1, 1],
            ],
            { dtype: 'int64' },
          ),
        ),
        null,
      );
      assert.equal(PackedTokens.fromMask(tensor([[[1, 0]]], { dtype: 'int64' })), null);
    });
  });
});

describe('the Trainer runs padding-free by default', () => {
  test('the same final weights as the padded run within 1e-6 (dropout off), and the plan says so', async () => {
    const dataset = slice(await sst2(), 0, 48);
    const train = async (paddingFree: boolean) => {
      const lines: string[] = [];
      const model = tinyBert(5, { hiddenDropoutProb: 0, attentionProbsDropoutProb: 0 });
      const trainer = new Trainer({
        model,
        args: {
          outputDir: tmp(),
          perDeviceTrainBatchSize: 8,
          numTrainEpochs: 1,
          learningRate: 1e-3,
          seed: 5,
          saveStrategy: 'no',
          disableTqdm: true,
          ...(paddingFree ? {} : { paddingFree: false }),
        },
        trainDataset: dataset,
        log: (line) => lines.push(line),
      });
      await trainer.train();
      return { weights: snapshot(model), lines };
    };
    const packed = await train(true);
    const padded = await train(false);
    assert.ok(packed.lines.some((line) => line.startsWith('padding-free: the layers run on the real tokens')));
    assert.ok(!padded.lines.some((line) => line.startsWith('padding-free')));
    // The key biases' gradients are zero in exact arithmetic (softmax ignores a shift of every score), so
    // both runs' are rounding noise, which Adam's normalisation turns into steps of the full learning rate.
    const compared = [...padded.weights].filter(([name]) => !name.endsWith('attention.self.key.bias'));
    assert.ok(compared.length > 20);
    for (const [name, weight] of compared) {
      const other = packed.weights.get(name)!;
      assert.ok(maxDifference(weight, other) <= 1e-6, `${name} differs by ${maxDifference(weight, other)}`);
    }
  });
});

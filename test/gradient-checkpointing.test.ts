/**
 * Gradient checkpointing (model.gradientCheckpointingEnable()) gives the gradients of the plain run:
 * BERT, ViT and ResNet, full and with LoRA on a frozen base (the frozen-input case), in train mode
 * with dropout and BatchNorm, and in eval mode — in float64, where the recomputation is exact.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  getPeftModel,
  LoraConfig,
  manualSeed,
  Trainer,
  memory,
  models,
  nn,
  noGrad,
  peft,
  randint,
  randn,
  tidy,
  type Tensor,
} from 'finetune';
import { slice, snapshot, sst2, tempFolders, tinyBert as tinyTrainerBert } from './helpers/trainer-setup.js';

const tmp = tempFolders('finetune-checkpointing');
const { BertForSequenceClassification, bertConfig, ResNet, ViTForImageClassification, vitConfig } = models;

/** Any model or PeftModel: the test calls forward with the inputs its family takes. */
type Forward = { forward(...args: unknown[]): unknown };
type Loss = (model: nn.Module) => Tensor;
const forwardOf = (m: nn.Module): Forward['forward'] => (m as unknown as Forward).forward.bind(m);

interface StepResult {
  grads: Map<string, Float64Array>;
  /** How often the counted submodule's forward ran: twice per layer with checkpointing (forward and recompute). */
  calls: number;
  buffers: Float64Array[];
}

/** One forward/backward from seed 11, with checkpointing on or off; the trainable parameters' gradients. */
function step(model: nn.Module, counted: nn.Module, loss: Loss, checkpointing: boolean): StepResult {
  nn.setGradientCheckpointing(model, checkpointing);
  const buffersBefore = model.namedBuffers().map(([, b]) => b.clone());
  model.zeroGrad();
  let calls = 0;
  const forward = forwardOf(counted);
  (counted as unknown as Forward).forward = (...args: unknown[]) => {
    calls++;
    return forward(...args);
  };
  try {
    manualSeed(11);
    tidy(() => loss(model).backward());
  } finally {
    delete (counted as { forward?: unknown }).forward;
  }
  const grads = new Map<string, Float64Array>();
  for (const [name, p] of model.namedParameters()) {
    if (p.requiresGrad) grads.set(name, Float64Array.from(p.grad!.data() as Float64Array));
  }
  const buffers = model.namedBuffers().map(([, b]) => Float64Array.from(b.to('float64').data() as Float64Array));
  // put the running statistics back, so both runs start from the same state
  model.namedBuffers().forEach(([, b], i) => b.copy_(buffersBefore[i]));
  buffersBefore.forEach((b) => b.dispose());
  model.zeroGrad();
  return { grads, calls, buffers };
}

function maxRelativeDifference(a: Float64Array, b: Float64Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Checkpointed and plain gradients agree within 1e-6 relative, every trainable parameter gets one, and the layers ran twice. */
function assertSameGradients(model: nn.Module, counted: nn.Module, loss: Loss, layers: number): void {
  const plain = step(model, counted, loss, false);
  const checkpointed = step(model, counted, loss, true);
  assert.equal(plain.calls, 1);
  assert.equal(checkpointed.calls, 2, 'the checkpointed layer recomputes its forward in backward');
  assert.equal(nn.setGradientCheckpointing(model, false), layers);
  assert.ok(plain.grads.size > 0);
  assert.deepEqual([...checkpointed.grads.keys()], [...plain.grads.keys()]);
  for (const [name, expected] of plain.grads) {
    assert.ok(
      expected.some((v) => v !== 0),
      `${name}: the plain run gives it a non-zero gradient`,
    );
    const relative = maxRelativeDifference(checkpointed.grads.get(name)!, expected);
    assert.ok(relative <= 1e-6, `${name}: checkpointed gradient differs by ${relative} (relative)`);
  }
  for (const [i, expected] of plain.buffers.entries()) {
    assert.deepEqual(
      checkpointed.buffers[i],
      expected,
      'buffers (running statistics) are updated once, as without checkpointing',
    );
  }
}

/**
 * A PEFT method on a frozen base, in float64 (new layers are float32), with the trainable weights that
 * start at zero (LoRA's B, an adapter's up-projection) drawn at random so that every one gets a gradient.
 */
function withPeft(model: nn.Module, config: peft.PeftConfig): nn.Module {
  const peftModel = getPeftModel(model, config).to('float64');
  noGrad(() => {
    for (const p of peftModel.parameters()) {
      if (p.requiresGrad && p.abs().max().item() === 0) p.copy_(randn(p.shape, { dtype: 'float64' }).mul(0.1));
    }
  });
  return peftModel;
}

const withLora = (model: nn.Module, targetModules: string[]): nn.Module =>
  withPeft(model, new LoraConfig({ r: 2, loraAlpha: 4, loraDropout: 0.1, targetModules }));

const tinyBert = (): models.BertForSequenceClassification =>
  new BertForSequenceClassification(
    bertConfig({
      vocabSize: 40,
      hiddenSize: 8,
      numHiddenLayers: 2,
      numAttentionHeads: 2,
      intermediateSize: 16,
      maxPositionEmbeddings: 12,
      hiddenDropoutProb: 0.2,
      attentionProbsDropoutProb: 0.2,
      numLabels: 3,
    }),
  ).to('float64');

const tinyVit = (): models.ViTForImageClassification =>
  new ViTForImageClassification(
    vitConfig({
      imageSize: 8,
      patchSize: 4,
      numChannels: 3,
      hiddenSize: 8,
      numHiddenLayers: 2,
      numAttentionHeads: 2,
      intermediateSize: 16,
      hiddenDropoutProb: 0.2,
      attentionProbsDropoutProb: 0.2,
      numLabels: 3,
    }),
  ).to('float64');

const tinyResnet = (): models.ResNet =>
  new ResNet({ block: 'basic', layers: [1, 1, 1, 1], numClasses: 3 }).to('float64');

describe('gradient checkpointing', () => {
  manualSeed(5);
  const inputIds = randint(0, 40, [2, 6]);
  const attentionMask = tidy(() => randn([2, 6]).gt(-1).to('int64'));
  const textLabels = randint(0, 3, [2]);
  const pixels = randn([2, 3, 8, 8], { dtype: 'float64' });
  const images = randn([2, 3, 16, 16], { dtype: 'float64' });
  const imageLabels = randint(0, 3, [2]);

  const bertLoss: Loss = (m) =>
    (forwardOf(m)({ inputIds, attentionMask, labels: textLabels }) as { loss: Tensor }).loss;
  const vitLoss: Loss = (m) => (forwardOf(m)({ pixelValues: pixels, labels: imageLabels }) as { loss: Tensor }).loss;
  const resnetLoss: Loss = (m) => (forwardOf(m)(images) as Tensor).logSoftmax(-1).mean().neg();

  for (const mode of ['train', 'eval'] as const) {
    test(`BERT encoder layers, ${mode} mode, full and LoRA on a frozen base`, () => {
      manualSeed(1);
      const bert = tinyBert();
      bert.train(mode === 'train');
      assertSameGradients(bert, bert.bert.encoder.layer.at(1).attention, bertLoss, 2);
      const lora = withLora(bert, ['query', 'value']);
      lora.train(mode === 'train');
      assert.equal(
        bert.bert.embeddings.word_embeddings.weight.requiresGrad,
        false,
        'the layers’ input needs no gradient',
      );
      assertSameGradients(lora, bert.bert.encoder.layer.at(0).attention, bertLoss, 2);
    });

    test(`BERT encoder layers, ${mode} mode, bottleneck adapters on a frozen base`, () => {
      manualSeed(6);
      const bert = tinyBert();
      const adapted = withPeft(bert, new peft.BottleneckConfig({ reductionFactor: 2 }));
      adapted.train(mode === 'train');
      assert.ok(adapted.namedParameters().some(([name, p]) => name.includes('adapter') && p.requiresGrad));
      assertSameGradients(adapted, bert.bert.encoder.layer.at(0).attention, bertLoss, 2);
    });

    test(`ViT encoder layers, ${mode} mode, full and LoRA on a frozen base`, () => {
      manualSeed(2);
      const vit = tinyVit();
      vit.train(mode === 'train');
      assertSameGradients(vit, vit.vit.encoder.layer.at(0).intermediate, vitLoss, 2);
      const lora = withLora(vit, ['query', 'value']);
      lora.train(mode === 'train');
      assertSameGradients(lora, vit.vit.encoder.layer.at(1).intermediate, vitLoss, 2);
    });

    test(`ResNet blocks, ${mode} mode (BatchNorm running statistics), full and LoRA on a frozen base`, () => {
      manualSeed(3);
      const resnet = tinyResnet();
      resnet.train(mode === 'train');
      const block = (resnet.layer2 as nn.Sequential).children()[0].children()[0];
      assertSameGradients(resnet, block, resnetLoss, 4);
      const lora = withLora(resnet, ['conv2']);
      lora.train(mode === 'train');
      assertSameGradients(lora, block, resnetLoss, 4);
    });
  }

  test('enable, disable and isGradientCheckpointing on the model; a model without layers refuses', () => {
    const bert = tinyBert();
    assert.equal(bert.isGradientCheckpointing, false);
    bert.gradientCheckpointingEnable();
    assert.equal(bert.isGradientCheckpointing, true);
    assert.ok(bert.bert.encoder.layer.at(0).gradientCheckpointing);
    bert.gradientCheckpointingDisable();
    assert.equal(bert.isGradientCheckpointing, false);
    const lora = withLora(bert, ['query']);
    assert.equal(nn.setGradientCheckpointing(lora, true), 2);
    assert.equal(bert.isGradientCheckpointing, true);
    assert.equal(nn.setGradientCheckpointing(bert.classifier, true), 0, 'a Linear has no checkpointable layer');
  });

  test('a checkpointed training step leaks no tensors', () => {
    manualSeed(4);
    const bert = tinyBert();
    bert.gradientCheckpointingEnable();
    tidy(() => bertLoss(bert).backward());
    const before = memory().numTensors;
    for (let i = 0; i < 2; i++) tidy(() => bertLoss(bert).backward());
    assert.equal(memory().numTensors, before);
  });
});

test('TrainingArguments.gradientCheckpointing: the Trainer trains LoRA on a tiny BERT to the plain run’s weights, says so in its plan, and refuses a model without such layers', async () => {
  const dataset = await sst2(16);
  const run = async (gradientCheckpointing: boolean) => {
    const lines: string[] = [];
    const trainer = new Trainer({
      model: tinyTrainerBert(5),
      args: {
        outputDir: tmp(),
        maxSteps: 4,
        perDeviceTrainBatchSize: 4,
        saveStrategy: 'no',
        disableTqdm: true,
        gradientCheckpointing,
        strategy: new LoraConfig({ taskType: 'SEQ_CLS', r: 4, targetModules: ['query', 'value'] }),
      },
      trainDataset: slice(dataset, 0, 16),
      log: (line) => lines.push(line),
    });
    await trainer.train();
    return { weights: snapshot(trainer.model), plan: lines.join('\n') };
  };
  const plain = await run(false);
  const checkpointed = await run(true);
  assert.match(checkpointed.plan, /gradient checkpointing: 2 layers recompute their activations in backward/);
  assert.doesNotMatch(plain.plan, /gradient checkpointing/);
  for (const [key, expected] of plain.weights) {
    const actual = checkpointed.weights.get(key)!;
    let scale = 1e-3;
    let worst = 0;
    expected.forEach((v, i) => {
      scale = Math.max(scale, Math.abs(v));
      worst = Math.max(worst, Math.abs(v - actual[i]));
    });
    assert.ok(worst <= 1e-5 * scale, `${key}: differs by ${worst}`);
  }
  assert.throws(
    () => new Trainer({ model: new nn.Linear(2, 2), args: { outputDir: tmp(), gradientCheckpointing: true } }),
    /gradientCheckpointing: Linear has no layer that can recompute its activations \(BERT, ViT and ResNet layers can\)/,
  );
});

// ViT (src/models/vit.ts) against the models it mirrors: a random transformers ViTForImageClassification
// and a random torchvision VisionTransformer, written with their reference logits, losses and
// first-layer gradients by tools/gen_vit_fixtures.py; plus configs, presets, heads and errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  createModel,
  dispose,
  functional as F,
  loadPretrained,
  loadSafetensors,
  manualSeed,
  memory,
  models,
  randn,
  savePretrained,
  tensor,
  tidy,
  type Tensor,
} from 'finetune';

const {
  ViTForImageClassification,
  ViTModel,
  findPreset,
  modelFamily,
  vitConfig,
  vitConfigFromHf,
  vitConfigToHf,
  vitLabels,
  VIT_PRESETS,
  vitStateDictFromTorchvision,
} = models;

const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/fixtures/vit/${name}`, import.meta.url));
const hfJson = (): Record<string, unknown> =>
  JSON.parse(readFileSync(fixture('hf/config.json'), 'utf8')) as Record<string, unknown>;
const load = async (name: string): Promise<Map<string, Tensor>> => (await loadSafetensors(fixture(name))).tensors;

/** The torchvision fixture's shape: VisionTransformer(32, 8, 2 layers, 4 heads, hidden 32, mlp 64, 3 classes). */
const tinyTorchvision = vitConfig({
  ...VIT_PRESETS.vit_b_16,
  imageSize: 32,
  patchSize: 8,
  hiddenSize: 32,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  intermediateSize: 64,
  numLabels: 3,
});

const TOL = 1e-4;

function maxAbsDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  return tidy(() => a.sub(b).abs().max().item());
}

/** Runs `body` and checks that every tensor it made was freed. */
async function leakFree(body: () => Promise<void> | void): Promise<void> {
  const live = memory().numTensors;
  await body();
  assert.equal(memory().numTensors, live, 'tensors leaked');
}

/** Logits, loss and first-layer gradient of a classifier on the fixture inputs, as max abs differences to `ref`. */
function compare(
  model: InstanceType<typeof ViTForImageClassification>,
  inputs: Map<string, Tensor>,
  ref: Map<string, Tensor>,
) {
  model.eval();
  model.zeroGrad();
  const diffs = tidy(() => {
    const { logits, loss } = model.forward({ pixelValues: inputs.get('pixel_values')!, labels: inputs.get('labels')! });
    assert.ok(loss);
    loss.backward();
    const grad = model.vit.embeddings.patch_embeddings.projection.weight.grad;
    assert.ok(grad, 'no gradient reached the patch projection');
    return {
      logits: maxAbsDiff(logits, ref.get('logits')!),
      loss: Math.abs(loss.item() - ref.get('loss')!.item()),
      grad: maxAbsDiff(grad, ref.get('first_weight_grad')!),
      gradScale: tidy(() => ref.get('first_weight_grad')!.abs().max().item()),
    };
  });
  model.zeroGrad();
  return diffs;
}

test('transformers checkpoint: strict load, logits, loss and patch-projection gradient match PyTorch', async (t) => {
  await leakFree(async () => {
    const config = vitConfigFromHf(hfJson());
    const model = new ViTForImageClassification(config);
    const [weights, inputs, ref] = await Promise.all([
      load('hf/model.safetensors'),
      load('inputs.safetensors'),
      load('hf/reference.safetensors'),
    ]);
    assert.deepEqual(model.loadStateDict(weights), { missingKeys: [], unexpectedKeys: [] });
    assert.deepEqual([...model.stateDict().keys()].sort(), [...weights.keys()].sort());
    const d = compare(model, inputs, ref);
    t.diagnostic(
      `max |Δ| logits ${d.logits.toExponential(2)}, loss ${d.loss.toExponential(2)}, grad ${d.grad.toExponential(2)} (grad scale ${d.gradScale.toFixed(3)})`,
    );
    assert.ok(d.logits < TOL, `logits differ by ${d.logits}`);
    assert.ok(d.loss < TOL, `loss differs by ${d.loss}`);
    assert.ok(d.grad < TOL, `gradient differs by ${d.grad}`);
    assert.equal(model.config.id2label?.[2], 'bird');
    model.dispose();
    dispose([weights, inputs, ref]);
  });
});

test('torchvision VisionTransformer weights: converted, loaded strictly, same logits, loss and gradient', async (t) => {
  await leakFree(async () => {
    const [tv, inputs, ref] = await Promise.all([
      load('torchvision/model.safetensors'),
      load('inputs.safetensors'),
      load('torchvision/reference.safetensors'),
    ]);
    const model = new ViTForImageClassification(tinyTorchvision);
    const converted = vitStateDictFromTorchvision(tv, tinyTorchvision);
    assert.equal(converted.get('vit.encoder.layer.1.attention.attention.value.weight')?.shape.join(), '32,32');
    assert.deepEqual(model.loadStateDict(converted), { missingKeys: [], unexpectedKeys: [] });
    const d = compare(model, inputs, ref);
    t.diagnostic(
      `max |Δ| logits ${d.logits.toExponential(2)}, loss ${d.loss.toExponential(2)}, grad ${d.grad.toExponential(2)} (grad scale ${d.gradScale.toFixed(3)})`,
    );
    assert.ok(d.logits < TOL, `logits differ by ${d.logits}`);
    assert.ok(d.loss < TOL, `loss differs by ${d.loss}`);
    assert.ok(d.grad < TOL, `gradient differs by ${d.grad}`);
    model.dispose();
    dispose([tv, converted, inputs, ref]);
  });
});

test('torchvision conversion rejects a config or state dict that does not fit', async () => {
  await leakFree(async () => {
    const tv = await load('torchvision/model.safetensors');
    assert.throws(
      () => vitStateDictFromTorchvision(tv, { ...tinyTorchvision, numHiddenLayers: 3 }),
      /2 encoder layers but the config has numHiddenLayers 3/,
    );
    assert.throws(
      () => vitStateDictFromTorchvision(tv, { ...tinyTorchvision, hiddenSize: 64, numAttentionHeads: 4 }),
      /'class_token' is \[1,1,32\] but the config \(hiddenSize\) needs \[1,1,64\]/,
    );
    assert.throws(() => vitStateDictFromTorchvision(tv, { ...tinyTorchvision, numLabels: 10 }), /heads\.head\.weight/);
    const extra = new Map(tv);
    extra.set('heads.pre_logits.weight', tv.get('heads.head.weight')!);
    assert.throws(() => vitStateDictFromTorchvision(extra, tinyTorchvision), /representation_size/);
    const stray = new Map(tv);
    stray.set('encoder.something', tv.get('class_token')!);
    assert.throws(() => vitStateDictFromTorchvision(stray, tinyTorchvision), /unexpected key\(s\): encoder\.something/);
    const missing = new Map(tv);
    missing.delete('encoder.ln.weight');
    assert.throws(() => vitStateDictFromTorchvision(missing, tinyTorchvision), /missing key 'encoder\.ln\.weight'/);
    dispose(tv);
  });
});

test("parameter count of the vit_b_16 preset equals torchvision's vit_b_16 (86,567,656)", () => {
  const counts = JSON.parse(readFileSync(fixture('counts.json'), 'utf8')) as {
    torchvision_vit_b_16_parameters: number;
  };
  assert.equal(counts.torchvision_vit_b_16_parameters, 86_567_656);
  const model = new ViTForImageClassification(VIT_PRESETS.vit_b_16);
  try {
    assert.equal(model.numParameters(), 86_567_656);
    assert.equal(model.config.layerNormEps, 1e-6);
    assert.equal(model.config.hiddenAct, 'gelu');
  } finally {
    model.dispose();
  }
});

test('DeiT-shaped presets have timm/DeiT parameter counts; ViT-B/16 224 matches torchvision', () => {
  for (const [name, expected] of [
    ['vit-tiny', 5_717_416],
    ['vit-small', 22_050_664],
  ] as const) {
    const model = new ViTForImageClassification(VIT_PRESETS[name]);
    assert.equal(model.numParameters(), expected, name);
    model.dispose();
  }
  const base = VIT_PRESETS['vit-base-patch16-224'];
  assert.deepEqual(
    [
      base.hiddenSize,
      base.numHiddenLayers,
      base.numAttentionHeads,
      base.intermediateSize,
      base.imageSize,
      base.patchSize,
      base.numLabels,
    ],
    [768, 12, 12, 3072, 224, 16, 1000],
  );
  assert.equal(base.layerNormEps, 1e-12);
});

test('config.json round trip: vitConfigFromHf then vitConfigToHf gives what transformers wrote', () => {
  const json = hfJson();
  const config = vitConfigFromHf(json);
  assert.equal(config.hiddenSize, 32);
  assert.equal(config.numLabels, 3);
  assert.equal(config.layerNormEps, 1e-12);
  assert.deepEqual(config.label2id, { bird: 2, cat: 0, dog: 1 });
  const { transformers_version: _v, dtype: _d, ...expected } = json;
  assert.deepEqual(vitConfigToHf(config, 'ViTForImageClassification'), expected);
  const bare = vitConfigToHf(vitConfig({ numLabels: 2 }), 'ViTModel');
  assert.deepEqual(bare.architectures, ['ViTModel']);
  assert.deepEqual(bare.id2label, { 0: 'LABEL_0', 1: 'LABEL_1' });
  assert.equal(bare.model_type, 'vit');
  assert.equal(bare.pooler_output_size, 768);
  assert.deepEqual(vitConfigFromHf(bare), {
    ...vitConfig({ numLabels: 2, poolerOutputSize: 768 }),
    id2label: { 0: 'LABEL_0', 1: 'LABEL_1' },
    label2id: { LABEL_0: 0, LABEL_1: 1 },
  });
  assert.throws(
    () => vitConfigToHf(config, 'ViTForMaskedImageModeling'),
    /unknown architecture 'ViTForMaskedImageModeling'/,
  );
});

test('vitConfigFromHf names the bad key', () => {
  assert.throws(() => vitConfigFromHf({ hidden_size: 'big' }), /'hidden_size' must be a positive integer, got "big"/);
  assert.throws(() => vitConfigFromHf({ hidden_act: 'mish' }), /'hidden_act' must be one of/);
  assert.throws(() => vitConfigFromHf({ problem_type: 'ranking' }), /'problem_type'/);
  assert.throws(() => vitConfigFromHf({ model_type: 'bert' }), /'model_type' must be 'vit'/);
  assert.throws(
    () => vitConfigFromHf({ hidden_size: 30, num_attention_heads: 4 }),
    /hiddenSize \(30\) must be a multiple of numAttentionHeads \(4\)/,
  );
  assert.throws(() => vitConfigFromHf({ num_labels: 3, id2label: { 0: 'a' } }), /num_labels is 3 but id2label has 1/);
  const pair = vitConfigFromHf({ image_size: [32, 48], patch_size: 8 });
  assert.deepEqual(pair.imageSize, [32, 48]);
});

test('registry: the vit family builds both architectures from config.json, presets are found', () => {
  const family = modelFamily('vit');
  assert.deepEqual(Object.keys(family.architectures), ['ViTForImageClassification', 'ViTModel']);
  const config = family.configFromHf(hfJson());
  const classifier = family.architectures.ViTForImageClassification(config);
  const bare = family.architectures.ViTModel(config);
  assert.ok(classifier instanceof ViTForImageClassification);
  assert.ok(bare instanceof ViTModel);
  assert.ok(bare.stateDict().has('pooler.dense.weight'), 'ViTModel has a pooler by default, as in transformers');
  assert.ok(!classifier.stateDict().has('vit.pooler.dense.weight'));
  assert.deepEqual(family.configToHf(config, 'ViTModel').architectures, ['ViTModel']);
  classifier.dispose();
  bare.dispose();
  assert.equal((findPreset('vit-tiny')?.config as { hiddenSize: number }).hiddenSize, 192);
  assert.equal((findPreset('vit_b_16')?.config as { layerNormEps: number }).layerNormEps, 1e-6);
  assert.equal(findPreset('vit-small')?.family.modelType, 'vit');
});

test('resetClassifier replaces the head for a new label set and keeps the backbone', async () => {
  await leakFree(async () => {
    const [weights, inputs] = await Promise.all([load('hf/model.safetensors'), load('inputs.safetensors')]);
    const model = new ViTForImageClassification(vitConfigFromHf(hfJson()));
    model.loadStateDict(weights);
    model.eval();
    const pixelValues = inputs.get('pixel_values')!;
    const backbone = model.vit.namedParameters('vit');
    const before = tidy(() => model.vit.forward({ pixelValues }).lastHiddenState);

    assert.equal(model.resetClassifier(5), model);
    assert.equal(model.config.numLabels, 5);
    assert.equal(model.config.id2label, undefined);
    assert.deepEqual(vitLabels(model.config).id2label, {
      0: 'LABEL_0',
      1: 'LABEL_1',
      2: 'LABEL_2',
      3: 'LABEL_3',
      4: 'LABEL_4',
    });
    assert.deepEqual(model.classifier.stateDict().get('weight')?.shape, [5, 32]);
    assert.equal(
      tidy(() => model.classifier.stateDict().get('bias')!.abs().sum().item()),
      0,
    );
    // The backbone keeps its tensors and their values.
    const after = model.vit.namedParameters('vit');
    assert.deepEqual(
      after.map(([k]) => k),
      backbone.map(([k]) => k),
    );
    assert.ok(
      after.every(([, p], i) => p === backbone[i][1]),
      'the backbone keeps its parameter tensors',
    );
    for (const [name, p] of backbone) assert.equal(maxAbsDiff(p, weights.get(name)!), 0, name);
    tidy(() => {
      const { logits, loss } = model.forward({ pixelValues, labels: tensor([4, 1], { dtype: 'int64' }) });
      assert.deepEqual(logits.shape, [2, 5]);
      assert.ok(Number.isFinite(loss!.item()));
      assert.equal(maxAbsDiff(model.vit.forward({ pixelValues }).lastHiddenState, before), 0);
    });

    model.resetClassifier(2, { id2label: { 0: 'no', 1: 'yes' } });
    assert.deepEqual(model.config.id2label, { 0: 'no', 1: 'yes' });
    assert.equal(
      vitConfigToHf(model.config).label2id && (vitConfigToHf(model.config).label2id as Record<string, number>).yes,
      1,
    );
    assert.throws(
      () => model.resetClassifier(3, { id2label: { 0: 'no' } }),
      /id2label has 1 entries but numLabels is 3/,
    );
    model.to('float64');
    model.resetClassifier(4);
    assert.equal(model.classifier.stateDict().get('weight')?.dtype, 'float64');
    tidy(() => assert.equal(model.forward({ pixelValues }).logits.dtype, 'float64'));
    model.resetClassifier(0);
    tidy(() => assert.deepEqual(model.forward({ pixelValues }).logits.shape, [2, 32]));
    model.dispose();
    before.dispose();
    dispose([weights, inputs]);
  });
});

test('ViTModel: last hidden state, pooled output, and the classifier backbone weights without the vit. prefix', async () => {
  await leakFree(async () => {
    const [weights, inputs] = await Promise.all([load('hf/model.safetensors'), load('inputs.safetensors')]);
    const config = vitConfigFromHf(hfJson());
    const classifier = new ViTForImageClassification(config);
    classifier.loadStateDict(weights);
    const bare = new ViTModel(config, { addPoolingLayer: false });
    const backbone = new Map([...weights].filter(([k]) => k.startsWith('vit.')).map(([k, v]) => [k.slice(4), v]));
    assert.deepEqual(bare.loadStateDict(backbone), { missingKeys: [], unexpectedKeys: [] });
    const pooled = new ViTModel(config);
    assert.deepEqual(pooled.loadStateDict(backbone, { strict: false }), {
      missingKeys: ['pooler.dense.weight', 'pooler.dense.bias'],
      unexpectedKeys: [],
    });
    classifier.eval();
    bare.eval();
    pooled.eval();
    tidy(() => {
      const pixelValues = inputs.get('pixel_values')!;
      const out = bare.forward({ pixelValues });
      assert.deepEqual(out.lastHiddenState.shape, [2, 17, 32]);
      assert.equal(out.pooledOutput, undefined);
      const logits = F.linear(
        out.lastHiddenState.select(1, 0),
        classifier.classifier.stateDict().get('weight')!,
        classifier.classifier.stateDict().get('bias'),
      );
      assert.equal(maxAbsDiff(logits, classifier.forward({ pixelValues }).logits), 0);
      const withPooler = pooled.forward({ pixelValues });
      assert.deepEqual(withPooler.pooledOutput?.shape, [2, 32]);
      assert.ok(withPooler.pooledOutput!.abs().max().item() <= 1, 'tanh pooler');
    });
    for (const m of [classifier, bare, pooled]) m.dispose();
    dispose([weights, inputs]);
  });
});

test('wrong image size or channel count throws naming expected and got', () => {
  const model = new ViTForImageClassification(
    vitConfig({
      imageSize: 32,
      patchSize: 8,
      hiddenSize: 32,
      numHiddenLayers: 1,
      numAttentionHeads: 4,
      intermediateSize: 64,
      numLabels: 3,
    }),
  );
  tidy(() => {
    assert.throws(
      () => model.forward({ pixelValues: randn([1, 3, 64, 64]) }),
      /expected 32×32 images \(config imageSize\), got 64×64/,
    );
    assert.throws(
      () => model.forward({ pixelValues: randn([1, 3, 32, 48]) }),
      /expected 32×32 images \(config imageSize\), got 32×48/,
    );
    assert.throws(
      () => model.forward({ pixelValues: randn([1, 1, 32, 32]) }),
      /expected 3 channels \(config numChannels\), got 1/,
    );
    assert.throws(
      () => model.forward({ pixelValues: randn([3, 32, 32]) }),
      /must be \[batch, channels, height, width\]/,
    );
    assert.deepEqual(model.forward({ pixelValues: randn([2, 3, 32, 32], { dtype: 'float64' }) }).logits.shape, [2, 3]);
  });
  model.dispose();
});

test('initialisation follows transformers: truncated normal(0, initializerRange), zero biases, unit layer norms', () => {
  manualSeed(7);
  const model = new ViTForImageClassification(
    vitConfig({
      imageSize: 64,
      patchSize: 8,
      hiddenSize: 128,
      numHiddenLayers: 1,
      numAttentionHeads: 4,
      intermediateSize: 256,
      numLabels: 10,
      initializerRange: 0.05,
    }),
  );
  tidy(() => {
    for (const [name, p] of model.namedParameters()) {
      if (name.endsWith('bias')) assert.equal(p.abs().max().item(), 0, name);
      else if (name.includes('layernorm')) assert.equal(p.sub(1).abs().max().item(), 0, name);
      else {
        const std = p.std().item();
        assert.ok(Math.abs(std - 0.05) < 0.05 * 0.15, `${name}: std ${std}`);
        assert.ok(Math.abs(p.mean().item()) < 0.01, name);
      }
    }
  });
  model.dispose();
});

test('losses follow problemType like transformers: cross entropy, multi-label BCE, regression MSE', () => {
  const small = {
    imageSize: 16,
    patchSize: 8,
    hiddenSize: 16,
    numHiddenLayers: 1,
    numAttentionHeads: 2,
    intermediateSize: 32,
  };
  tidy(() => {
    const pixelValues = randn([3, 3, 16, 16]);
    const multi = new ViTForImageClassification(vitConfig({ ...small, numLabels: 4 }));
    const targets = tensor([
      [1, 0, 1, 0],
      [0, 0, 0, 1],
      [1, 1, 1, 1],
    ]);
    const m = multi.forward({ pixelValues, labels: targets });
    assert.ok(Math.abs(m.loss!.item() - F.binaryCrossEntropyWithLogits(m.logits, targets).item()) < 1e-7);
    const single = multi.forward({ pixelValues, labels: tensor([3, 0, 2], { dtype: 'int64' }) });
    assert.ok(
      Math.abs(single.loss!.item() - F.crossEntropy(single.logits, tensor([3, 0, 2], { dtype: 'int64' })).item()) <
        1e-7,
    );
    const regression = new ViTForImageClassification(vitConfig({ ...small, numLabels: 1 }));
    const values = tensor([0.5, -1, 2]);
    const r = regression.forward({ pixelValues, labels: values });
    assert.ok(Math.abs(r.loss!.item() - F.mseLoss(r.logits.squeeze(), values).item()) < 1e-7);
    multi.dispose();
    regression.dispose();
  });
});

test('training: dropout is active only in train mode and every parameter gets a gradient', () => {
  manualSeed(8);
  const model = new ViTForImageClassification(
    vitConfig({
      imageSize: 16,
      patchSize: 8,
      hiddenSize: 16,
      numHiddenLayers: 2,
      numAttentionHeads: 2,
      intermediateSize: 32,
      numLabels: 3,
      hiddenDropoutProb: 0.3,
      attentionProbsDropoutProb: 0.3,
    }),
  );
  tidy(() => {
    const pixelValues = randn([4, 3, 16, 16]);
    model.eval();
    const a = model.forward({ pixelValues }).logits;
    const b = model.forward({ pixelValues }).logits;
    assert.equal(maxAbsDiff(a, b), 0);
    model.train();
    const c = model.forward({ pixelValues }).logits;
    assert.ok(maxAbsDiff(a, c) > 0, 'dropout changes training outputs');
    model.forward({ pixelValues, labels: tensor([0, 1, 2, 0], { dtype: 'int64' }) }).loss!.backward();
    for (const [name, p] of model.namedParameters()) {
      const grad = p.grad;
      assert.ok(grad && grad.abs().sum().item() > 0, `${name} got no gradient`);
    }
  });
  model.zeroGrad();
  model.dispose();
});

test('fromPretrained / savePretrained / createModel: the transformers folder loads, saves and reloads', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-vit-'));
  try {
    await leakFree(async () => {
      const [inputs, ref] = await Promise.all([load('inputs.safetensors'), load('hf/reference.safetensors')]);
      const pixelValues = inputs.get('pixel_values')!;
      const warnings: string[] = [];
      const { model, info } = await loadPretrained(fixture('hf'), { warn: (m) => warnings.push(m) });
      assert.ok(model instanceof ViTForImageClassification);
      assert.deepEqual(info, { missingKeys: [], unexpectedKeys: [], mismatchedKeys: [] });
      assert.equal(warnings.length, 0, warnings.join('\n'));
      model.eval();
      tidy(() => assert.ok(maxAbsDiff(model.forward({ pixelValues }).logits, ref.get('logits')!) < TOL));

      await savePretrained(model, dir);
      const saved = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      const { transformers_version: _v, ...expected } = hfJson();
      assert.deepEqual(saved, expected);
      const again = await loadPretrained(dir, { warn: (m) => warnings.push(m) });
      again.model.eval();
      tidy(() =>
        assert.equal(
          maxAbsDiff((again.model as typeof model).forward({ pixelValues }).logits, ref.get('logits')!),
          maxAbsDiff(model.forward({ pixelValues }).logits, ref.get('logits')!),
        ),
      );

      // A new label count: the backbone loads, the classifier is fresh (transformers' ignore_mismatched_sizes).
      const five = await loadPretrained(fixture('hf'), {
        numLabels: 5,
        ignoreMismatchedSizes: true,
        warn: (m) => warnings.push(m),
      });
      assert.deepEqual(
        five.info.mismatchedKeys.map((m) => m.key),
        ['classifier.weight', 'classifier.bias'],
      );
      assert.equal((five.model as typeof model).config.numLabels, 5);
      assert.equal((five.model as typeof model).config.id2label, undefined);
      // The backbone alone, from the classifier checkpoint ('vit.' prefix removed).
      const bare = await loadPretrained(fixture('hf'), { architecture: 'ViTModel', warn: (m) => warnings.push(m) });
      assert.ok(bare.model instanceof ViTModel);
      assert.deepEqual(bare.info.missingKeys, ['pooler.dense.weight', 'pooler.dense.bias']);
      assert.deepEqual([...bare.info.unexpectedKeys].sort(), ['classifier.bias', 'classifier.weight']);
      for (const m of [model, again.model, five.model, bare.model]) m.dispose();
      dispose([inputs, ref]);
    });
    const created = createModel('vit-tiny', { numLabels: 10 });
    assert.ok(created instanceof ViTForImageClassification);
    assert.equal(created.numParameters(), 5_717_416 - 990 * 193);
    created.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Bottleneck adapters (Houlsby / Pfeiffer) as a PEFT method: adapter shapes and PEFT-style keys,
// targeting, ResNet's placements, the 'houlsby' init, the gradient at near-identity init, several
// adapters on one layer in sequence, adapter_config.json both ways, and files written and read back.
// The properties every method shares (placements and exact trainable counts on BERT, ViT, ResNet,
// AlexNet and custom models, identity at init, training, disable, refused merging, unload, a second
// adapter, save and load) run over peft-cases.test.ts's table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  getPeftModel,
  PeftModel,
  manualSeed,
  models,
  nn,
  noGrad,
  peft,
  randn,
  tensor,
  tidy,
  loadSafetensors,
  dispose,
  type Tensor,
} from 'finetune';

import { logits, maxDiff, tinyBert, tinyBertInputs } from './helpers/peft-tiny.js';

const { BottleneckConfig, BottleneckLayer, peftConfigFromJson } = peft;

/** Random values in every adapter and head copy, so they change outputs. */
function perturbAdapters(model: nn.Module, std = 0.3): void {
  noGrad(() => {
    for (const [name, p] of model.namedParameters())
      if (/\.adapter_(down|up)\.|modules_to_save/.test(name)) p.copy_(randn(p.shape).mul(std));
  });
}

const targeted = (model: PeftModel) => (model.base_model as peft.BottleneckModel).tunerLayers().map(([key]) => key);
const perLayer = (layers: number, names: string[], prefix = 'bert') =>
  Array.from({ length: layers }, (_, i) => names.map((n) => `${prefix}.encoder.layer.${i}.${n}`)).flat();
/** Parameters of one adapter on d features with bottleneck m: down [m, d] + m, up [d, m] + d. */
const adapterParams = (d: number, m: number) => 2 * d * m + m + d;

test('config: defaults, validation, adapter_config.json both ways', () => {
  const config = new BottleneckConfig();
  assert.equal(config.peftType, 'BOTTLENECK');
  assert.equal(config.variant, 'pfeiffer');
  assert.equal(config.reductionFactor, 16);
  assert.equal(config.nonLinearity, 'relu');
  assert.equal(config.initWeights, 'near-identity');
  assert.equal(config.targetModules, null);
  const json = new BottleneckConfig({
    taskType: 'SEQ_CLS',
    variant: 'houlsby',
    reductionFactor: 8,
    nonLinearity: 'swish',
    layersToTransform: [1],
  }).toJson();
  assert.equal(json.peft_type, 'BOTTLENECK');
  assert.equal(json.reduction_factor, 8);
  assert.equal(json.non_linearity, 'swish');
  assert.equal(json.init_weights, 'near-identity');
  assert.equal(json.variant, 'houlsby');
  assert.equal(json.target_modules, null);
  const back = peftConfigFromJson(JSON.parse(JSON.stringify(json)));
  assert.ok(back instanceof BottleneckConfig);
  assert.deepEqual(back.toJson(), json);
  assert.throws(
    () => peftConfigFromJson({ ...json, use_gating: true }),
    /option\(s\) not supported by finetune: use_gating=true/,
  );
  assert.throws(() => new BottleneckConfig({ reductionFactor: 0 }), /reductionFactor must be a positive number/);
  assert.throws(() => new BottleneckConfig({ variant: 'parallel' as never }), /variant must be/);
  assert.throws(() => new BottleneckConfig({ nonLinearity: 'elu' as never }), /nonLinearity must be one of/);
  assert.throws(
    () => new BottleneckConfig({ targetModules: '.*dense', layersToTransform: [0] }),
    /layersToTransform needs targetModules as a list/,
  );
});

test('BERT houlsby / pfeiffer: adapter shapes, PEFT-style keys; at least one bottleneck unit', () => {
  const m = 16 / 4;
  for (const [variant, names] of [
    ['houlsby', ['attention.output.dense', 'output.dense']],
    ['pfeiffer', ['output.dense']],
  ] as const) {
    const model = getPeftModel(tinyBert(), new BottleneckConfig({ taskType: 'SEQ_CLS', variant, reductionFactor: 4 }));
    assert.deepEqual(targeted(model), perLayer(2, [...names]), variant);
    const layer = model.model.getSubmodule('bert.encoder.layer.0.output.dense') as peft.BottleneckLayer;
    assert.ok(layer instanceof BottleneckLayer);
    assert.deepEqual(layer.adapter_down.get('default').weight.shape, [m, 16]);
    assert.deepEqual(layer.adapter_up.get('default').weight.shape, [16, m]);
    const keys = [...model.adapterStateDict().keys()];
    assert.equal(keys.length, 2 * names.length * 4 + 2);
    for (const part of ['adapter_down.weight', 'adapter_down.bias', 'adapter_up.weight', 'adapter_up.bias']) {
      assert.ok(
        keys.includes(`base_model.model.bert.encoder.layer.1.output.dense.${part}`),
        `${part} in ${keys.join()}`,
      );
    }
    assert.ok(keys.includes('base_model.model.classifier.weight'));
    model.dispose();
  }
  // The bottleneck is at least one unit wide.
  const narrow = getPeftModel(tinyBert(), new BottleneckConfig({ reductionFactor: 64 }));
  assert.equal(narrow.getNbTrainableParameters()[0], 2 * adapterParams(16, 1));
});
test('targeting: layersToTransform, explicit names and regexes, models without defaults', () => {
  const top = getPeftModel(tinyBert(), new BottleneckConfig({ variant: 'houlsby', layersToTransform: [1] }));
  assert.deepEqual(targeted(top), ['bert.encoder.layer.1.attention.output.dense', 'bert.encoder.layer.1.output.dense']);
  const regex = getPeftModel(
    tinyBert(),
    new BottleneckConfig({ targetModules: '.*\\.layer\\.\\d+\\.output\\.(dense|LayerNorm)' }),
  );
  assert.deepEqual(targeted(regex), perLayer(2, ['output.dense', 'output.LayerNorm']));
  const excluded = getPeftModel(
    tinyBert(),
    new BottleneckConfig({ variant: 'houlsby', excludeModules: ['attention.output.dense'] }),
  );
  assert.deepEqual(targeted(excluded), perLayer(2, ['output.dense']));
  assert.throws(
    () => getPeftModel(tinyBert(), new BottleneckConfig({ targetModules: ['word_embeddings'] })),
    /not supported by bottleneck adapters; supported: Linear/,
  );
  const custom = new nn.Sequential(new nn.Linear(8, 8), new nn.ReLU(), new nn.Linear(8, 2));
  assert.throws(
    () => getPeftModel(custom, new BottleneckConfig()),
    /Sequential is not a registered model family.*give targetModules/,
  );
  const wrapped = getPeftModel(custom, new BottleneckConfig({ targetModules: ['0'], reductionFactor: 2 }));
  assert.deepEqual(targeted(wrapped), ['0']);
  assert.equal(wrapped.getNbTrainableParameters()[0], adapterParams(8, 4));
});

test("'houlsby' init: close to, not exactly, the identity", () => {
  const base = logits(tinyBert());
  const houlsby = getPeftModel(
    tinyBert(),
    new BottleneckConfig({ variant: 'houlsby', reductionFactor: 4, initWeights: 'houlsby' }),
  );
  const near = maxDiff(logits(houlsby), base);
  assert.ok(near > 0 && near < 1e-2, `houlsby init moves logits by ${near}`);
  houlsby.dispose();
});
test('at near-identity init (up = 0), up gets a gradient at once', () => {
  const model = getPeftModel(
    tinyBert(),
    new BottleneckConfig({ taskType: 'SEQ_CLS', variant: 'houlsby', reductionFactor: 4 }),
  );
  model.train();
  tidy(() =>
    (
      model.forward({ ...tinyBertInputs(), labels: tensor([0, 2], { dtype: 'int64' }) }) as { loss: Tensor }
    ).loss.backward(),
  );
  const upGrad = tidy(() =>
    model
      .namedParameters()
      .find(([n]) => n.endsWith('layer.0.output.dense.adapter_up.default.weight'))![1]
      .grad!.abs()
      .sum()
      .item(),
  );
  assert.ok(upGrad > 0);
  model.dispose();
});
test('two active adapters on one layer apply in sequence: h → a(h) → b(a(h))', () => {
  manualSeed(1);
  const layer = new BottleneckLayer(new nn.Linear(6, 8));
  layer.updateLayer('a', { size: 2, nonLinearity: 'tanh', initWeights: false });
  layer.updateLayer('b', { size: 3, nonLinearity: 'relu', initWeights: false });
  layer.activeAdapters = ['a', 'b'];
  const x = randn([4, 6]);
  const adapter = (name: string, h: Tensor, act: (t: Tensor) => Tensor) =>
    h.add(layer.adapter_up.get(name).forward(act(layer.adapter_down.get(name).forward(h))));
  const expected = noGrad(() =>
    tidy(() => {
      const h = (layer.base_layer as nn.Linear).forward(x);
      return (
        adapter(
          'b',
          adapter('a', h, (t) => t.tanh()),
          (t) => t.relu(),
        ).toArray() as number[][]
      ).flat();
    }),
  );
  const actual = noGrad(() => tidy(() => (layer.forward(x).toArray() as number[][]).flat()));
  assert.ok(maxDiff(actual, expected) < 1e-6);
  assert.deepEqual(layer.adapterParameterNames('b'), [
    'adapter_down.b.weight',
    'adapter_down.b.bias',
    'adapter_up.b.weight',
    'adapter_up.b.bias',
  ]);
  layer.dispose();
  dispose(x);
});

test('savePretrained / fromPretrained: finetune bottleneck files, the same outputs, inference mode', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-bottleneck-'));
  try {
    const model = getPeftModel(
      tinyBert(),
      new BottleneckConfig({ taskType: 'SEQ_CLS', variant: 'houlsby', reductionFactor: 4, nonLinearity: 'gelu' }),
    );
    perturbAdapters(model);
    const adapted = logits(model);
    await model.savePretrained(dir);
    const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    assert.equal(config.peft_type, 'BOTTLENECK');
    assert.equal(config.task_type, 'SEQ_CLS');
    assert.equal(config.variant, 'houlsby');
    assert.equal(config.reduction_factor, 4);
    assert.equal(config.non_linearity, 'gelu');
    assert.equal(config.init_weights, 'near-identity');
    assert.equal(config.inference_mode, true);
    assert.equal(config.target_modules, null);
    assert.deepEqual(config.modules_to_save, ['classifier', 'score']);
    const { tensors } = await loadSafetensors(join(dir, 'adapter_model.safetensors'));
    try {
      assert.equal(tensors.size, 4 * 4 + 2);
      assert.deepEqual(
        tensors.get('base_model.model.bert.encoder.layer.0.attention.output.dense.adapter_down.weight')!.shape,
        [4, 16],
      );
      assert.deepEqual(tensors.get('base_model.model.bert.encoder.layer.1.output.dense.adapter_up.bias')!.shape, [16]);
      assert.ok(tensors.has('base_model.model.classifier.weight'));
      assert.ok(![...tensors.keys()].some((k) => k.includes('.default')));
    } finally {
      dispose([...tensors.values()]);
    }

    const loaded = await PeftModel.fromPretrained(tinyBert(), dir);
    assert.deepEqual(targeted(loaded), perLayer(2, ['attention.output.dense', 'output.dense']));
    assert.ok(maxDiff(logits(loaded), adapted) < 1e-6);
    assert.ok(
      loaded.namedParameters().every(([, p]) => !p.requiresGrad),
      'inference mode freezes everything',
    );
    const trainable = await PeftModel.fromPretrained(tinyBert(), dir, {
      isTrainable: true,
      warn: (m) => assert.fail(m),
    });
    assert.equal(trainable.getNbTrainableParameters()[0], 4 * adapterParams(16, 4) + 16 * 3 + 3);
    assert.ok(maxDiff(logits(trainable), adapted) < 1e-6);
    model.dispose();
    loaded.dispose();
    trainable.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ResNet: 1×1-conv adapters after the last BatchNorm of each block, identity at init', () => {
  const x = (manualSeed(0), randn([1, 3, 64, 64]));
  const run = (m: nn.Module) =>
    noGrad(() => tidy(() => ((m as models.ResNet).forward(x).toArray() as number[][]).flat()));
  const build = (config: models.ResNetConfig) => {
    manualSeed(2);
    return new models.ResNet({ numClasses: 10, ...config }).eval();
  };
  // resnet18: BasicBlocks, adapters after bn2 of each of the 8 blocks.
  const base18 = run(build({ arch: 'resnet18' }));
  const r18 = getPeftModel(build({ arch: 'resnet18' }), new BottleneckConfig());
  const blocks = [1, 2, 3, 4].flatMap((k) => [0, 1].map((i) => `layer${k}.${i}.bn2`));
  assert.deepEqual(targeted(r18), blocks);
  const channels18 = [64, 128, 256, 512];
  assert.equal(
    r18.getNbTrainableParameters()[0],
    channels18.reduce((sum, c) => sum + 2 * adapterParams(c, c / 16), 0),
  );
  const layer = r18.model.getSubmodule('layer2.0.bn2') as peft.BottleneckLayer;
  assert.ok(layer.adapter_down.get('default') instanceof nn.Conv2d);
  assert.deepEqual(layer.adapter_down.get('default').weight.shape, [8, 128, 1, 1]);
  assert.deepEqual(layer.adapter_up.get('default').weight.shape, [128, 8, 1, 1]);
  assert.deepEqual(run(r18), base18);
  perturbAdapters(r18, 0.05);
  assert.ok(maxDiff(run(r18), base18) > 1e-4);
  assert.deepEqual(
    r18.disableAdapter(() => run(r18)),
    base18,
  );
  assert.ok([...r18.adapterStateDict().keys()].includes('base_model.model.layer4.1.bn2.adapter_up.weight'));
  r18.dispose();
  // Bottleneck blocks: after bn3 (not bn2, which Bottleneck blocks also have).
  const thin = { block: 'bottleneck', layers: [1, 1, 1, 1] } as const;
  const baseB = run(build(thin));
  const rb = getPeftModel(build(thin), new BottleneckConfig({ taskType: 'SEQ_CLS', modulesToSave: ['fc'] }));
  assert.deepEqual(
    targeted(rb),
    [1, 2, 3, 4].map((k) => `layer${k}.0.bn3`),
  );
  assert.equal(
    rb.getNbTrainableParameters()[0],
    [256, 512, 1024, 2048].reduce((sum, c) => sum + adapterParams(c, c / 16), 0) + 2048 * 10 + 10,
  );
  assert.deepEqual(run(rb), baseB);
  rb.dispose();
  dispose(x);
});

// torchvision CNNs (AlexNet, ResNet): state-dict layout and values checked against torchvision.
// test/fixtures/cnn/*.json come from tools/gen_cnn_fixtures.py, which fills torchvision's models
// with formula weights that this file regenerates bit for bit (see that script for the formula)
// and records float64 results: the exact output of torchvision's architecture for those weights.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  createModel,
  fromTypedArray,
  loadPretrained,
  manualSeed,
  memory,
  models,
  nn,
  noGrad,
  savePretrained,
  tidy,
  type Tensor,
} from 'finetune';

const FIXTURES = new URL('../../../test/fixtures/cnn/', import.meta.url);
const load = <T>(name: string): T => JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as T;

interface Spec {
  keys: string[];
  shapes: number[][];
  num_parameters: number;
}
interface GradRef {
  shape: number[];
  indices: number[];
  values: number[];
  sum: number;
  sum_squares: number;
  max_abs: number;
}
interface RunRef {
  logits: number[];
  loss: number;
  grad: GradRef;
  bn1_running_mean?: number[];
  bn1_num_batches_tracked?: number;
}
interface Reference {
  model: string;
  weights_sha256: string;
  first_conv: string;
  eval: RunRef;
  train?: RunRef;
}

const specs = load<{ torchvision: string; models: Record<string, Spec> }>('state_dicts.json').models;

// ---- formula weights (the same as tools/gen_cnn_fixtures.py) -------------------------

const INPUT_K = 1000;
const LOSS_K = 2000;
const TOLERANCE = 1e-4;
const FLOAT32_GRAD_ELEMENT_TOLERANCE = 1e-2;

/** float32 of offset + scale·u, u = (hash32(i, k) + 0.5) / 2³¹ − 1 in (−1, 1): integer ops and exact float64 steps. */
function formula(n: number, k: number, scale: number, offset = 0): Float32Array {
  const out = new Float32Array(n);
  const base = Math.imul(k, 0x85ebca77);
  for (let i = 0; i < n; i++) {
    let h = (Math.imul(i, 0x9e3779b1) + base) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    const u = ((h >>> 0) + 0.5) / 2147483648 - 1;
    out[i] = offset + scale * u;
  }
  return out;
}

function scaleOffset(key: string, shape: number[], bnModules: Set<string>): [number, number] {
  const dot = key.lastIndexOf('.');
  const owner = key.slice(0, dot);
  const name = key.slice(dot + 1);
  if (bnModules.has(owner)) {
    const bn: Record<string, [number, number]> = {
      weight: [0.25, 1],
      bias: [0.1, 0],
      running_mean: [0.1, 0],
      running_var: [0.25, 1.25],
    };
    return bn[name];
  }
  if (name === 'weight') return [Math.sqrt(6 / shape.slice(1).reduce((a, b) => a * b, 1)), 0];
  if (name === 'bias') return [0.1, 0];
  throw new Error(`no formula for ${key}`);
}

/** Fills every floating state-dict entry by the formula; returns the SHA-256 of the float32 bytes. */
function fillFormula(model: nn.Module): string {
  const bnModules = new Set(
    model
      .namedModules()
      .filter(([, m]) => m instanceof nn.BatchNorm2d)
      .map(([path]) => path),
  );
  const hash = createHash('sha256');
  let k = 0;
  for (const [key, t] of model.stateDict()) {
    if (t.dtype === 'float32') {
      const [scale, offset] = scaleOffset(key, t.shape, bnModules);
      const values = formula(t.numel(), k, scale, offset);
      hash.update(new Uint8Array(values.buffer));
      tidy(() => noGrad(() => t.copy_(fromTypedArray(values, t.shape))));
    }
    k++;
  }
  return hash.digest('hex');
}

const image = (batch: number): Tensor =>
  fromTypedArray(formula(batch * 3 * 224 * 224, INPUT_K, 1), [batch, 3, 224, 224]);

interface RunResult {
  logits: Float32Array | Float64Array;
  loss: number;
  grad: Float32Array | Float64Array;
}

/** Forward of the formula image, loss = sum(logits · v), backward; logits and the first conv's gradient. */
function run(
  model: nn.Module & { forward(x: Tensor): Tensor },
  firstConv: nn.Conv2d,
  batch: number,
  dtype: 'float32' | 'float64' = 'float32',
): RunResult {
  model.zeroGrad();
  return tidy(() => {
    const logits = model.forward(image(batch).to(dtype));
    const loss = logits.mul(fromTypedArray(formula(1000, LOSS_K, 1)).to(dtype)).sum();
    loss.backward();
    const grad = firstConv.weight.grad;
    assert.ok(grad, 'first conv weight has a gradient');
    return {
      logits: (logits.detach().data() as Float32Array | Float64Array).slice(),
      loss: loss.item(),
      grad: (grad.data() as Float32Array | Float64Array).slice(),
    };
  });
}

/** max |actual − expected|, and that divided by max |expected|. */
function diff(actual: ArrayLike<number>, expected: number[]): { maxAbs: number; relative: number } {
  assert.equal(actual.length, expected.length, 'lengths');
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return { maxAbs, relative: maxAbs / scale };
}

/**
 * Logits, loss and the first conv's gradient against the float64 reference. `gradElementTolerance`
 * bounds each sampled gradient element relative to the largest: float32 runs get 1e-2, as an
 * isolated ReLU / max-pool decision may flip with the summation order (torch's own ResNet-50 eval
 * gradient moves by 1e-3 between 1 and 2 threads); the gradient's norm is held to 1e-4 regardless.
 */
function checkRun(t: TestContext, label: string, got: RunResult, ref: RunRef, gradElementTolerance = TOLERANCE): void {
  const logits = diff(got.logits, ref.logits);
  t.diagnostic(
    `${label} logits: max abs diff ${logits.maxAbs.toExponential(3)} (relative to max |logit| ${logits.relative.toExponential(3)})`,
  );
  assert.ok(logits.relative <= TOLERANCE, `${label} logits differ from torchvision: ${JSON.stringify(logits)}`);
  assert.ok(
    Math.abs(got.loss - ref.loss) <= TOLERANCE * Math.max(1, Math.abs(ref.loss)),
    `${label} loss ${got.loss} vs ${ref.loss}`,
  );

  assert.equal(
    got.grad.length,
    ref.grad.shape.reduce((a, b) => a * b, 1),
  );
  const sampled = ref.grad.indices.map((i) => got.grad[i]);
  const grad = { maxAbs: diff(sampled, ref.grad.values).maxAbs, relative: 0 };
  grad.relative = grad.maxAbs / ref.grad.max_abs;
  let sum = 0;
  let sumSquares = 0;
  let maxAbs = 0;
  for (const g of got.grad) {
    sum += g;
    sumSquares += g * g;
    maxAbs = Math.max(maxAbs, Math.abs(g));
  }
  t.diagnostic(
    `${label} first-conv grad: max abs diff ${grad.maxAbs.toExponential(3)} over ${sampled.length} sampled elements ` +
      `(relative to max |grad| ${ref.grad.max_abs.toPrecision(4)}: ${grad.relative.toExponential(3)})`,
  );
  assert.ok(
    grad.relative <= gradElementTolerance,
    `${label} first-conv gradient differs from torchvision: ${JSON.stringify(grad)}`,
  );
  const norm = Math.sqrt(ref.grad.sum_squares);
  assert.ok(
    Math.abs(Math.sqrt(sumSquares) - norm) <= TOLERANCE * norm,
    `${label} gradient norm ${Math.sqrt(sumSquares)} vs ${norm}`,
  );
  assert.ok(
    Math.abs(sum - ref.grad.sum) <= TOLERANCE * norm * Math.sqrt(got.grad.length),
    `${label} gradient sum ${sum} vs ${ref.grad.sum}`,
  );
  assert.ok(
    Math.abs(maxAbs - ref.grad.max_abs) <= gradElementTolerance * ref.grad.max_abs,
    `${label} gradient max ${maxAbs} vs ${ref.grad.max_abs}`,
  );
}

function shapesOf(model: nn.Module): { keys: string[]; shapes: number[][] } {
  const state = model.stateDict();
  return { keys: [...state.keys()], shapes: [...state.values()].map((t) => t.shape) };
}

// ---- state-dict layout -------------------------------------------------------------

const builders: Record<string, () => nn.Module> = {
  alexnet: () => models.alexnet(),
  alexnet_10: () => new models.AlexNet({ numClasses: 10 }),
  resnet18: () => models.resnet18(),
  resnet18_10: () => new models.ResNet({ arch: 'resnet18', numClasses: 10 }),
  resnet34: () => models.resnet34(),
  resnet50: () => models.resnet50(),
  resnet101: () => models.resnet101(),
  resnet152: () => models.resnet152(),
  resnext50_32x4d: () => models.resnext50_32x4d(),
  wide_resnet50_2: () => models.wide_resnet50_2(),
};

test("state dict keys, shapes and order equal torchvision's; parameter counts", () => {
  const before = memory().numTensors;
  assert.deepEqual(Object.keys(builders).sort(), Object.keys(specs).sort());
  for (const [name, build] of Object.entries(builders)) {
    const model = build();
    const { keys, shapes } = shapesOf(model);
    assert.deepEqual(keys, specs[name].keys, `${name} keys`);
    assert.deepEqual(shapes, specs[name].shapes, `${name} shapes`);
    assert.equal(model.numParameters(), specs[name].num_parameters, `${name} parameter count`);
    model.dispose();
  }
  assert.equal(memory().numTensors, before);
});

test('parameter counts: AlexNet 61,100,840, ResNet-18 11,689,512, ResNet-50 25,557,032', () => {
  for (const [build, count] of [
    [models.alexnet, 61_100_840],
    [models.resnet18, 11_689_512],
    [models.resnet50, 25_557_032],
  ] as const) {
    const model = build();
    assert.equal(model.numParameters(), count);
    model.dispose();
  }
});

test('ResNet init as torchvision: kaiming_normal fan_out for convs, BN ones/zeros, zero_init_residual', () => {
  manualSeed(0);
  const model = models.resnet50({ zeroInitResidual: true });
  tidy(() => {
    const w = model.layer3.at(0).getSubmodule('conv2') as nn.Conv2d; // 256×256×3×3, fan_out 2304
    const std = w.weight.std().item();
    assert.ok(Math.abs(std - Math.sqrt(2 / (256 * 9))) < 0.02 * Math.sqrt(2 / (256 * 9)), `conv std ${std}`);
    assert.equal(model.bn1.weight?.min().item(), 1);
    assert.equal(model.bn1.bias?.abs().max().item(), 0);
    const block = model.layer2.at(1) as models.Bottleneck;
    assert.equal(block.bn3.weight?.abs().max().item(), 0);
    assert.equal(block.bn2.weight?.min().item(), 1);
  });
  model.dispose();
  const basic = models.resnet18({ zeroInitResidual: true });
  assert.equal(
    tidy(() => (basic.layer1.at(0) as models.BasicBlock).bn2.weight?.abs().max().item()),
    0,
  );
  basic.dispose();
});

// ---- values against torchvision ------------------------------------------------------

const references: [string, () => nn.Module & { forward(x: Tensor): Tensor }][] = [
  ['alexnet', () => models.alexnet()],
  ['resnet18', () => models.resnet18()],
  ['resnet50', () => models.resnet50()],
];

for (const [name, build] of references) {
  test(`${name}: formula weights give torchvision's logits and first-conv gradients`, (t) => {
    const ref = load<Reference>(`${name}.json`);
    const before = memory().numTensors;
    const model = build();
    assert.equal(fillFormula(model), ref.weights_sha256, 'formula weights are bit-identical to the Python ones');
    const firstConv = model.getSubmodule(ref.first_conv) as nn.Conv2d;

    model.eval();
    checkRun(t, `${name} eval float32`, run(model, firstConv, 1), ref.eval, FLOAT32_GRAD_ELEMENT_TOLERANCE);

    // The exact comparison: float64, as the reference
    model.to('float64');
    checkRun(t, `${name} eval float64`, run(model, firstConv, 1, 'float64'), ref.eval);
    if (ref.train) {
      model.train();
      checkRun(t, `${name} train float64 (batch statistics, batch 2)`, run(model, firstConv, 2, 'float64'), ref.train);
      const resnet = model as models.ResNet;
      const runningMean = diff(resnet.bn1.running_mean!.data() as Float64Array, ref.train.bn1_running_mean!);
      assert.ok(runningMean.relative <= TOLERANCE, `bn1.running_mean after one step: ${JSON.stringify(runningMean)}`);
      assert.equal(resnet.bn1.num_batches_tracked!.item(), ref.train.bn1_num_batches_tracked);
    }
    model.zeroGrad();
    model.dispose();
    assert.equal(memory().numTensors, before, 'no tensors left behind');
  });
}

// ---- heads, modes, configs -----------------------------------------------------------

test('resetClassifier replaces the head and keeps the backbone', () => {
  const before = memory().numTensors;
  const resnet = models.resnet18();
  fillFormula(resnet);
  resnet.eval();
  const x = tidy(() => image(1).narrow(2, 0, 96).narrow(3, 0, 96).contiguous());
  const features = noGrad(() => resnet.forwardFeatures(x));
  const backbone = resnet.layer4.at(1).getSubmodule('conv2') as nn.Conv2d;
  const weightBefore = (backbone.weight.data() as Float32Array).slice();
  const oldHead = resnet.fc;

  const head = resnet.resetClassifier(10);
  assert.equal(resnet.fc, head);
  assert.ok(oldHead.weight.isDisposed, 'the old head is disposed');
  assert.deepEqual(shapesOf(resnet), { keys: specs.resnet18_10.keys, shapes: specs.resnet18_10.shapes });
  assert.equal(resnet.numParameters(), specs.resnet18_10.num_parameters);
  assert.equal(resnet.config.numClasses, 10);
  assert.deepEqual(backbone.weight.data(), weightBefore);
  tidy(() => {
    const after = noGrad(() => resnet.forwardFeatures(x));
    assert.ok(after.equal(features), 'backbone features unchanged');
    assert.deepEqual(noGrad(() => resnet.forward(x)).shape, [1, 10]);
  });

  const alex = models.alexnet();
  const firstLinear = (alex.classifier.at(1) as nn.Linear).weight;
  const sample = tidy(() => firstLinear.narrow(0, 0, 4).clone().data().slice());
  alex.resetClassifier(7);
  assert.deepEqual(shapesOf(alex).keys, specs.alexnet_10.keys);
  assert.deepEqual(alex.classifier.at(6).getSubmodule('').stateDict().get('weight')?.shape, [7, 4096]);
  assert.equal((alex.classifier.at(1) as nn.Linear).weight, firstLinear);
  assert.deepEqual(
    tidy(() => firstLinear.narrow(0, 0, 4).clone().data().slice()),
    sample,
  );
  alex.eval();
  assert.deepEqual(
    tidy(() => noGrad(() => alex.forward(x)).shape),
    [1, 7],
  );

  for (const t of [x, features]) t.dispose();
  resnet.dispose();
  alex.dispose();
  assert.equal(memory().numTensors, before);
});

test('train() and eval() switch batch norm and dropout', () => {
  const before = memory().numTensors;
  const x = tidy(() => image(2).narrow(2, 0, 64).narrow(3, 0, 64).contiguous());

  const resnet = models.resnet18();
  tidy(() => {
    resnet.eval();
    assert.ok(resnet.modules().every((m) => !m.training));
    const mean0 = resnet.bn1.running_mean!.clone();
    const a = noGrad(() => resnet.forward(x));
    const b = noGrad(() => resnet.forward(x));
    assert.ok(a.equal(b), 'eval is deterministic');
    assert.ok(resnet.bn1.running_mean!.equal(mean0), 'eval leaves running statistics alone');
    assert.equal(resnet.bn1.num_batches_tracked!.item(), 0);

    resnet.train();
    assert.ok(resnet.modules().every((m) => m.training));
    const c = noGrad(() => resnet.forward(x));
    assert.ok(!c.allclose(a), 'train uses batch statistics');
    assert.ok(!resnet.bn1.running_mean!.equal(mean0), 'train updates running statistics');
    assert.equal(resnet.bn1.num_batches_tracked!.item(), 1);
    assert.equal(
      (resnet.layer2.at(0) as models.BasicBlock)
        .downsample!.at(1)
        .getSubmodule('')
        .stateDict()
        .get('num_batches_tracked')
        ?.item(),
      1,
    );
  });

  const alex = models.alexnet({ dropout: 0.5 });
  tidy(() => {
    alex.eval();
    const a = noGrad(() => alex.forward(x));
    assert.ok(a.equal(noGrad(() => alex.forward(x))), 'eval: no dropout');
    alex.train();
    manualSeed(1);
    const c = noGrad(() => alex.forward(x));
    manualSeed(1);
    const d = noGrad(() => alex.forward(x));
    manualSeed(2);
    const e = noGrad(() => alex.forward(x));
    assert.ok(c.equal(d), 'same seed, same dropout mask');
    assert.ok(!c.allclose(a) && !c.allclose(e), 'train: dropout active');
    const noDropout = models.alexnet({ dropout: 0 });
    noDropout.loadStateDict(alex.stateDict());
    noDropout.train();
    assert.ok(noGrad(() => noDropout.forward(x)).allclose(a, 1e-5, 1e-6), 'dropout 0 in train equals eval');
    noDropout.dispose();
  });

  x.dispose();
  resnet.dispose();
  alex.dispose();
  assert.equal(memory().numTensors, before);
});

test('configs: presets, config.json round trip, registered families', () => {
  const { modelFamily, findPreset } = models;
  for (const name of ['alexnet', 'resnet18', 'resnet34', 'resnet50']) assert.ok(findPreset(name), `preset ${name}`);
  assert.deepEqual(findPreset('resnet50')?.config, { arch: 'resnet50', numClasses: 1000 });

  const resnet = modelFamily('resnet');
  const json = resnet.configToHf({ arch: 'resnet50', numClasses: 10 }, 'ResNet');
  assert.deepEqual(json, {
    model_type: 'resnet',
    architectures: ['ResNet'],
    arch: 'resnet50',
    block: 'bottleneck',
    layers: [3, 4, 6, 3],
    num_classes: 10,
    groups: 1,
    width_per_group: 64,
    zero_init_residual: false,
    replace_stride_with_dilation: [false, false, false],
  });
  const back = resnet.configFromHf(JSON.parse(JSON.stringify(json)) as Record<string, unknown>);
  assert.deepEqual(back, models.resolveResNetConfig({ arch: 'resnet50', numClasses: 10 }));
  assert.deepEqual(resnet.configFromHf({ arch: 'resnet18' }), models.resolveResNetConfig({ arch: 'resnet18' }));
  assert.throws(
    () => resnet.configFromHf({ arch: 'resnet18', num_classes: 'ten' }),
    /'num_classes' must be a positive integer/,
  );
  assert.throws(() => resnet.configFromHf({ arch: 'resnet18', layers: [2, 2] }), /'layers'/);
  assert.throws(() => resnet.configFromHf({ num_classes: 3 }), /'arch'/);
  assert.throws(
    () =>
      resnet.configFromHf({
        model_type: 'resnet',
        architectures: ['ResNetForImageClassification'],
        depths: [3, 4, 6, 3],
      }),
    /transformers ResNet/,
  );
  assert.throws(() => new models.ResNet({ arch: 'resnet19' }), /unknown arch 'resnet19'/);

  const alexnet = modelFamily('alexnet');
  const aj = alexnet.configToHf({ numClasses: 5, dropout: 0.2 }, 'AlexNet');
  assert.deepEqual(aj, {
    model_type: 'alexnet',
    architectures: ['AlexNet'],
    arch: 'alexnet',
    num_classes: 5,
    dropout: 0.2,
  });
  assert.deepEqual(alexnet.configFromHf(aj), { arch: 'alexnet', numClasses: 5, dropout: 0.2 });
  assert.throws(() => alexnet.configFromHf({ dropout: 2 }), /'dropout' must be a number in \[0, 1\]/);

  // A custom depth needs no arch; the registry builds it from config.json
  const tiny = resnet.architectures.ResNet(
    resnet.configFromHf({ model_type: 'resnet', block: 'basic', layers: [1, 1, 1, 1], num_classes: 4 }),
  );
  assert.ok(tiny instanceof models.ResNet);
  assert.deepEqual(tiny.stateDict().get('fc.weight')?.shape, [4, 512]);
  assert.ok(!tiny.stateDict().has('layer1.1.conv1.weight'));
  assert.ok(tiny.stateDict().has('layer2.0.downsample.0.weight'));
  tiny.dispose();
});

test('createModel, savePretrained and loadPretrained with the torchvision families', async () => {
  const before = memory().numTensors;
  const r18 = createModel('resnet18', { numLabels: 10 });
  assert.ok(r18 instanceof models.ResNet);
  assert.deepEqual(shapesOf(r18), { keys: specs.resnet18_10.keys, shapes: specs.resnet18_10.shapes });
  r18.dispose();
  const alex = createModel('alexnet', { numLabels: 10 });
  assert.ok(alex instanceof models.AlexNet);
  assert.deepEqual(shapesOf(alex), { keys: specs.alexnet_10.keys, shapes: specs.alexnet_10.shapes });
  alex.dispose();

  const dir = mkdtempSync(join(tmpdir(), 'finetune-cnn-'));
  const warnings: string[] = [];
  const warn = (message: string) => warnings.push(message);
  try {
    const tiny = new models.ResNet({ block: 'basic', layers: [1, 1, 1, 1], numClasses: 5 });
    fillFormula(tiny);
    await savePretrained(tiny, dir);
    const json = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(json.model_type, 'resnet');
    assert.deepEqual(json.architectures, ['ResNet']);
    assert.deepEqual(json.layers, [1, 1, 1, 1]);
    assert.equal(json.num_classes, 5);

    const { model, info } = await loadPretrained(dir, { warn });
    assert.ok(model instanceof models.ResNet);
    assert.deepEqual(info, { missingKeys: [], unexpectedKeys: [], mismatchedKeys: [] });
    const loaded = model.stateDict();
    for (const [key, t] of tiny.stateDict())
      assert.ok(
        tidy(() => loaded.get(key)!.equal(t)),
        key,
      );
    model.dispose();

    // A new head for 2 classes: fc is initialised anew, the backbone loads
    const { model: head2, info: info2 } = await loadPretrained(dir, {
      numLabels: 2,
      ignoreMismatchedSizes: true,
      warn,
    });
    assert.deepEqual(
      info2.mismatchedKeys.map((m) => m.key),
      ['fc.weight', 'fc.bias'],
    );
    assert.deepEqual((head2 as models.ResNet).fc.weight.shape, [2, 512]);
    assert.ok(
      tidy(() =>
        (head2 as models.ResNet).layer4
          .at(0)
          .getSubmodule('conv2')
          .stateDict()
          .get('weight')!
          .equal(tiny.layer4.at(0).getSubmodule('conv2').stateDict().get('weight')!),
      ),
    );
    assert.ok(warnings.some((w) => w.includes('fc.weight')));
    head2.dispose();
    tiny.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(memory().numTensors, before);
});

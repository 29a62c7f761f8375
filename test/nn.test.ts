import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { manualSeed, memory, nn, randn, tensor, tidy, zeros, type DType, type Tensor } from 'finetune';

interface Values {
  shape: number[];
  dtype: string;
  values: number[];
}

interface Case {
  name: string;
  train: boolean;
  state: Record<string, Values>;
  stateAfter: Record<string, Values>;
  inputs: Values[];
  output: Values;
  projection: Values;
  inputGrads: (Values | null)[];
  paramGrads: Record<string, Values>;
}

const fixture = JSON.parse(readFileSync('test/fixtures/nn.json', 'utf8')) as { cases: Case[] };

function build(v: Values): Tensor {
  return tensor(v.values, { dtype: v.dtype as DType }).reshape(v.shape);
}

function assertClose(actual: Tensor, expected: Values, what: string, tolerance = 1e-5): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const got = Array.from(actual.to('float64').data() as Float64Array);
  let worst = 0;
  got.forEach((g, i) => (worst = Math.max(worst, Math.abs(g - expected.values[i]))));
  assert.ok(worst <= tolerance, `${what}: max abs diff ${worst}`);
}

const factories: Record<string, () => nn.Module & { forward: (...args: never[]) => Tensor }> = {
  Linear: () => new nn.Linear(5, 3),
  'Linear no bias': () => new nn.Linear(5, 3, { bias: false }),
  'Conv2d stride 2 padding 1 groups 2': () => new nn.Conv2d(4, 6, 3, { stride: 2, padding: 1, groups: 2 }),
  'Conv2d same padding dilation 2': () => new nn.Conv2d(3, 2, 3, { padding: 'same', dilation: 2 }),
  'BatchNorm2d eval': () => new nn.BatchNorm2d(3),
  'BatchNorm2d train': () => new nn.BatchNorm2d(3),
  LayerNorm: () => new nn.LayerNorm(6, 1e-6),
  'Embedding padding_idx': () => new nn.Embedding(7, 4, 0),
  'GELU tanh': () => new nn.GELU('tanh'),
  MaxPool2d: () => new nn.MaxPool2d(3, 2, 1),
  AdaptiveAvgPool2d: () => new nn.AdaptiveAvgPool2d([2, 3]),
  'MultiheadAttention self batch_first': () => new nn.MultiheadAttention(8, 2, { batchFirst: true }),
  'MultiheadAttention key padding seq_first': () => new nn.MultiheadAttention(8, 4),
  'MultiheadAttention cross attn_mask': () => new nn.MultiheadAttention(8, 2, { batchFirst: true }),
};

function call(name: string, module: nn.Module, inputs: Tensor[]): Tensor {
  if (module instanceof nn.MultiheadAttention) {
    if (name.includes('key padding'))
      return module.forward(inputs[0], inputs[0], inputs[0], { keyPaddingMask: inputs[1] });
    if (name.includes('cross')) return module.forward(inputs[0], inputs[1], inputs[1], { attnMask: inputs[2] });
    return module.forward(inputs[0], inputs[0], inputs[0]);
  }
  return (module as unknown as { forward(x: Tensor): Tensor }).forward(inputs[0]);
}

for (const c of fixture.cases) {
  test(`${c.name} matches PyTorch: output, input and parameter gradients, state after`, () => {
    const module = factories[c.name]();
    try {
      tidy(() => {
        const state = new Map(Object.entries(c.state).map(([k, v]) => [k, build(v)]));
        module.loadStateDict(state);
        module.train(c.train);
        const inputs = c.inputs.map((v) => {
          const t = build(v);
          return t.dtype.startsWith('float') ? t.requiresGrad_() : t;
        });
        const out = call(c.name, module, inputs);
        assertClose(out, c.output, 'output');
        out.mul(build(c.projection)).sum().backward();
        c.inputGrads.forEach((g, i) => g && assertClose(inputs[i].grad!, g, `grad of input ${i}`, 1e-4));
        const params = new Map(module.namedParameters());
        for (const [key, g] of Object.entries(c.paramGrads))
          assertClose(params.get(key)!.grad!, g, `grad of ${key}`, 1e-4);
        const after = module.stateDict();
        for (const [key, v] of Object.entries(c.stateAfter))
          assertClose(after.get(key)!, v, `state ${key} after forward`);
      });
    } finally {
      module.dispose();
    }
  });
}

class Block extends nn.Module {
  dense = new nn.Linear(4, 4);
  norm = new nn.LayerNorm(4);
  forward(x: Tensor): Tensor {
    return this.norm.forward(this.dense.forward(x).relu());
  }
}

class Net extends nn.Module {
  embed = new nn.Embedding(10, 4);
  layer = new nn.ModuleList([new Block(), new Block()]);
  head = new nn.Linear(4, 2);
  constructor() {
    super();
    this.registerBuffer('scale', tensor([2]));
    this.registerBuffer('cache', zeros([3]), false);
  }
}

test('module tree: dotted names, state dict order, buffers, submodule lookup, counts', () => {
  const net = new Net();
  const names = net.namedParameters().map(([n]) => n);
  assert.deepEqual(names, [
    'embed.weight',
    'layer.0.dense.weight',
    'layer.0.dense.bias',
    'layer.0.norm.weight',
    'layer.0.norm.bias',
    'layer.1.dense.weight',
    'layer.1.dense.bias',
    'layer.1.norm.weight',
    'layer.1.norm.bias',
    'head.weight',
    'head.bias',
  ]);
  assert.deepEqual([...net.stateDict().keys()], ['scale', ...names], 'own buffers first, non-persistent ones left out');
  assert.deepEqual(
    net.namedBuffers().map(([n]) => n),
    ['scale', 'cache'],
  );
  assert.equal(net.getSubmodule('layer.1.norm'), net.layer.at(1).norm);
  assert.throws(() => net.getSubmodule('layer.7'), /no submodule 'layer.7'/);
  assert.equal(net.numParameters(), 40 + 2 * (20 + 8) + 10);
  assert.deepEqual(
    net.namedModules().map(([n]) => n),
    [
      '',
      'embed',
      'layer',
      'layer.0',
      'layer.0.dense',
      'layer.0.norm',
      'layer.1',
      'layer.1.dense',
      'layer.1.norm',
      'head',
    ],
  );
  net.dispose();
});

test('loadStateDict reports missing, unexpected and mismatched keys', () => {
  const a = new Net();
  const b = new Net();
  tidy(() => {
    const state = new Map(a.stateDict());
    state.delete('head.bias');
    state.set('extra.weight', zeros([1]));
    assert.throws(
      () => b.loadStateDict(state),
      (e: Error) =>
        /missing key\(s\) in state dict: head.bias/.test(e.message) &&
        /unexpected key\(s\) in state dict: extra.weight/.test(e.message),
    );
    const result = b.loadStateDict(state, { strict: false });
    assert.deepEqual(result, { missingKeys: ['head.bias'], unexpectedKeys: ['extra.weight'] });
    assert.ok(b.embed.weight.equal(a.embed.weight), 'non-strict load copied the matching tensors');
    state.set('head.weight', zeros([3, 4]));
    assert.throws(() => b.loadStateDict(state, { strict: false }), /head.weight: checkpoint \[3,4\] vs model \[2,4\]/);
  });
  a.dispose();
  b.dispose();
});

test('train/eval, requiresGrad_, zeroGrad, apply and to(dtype) with tied weights', () => {
  const net = new nn.Sequential(new nn.Linear(3, 3), new nn.Dropout(0.5), new nn.BatchNorm2d(3));
  assert.equal(net.at(1).training, true);
  net.eval();
  assert.ok(net.modules().every((m) => !m.training));
  net.requiresGrad_(false);
  assert.ok(net.parameters().every((p) => !p.requiresGrad));
  net.requiresGrad_(true);
  const visited: string[] = [];
  net.apply((m) => visited.push(m.constructor.name));
  assert.deepEqual(visited, ['Linear', 'Dropout', 'BatchNorm2d', 'Sequential']);

  const tied = new nn.Sequential(new nn.Linear(3, 3), new nn.Linear(3, 3));
  (tied.at(1) as nn.Linear).weight = (tied.at(0) as nn.Linear).weight;
  assert.equal(tied.parameters().length, 3, 'a shared parameter is listed once');
  assert.equal(tied.stateDict().size, 4, 'but saved under both names');
  tied.to('float64');
  assert.equal((tied.at(0) as nn.Linear).weight, (tied.at(1) as nn.Linear).weight, 'still tied after conversion');
  assert.equal((tied.at(0) as nn.Linear).weight.dtype, 'float64');
  assert.equal((tied.at(0) as nn.Linear).weight.requiresGrad, true);
  tidy(() =>
    tied
      .forward(randn([2, 3], { dtype: 'float64' }))
      .sum()
      .backward(),
  );
  assert.ok((tied.at(0) as nn.Linear).weight.grad);
  tied.zeroGrad();
  assert.equal((tied.at(0) as nn.Linear).weight.grad, null);

  const bn = new nn.BatchNorm2d(2);
  bn.to('float64');
  assert.equal(bn.num_batches_tracked!.dtype, 'int64', 'integer buffers keep their dtype');
  assert.equal(bn.running_mean!.dtype, 'float64');
  for (const m of [net, tied, bn]) m.dispose();
});

test('default initialisation follows PyTorch', () => {
  manualSeed(0);
  const linear = new nn.Linear(400, 300);
  const bound = 1 / Math.sqrt(400);
  tidy(() => {
    assert.ok(linear.weight.abs().max().item() <= bound);
    // U(−b, b) has standard deviation b/√3
    assert.ok(Math.abs(linear.weight.std().item() - bound / Math.sqrt(3)) < 0.01 * bound);
    assert.ok(linear.bias!.abs().max().item() <= bound);
  });
  const embedding = new nn.Embedding(1000, 64, 3);
  tidy(() => {
    assert.ok(Math.abs(embedding.weight.std().item() - 1) < 0.02);
    assert.equal(embedding.weight.select(0, 3).abs().sum().item(), 0, 'padding row zero');
  });
  const mha = new nn.MultiheadAttention(64, 4);
  tidy(() => {
    const xavier = Math.sqrt(6 / (64 + 192));
    assert.ok(mha.in_proj_weight.abs().max().item() <= xavier);
    assert.equal(mha.in_proj_bias!.abs().sum().item(), 0);
    assert.equal(mha.out_proj.bias!.abs().sum().item(), 0);
  });
  const trunc = nn.init.truncNormal_(zeros([20000]), 0, 1, -2, 2);
  tidy(() => {
    assert.ok(trunc.abs().max().item() <= 2);
    assert.ok(Math.abs(trunc.std().item() - 0.88) < 0.02, 'std of N(0,1) truncated at ±2 is 0.880');
  });
  for (const m of [linear, embedding, mha]) m.dispose();
  trunc.dispose();
});

test('modules leave no tensors behind after dispose', () => {
  const before = memory().numTensors;
  const net = new Net();
  tidy(() => {
    net.head.forward(net.embed.forward(tensor([1, 2], { dtype: 'int64' })));
  });
  net.dispose();
  assert.equal(memory().numTensors, before);
});

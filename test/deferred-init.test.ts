/**
 * Deferred initialisation (nn.init.deferInitialization): a model built with its draws recorded, then
 * initialised in full, equals the eager build under the same seed, for every family; fromPretrained
 * draws only the weights the checkpoint lacks, with the family's initialisation (transformers'
 * _init_weights), and leaves the random generator alone when nothing is missing; loadStateDict's assign
 * (how fromPretrained takes the checkpoint's tensors without a copy) keeps ties, requiresGrad and dtypes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createModel, fromPretrained, manualSeed, nn, randn, savePretrained, type Tensor } from 'finetune';

/** A tensor's values as numbers (a contiguous copy of its data). */
const numbers = (t: Tensor): number[] => Array.from(t.contiguous().data() as ArrayLike<number>, Number);

const CASES: [string, Record<string, unknown>][] = [
  ['bert-tiny', { architecture: 'BertForSequenceClassification', numLabels: 3 }],
  ['gpt2-tiny', {}],
  ['llama-tiny', {}],
  ['vit-tiny', {}],
  ['resnet18', {}],
  ['alexnet-small', {}],
];

const values = (model: nn.Module) => [...model.stateDict()].map(([key, t]) => [key, numbers(t)] as const);

for (const [preset, options] of CASES) {
  test(`deferInitialization: ${preset} initialised in full equals the eager build under the same seed`, () => {
    manualSeed(7);
    const eager = createModel(preset, options);
    manualSeed(7);
    const { result: deferred, initialize } = nn.init.deferInitialization(() => createModel(preset, options));
    initialize(deferred.parameters());
    assert.deepEqual(values(deferred), values(eager));
    eager.dispose();
    deferred.dispose();
  });
}

test('deferInitialization: initialize(tensors) draws those tensors alone; builds do not nest', () => {
  manualSeed(1);
  const { result: layer, initialize } = nn.init.deferInitialization(() => new nn.Linear(4, 3));
  const before = randn([1]).item();
  manualSeed(1);
  initialize([layer.bias!]);
  // The bias alone was drawn: U(±1/√4) from the seed's first numbers, as if its weight had not been there.
  const bias = numbers(layer.bias!);
  assert.ok(bias.every((b) => Math.abs(b) <= 0.5));
  manualSeed(1);
  assert.equal(randn([1]).item(), before, 'building drew nothing from the generator');
  assert.throws(
    () => nn.init.deferInitialization(() => nn.init.deferInitialization(() => 0)),
    /already deferring \(builds do not nest\)/,
  );
  layer.dispose();
});

test('fromPretrained: a missing classifier gets the family initialisation (N(0, 0.02²), zero bias), loaded weights are the checkpoint, and a complete checkpoint draws nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-deferred-'));
  try {
    manualSeed(0);
    const mlm = createModel('bert-tiny', { architecture: 'BertForMaskedLM' });
    await savePretrained(mlm, join(dir, 'mlm'));
    const classifier = (await fromPretrained(join(dir, 'mlm'), {
      architecture: 'BertForSequenceClassification',
      numLabels: 2,
      warn: () => {},
    })) as nn.Module & {
      classifier: { weight: Tensor; bias: Tensor };
    };
    const mlmState = mlm.stateDict();
    for (const [key, t] of classifier.stateDict()) {
      const source = mlmState.get(key);
      if (source) assert.deepEqual(numbers(t), numbers(source), key);
    }
    const weight = numbers(classifier.classifier.weight);
    const std = Math.sqrt(weight.reduce((sum, w) => sum + w * w, 0) / weight.length);
    // kaiming_uniform(a=√5) on 128 inputs would give a standard deviation of 1/√(3·128) = 0.051
    assert.ok(std > 0.015 && std < 0.025, `classifier weight std ${std}`);
    assert.deepEqual(numbers(classifier.classifier.bias), [0, 0]);

    await savePretrained(classifier, join(dir, 'complete'));
    manualSeed(3);
    const expected = numbers(randn([4]));
    manualSeed(3);
    const loaded = await fromPretrained(join(dir, 'complete'));
    assert.deepEqual(numbers(randn([4])), expected, 'loading a complete checkpoint drew no random numbers');
    loaded.dispose();
    classifier.dispose();
    mlm.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadStateDict({ assign: true }): the given tensors become the parameters (dtype converted), ties and requiresGrad kept, one source under two untied keys copied', () => {
  const shared = new nn.Embedding(5, 3);
  const model = new nn.Sequential(shared, new nn.Linear(3, 3), new nn.Linear(3, 3));
  // a tie: the second Linear's weight is the first's tensor, as a tied head is
  const layers = model as unknown as { 1: nn.Linear; 2: nn.Linear };
  layers[2].weight = layers[1].weight;
  layers[1].bias!.requiresGrad_(false);
  const weight = randn([3, 3], { dtype: 'float64' });
  const bias = randn([3]);
  const embedding = randn([5, 3]);
  model.loadStateDict(
    new Map([
      ['0.weight', embedding],
      ['1.weight', weight],
      ['1.bias', bias],
      ['2.bias', bias],
    ]),
    { strict: false, assign: true },
  );
  assert.equal(shared.weight, embedding, 'same dtype: the tensor itself');
  assert.equal(layers[1].weight.dtype, 'float32', 'converted to the model dtype');
  assert.deepEqual(numbers(layers[1].weight), numbers(weight.to({ dtype: 'float32' })));
  assert.equal(layers[2].weight, layers[1].weight, 'the tie holds');
  assert.equal(layers[1].bias, bias);
  assert.notEqual(layers[2].bias, bias, 'the second key got a copy: no new tie');
  assert.deepEqual(numbers(layers[2].bias!), numbers(bias));
  assert.equal(layers[1].bias!.requiresGrad, false);
  assert.equal(layers[2].bias!.requiresGrad, true);
  assert.equal(shared.weight.requiresGrad, true);
  model.dispose();
});

test('fromPretrained with dtype, and a bfloat16 checkpoint into a float32 model: values cast, the tied head still one tensor', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-deferred-'));
  try {
    manualSeed(0);
    const model = createModel('gpt2-tiny');
    await savePretrained(model, join(dir, 'f32'));
    const half = (await fromPretrained(join(dir, 'f32'), { dtype: 'bfloat16' })) as nn.Module & {
      lm_head: { weight: Tensor };
      transformer: { wte: { weight: Tensor } };
    };
    const original = model.stateDict();
    for (const [key, t] of half.stateDict()) {
      assert.equal(t.dtype, 'bfloat16', key);
      assert.deepEqual(numbers(t), numbers(original.get(key)!.to({ dtype: 'bfloat16' })), key);
    }
    assert.equal(half.lm_head.weight, half.transformer.wte.weight, 'lm_head is still the embedding matrix');

    await savePretrained(half, join(dir, 'bf16'));
    const back = await fromPretrained(join(dir, 'bf16'));
    for (const [key, t] of back.stateDict()) {
      assert.equal(t.dtype, 'float32', key);
      assert.deepEqual(numbers(t), numbers(half.stateDict().get(key)!.to({ dtype: 'float32' })), key);
    }
    for (const m of [model, half, back]) m.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

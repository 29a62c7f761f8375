// Layer groups (models' layerGroups) and what trains under each freezing strategy, freezeTo and
// gradual unfreezing, for BERT, ViT, ResNet-18 and AlexNet: every parameter in exactly one group,
// the exact set of trainable names per strategy (computed here from the names, independently of
// the implementation), gradients only for those after backward, and frozen weights bit-exact
// after SGD steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  functional as F,
  manualSeed,
  models,
  nn,
  noGrad,
  peft,
  randint,
  randn,
  tensor,
  tidy,
  type Tensor,
} from 'finetune';

import { TINY_BERT_CONFIG, TINY_VIT_CONFIG } from './helpers/tiny-configs.js';

type Module = nn.Module;

interface Case {
  name: string;
  build: () => Module;
  /** A scalar training loss of one forward pass. */
  loss: (model: Module) => Tensor;
  groupNames: string[];
  /** The group a parameter belongs to, by its name alone. */
  groupOf: (parameterName: string) => string;
  /** LayerNorm / GroupNorm parameter names. */
  norm: RegExp;
  /** BatchNorm2d parameter names. */
  batchNorm: RegExp;
}

const NOTHING = /^$/;
const ALEXNET_GROUPS: Record<string, string> = {
  'features.0': 'conv1',
  'features.3': 'conv2',
  'features.6': 'conv3',
  'features.8': 'conv4',
  'features.10': 'conv5',
  'classifier.1': 'fc6',
  'classifier.4': 'fc7',
  'classifier.6': 'head',
};

const classes = (n: number) => tensor([0, n - 1], { dtype: 'int64' });

/** Group by the first two path segments of a transformer's parameter: embeddings, encoder.layer.i, else head. */
function transformerGroupOf(backbone: string) {
  return (name: string): string => {
    const layer = new RegExp(`^${backbone}\\.encoder\\.layer\\.(\\d+)\\.`).exec(name);
    if (layer) return `encoder.layer.${layer[1]}`;
    return name.startsWith(`${backbone}.embeddings.`) ? 'embeddings' : 'head';
  };
}

const CASES: Case[] = [
  {
    name: 'BertForSequenceClassification',
    build: () => new models.BertForSequenceClassification(TINY_BERT_CONFIG),
    loss: (model) =>
      (model as models.BertForSequenceClassification).forward({ inputIds: randint(1, 100, [2, 8]), labels: classes(3) })
        .loss!,
    groupNames: ['embeddings', 'encoder.layer.0', 'encoder.layer.1', 'head'],
    groupOf: transformerGroupOf('bert'),
    norm: /LayerNorm\.(weight|bias)$/,
    batchNorm: NOTHING,
  },
  {
    name: 'ViTForImageClassification',
    build: () => new models.ViTForImageClassification(TINY_VIT_CONFIG),
    loss: (model) =>
      (model as models.ViTForImageClassification).forward({ pixelValues: randn([2, 3, 32, 32]), labels: classes(3) })
        .loss!,
    groupNames: ['embeddings', 'encoder.layer.0', 'encoder.layer.1', 'head'],
    groupOf: transformerGroupOf('vit'),
    norm: /layernorm(_before|_after)?\.(weight|bias)$/,
    batchNorm: NOTHING,
  },
  {
    name: 'ResNet-18',
    build: () => models.resnet18({ numClasses: 5 }),
    loss: (model) => F.crossEntropy((model as models.ResNet).forward(randn([2, 3, 64, 64])), classes(5)),
    groupNames: ['stem', 'layer1', 'layer2', 'layer3', 'layer4', 'head'],
    groupOf: (name) => (/^(conv1|bn1)\./.test(name) ? 'stem' : name.startsWith('fc.') ? 'head' : name.split('.')[0]),
    norm: NOTHING,
    batchNorm: /(^|\.)(bn\d|downsample\.1)\.(weight|bias)$/,
  },
  {
    name: 'AlexNet',
    build: () => models.alexnet({ numClasses: 5 }),
    loss: (model) => F.crossEntropy((model as models.AlexNet).forward(randn([2, 3, 63, 63])), classes(5)),
    groupNames: ['conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'fc6', 'fc7', 'head'],
    groupOf: (name) => ALEXNET_GROUPS[name.split('.').slice(0, 2).join('.')],
    norm: NOTHING,
    batchNorm: NOTHING,
  },
];

/** Each strategy with the parameter names it trains, decided from the names alone (trainBatchNorm on). */
function expectedTrainable(c: Case, strategy: peft.FreezingStrategy, names: string[]): Set<string> {
  const inLastGroups = (count: number) => (name: string) => c.groupNames.slice(-count).includes(c.groupOf(name));
  const head = inLastGroups(1);
  const rule: Record<peft.FreezingStrategy['kind'], (name: string) => boolean> = {
    full: () => true,
    head,
    'top-k': inLastGroups(strategy.kind === 'top-k' ? strategy.k + 1 : 0),
    bitfit: (name) => head(name) || name.endsWith('.bias'),
    ln: (name) => head(name) || c.norm.test(name),
  };
  return new Set(names.filter((name) => rule[strategy.kind](name) || c.batchNorm.test(name)));
}

const STRATEGIES: peft.FreezingStrategy[] = [
  { kind: 'full' },
  { kind: 'head' },
  { kind: 'top-k', k: 1 },
  { kind: 'bitfit' },
  { kind: 'ln' },
];

const trainableNames = (model: Module) =>
  model
    .namedParameters()
    .filter(([, p]) => p.requiresGrad)
    .map(([name]) => name);

/** A copy of the parameter's bytes. */
function bytesOf(p: Tensor): Buffer {
  const data = p.data();
  return Buffer.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

function backward(c: Case, model: Module): void {
  model.zeroGrad();
  tidy(() => c.loss(model).backward());
}

function sgdStep(model: Module, lr: number): void {
  tidy(() =>
    noGrad(() => {
      for (const p of model.parameters()) {
        const grad = p.grad;
        if (grad) p.sub_(grad.mul(lr));
      }
    }),
  );
}

for (const c of CASES) {
  test(`${c.name}: layer groups hold every parameter exactly once, in the declared order`, () => {
    manualSeed(0);
    const model = c.build();
    assert.deepEqual(
      models.layerGroupsOf(model).map(({ name }) => name),
      c.groupNames,
    );
    const groups = models.parameterGroupsOf(model);
    assert.deepEqual(
      groups.map(({ name }) => name),
      c.groupNames,
    );
    const grouped = groups.flatMap(({ name, parameters }) =>
      parameters.map(([parameterName, p]) => ({ group: name, parameterName, p })),
    );
    const all = model.namedParameters();
    assert.equal(grouped.length, all.length);
    assert.equal(new Set(grouped.map(({ p }) => p)).size, all.length);
    for (const { group, parameterName } of grouped) assert.equal(group, c.groupOf(parameterName), parameterName);
    for (const group of groups) assert.ok(group.parameters.length > 0, `group ${group.name} is empty`);
    model.dispose();
  });

  test(`${c.name}: each strategy trains exactly its parameters; only they get gradients and change`, () => {
    manualSeed(0);
    const model = c.build();
    const all = model.namedParameters();
    const names = all.map(([name]) => name);
    for (const strategy of STRATEGIES) {
      const label = JSON.stringify(strategy);
      const expected = expectedTrainable(c, strategy, names);
      const summary = peft.applyFreezingStrategy(model, strategy);
      assert.deepEqual(
        trainableNames(model),
        names.filter((name) => expected.has(name)),
        label,
      );

      const elements = (keep: (name: string) => boolean) =>
        all.filter(([name]) => keep(name)).reduce((n, [, p]) => n + p.numel(), 0);
      assert.equal(summary.total, model.numParameters(), label);
      assert.equal(
        summary.trainable,
        elements((name) => expected.has(name)),
        label,
      );
      assert.equal(summary.percent, (100 * summary.trainable) / summary.total, label);
      assert.deepEqual(
        summary.groups.map(({ name }) => name),
        c.groupNames,
        label,
      );
      for (const group of summary.groups) {
        const inGroup = (name: string) => c.groupOf(name) === group.name;
        assert.deepEqual(
          group,
          { name: group.name, total: elements(inGroup), trainable: elements((n) => inGroup(n) && expected.has(n)) },
          label,
        );
      }

      backward(c, model);
      for (const [name, p] of all)
        assert.equal(
          tidy(() => p.grad !== null),
          expected.has(name),
          `${label} grad of ${name}`,
        );

      const before = all.map(([, p]) => bytesOf(p));
      for (let step = 0; step < 3; step++) {
        backward(c, model);
        sgdStep(model, 0.01);
      }
      all.forEach(([name, p], i) =>
        assert.equal(
          bytesOf(p).equals(before[i]),
          !expected.has(name),
          `${label}: ${name} ${expected.has(name) ? 'did not change' : 'changed'}`,
        ),
      );
      model.zeroGrad();
    }
    model.dispose();
  });
}

test("BertForMaskedLM: the tied decoder matrix is the embeddings group's, and freezes with it", () => {
  const model = new models.BertForMaskedLM(TINY_BERT_CONFIG);
  const groups = models.parameterGroupsOf(model);
  assert.deepEqual(
    groups.map(({ name }) => name),
    ['embeddings', 'encoder.layer.0', 'encoder.layer.1', 'head'],
  );
  const namesOf = (group: string) => groups.find(({ name }) => name === group)!.parameters.map(([name]) => name);
  assert.ok(namesOf('embeddings').includes('bert.embeddings.word_embeddings.weight'));
  assert.ok(namesOf('head').every((name) => name.startsWith('cls.')));
  assert.ok(namesOf('head').includes('cls.predictions.bias'));

  peft.freeze(model);
  assert.deepEqual(trainableNames(model), namesOf('head'));
  tidy(() => model.forward({ inputIds: randint(1, 100, [2, 8]), labels: randint(1, 100, [2, 8]) }).loss!.backward());
  assert.equal(model.cls.predictions.decoder.weight.requiresGrad, false);
  assert.equal(
    tidy(() => model.bert.embeddings.word_embeddings.weight.grad),
    null,
  );
  assert.notEqual(
    tidy(() => model.cls.predictions.bias.grad),
    null,
  );
  model.dispose();
});

test("BertModel ends at its pooler; ViTModel's head is its final layernorm and pooler", () => {
  const bert = new models.BertModel(TINY_BERT_CONFIG);
  assert.deepEqual(
    models.layerGroupsOf(bert).map(({ name }) => name),
    ['embeddings', 'encoder.layer.0', 'encoder.layer.1', 'pooler'],
  );
  const bertNoPooler = new models.BertModel(TINY_BERT_CONFIG, { addPoolingLayer: false });
  assert.deepEqual(
    models.layerGroupsOf(bertNoPooler).map(({ name }) => name),
    ['embeddings', 'encoder.layer.0', 'encoder.layer.1'],
  );
  const vit = new models.ViTModel(TINY_VIT_CONFIG);
  const head = models.parameterGroupsOf(vit).at(-1)!;
  assert.deepEqual(
    head.parameters.map(([name]) => name),
    ['layernorm.weight', 'layernorm.bias', 'pooler.dense.weight', 'pooler.dense.bias'],
  );
  for (const model of [bert, bertNoPooler, vit]) model.dispose();
});

test('freezeTo: groups [n:] train, negative n counts from the end; freeze and unfreeze', () => {
  const model = models.resnet18({ numClasses: 5 });
  const trainingGroups = () =>
    peft.summarizeTrainable(model).groups.map(({ name, trainable, total }) => {
      assert.ok(trainable === 0 || trainable === total, `${name} is partly trainable`);
      return trainable === total;
    });
  const noBatchNorm = { trainBatchNorm: false };
  peft.freezeTo(model, 2, noBatchNorm);
  assert.deepEqual(trainingGroups(), [false, false, true, true, true, true]);
  peft.freezeTo(model, -2, noBatchNorm);
  assert.deepEqual(trainingGroups(), [false, false, false, false, true, true]);
  peft.freezeTo(model, 0, noBatchNorm);
  assert.deepEqual(trainingGroups(), [true, true, true, true, true, true]);
  peft.freezeTo(model, -6, noBatchNorm);
  assert.deepEqual(trainingGroups(), [true, true, true, true, true, true]);
  peft.freezeTo(model, 6, noBatchNorm);
  assert.deepEqual(trainingGroups(), [false, false, false, false, false, false]);
  peft.freeze(model, noBatchNorm);
  assert.deepEqual(trainingGroups(), [false, false, false, false, false, true]);
  for (const n of [7, -7, 1.5]) assert.throws(() => peft.freezeTo(model, n), RangeError);

  peft.freeze(model); // trainBatchNorm defaults to true: BatchNorm stays trainable in frozen groups
  const batchNorm = /(^|\.)(bn\d|downsample\.1)\.(weight|bias)$/;
  assert.deepEqual(
    trainableNames(model),
    model
      .namedParameters()
      .map(([name]) => name)
      .filter((name) => batchNorm.test(name) || name.startsWith('fc.')),
  );
  peft.unfreeze(model);
  assert.equal(trainableNames(model).length, model.namedParameters().length);
  model.dispose();
});

test('strategy arguments are checked', () => {
  const model = models.resnet18({ numClasses: 5 });
  assert.throws(() => peft.applyFreezingStrategy(model, { kind: 'top-k', k: 6 }), /k must be an integer in \[0, 5\]/);
  assert.throws(() => peft.applyFreezingStrategy(model, { kind: 'top-k', k: -1 }), RangeError);
  assert.throws(
    () => peft.applyFreezingStrategy(model, { kind: 'lora' } as unknown as peft.FreezingStrategy),
    /unknown freezing strategy/,
  );
  const all = peft.applyFreezingStrategy(model, { kind: 'top-k', k: 5 });
  assert.equal(all.trainable, all.total);
  model.dispose();
});

test('GradualUnfreezing by epochs: one more group from the top per epoch, never back, never past all', () => {
  const model = models.resnet18({ numClasses: 5 });
  const unfrozen: string[][] = [];
  const unfreezing = new peft.GradualUnfreezing(
    model,
    { every: 'epoch' },
    { trainBatchNorm: false, onUnfreeze: (names) => unfrozen.push(names) },
  );
  const trainingGroups = () =>
    peft
      .summarizeTrainable(model)
      .groups.filter(({ trainable }) => trainable > 0)
      .map(({ name }) => name);
  const expectStage = (stage: number, groups: string[]) => {
    assert.equal(unfreezing.stage, stage);
    assert.deepEqual(unfreezing.trainableGroups, groups);
    assert.deepEqual(trainingGroups(), groups);
  };

  expectStage(0, ['head']);
  unfreezing.onEpochStart(0);
  expectStage(0, ['head']);
  unfreezing.onEpochStart(1);
  expectStage(1, ['layer4', 'head']);
  unfreezing.onStepStart(1000); // not this schedule's hook
  expectStage(1, ['layer4', 'head']);
  unfreezing.onEpochStart(3); // skipped epoch 2 (a resumed run): two groups at once
  expectStage(3, ['layer2', 'layer3', 'layer4', 'head']);
  unfreezing.onEpochStart(2);
  expectStage(3, ['layer2', 'layer3', 'layer4', 'head']);
  unfreezing.onEpochStart(5);
  expectStage(5, ['stem', 'layer1', 'layer2', 'layer3', 'layer4', 'head']);
  unfreezing.onEpochStart(9);
  expectStage(5, ['stem', 'layer1', 'layer2', 'layer3', 'layer4', 'head']);
  assert.deepEqual(unfrozen, [['layer4'], ['layer3', 'layer2'], ['layer1', 'stem']]);
  assert.throws(() => unfreezing.onEpochStart(-1), RangeError);
  model.dispose();
});

test('GradualUnfreezing by steps: a group every N steps, up to the whole model', () => {
  const model = new models.BertForSequenceClassification(TINY_BERT_CONFIG);
  const unfrozen: string[][] = [];
  const unfreezing = new peft.GradualUnfreezing(
    model,
    { everySteps: 4 },
    { onUnfreeze: (names) => unfrozen.push(names) },
  );
  const stages: number[] = [];
  for (let step = 0; step < 20; step++) {
    unfreezing.onEpochStart(step); // not this schedule's hook
    unfreezing.onStepStart(step);
    stages.push(unfreezing.stage);
  }
  assert.deepEqual(stages, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3]);
  assert.deepEqual(unfrozen, [['encoder.layer.1'], ['encoder.layer.0'], ['embeddings']]);
  assert.deepEqual(unfreezing.trainableGroups, ['embeddings', 'encoder.layer.0', 'encoder.layer.1', 'head']);
  assert.equal(trainableNames(model).length, model.namedParameters().length);
  assert.throws(() => new peft.GradualUnfreezing(model, { everySteps: 0 }), RangeError);
  assert.throws(() => new peft.GradualUnfreezing(model, {} as peft.UnfreezeSchedule), /schedule must be/);
  model.dispose();
});

class PartlyGroupedNet extends nn.Module {
  first = new nn.Linear(2, 2);
  second = new nn.Linear(2, 2);
}

class UngroupedNet extends nn.Module {
  only = new nn.Linear(2, 2);
}

test('layerGroupsOf names the model when it has no groups or leaves parameters out', () => {
  const family = { configFromHf: () => ({}), configToHf: () => ({}), presets: {} };
  models.registerModelFamily({
    ...family,
    modelType: 'test-partly-grouped',
    architectures: { PartlyGroupedNet: () => new PartlyGroupedNet() },
    layerGroups: (model: Module) => [{ name: 'head', modules: [(model as PartlyGroupedNet).first] }],
  });
  models.registerModelFamily({
    ...family,
    modelType: 'test-ungrouped',
    architectures: { UngroupedNet: () => new UngroupedNet() },
  });

  assert.throws(
    () => models.layerGroupsOf(new PartlyGroupedNet()),
    /PartlyGroupedNet: parameter\(s\) in no layer group: second\.weight, second\.bias/,
  );
  assert.throws(
    () => models.layerGroupsOf(new UngroupedNet()),
    /UngroupedNet \(model_type 'test-ungrouped'\) declares no layer groups/,
  );
  assert.throws(() => peft.freeze(new nn.Linear(2, 2)), /Linear is not a registered model architecture/);

  const summary = peft.summarizeTrainable(new UngroupedNet());
  assert.deepEqual(summary, { trainable: 6, total: 6, percent: 100, groups: [] });
});

/**
 * The shared config base (models/pretrained-config.ts), the one activation table (nn/activations.ts)
 * and the PretrainedModel type every family's models extend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { models, nn, tensor, type Tensor } from 'finetune';

const values = (t: Tensor): number[] => [...(t.data() as Float32Array)];

function assertClose(actual: number[], expected: number[], tolerance = 1e-6): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]) <= tolerance, `element ${i}: ${a} vs ${expected[i]}`));
}

test('ACT2FN: every name computes its transformers formula', () => {
  const xs = [-2, -1, -0.5, 0, 0.5, 1, 2];
  const x = tensor(xs);
  const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
  const geluTanh = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  // x·Φ(x): Φ(±0.5) = 0.691462461274013 / 0.308537538725987, Φ(±1) = 0.841344746068543 / …, Φ(±2) = 0.977249868051821 / …
  const gelu = [
    -2 * 0.022750131948179,
    -0.158655253931457,
    -0.5 * 0.308537538725987,
    0,
    0.5 * 0.691462461274013,
    0.841344746068543,
    2 * 0.977249868051821,
  ];
  const expected: Record<nn.ActivationName, number[]> = {
    gelu,
    gelu_python: gelu,
    gelu_new: xs.map(geluTanh),
    gelu_fast: xs.map(geluTanh),
    gelu_pytorch_tanh: xs.map(geluTanh),
    quick_gelu: xs.map((v) => v * sigmoid(1.702 * v)),
    relu: xs.map((v) => Math.max(v, 0)),
    silu: xs.map((v) => v * sigmoid(v)),
    swish: xs.map((v) => v * sigmoid(v)),
    mish: xs.map((v) => v * Math.tanh(Math.log1p(Math.exp(v)))),
    tanh: xs.map(Math.tanh),
    sigmoid: xs.map(sigmoid),
    linear: xs,
  };
  assert.deepEqual([...nn.ACTIVATION_NAMES].sort(), Object.keys(expected).sort());
  for (const name of nn.ACTIVATION_NAMES) assertClose(values(nn.ACT2FN[name](x)), expected[name]);
  assert.equal(nn.isActivationName('gelu'), true);
  assert.equal(nn.isActivationName('toString'), false);
  assert.equal(nn.isActivationName(1), false);
});

test('config.json keys are the fields in snake_case; fieldsToJson writes them in the order given and skips undefined', () => {
  assert.equal(models.snakeCase('numHiddenLayers'), 'num_hidden_layers');
  assert.equal(models.snakeCase('id2label'), 'id2label');
  assert.equal(models.snakeCase('replaceStrideWithDilation'), 'replace_stride_with_dilation');
  const config = { layers: [1, 2], numClasses: 3, hiddenSize: undefined };
  const json = models.fieldsToJson(config, ['numClasses', 'layers', 'hiddenSize']);
  assert.equal(JSON.stringify(json), '{"num_classes":3,"layers":[1,2]}');
  assert.notEqual(json.layers, config.layers);
  assert.equal(JSON.stringify(models.sortedKeys({ b: 1, a: 2, _c: 3 })), '{"_c":3,"a":2,"b":1}');
});

test('ConfigJsonReader: each error names the file kind, the key and the value; labels are read and checked', () => {
  const fields: models.ConfigFields<{ hiddenSize: number; act: string; poolerSize: number | null }> = {
    hiddenSize: models.field.positiveInteger(64),
    act: models.field.oneOf(['gelu', 'relu']),
    poolerSize: models.orNull(models.field.positiveInteger()),
  };
  const read = (json: models.HfConfig, nullIsAbsent = false) =>
    new models.ConfigJsonReader(json, 'toy config.json', { nullIsAbsent }).fields(fields);
  assert.deepEqual(read({ hidden_size: 8, act: 'relu', pooler_size: null, other: 'ignored' }), {
    hiddenSize: 8,
    act: 'relu',
    poolerSize: null,
  });
  assert.throws(() => read({ hidden_size: 65 }), {
    message: "toy config.json: 'hidden_size' must be a positive integer up to 64, got 65",
  });
  assert.throws(() => read({ act: 'constructor' }), {
    message: `toy config.json: 'act' must be one of gelu, relu, got "constructor"`,
  });
  assert.throws(() => read({ hidden_size: null }), {
    message: "toy config.json: 'hidden_size' must be a positive integer up to 64, got null",
  });
  assert.deepEqual(read({ hidden_size: null }, true), {});

  const labels = (json: models.HfConfig) => new models.ConfigJsonReader(json, 'toy config.json').labels();
  assert.deepEqual(
    labels({
      id2label: { 0: 'neg', 1: 'pos' },
      label2id: { neg: 0, pos: 1 },
      num_labels: 2,
      problem_type: 'regression',
    }),
    {
      id2label: { 0: 'neg', 1: 'pos' },
      label2id: { neg: 0, pos: 1 },
      numLabels: 2,
      problemType: 'regression',
    },
  );
  assert.deepEqual(labels({ _num_labels: 4, id2label: null }), { numLabels: 4 });
  assert.throws(() => labels({ id2label: ['a'] }), {
    message: `toy config.json: 'id2label' must be an object of index → name, got ["a"]`,
  });
  assert.throws(() => labels({ label2id: { a: 'x' } }), {
    message: `toy config.json: 'label2id' must be an object of name → index, got {"a":"x"}`,
  });
  assert.throws(() => labels({ num_labels: -1 }), {
    message: "toy config.json: 'num_labels' must be a non-negative integer, got -1",
  });
  assert.throws(() => labels({ num_labels: 2e6 }), {
    message: "toy config.json: 'num_labels' must be at most 1,000,000, got 2000000",
  });
  assert.throws(
    () => labels({ problem_type: 'ranking' }),
    /'problem_type' must be null or one of regression, single_label_classification, multi_label_classification, got "ranking"/,
  );
  assert.throws(() => new models.ConfigJsonReader({ model_type: 'bert' }, 'toy config.json').checkModelType('vit'), {
    message: `toy config.json: 'model_type' must be 'vit', got "bert"`,
  });
});

test('every family validates configs given in code and names the config.json key for config.json', () => {
  assert.throws(() => models.vitConfig({ hiddenSize: 0 }), {
    message: 'ViT: hiddenSize must be a positive integer, got 0',
  });
  assert.throws(() => models.vitConfig({ hiddenAct: 'mish' as never }), /ViT: hiddenAct must be one of gelu, gelu_new/);
  assert.throws(() => models.vitConfig({ problemType: 'ranking' as never }), /ViT: problemType must be null or one of/);
  assert.throws(() => models.bertConfig({ hiddenDropoutProb: 2 }), {
    message: 'BertConfig: hiddenDropoutProb must be in [0, 1], got 2',
  });
  assert.throws(() => models.bertConfigFromHf({ hidden_dropout_prob: 2 }), {
    message: "BERT config.json: 'hidden_dropout_prob' must be in [0, 1], got 2",
  });
  assert.throws(() => models.resnetConfigFromJson({ arch: 'resnet18', zero_init_residual: 'yes' }), {
    message: `resnet config.json: 'zero_init_residual' must be true or false, got "yes"`,
  });
  assert.throws(() => new models.ResNet({ arch: 'resnet18', groups: 0 }), {
    message: 'ResNet: groups must be a positive integer, got 0',
  });
  assert.throws(() => models.alexnetConfigFromJson({ arch: 'vgg' }), {
    message: `alexnet config.json: 'arch' must be 'alexnet', got "vgg"`,
  });
});

test('presets: one naming for every family, the same objects the registry finds', () => {
  const presets: [string, Record<string, unknown>][] = [
    ['bert', models.BERT_PRESETS],
    ['vit', models.VIT_PRESETS],
    ['resnet', models.RESNET_PRESETS],
    ['alexnet', models.ALEXNET_PRESETS],
    ['gpt2', models.GPT2_PRESETS],
  ];
  for (const [modelType, table] of presets) {
    assert.equal(models.modelFamily(modelType).presets, table);
    for (const name of Object.keys(table)) assert.equal(models.findPreset(name)?.family.modelType, modelType);
  }
});

test('config.json of the torchvision families is written byte for byte as before', () => {
  const resnet = models.modelFamily('resnet');
  assert.equal(
    JSON.stringify(resnet.configToHf(models.RESNET_PRESETS.resnet18, 'ResNet')),
    '{"model_type":"resnet","architectures":["ResNet"],"arch":"resnet18","block":"basic","layers":[2,2,2,2],"num_classes":1000,' +
      '"groups":1,"width_per_group":64,"zero_init_residual":false,"replace_stride_with_dilation":[false,false,false]}',
  );
  const alexnet = models.modelFamily('alexnet');
  assert.equal(
    JSON.stringify(alexnet.configToHf(models.ALEXNET_PRESETS['alexnet-small'], 'AlexNet')),
    '{"model_type":"alexnet","architectures":["AlexNet"],"arch":"alexnet","num_classes":10,"dropout":0.5,"in_channels":1,"conv_channels":[16,48,96,64,64],"hidden_size":256}',
  );
  assert.equal(
    JSON.stringify(alexnet.configToHf(models.ALEXNET_PRESETS.alexnet, 'AlexNet')),
    '{"model_type":"alexnet","architectures":["AlexNet"],"arch":"alexnet","num_classes":1000,"dropout":0.5}',
  );
});

test('PretrainedModel: every family’s models carry their family, config.json and head labels', () => {
  const tinyBert = { ...models.BERT_PRESETS['bert-tiny'], vocabSize: 64, numLabels: 3 };
  const tinyVit = {
    ...models.VIT_PRESETS['vit-tiny'],
    imageSize: 16,
    patchSize: 8,
    hiddenSize: 16,
    numHiddenLayers: 1,
    numAttentionHeads: 2,
    intermediateSize: 32,
    numLabels: 4,
  };
  const cases: [models.PretrainedModel, string, number][] = [
    [new models.BertForSequenceClassification(tinyBert), 'bert', 3],
    [new models.BertForMaskedLM(tinyBert), 'bert', 3],
    [new models.BertModel(tinyBert), 'bert', 3],
    [new models.ViTForImageClassification(tinyVit), 'vit', 4],
    [new models.ViTModel(tinyVit), 'vit', 4],
    [new models.ResNet({ block: 'basic', layers: [1, 1, 1, 1], numClasses: 5 }), 'resnet', 5],
    [new models.AlexNet(models.ALEXNET_PRESETS['alexnet-small']), 'alexnet', 10],
  ];
  for (const [model, modelType, numLabels] of cases) {
    const architecture = model.constructor.name;
    assert.ok(models.isPretrainedModel(model), architecture);
    assert.equal(model.family.modelType, modelType);
    assert.deepEqual(model.toConfigJson(), model.family.configToHf(model.config, architecture));
    assert.deepEqual(model.toConfigJson().architectures, [architecture]);
    const head = model.headLabels();
    assert.equal(head.numLabels, numLabels, architecture);
    assert.deepEqual(head.id2label, models.defaultLabels(numLabels));
    assert.equal(head.problemType, null);
  }
  assert.equal(models.isPretrainedModel(new nn.Linear(2, 2)), false);

  const [bert] = cases[0];
  assert.equal(bert.setLabelNames(['a', 'b', 'c']), true);
  assert.deepEqual(bert.headLabels().id2label, { 0: 'a', 1: 'b', 2: 'c' });
  assert.deepEqual(bert.toConfigJson().label2id, { a: 0, b: 1, c: 2 });
  assert.equal(bert.setLabelNames(['a', 'b']), false, 'a name per output');
  const [resnet] = cases[5];
  assert.equal(
    resnet.setLabelNames(['a', 'b', 'c', 'd', 'e']),
    false,
    'torchvision configs count classes without naming them',
  );
  for (const [model] of cases) model.dispose();
});

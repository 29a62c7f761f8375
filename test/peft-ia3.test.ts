// (IA)³ (PEFT's IA3Config / IA3Model / ia3 layers): targeting with PEFT's bert defaults, feedforward
// (input-scaling) vs output-scaling layers, bias scaling when merging, adapters on different layers,
// Conv2d, adapter files with PEFT's keys, and fidelity against Python PEFT 0.21 (test/fixtures/peft,
// written by tools/gen_peft_fixtures.py) where the fixtures exist. The properties every method shares
// (trainable set, merge / unmerge / disable, training, save and load) run over peft-cases.test.ts's table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  fromPretrained,
  loadSafetensors,
  manualSeed,
  memory,
  models,
  nn,
  noGrad,
  peft,
  randn,
  tensor,
  tidy,
  type Tensor,
} from 'finetune';

import { maxDiff } from './helpers/peft-tiny.js';

const { BertForSequenceClassification, BERT_PRESETS } = models;
const { IA3Config, IA3Conv2d, IA3Linear, PeftModel, getPeftModel, peftConfigFromJson } = peft;
type PeftModelT = InstanceType<typeof PeftModel>;

const FIXTURES = new URL('../../../test/fixtures/peft/', import.meta.url);
const HAVE_FIXTURES = existsSync(new URL('cases.json', FIXTURES));

interface Flat {
  shape: number[];
  values: number[];
}
interface Case {
  logits: Record<
    | 'base'
    | 'active'
    | 'disabled'
    | 'reloaded'
    | 'merged'
    | 'merge_adapter'
    | 'unmerge_adapter'
    | 'unmerge_adapter_disabled',
    Flat
  >;
  print_trainable_parameters: string;
  nb_trainable_parameters: { trainable: number; all: number };
  targeted_modules: string[];
  modules_to_save_wrappers: string[];
  layers: Record<string, { class: string; base_layer: string; is_feedforward: boolean }>;
  trainable_parameters: string[];
  saved_keys: Record<string, { shape: number[]; dtype: string }>;
  adapter_config: Record<string, unknown>;
}
interface Cases {
  inputs: { input_ids: number[][]; attention_mask: number[][]; token_type_ids: number[][] };
  cases: Record<string, Case>;
  target_checks: {
    label: string;
    config?: Record<string, unknown>;
    targeted_modules?: string[];
    feedforward_modules?: string[];
    modules_to_save_wrappers?: string[];
  }[];
  bert_base_print_lines: Record<string, { line: string; trainable: number; all: number }>;
}

const cases = (): Cases => JSON.parse(readFileSync(new URL('cases.json', FIXTURES), 'utf8')) as Cases;

const TINY = {
  ...BERT_PRESETS['bert-tiny'],
  hiddenSize: 16,
  numHiddenLayers: 2,
  numAttentionHeads: 2,
  intermediateSize: 32,
  vocabSize: 64,
  maxPositionEmbeddings: 32,
  numLabels: 3,
  initializerRange: 0.2,
};
const INPUTS = {
  input_ids: [
    [2, 17, 33, 5, 60, 41, 3],
    [2, 9, 48, 27, 3, 0, 0],
  ],
  attention_mask: [
    [1, 1, 1, 1, 1, 1, 1],
    [1, 1, 1, 1, 1, 0, 0],
  ],
  token_type_ids: [
    [0, 0, 0, 1, 1, 1, 1],
    [0, 0, 1, 1, 1, 0, 0],
  ],
};

/** A tiny BERT classifier, eval mode, with non-zero biases so that merging's bias scaling shows. */
function tinyBert(seed = 0) {
  manualSeed(seed);
  const model = new BertForSequenceClassification(TINY).eval();
  noGrad(() =>
    tidy(() => {
      for (const [name, p] of model.namedParameters()) if (name.endsWith('.bias')) p.copy_(randn(p.shape).mul(0.1));
    }),
  );
  return model;
}

function bertInputs(raw = INPUTS) {
  return {
    inputIds: tensor(raw.input_ids, { dtype: 'int64' }),
    attentionMask: tensor(raw.attention_mask, { dtype: 'int64' }),
    tokenTypeIds: tensor(raw.token_type_ids, { dtype: 'int64' }),
  };
}

/** The logits for INPUTS, as plain numbers. */
function logits(model: nn.Module, raw = INPUTS): number[] {
  const run = model as unknown as { forward(inputs: unknown): unknown };
  return tidy(() =>
    noGrad(() => [...((run.forward(bertInputs(raw)) as { logits: Tensor }).logits.data() as Float32Array)]),
  );
}

/** Every ia3_l vector set to 1 + 0.2·N(0, 1) (as the fixtures do), and the classifier copy perturbed. */
function randomizeAdapters(model: PeftModelT, seed = 1): void {
  manualSeed(seed);
  noGrad(() =>
    tidy(() => {
      for (const [name, p] of model.namedParameters()) {
        if (name.includes('.ia3_l.')) p.copy_(randn(p.shape).mul(0.2).add(1));
        else if (name.includes('.modules_to_save.')) p.add_(randn(p.shape).mul(0.3));
      }
    }),
  );
}

const trainableNames = (model: PeftModelT) =>
  model
    .namedParameters()
    .filter(([, p]) => p.requiresGrad)
    .map(([n]) => n);

const EXPECTED_TARGETS = [0, 1].flatMap((i) => [
  `bert.encoder.layer.${i}.attention.self.key`,
  `bert.encoder.layer.${i}.attention.self.value`,
  `bert.encoder.layer.${i}.attention.output.dense`,
  `bert.encoder.layer.${i}.output.dense`,
]);

// ---- config ---------------------------------------------------------------------------

test('IA3Config: PEFT fields and defaults, adapter_config.json both ways, the feedforward ⊆ target check', () => {
  const config = new IA3Config({ taskType: 'SEQ_CLS' });
  assert.equal(config.peftType, 'IA3');
  assert.equal(config.targetModules, null);
  assert.equal(config.feedforwardModules, null);
  assert.equal(config.initIa3Weights, true);
  assert.equal(config.fanInFanOut, false);
  const json = config.toJson();
  // IA3Config().to_dict() in PEFT 0.21, less the informational auto_mapping / peft_version
  assert.deepEqual(Object.keys(json).sort(), [
    'base_model_name_or_path',
    'exclude_modules',
    'fan_in_fan_out',
    'feedforward_modules',
    'inference_mode',
    'init_ia3_weights',
    'modules_to_save',
    'peft_type',
    'revision',
    'target_modules',
    'task_type',
  ]);
  const read = peftConfigFromJson({
    ...json,
    auto_mapping: null,
    peft_version: '0.21.0',
    target_modules: ['key'],
    feedforward_modules: [],
    init_ia3_weights: false,
  });
  assert.ok(read instanceof IA3Config);
  assert.deepEqual(read.targetModules, ['key']);
  assert.deepEqual(read.feedforwardModules, []);
  assert.equal(read.initIa3Weights, false);

  // PEFT's check: lists only; a regex on either side is not compared
  assert.throws(
    () => new IA3Config({ targetModules: ['key', 'value'], feedforwardModules: ['output.dense'] }),
    /feedforwardModules should be a subset of targetModules/,
  );
  assert.throws(
    () => peftConfigFromJson({ peft_type: 'IA3', target_modules: ['key'], feedforward_modules: ['dense'] }),
    /subset/,
  );
  new IA3Config({ targetModules: '.*\\.(key|dense)', feedforwardModules: ['dense'] });
  new IA3Config({ targetModules: ['key', 'dense'], feedforwardModules: '.*dense' });
  new IA3Config({ feedforwardModules: ['dense'] });
  // duplicates go, as PEFT's sets drop them
  assert.deepEqual(new IA3Config({ targetModules: ['key', 'key', 'value'] }).targetModules, ['key', 'value']);
  assert.throws(() => new IA3Config({ initIa3Weights: 'yes' as unknown as boolean }), /initIa3Weights/);
  assert.throws(
    () => peftConfigFromJson({ peft_type: 'IA3', use_dora: true }),
    /not supported by finetune: use_dora=true/,
  );
});

// ---- the model --------------------------------------------------------------------------

test('getPeftModel(bert, IA3Config SEQ_CLS): PEFT bert defaults, layers, vector shapes, printed line', () => {
  const before = memory().numTensors;
  const base = tinyBert();
  const config = new IA3Config({ taskType: 'SEQ_CLS' });
  const model = getPeftModel(base, config);
  // defaults filled in place, as PEFT's _prepare_adapter_config (so they are saved)
  assert.deepEqual(config.targetModules, ['key', 'value', 'output.dense']);
  assert.deepEqual(config.feedforwardModules, ['output.dense']);
  assert.deepEqual(config.modulesToSave, ['classifier', 'score']);

  const layers = model.model.namedModules().filter(([, m]) => m instanceof peft.IA3Layer) as [
    string,
    InstanceType<typeof peft.IA3Layer>,
  ][];
  assert.deepEqual(
    layers.map(([n]) => n),
    EXPECTED_TARGETS,
  );
  for (const [name, layer] of layers) {
    assert.ok(layer instanceof IA3Linear);
    // PEFT's plain endswith: attention.output.dense is feedforward too
    assert.equal(layer.is_feedforward, name.endsWith('output.dense'), name);
    const vector = layer.ia3_l.get('default');
    const { inFeatures, outFeatures } = layer.base_layer as nn.Linear;
    assert.deepEqual(vector.shape, layer.is_feedforward ? [1, inFeatures] : [outFeatures, 1], name);
    assert.equal(
      tidy(() => vector.eq(1).all().item()),
      true,
      'initialised to ones',
    );
  }
  const wrappers = model.model
    .namedModules()
    .filter(([, m]) => m instanceof peft.ModulesToSaveWrapper)
    .map(([n]) => n);
  assert.deepEqual(wrappers, ['classifier']);

  // (the trainable names and counts are peft-cases.test.ts's 'bert IA3 SEQ_CLS' case)
  assert.equal(
    model.trainableParametersLine(),
    'trainable params: 211 || all params: 6,582 || trainable%: 3.2057',
    'the line PEFT prints for this model',
  );

  model.dispose();
  assert.equal(memory().numTensors, before);
});

test("merging scales a non-feedforward layer's bias by l too; unmerging restores it", () => {
  const before = memory().numTensors;
  const model = getPeftModel(tinyBert(), new IA3Config({ taskType: 'SEQ_CLS' }));
  randomizeAdapters(model);
  const keyLayer = model.model.getSubmodule('bert.encoder.layer.0.attention.self.key') as InstanceType<
    typeof IA3Linear
  >;
  const biasBefore = tidy(() => keyLayer.base_layer.bias!.clone());
  model.mergeAdapter();
  assert.ok(
    tidy(() =>
      keyLayer.base_layer
        .bias!.sub(biasBefore.mul(keyLayer.ia3_l.get('default').flatten()))
        .abs()
        .max()
        .item(),
    ) < 1e-7,
  );
  model.unmergeAdapter();
  assert.ok(tidy(() => keyLayer.base_layer.bias!.sub(biasBefore).abs().max().item()) < 1e-6);
  biasBefore.dispose();
  model.dispose();
  assert.equal(memory().numTensors, before);
});

test('savePretrained → PeftModel.fromPretrained: PEFT keys, config, same outputs', async () => {
  const base = tinyBert();
  const model = getPeftModel(base, new IA3Config({ taskType: 'SEQ_CLS' }));
  randomizeAdapters(model);
  const active = logits(model);
  const dir = await mkdtemp(join(tmpdir(), 'finetune-ia3-'));
  try {
    await model.savePretrained(dir);
    const { tensors, metadata } = await loadSafetensors(join(dir, 'adapter_model.safetensors'));
    const shapes = Object.fromEntries([...tensors].map(([k, t]) => [k, t.shape]));
    for (const t of tensors.values()) t.dispose();
    assert.deepEqual(metadata, { format: 'pt' });
    assert.deepEqual(shapes, {
      ...Object.fromEntries(
        EXPECTED_TARGETS.map((n) => [
          `base_model.model.${n}.ia3_l`,
          n.endsWith('output.dense') ? [1, n.includes('attention') ? 16 : 32] : [16, 1],
        ]),
      ),
      'base_model.model.classifier.weight': [3, 16],
      'base_model.model.classifier.bias': [3],
    });
    const json = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(json.peft_type, 'IA3');
    assert.equal(json.inference_mode, true);
    assert.deepEqual(json.target_modules, ['key', 'value', 'output.dense']);
    assert.deepEqual(json.feedforward_modules, ['output.dense']);
    assert.equal(json.init_ia3_weights, true);

    const loaded = await PeftModel.fromPretrained(tinyBert(), dir, { warn: (m) => assert.fail(m) });
    assert.deepEqual(logits(loaded), active);
    assert.deepEqual(loaded.getNbTrainableParameters()[0], 0, 'inference mode');
    loaded.dispose();
    const trainable = await PeftModel.fromPretrained(tinyBert(), dir, {
      isTrainable: true,
      warn: (m) => assert.fail(m),
    });
    assert.deepEqual(trainableNames(trainable), trainableNames(model));
    trainable.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
    model.dispose();
  }
});

test('several adapters: a second IA3 adapter, switching, training only the active one, deleting', () => {
  const base = tinyBert();
  const expectedBase = logits(base);
  const model = getPeftModel(base, new IA3Config({ taskType: 'SEQ_CLS' }));
  randomizeAdapters(model);
  const first = logits(model);
  model.addAdapter(
    'other',
    new IA3Config({ targetModules: ['query', 'value'], feedforwardModules: [], initIa3Weights: false }),
  );
  assert.deepEqual(logits(model), first, 'the new adapter is not active');
  const value = model.model.getSubmodule('bert.encoder.layer.0.attention.self.value') as InstanceType<typeof IA3Linear>;
  assert.deepEqual(value.adapterNames(), ['default', 'other']);
  const query = model.model.getSubmodule('bert.encoder.layer.0.attention.self.query') as InstanceType<typeof IA3Linear>;
  assert.deepEqual(query.activeAdapters, [], 'only "other" lives here, and it is not active');
  assert.ok(trainableNames(model).every((n) => n.includes('.default')));

  model.setAdapter('other');
  const ia3Trainable = trainableNames(model).filter((n) => n.includes('.ia3_l.'));
  assert.deepEqual(
    ia3Trainable,
    [0, 1].flatMap((i) =>
      ['query', 'value'].map((m) => `base_model.model.bert.encoder.layer.${i}.attention.self.${m}.ia3_l.other`),
    ),
  );
  const second = logits(model);
  assert.ok(maxDiff(second, first) > 1e-3);
  assert.ok(maxDiff(second, expectedBase) > 1e-3);
  model.mergeAdapter();
  assert.ok(maxDiff(logits(model), second) < 1e-4);
  model.unmergeAdapter();

  model.deleteAdapter('other');
  assert.equal(model.activeAdapter, 'default');
  assert.deepEqual(value.adapterNames(), ['default']);
  // (unmerging divides by l + 1e-8, so the value weights came back up to rounding)
  assert.ok(maxDiff(logits(model), first) < 1e-5);
  model.dispose();
});

test('IA3Linear: several active adapters multiply; merge / unmerge; feedforward leaves the bias alone', () => {
  const before = memory().numTensors;
  manualSeed(3);
  tidy(() =>
    noGrad(() => {
      for (const feedforward of [false, true]) {
        const linear = new nn.Linear(5, 4);
        const w0 = linear.weight.clone();
        const b0 = linear.bias!.clone();
        const layer = new IA3Linear(linear, feedforward);
        layer.updateLayer('a', { initIa3Weights: false });
        layer.updateLayer('b', { initIa3Weights: false });
        assert.deepEqual(layer.ia3_l.get('a').shape, feedforward ? [1, 5] : [4, 1]);
        assert.deepEqual(layer.activeAdapters, ['a']);
        layer.activeAdapters = ['a', 'b'];
        const x = randn([2, 3, 5]);
        const la = layer.ia3_l.get('a').flatten();
        const lb = layer.ia3_l.get('b').flatten();
        const expected = feedforward ? linear.forward(x.mul(la).mul(lb)) : linear.forward(x).mul(la).mul(lb);
        const y = layer.forward(x);
        assert.ok(y.sub(expected).abs().max().item() < 1e-6);
        layer.merge();
        assert.deepEqual(layer.mergedAdapters, ['a', 'b']);
        assert.ok(layer.forward(x).sub(y).abs().max().item() < 1e-5);
        if (feedforward) assert.equal(linear.bias!.equal(b0), true, 'the bias is not scaled for a feedforward layer');
        else assert.ok(linear.bias!.sub(b0.mul(la).mul(lb)).abs().max().item() < 1e-6);
        layer.unmerge();
        assert.ok(linear.weight.sub(w0).abs().max().item() < 1e-5);
        assert.ok(linear.bias!.sub(b0).abs().max().item() < 1e-5);
        assert.throws(() => {
          layer.merge(['a']);
          layer.deleteAdapter('a');
        }, /merged; unmerge it/);
        layer.unmerge();
        layer.deleteAdapter('a');
        assert.deepEqual(layer.adapterNames(), ['b']);
        assert.deepEqual(layer.activeAdapters, ['b']);
        assert.deepEqual(layer.adapterParameterNames('b'), ['ia3_l.b']);
        layer.disabled = true;
        assert.equal(layer.forward(x).equal(linear.forward(x)), true);
        layer.dispose();
      }
    }),
  );
  assert.equal(memory().numTensors, before);
});

test('IA3Conv2d: channel vectors [1, C, 1, 1]; merged = unmerged, grouped convs included', () => {
  const before = memory().numTensors;
  manualSeed(4);
  tidy(() =>
    noGrad(() => {
      for (const groups of [1, 2]) {
        for (const feedforward of [false, true]) {
          const conv = new nn.Conv2d(4, 6, 3, { padding: 1, groups });
          const layer = new IA3Conv2d(conv, feedforward);
          layer.updateLayer('default', { initIa3Weights: false });
          assert.deepEqual(layer.ia3_l.get('default').shape, [1, feedforward ? 4 : 6, 1, 1]);
          const x = randn([2, 4, 5, 5]);
          const l = layer.ia3_l.get('default');
          const expected = feedforward ? conv.forward(x.mul(l)) : conv.forward(x).mul(l);
          const y = layer.forward(x);
          assert.ok(y.sub(expected).abs().max().item() < 1e-6);
          layer.merge();
          assert.ok(layer.forward(x).sub(y).abs().max().item() < 1e-5, `groups ${groups} feedforward ${feedforward}`);
          layer.unmerge();
          assert.ok(layer.forward(x).sub(y).abs().max().item() < 1e-5);
          layer.dispose();
        }
      }
    }),
  );
  assert.equal(memory().numTensors, before);
});

test('targeting: regex forms, errors for unknown model types and unsupported layers', () => {
  // regex target and feedforward (full match), the fixtures' 'ia3 regex' check
  const model = getPeftModel(
    tinyBert(),
    new IA3Config({
      taskType: 'SEQ_CLS',
      targetModules: '.*\\.(key|value|intermediate\\.dense)',
      feedforwardModules: '.*intermediate\\.dense',
    }),
  );
  const layers = model.model.namedModules().filter(([, m]) => m instanceof peft.IA3Layer) as [
    string,
    InstanceType<typeof peft.IA3Layer>,
  ][];
  assert.deepEqual(
    layers.map(([n]) => n),
    [0, 1].flatMap((i) => [
      `bert.encoder.layer.${i}.attention.self.key`,
      `bert.encoder.layer.${i}.attention.self.value`,
      `bert.encoder.layer.${i}.intermediate.dense`,
    ]),
  );
  assert.deepEqual(
    layers.filter(([, l]) => l.is_feedforward).map(([n]) => n),
    [0, 1].map((i) => `bert.encoder.layer.${i}.intermediate.dense`),
  );
  model.dispose();
  assert.equal(
    peft.isFeedforward({ feedforwardModules: 'dense' }, 'bert.encoder.layer.0.output.dense'),
    false,
    'a regex must match the whole name',
  );
  assert.equal(peft.isFeedforward({ feedforwardModules: ['dense'] }, 'bert.encoder.layer.0.output.dense'), true);

  // ViT: PEFT 0.21 has no IA3 defaults for vit
  const vit = new models.ViTForImageClassification({
    hiddenSize: 8,
    numHiddenLayers: 1,
    numAttentionHeads: 2,
    intermediateSize: 16,
    imageSize: 8,
    patchSize: 4,
    numLabels: 2,
  });
  assert.throws(
    () => getPeftModel(vit, new IA3Config({ taskType: 'SEQ_CLS' })),
    /no default target modules for ViTForImageClassification \(model_type 'vit'\); give IA3Config targetModules/,
  );
  // with targets given, it works on ViT too
  const vitModel = getPeftModel(
    vit,
    new IA3Config({ targetModules: ['key', 'value', 'output.dense'], feedforwardModules: ['output.dense'] }),
  );
  const vitLayers = vitModel.model.namedModules().filter(([, m]) => m instanceof peft.IA3Layer) as [
    string,
    InstanceType<typeof peft.IA3Layer>,
  ][];
  assert.deepEqual(
    vitLayers.map(([n, l]) => `${n}${l.is_feedforward ? ' (ff)' : ''}`),
    [
      'vit.encoder.layer.0.attention.attention.key',
      'vit.encoder.layer.0.attention.attention.value',
      'vit.encoder.layer.0.attention.output.dense (ff)',
      'vit.encoder.layer.0.output.dense (ff)',
    ],
  );
  vitModel.dispose();

  // a module that is no registered architecture
  class Net extends nn.Module {
    fc1 = new nn.Linear(3, 4);
    emb = new nn.Embedding(5, 3);
    forward(x: Tensor): Tensor {
      return this.fc1.forward(x);
    }
  }
  assert.throws(
    () => getPeftModel(new Net(), new IA3Config()),
    /no default target modules for Net; give IA3Config targetModules/,
  );
  assert.throws(
    () => getPeftModel(new Net(), new IA3Config({ targetModules: ['fc1'] })),
    /no default feedforward modules for Net; give IA3Config feedforwardModules \(\[\] for none\)/,
  );
  assert.throws(
    () => getPeftModel(new Net(), new IA3Config({ targetModules: ['emb'], feedforwardModules: [] })),
    /'emb' \(Embedding\) is not supported by IA3; supported: Linear, Conv1D, Conv2d/,
  );
  // fanInFanOut on a Linear: PEFT warns and turns it off
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (message: string) => warnings.push(message);
  const fanConfig = new IA3Config({ targetModules: ['fc1'], feedforwardModules: ['fc1'], fanInFanOut: true });
  let net: PeftModelT;
  try {
    net = getPeftModel(new Net(), fanConfig);
  } finally {
    console.warn = warn;
  }
  assert.deepEqual(warnings, [
    'fanInFanOut is set to true but the target module is a Linear (weights stored [out, in]); setting fanInFanOut to false.',
  ]);
  assert.equal(fanConfig.fanInFanOut, false);
  assert.deepEqual(
    (net.model.getSubmodule('fc1') as InstanceType<typeof IA3Linear>).ia3_l.get('default').shape,
    [1, 3],
  );
  net.dispose();
});

test('bert-base: the line PEFT prints for IA3Config(task_type=SEQ_CLS)', () => {
  const model = getPeftModel(
    new BertForSequenceClassification({ ...BERT_PRESETS['bert-base-uncased'], numLabels: 2 }),
    new IA3Config({ taskType: 'SEQ_CLS' }),
  );
  // PEFT 0.21 on BertForSequenceClassification(BertConfig()) (cases.json bert_base_print_lines.ia3)
  assert.equal(
    model.trainableParametersLine(),
    'trainable params: 66,050 || all params: 109,549,828 || trainable%: 0.0603',
  );
  model.dispose();
});

// ---- fidelity against Python PEFT ---------------------------------------------------------

for (const name of ['ia3', 'ia3_custom']) {
  test(
    `fidelity: PeftModel.fromPretrained(tiny-bert, fixtures/peft/${name}) gives PEFT's logits`,
    { skip: !HAVE_FIXTURES && 'test/fixtures/peft/cases.json not generated' },
    async () => {
      const { inputs, cases: all } = cases();
      const ref = all[name];
      const check = (what: string, actual: number[], expected: Flat) => {
        const diff = maxDiff(actual, expected.values);
        assert.ok(diff < 1e-5, `${name} ${what}: max |Δ| = ${diff}`);
      };
      const base = (await fromPretrained(new URL('tiny-bert', FIXTURES).pathname)).eval();
      check('base', logits(base, inputs), ref.logits.base);
      const model = await PeftModel.fromPretrained(base, new URL(name, FIXTURES).pathname, {
        isTrainable: true,
        warn: (m) => assert.fail(m),
      });
      check('active', logits(model, inputs), ref.logits.active);
      check(
        'disabled',
        model.disableAdapter(() => logits(model, inputs)),
        ref.logits.disabled,
      );

      assert.equal(model.trainableParametersLine(), ref.print_trainable_parameters);
      assert.deepEqual(model.getNbTrainableParameters(), [
        ref.nb_trainable_parameters.trainable,
        ref.nb_trainable_parameters.all,
      ]);
      assert.deepEqual(trainableNames(model), ref.trainable_parameters);
      const layers = model.model.namedModules().filter(([, m]) => m instanceof peft.IA3Layer) as [
        string,
        InstanceType<typeof peft.IA3Layer>,
      ][];
      assert.deepEqual(
        layers.map(([n]) => n),
        ref.targeted_modules,
      );
      for (const [n, layer] of layers) assert.equal(layer.is_feedforward, ref.layers[n].is_feedforward, n);
      const saved = Object.fromEntries(
        [...model.adapterStateDict()].map(([k, t]) => [k, { shape: t.shape, dtype: t.dtype }]),
      );
      assert.deepEqual(saved, ref.saved_keys);

      model.mergeAdapter();
      check('merge_adapter', logits(model, inputs), ref.logits.merge_adapter);
      model.unmergeAdapter();
      check('unmerge_adapter', logits(model, inputs), ref.logits.unmerge_adapter);
      check(
        'unmerge_adapter_disabled',
        model.disableAdapter(() => logits(model, inputs)),
        ref.logits.unmerge_adapter_disabled,
      );
      const merged = model.mergeAndUnload();
      check('merged', logits(merged, inputs), ref.logits.merged);
      merged.dispose();
    },
  );
}

test(
  "fidelity: PEFT's 'ia3 regex' target check and its saved adapter_config.json",
  { skip: !HAVE_FIXTURES && 'test/fixtures/peft/cases.json not generated' },
  () => {
    const { target_checks, cases: all } = cases();
    const check = target_checks.find((c) => c.label === 'ia3 regex')!;
    const c = check.config!;
    const model = getPeftModel(
      tinyBert(),
      new IA3Config({
        taskType: c.task_type as 'SEQ_CLS',
        targetModules: c.target_modules as string,
        feedforwardModules: c.feedforward_modules as string,
      }),
    );
    const layers = model.model.namedModules().filter(([, m]) => m instanceof peft.IA3Layer) as [
      string,
      InstanceType<typeof peft.IA3Layer>,
    ][];
    assert.deepEqual(
      layers.map(([n]) => n),
      check.targeted_modules,
    );
    assert.deepEqual(
      layers.filter(([, l]) => l.is_feedforward).map(([n]) => n),
      check.feedforward_modules,
    );
    assert.deepEqual(
      model.model
        .namedModules()
        .filter(([, m]) => m instanceof peft.ModulesToSaveWrapper)
        .map(([n]) => n),
      check.modules_to_save_wrappers,
    );
    model.dispose();

    // The config finetune writes for IA3Config(task_type='SEQ_CLS') is the one PEFT wrote, but for PEFT's informational keys
    const ours = getPeftModel(
      tinyBert(),
      new IA3Config({ taskType: 'SEQ_CLS', baseModelNameOrPath: 'test/fixtures/peft/tiny-bert' }),
    );
    const json: Record<string, unknown> = { ...ours.peftConfig.get('default')!.toJson(), inference_mode: true };
    const { auto_mapping: _a, peft_version: _v, ...expected } = all.ia3.adapter_config;
    assert.deepEqual(
      Object.fromEntries(Object.entries(json).sort()),
      Object.fromEntries(Object.entries(expected).sort()),
    );
    ours.dispose();
  },
);

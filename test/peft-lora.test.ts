// LoRA's own rules on real models: targeting (PEFT's suffix / regex / all-linear /
// layersToTransform / rank and alpha patterns), PEFT's file keys, DoRA's magnitude shapes,
// prompt tuning's inputs, and the content of adapter files. The properties every method shares
// (trainable set, merge / unmerge / disable, several adapters, training, save and load) run over
// the table of peft-cases.test.ts; fidelity against Python PEFT's outputs is in peft-fidelity.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  getPeftModel,
  LoraConfig,
  PeftModel,
  PromptTuningConfig,
  manualSeed,
  nn,
  noGrad,
  peft,
  tensor,
  tidy,
  randn,
  loadSafetensors,
  loadAdapter,
  loadPeftModel,
  type Tensor,
} from 'finetune';

import { logits, maxDiff, tinyBert } from './helpers/peft-tiny.js';

/** Gives every LoRA B matrix random values, so the adapter changes outputs. */
function perturbAdapters(model: nn.Module, std = 0.3): void {
  noGrad(() => {
    for (const [name, p] of model.namedParameters())
      if (/lora_(B|embedding_A)|modules_to_save/.test(name)) p.copy_(randn(p.shape).mul(std));
  });
}

const targeted = (model: PeftModel) => (model.base_model as peft.LoraModel).tunerLayers().map(([key]) => key);

test('SEQ_CLS LoRA: the classifier joins modulesToSave; PEFT key names', () => {
  const model = getPeftModel(
    tinyBert(),
    new LoraConfig({ taskType: 'SEQ_CLS', r: 4, loraAlpha: 8, targetModules: ['query', 'value'] }),
  );
  assert.deepEqual((model.peftConfig.get('default') as LoraConfig).modulesToSave, ['classifier', 'score']);
  const keys = [...model.adapterStateDict().keys()];
  assert.ok(keys.includes('base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight'));
  assert.ok(keys.includes('base_model.model.classifier.weight'));
  assert.equal(keys.length, 4 * 2 + 2);
  model.dispose();
});

test('targeting: regex, all-linear, layersToTransform, rank and alpha patterns, excludeModules', () => {
  const regex = getPeftModel(tinyBert(), new LoraConfig({ targetModules: '.*attention\\.self\\.(query|key)' }));
  assert.deepEqual(
    targeted(regex),
    [0, 1].flatMap((i) => ['query', 'key'].map((m) => `bert.encoder.layer.${i}.attention.self.${m}`)),
  );
  const allLinear = getPeftModel(tinyBert(), new LoraConfig({ taskType: 'SEQ_CLS', targetModules: 'all-linear' }));
  assert.equal(targeted(allLinear).length, 2 * 6 + 1);
  assert.ok(targeted(allLinear).includes('bert.pooler.dense') && !targeted(allLinear).includes('classifier'));
  const patterned = getPeftModel(
    tinyBert(),
    new LoraConfig({
      r: 4,
      loraAlpha: 16,
      useRslora: true,
      targetModules: ['query', 'key', 'value'],
      layersToTransform: [1],
      rankPattern: { value: 2 },
      alphaPattern: { key: 4 },
    }),
  );
  const layers = new Map((patterned.base_model as peft.LoraModel).tunerLayers() as [string, peft.LoraLayer][]);
  assert.deepEqual(
    [...layers.keys()],
    ['query', 'key', 'value'].map((m) => `bert.encoder.layer.1.attention.self.${m}`),
  );
  const at = (m: string) => layers.get(`bert.encoder.layer.1.attention.self.${m}`)!;
  assert.equal(at('query').rank.default, 4);
  assert.equal(at('query').scaling.default, 16 / 2);
  assert.equal(at('value').rank.default, 2);
  assert.equal(at('value').scaling.default, 16 / Math.SQRT2);
  assert.equal(at('key').scaling.default, 4 / 2);
  const excluded = getPeftModel(
    tinyBert(),
    new LoraConfig({ targetModules: ['dense'], excludeModules: ['attention.output.dense'] }),
  );
  assert.ok(targeted(excluded).every((k) => !k.includes('attention.output')));
  assert.equal(targeted(excluded).length, 2 * 2 + 1);
});

test('no matching module: the error lists what can be targeted', () => {
  assert.throws(
    () => getPeftModel(tinyBert(), new LoraConfig({ targetModules: ['q_proj', 'v_proj'] })),
    (e: Error) =>
      /Target modules \["q_proj","v_proj"\] not found/.test(e.message) &&
      /query \(Linear\)/.test(e.message) &&
      /word_embeddings \(Embedding\)/.test(e.message),
  );
  assert.throws(
    () => getPeftModel(tinyBert(), new LoraConfig({ targetModules: ['LayerNorm'] })),
    /not supported by LoRA; supported: Linear, Conv1D, Conv2d, Embedding/,
  );
  assert.throws(() => new LoraConfig({ r: 0 }), /r must be a positive integer/);
});

test('LoRA on an Embedding: PEFT file keys without the adapter name or .weight', () => {
  const embed = getPeftModel(tinyBert(), new LoraConfig({ r: 4, targetModules: ['word_embeddings'] }));
  assert.deepEqual(
    [...embed.adapterStateDict().keys()],
    ['A', 'B'].map((m) => `base_model.model.bert.embeddings.word_embeddings.lora_embedding_${m}`),
  );
  embed.dispose();
});

test('DoRA on Conv2d: a magnitude per output channel, shaped [1, out, 1, 1]', () => {
  manualSeed(4);
  const conv = new nn.Sequential(new nn.Conv2d(3, 4, 3, { padding: 1 }), new nn.ReLU(), new nn.Conv2d(4, 2, 1));
  const model = getPeftModel(conv, new LoraConfig({ r: 2, loraAlpha: 4, targetModules: ['0', '2'], useDora: true }));
  const magnitudes = model.namedParameters().filter(([n]) => n.includes('lora_magnitude_vector'));
  assert.deepEqual(
    magnitudes.map(([n, p]) => [n, p.shape, p.requiresGrad]),
    [
      ['base_model.model.0.lora_magnitude_vector.default.weight', [1, 4, 1, 1], true],
      ['base_model.model.2.lora_magnitude_vector.default.weight', [1, 2, 1, 1], true],
    ],
  );
  model.dispose();
});

test('prompt tuning: PEFT file keys; the attention mask must be [batch, length]', () => {
  const model = getPeftModel(tinyBert(), new PromptTuningConfig({ taskType: 'SEQ_CLS', numVirtualTokens: 4 }));
  assert.deepEqual(
    [...model.adapterStateDict().keys()],
    ['prompt_embeddings', 'base_model.classifier.weight', 'base_model.classifier.bias'],
  );
  const inputIds = tensor([[2, 5, 9]], { dtype: 'int64' });
  const squareMask = tensor(
    [
      [
        [1, 1, 1],
        [1, 1, 1],
        [1, 1, 1],
      ],
    ],
    { dtype: 'int64' },
  );
  assert.throws(
    () => tidy(() => model.forward({ inputIds, attentionMask: squareMask })),
    /prompt tuning: the attention mask must be \[batch, length\], got shape \[1,3,3\]/,
  );
  inputIds.dispose();
  squareMask.dispose();
  model.dispose();
});

test('savePretrained / fromPretrained: PEFT files, the same outputs, inference mode', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-lora-'));
  try {
    const model = getPeftModel(
      tinyBert(),
      new LoraConfig({ taskType: 'SEQ_CLS', r: 4, loraAlpha: 8, targetModules: ['query', 'value'], useDora: true }),
    );
    perturbAdapters(model);
    model.addAdapter('second', new LoraConfig({ r: 2, targetModules: ['key'] }));
    const adapted = logits(model);
    await model.savePretrained(dir);
    const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    assert.equal(config.peft_type, 'LORA');
    assert.equal(config.task_type, 'SEQ_CLS');
    assert.equal(config.lora_alpha, 8);
    assert.equal(config.use_dora, true);
    assert.equal(config.inference_mode, true);
    assert.deepEqual(config.target_modules, ['query', 'value']);
    const { tensors } = await loadSafetensors(join(dir, 'adapter_model.safetensors'));
    assert.ok(
      tensors.has('base_model.model.bert.encoder.layer.1.attention.self.value.lora_magnitude_vector'),
      'PEFT saves the DoRA magnitude without .weight',
    );
    assert.ok(tensors.has('base_model.model.classifier.weight'));
    assert.ok(readFileSync(join(dir, 'second', 'adapter_config.json'), 'utf8').includes('"key"'));

    const loaded = await PeftModel.fromPretrained(tinyBert(), dir);
    assert.ok(maxDiff(logits(loaded), adapted) < 1e-6);
    assert.ok(
      loaded.namedParameters().every(([, p]) => !p.requiresGrad),
      'inference mode freezes everything',
    );
    const warnings: string[] = [];
    await loaded.loadAdapter(join(dir, 'second'), 'second', { warn: (m) => warnings.push(m) });
    assert.deepEqual(warnings, []);
    const trainable = await PeftModel.fromPretrained(tinyBert(), dir, { isTrainable: true });
    assert.ok(trainable.namedParameters().some(([, p]) => p.requiresGrad));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('adapter_config.json from PEFT: unknown settings that change the computation are refused', () => {
  const json = {
    peft_type: 'LORA',
    r: 8,
    target_modules: ['query'],
    peft_version: '0.21.0',
    megatron_core: 'megatron.core',
    loftq_config: {},
    use_qalora: false,
  };
  assert.equal((peft.peftConfigFromJson(json) as LoraConfig).r, 8);
  assert.throws(
    () => peft.peftConfigFromJson({ ...json, use_qalora: true }, 'x/adapter_config.json'),
    /x\/adapter_config.json: LORA option\(s\) not supported by finetune: use_qalora=true/,
  );
  assert.throws(() => peft.peftConfigFromJson({ peft_type: 'VERA' }), /peft_type "VERA" is not supported/);
  assert.throws(
    () => peft.peftConfigFromJson({ peft_type: 'LORA', bias: 'some' }),
    /adapter_config.json: 'bias' must be 'none', 'all' or 'lora_only', got "some"/,
  );
});

test('loadPeftModel and loadAdapter load for inference (eval mode) unless isTrainable, as PEFT: dropout off, outputs repeat', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ft-lora-eval-'));
  try {
    manualSeed(0);
    const base = () => new nn.Sequential(new nn.Linear(8, 8), new nn.ReLU(), new nn.Linear(8, 2));
    const trained = getPeftModel(
      base(),
      new LoraConfig({ r: 4, loraDropout: 0.5, targetModules: ['0', '2'], initLoraWeights: false }),
    );
    await trained.savePretrained(dir);
    const x = randn([16, 8]);
    const check = (model: nn.Module & { forward(input: Tensor): unknown }, training: boolean) => {
      assert.deepEqual([...new Set([...model.modules()].map((m) => m.training))], [training]);
      if (!training)
        noGrad(() =>
          assert.deepEqual([...(model.forward(x) as Tensor).data()], [...(model.forward(x) as Tensor).data()]),
        );
    };
    check(await loadPeftModel(base(), dir), false);
    check(await loadPeftModel(base(), dir, { isTrainable: true }), true);
    const twice = getPeftModel(base(), new LoraConfig({ r: 2, targetModules: ['0'] }));
    await loadAdapter(twice, dir, 'other');
    check(twice, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

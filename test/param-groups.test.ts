// Parameter-group builders (optim/param-groups.ts) on tiny ViT and BERT: the exact lr and weight
// decay every named parameter gets from weightDecayGroups (timm and HF rules; HF's against
// transformers' Trainer.get_decay_parameter_names, test/fixtures/param-groups/hf_decay.json from
// tools/gen_param_group_fixtures.py), discriminativeLr (fastai slice(hi), slice(lo, hi), ULMFiT's
// 2.6), layerwiseLrDecay (timm); PeftModel-wrapped models, frozen parameters, other families; and
// the default fine-tuning lr rule. Expected learning rates are written out by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import {
  getPeftModel,
  LoraConfig,
  manualSeed,
  models,
  nn,
  optim,
  peft,
  PromptTuningConfig,
  type Tensor,
} from 'finetune';

import { TINY_BERT_CONFIG, TINY_VIT_CONFIG } from './helpers/tiny-configs.js';

type Module = nn.Module;

const HF = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/param-groups/hf_decay.json', import.meta.url), 'utf8'),
) as Record<'bert' | 'vit', { names: string[]; decay: string[] }>;

manualSeed(0);
const vit = new models.ViTForImageClassification(TINY_VIT_CONFIG);
const bert = new models.BertForSequenceClassification(TINY_BERT_CONFIG);

// ---- expected names, written out ---------------------------------------------------------------

const VIT_BLOCK = [
  'attention.attention.query.weight',
  'attention.attention.query.bias',
  'attention.attention.key.weight',
  'attention.attention.key.bias',
  'attention.attention.value.weight',
  'attention.attention.value.bias',
  'attention.output.dense.weight',
  'attention.output.dense.bias',
  'intermediate.dense.weight',
  'intermediate.dense.bias',
  'output.dense.weight',
  'output.dense.bias',
  'layernorm_before.weight',
  'layernorm_before.bias',
  'layernorm_after.weight',
  'layernorm_after.bias',
];
const VIT_EMBEDDINGS = [
  'vit.embeddings.cls_token',
  'vit.embeddings.position_embeddings',
  'vit.embeddings.patch_embeddings.projection.weight',
  'vit.embeddings.patch_embeddings.projection.bias',
];
const VIT_HEAD = ['vit.layernorm.weight', 'vit.layernorm.bias', 'classifier.weight', 'classifier.bias'];
const vitLayer = (i: number) => VIT_BLOCK.map((n) => `vit.encoder.layer.${i}.${n}`);
/** Matrices of a ViT block: the ones that decay under both rules. */
const VIT_BLOCK_MATRICES = [
  'attention.attention.query.weight',
  'attention.attention.key.weight',
  'attention.attention.value.weight',
  'attention.output.dense.weight',
  'intermediate.dense.weight',
  'output.dense.weight',
];

const BERT_BLOCK = [
  'attention.self.query.weight',
  'attention.self.query.bias',
  'attention.self.key.weight',
  'attention.self.key.bias',
  'attention.self.value.weight',
  'attention.self.value.bias',
  'attention.output.dense.weight',
  'attention.output.dense.bias',
  'attention.output.LayerNorm.weight',
  'attention.output.LayerNorm.bias',
  'intermediate.dense.weight',
  'intermediate.dense.bias',
  'output.dense.weight',
  'output.dense.bias',
  'output.LayerNorm.weight',
  'output.LayerNorm.bias',
];
const BERT_EMBEDDINGS = [
  'bert.embeddings.word_embeddings.weight',
  'bert.embeddings.position_embeddings.weight',
  'bert.embeddings.token_type_embeddings.weight',
  'bert.embeddings.LayerNorm.weight',
  'bert.embeddings.LayerNorm.bias',
];
const BERT_HEAD = ['bert.pooler.dense.weight', 'bert.pooler.dense.bias', 'classifier.weight', 'classifier.bias'];
const bertLayer = (i: number) => BERT_BLOCK.map((n) => `bert.encoder.layer.${i}.${n}`);
const BERT_BLOCK_MATRICES = [
  'attention.self.query.weight',
  'attention.self.key.weight',
  'attention.self.value.weight',
  'attention.output.dense.weight',
  'intermediate.dense.weight',
  'output.dense.weight',
];

const VIT_NAMES = [...VIT_EMBEDDINGS, ...vitLayer(0), ...vitLayer(1), ...VIT_HEAD];
const BERT_NAMES = [...BERT_EMBEDDINGS, ...bertLayer(0), ...bertLayer(1), ...BERT_HEAD];

/** timm rule: matrices decay, except position / cls embeddings. */
const VIT_TIMM_DECAY = [
  'vit.embeddings.patch_embeddings.projection.weight',
  ...[0, 1].flatMap((i) => VIT_BLOCK_MATRICES.map((n) => `vit.encoder.layer.${i}.${n}`)),
  'classifier.weight',
];
/** HF rule: everything but biases and LayerNorm parameters, so cls_token and position embeddings too. */
const VIT_HF_DECAY = ['vit.embeddings.cls_token', 'vit.embeddings.position_embeddings', ...VIT_TIMM_DECAY];
const BERT_TIMM_DECAY = [
  'bert.embeddings.word_embeddings.weight',
  ...[0, 1].flatMap((i) => BERT_BLOCK_MATRICES.map((n) => `bert.encoder.layer.${i}.${n}`)),
  'bert.pooler.dense.weight',
  'classifier.weight',
];
const BERT_HF_DECAY = [
  'bert.embeddings.word_embeddings.weight',
  'bert.embeddings.position_embeddings.weight',
  'bert.embeddings.token_type_embeddings.weight',
  ...BERT_TIMM_DECAY.slice(1),
];

// ---- helpers -------------------------------------------------------------------------------------

interface Assigned {
  group: string;
  lr: number | undefined;
  weightDecay: number | undefined;
}

/** Each parameter name → its group's name, lr and weight decay; checks names match tensors and appear once. */
function assignment(model: Module, groups: optim.ParamGroups): Map<string, Assigned> {
  const byTensor = new Map<Tensor, string>(model.namedParameters().map(([n, p]) => [p, n]));
  const out = new Map<string, Assigned>();
  for (const g of groups) {
    assert.equal(g.params.length, g.paramNames.length, g.name);
    assert.ok(g.params.length > 0, `group ${g.name} is empty`);
    g.params.forEach((p, i) => {
      assert.equal(byTensor.get(p), g.paramNames[i], `${g.name}: paramNames[${i}] is not the name of params[${i}]`);
      assert.ok(!out.has(g.paramNames[i]), `${g.paramNames[i]} is in two groups`);
      out.set(g.paramNames[i], { group: g.name, lr: g.lr, weightDecay: g.weightDecay });
    });
  }
  return out;
}

/** Asserts each name in `names` gets exactly `expected(name)`; every parameter of the groups must be listed. */
function assertTable(got: Map<string, Assigned>, names: string[], expected: (name: string) => Assigned): void {
  assert.deepEqual([...got.keys()].sort(), [...names].sort());
  for (const name of names) {
    const want = expected(name);
    const have = got.get(name)!;
    assert.equal(have.group, want.group, `${name}: group`);
    assert.equal(have.weightDecay, want.weightDecay, `${name}: weight decay`);
    if (want.lr === undefined) assert.equal(have.lr, undefined, `${name}: lr`);
    else assert.ok(Math.abs(have.lr! - want.lr) <= 1e-12 * want.lr, `${name}: lr ${have.lr} ≠ ${want.lr}`);
  }
}

const vitGroupOf = (name: string) =>
  VIT_EMBEDDINGS.includes(name) ? 0 : VIT_HEAD.includes(name) ? 3 : Number(/layer\.(\d+)\./.exec(name)![1]) + 1;
const bertGroupOf = (name: string) =>
  BERT_EMBEDDINGS.includes(name) ? 0 : BERT_HEAD.includes(name) ? 3 : Number(/layer\.(\d+)\./.exec(name)![1]) + 1;
const GROUP_NAMES = ['embeddings', 'encoder.layer.0', 'encoder.layer.1', 'head'];

// ---- weight decay --------------------------------------------------------------------------------

test('the tiny models have the parameter names written out here', () => {
  assert.deepEqual(
    vit.namedParameters().map(([n]) => n),
    VIT_NAMES,
  );
  assert.deepEqual(
    bert.namedParameters().map(([n]) => n),
    BERT_NAMES,
  );
  assert.deepEqual(HF.bert.names, BERT_NAMES, 'transformers names BERT parameters as finetune does');
});

test('weightDecayGroups, timm rule: no decay for biases, norms, 1-D, cls_token and position / token-type embeddings', () => {
  for (const [model, names, decay] of [
    [vit, VIT_NAMES, VIT_TIMM_DECAY],
    [bert, BERT_NAMES, BERT_TIMM_DECAY],
  ] as const) {
    const groups = optim.weightDecayGroups(model, { weightDecay: 0.05 });
    assert.deepEqual(
      groups.map((g) => g.name),
      ['decay', 'no_decay'],
    );
    assert.equal(groups.frozen, 0);
    // in the model's parameter order within each group
    assert.deepEqual(
      groups[0].paramNames,
      names.filter((n) => decay.includes(n)),
    );
    assertTable(assignment(model, groups), names, (n) =>
      decay.includes(n)
        ? { group: 'decay', lr: undefined, weightDecay: 0.05 }
        : { group: 'no_decay', lr: undefined, weightDecay: 0 },
    );
  }
  assert.deepEqual(
    optim.noWeightDecayNames(bert).filter((n) => n.includes('embeddings')),
    [
      'bert.embeddings.position_embeddings.weight',
      'bert.embeddings.token_type_embeddings.weight',
      'bert.embeddings.LayerNorm.weight',
      'bert.embeddings.LayerNorm.bias',
    ],
  );
});

test("weightDecayGroups, HF rule: transformers Trainer's get_decay_parameter_names", () => {
  const bertGroups = optim.weightDecayGroups(bert, { weightDecay: 0.01, rule: 'hf' });
  assert.deepEqual(bertGroups[0].paramNames, HF.bert.decay, 'the names transformers 5.x decays');
  assert.deepEqual(HF.bert.decay, BERT_HF_DECAY);
  assertTable(assignment(bert, bertGroups), BERT_NAMES, (n) =>
    BERT_HF_DECAY.includes(n)
      ? { group: 'decay', lr: undefined, weightDecay: 0.01 }
      : { group: 'no_decay', lr: undefined, weightDecay: 0 },
  );
  // transformers 5 renamed ViT's modules (vit.layers.N.attention.q_proj …): compare the rule's counts
  const vitGroups = optim.weightDecayGroups(vit, { weightDecay: 0.01, rule: 'hf' });
  assert.equal(vitGroups[0].paramNames.length, HF.vit.decay.length);
  assert.equal(vitGroups[1].paramNames.length, HF.vit.names.length - HF.vit.decay.length);
  assertTable(assignment(vit, vitGroups), VIT_NAMES, (n) =>
    VIT_HF_DECAY.includes(n)
      ? { group: 'decay', lr: undefined, weightDecay: 0.01 }
      : { group: 'no_decay', lr: undefined, weightDecay: 0 },
  );
});

test('weightDecayGroups: extra noDecay names; frozen parameters left out and counted; BatchNorm by rule', () => {
  const groups = optim.weightDecayGroups(bert, { weightDecay: 0.1, noDecay: ['word_embeddings', /pooler/] });
  assert.ok(groups[1].paramNames.includes('bert.embeddings.word_embeddings.weight'));
  assert.ok(groups[1].paramNames.includes('bert.pooler.dense.weight'));
  assert.ok(!groups[0].paramNames.some((n) => n.includes('pooler')));

  const frozenBert = new models.BertForSequenceClassification(TINY_BERT_CONFIG);
  peft.applyFreezingStrategy(frozenBert, { kind: 'head' });
  const head = optim.weightDecayGroups(frozenBert, { weightDecay: 0.1 });
  assert.deepEqual(
    head.map((g) => [g.name, g.paramNames]),
    [
      ['decay', ['bert.pooler.dense.weight', 'classifier.weight']],
      ['no_decay', ['bert.pooler.dense.bias', 'classifier.bias']],
    ],
  );
  assert.equal(head.frozen, BERT_NAMES.length - 4);
  assert.deepEqual(head.frozenNames, BERT_NAMES.slice(0, -4));
  frozenBert.dispose();

  const resnet = new models.ResNet({ block: 'basic', layers: [1, 1, 1, 1], numClasses: 5 });
  const timm = optim.weightDecayGroups(resnet, { weightDecay: 1e-4 });
  const hf = optim.weightDecayGroups(resnet, { weightDecay: 1e-4, rule: 'hf' });
  assert.ok(
    timm[1].paramNames.includes('bn1.weight') && timm[1].paramNames.includes('layer1.0.bn2.weight'),
    'timm: BatchNorm weights do not decay',
  );
  assert.ok(
    hf[0].paramNames.includes('bn1.weight') && !hf[0].paramNames.includes('fc.bias'),
    'HF: only LayerNorm and biases are exempt',
  );
  resnet.dispose();
});

// ---- discriminative learning rates ---------------------------------------------------------------

test('lrRange: fastai lr_range / even_mults and ULMFiT', () => {
  assert.deepEqual(optim.lrRange(1e-3, 4), [1e-3, 1e-3, 1e-3, 1e-3]);
  assert.deepEqual(optim.lrRange([1e-3], 4), [1e-4, 1e-4, 1e-4, 1e-3]);
  assert.deepEqual(optim.lrRange({ hi: 1e-3 }, 3), [1e-4, 1e-4, 1e-3]);
  assert.deepEqual(optim.lrRange({ lo: 0, hi: 1e-3 }, 2), [1e-4, 1e-3], 'slice(0, hi) is slice(hi), as fastai');
  assert.deepEqual(optim.lrRange([1e-5, 1e-3], 1), [1e-3], 'even_mults with n = 1 is stop');
  const close = (a: number[], b: number[]) =>
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= 1e-15 * b[i], `${a} ≠ ${b}`));
  close(optim.lrRange({ lo: 1e-5, hi: 1e-3 }, 4), [1e-5, 4.641588833612779e-5, 2.1544346900318823e-4, 1e-3]);
  close(optim.lrRange([1e-6, 1e-2], 5), [1e-6, 1e-5, 1e-4, 1e-3, 1e-2]);
  close(
    optim.lrRange({ hi: 1e-2, factor: 2.6 }, 4),
    [5.689576695493855e-4, 1.479289940828402e-3, 3.846153846153846e-3, 1e-2],
  );
  assert.throws(() => optim.lrRange([1, 2, 3] as unknown as [number], 2), /\[hi\] or \[lo, hi\]/);
  assert.throws(() => optim.lrRange({ lo: 1e-5, hi: 1e-3, factor: 2.6 }, 2), /lo or factor/);
  assert.throws(() => optim.lrRange(-1, 2), /positive/);
});

test('discriminativeLr on BERT and ViT: every parameter gets its layer group’s lr', () => {
  const cases: [optim.DiscriminativeLr, number[]][] = [
    [2e-5, [2e-5, 2e-5, 2e-5, 2e-5]],
    [[1e-3], [1e-4, 1e-4, 1e-4, 1e-3]],
    [{ lo: 1e-5, hi: 1e-3 }, [1e-5, 4.641588833612779e-5, 2.1544346900318823e-4, 1e-3]],
    [{ hi: 1e-3, factor: 2.6 }, [5.689576695493855e-5, 1.4792899408284024e-4, 3.846153846153846e-4, 1e-3]],
  ];
  for (const [lr, lrs] of cases) {
    for (const [model, names, groupOf] of [
      [bert, BERT_NAMES, bertGroupOf],
      [vit, VIT_NAMES, vitGroupOf],
    ] as const) {
      const groups = optim.discriminativeLr(model, lr);
      assert.deepEqual(
        groups.map((g) => g.name),
        GROUP_NAMES,
      );
      assertTable(assignment(model, groups), names, (n) => ({
        group: GROUP_NAMES[groupOf(n)],
        lr: lrs[groupOf(n)],
        weightDecay: undefined,
      }));
    }
  }
  // with weight decay: each layer group split by the timm rule
  const split = optim.discriminativeLr(vit, [1e-3], { weightDecay: 0.05 });
  assert.deepEqual(
    split.map((g) => g.name),
    GROUP_NAMES.flatMap((n) => [`${n}:decay`, `${n}:no_decay`]),
  );
  const lrs = [1e-4, 1e-4, 1e-4, 1e-3];
  assertTable(assignment(vit, split), VIT_NAMES, (n) => {
    const decay = VIT_TIMM_DECAY.includes(n);
    return {
      group: `${GROUP_NAMES[vitGroupOf(n)]}:${decay ? 'decay' : 'no_decay'}`,
      lr: lrs[vitGroupOf(n)],
      weightDecay: decay ? 0.05 : 0,
    };
  });
});

test('discriminativeLr on a PeftModel: groups of the inner model, parameters matched by identity', () => {
  manualSeed(1);
  const model = getPeftModel(
    new models.BertForSequenceClassification(TINY_BERT_CONFIG),
    new LoraConfig({ taskType: 'SEQ_CLS', r: 4, loraAlpha: 8, targetModules: ['query', 'value'] }),
  );
  const groups = optim.discriminativeLr(model, [1e-3]);
  const lora = (i: number) =>
    ['query', 'value'].flatMap((m) =>
      ['A', 'B'].map((ab) => `base_model.model.bert.encoder.layer.${i}.attention.self.${m}.lora_${ab}.default.weight`),
    );
  assert.deepEqual(
    groups.map((g) => [g.name, g.lr, g.paramNames]),
    [
      ['encoder.layer.0', 1e-4, lora(0)],
      ['encoder.layer.1', 1e-4, lora(1)],
      [
        'head',
        1e-3,
        [
          'base_model.model.classifier.modules_to_save.default.weight',
          'base_model.model.classifier.modules_to_save.default.bias',
        ],
      ],
    ],
  );
  assert.equal(groups.frozen, model.namedParameters().length - 10);
  assert.ok(groups.frozenNames.includes('base_model.model.classifier.original_module.weight'));
  // layer-wise decay on the same model: lora in block i → i + 1, the classifier copy in the head
  const decayed = optim.layerwiseLrDecay(model, { lr: 1e-3, decay: 0.5, weightDecay: 0.01 });
  assert.deepEqual(
    decayed.map((g) => [g.name, g.lr, g.weightDecay, g.paramNames.length]),
    [
      ['layer_1_decay', 2.5e-4, 0.01, 4],
      ['layer_2_decay', 5e-4, 0.01, 4],
      ['layer_3_decay', 1e-3, 0.01, 1],
      ['layer_3_no_decay', 1e-3, 0, 1],
    ],
  );
  model.dispose();

  // prompt tuning: the virtual-token embeddings live outside the inner model and count as input side (group 0)
  const prompt = getPeftModel(
    new models.BertForSequenceClassification(TINY_BERT_CONFIG),
    new PromptTuningConfig({ taskType: 'SEQ_CLS', numVirtualTokens: 4 }),
  );
  const promptGroups = optim.discriminativeLr(prompt, { lo: 1e-4, hi: 1e-2 });
  assert.equal(promptGroups[0].name, 'embeddings');
  assert.deepEqual(promptGroups[0].paramNames, ['prompt_encoder.default.embedding.weight']);
  assert.equal(promptGroups[0].lr, 1e-4);
  assert.equal(promptGroups[promptGroups.length - 1].name, 'head');
  assert.equal(promptGroups[promptGroups.length - 1].lr, 1e-2);
  prompt.dispose();
});

// ---- layer-wise lr decay ---------------------------------------------------------------------------

test('layerwiseLrDecay on ViT: timm groups per (layer, decay / no_decay), lr · decay^(numLayers − 1 − id)', () => {
  const groups = optim.layerwiseLrDecay(vit, { lr: 1e-3, decay: 0.5, weightDecay: 0.05 });
  // numLayers = 2 blocks + 2 = 4: embeddings 0 (×0.125), block i → i + 1, head 3 (×1); groups in parameter order, as timm
  assert.deepEqual(
    groups.map((g) => [g.name, g.lr, g.weightDecay, g.lrScale, g.paramNames.length]),
    [
      ['layer_0_no_decay', 1.25e-4, 0, 0.125, 3], // cls_token, position_embeddings, projection.bias
      ['layer_0_decay', 1.25e-4, 0.05, 0.125, 1], // projection.weight
      ['layer_1_decay', 2.5e-4, 0.05, 0.25, 6],
      ['layer_1_no_decay', 2.5e-4, 0, 0.25, 10],
      ['layer_2_decay', 5e-4, 0.05, 0.5, 6],
      ['layer_2_no_decay', 5e-4, 0, 0.5, 10],
      ['layer_3_no_decay', 1e-3, 0, 1, 3], // vit.layernorm (weight, bias), classifier.bias
      ['layer_3_decay', 1e-3, 0.05, 1, 1], // classifier.weight
    ],
  );
  const lrs = [1.25e-4, 2.5e-4, 5e-4, 1e-3];
  assertTable(assignment(vit, groups), VIT_NAMES, (n) => {
    const id = vitGroupOf(n);
    const decay = VIT_TIMM_DECAY.includes(n);
    return { group: `layer_${id}_${decay ? 'decay' : 'no_decay'}`, lr: lrs[id], weightDecay: decay ? 0.05 : 0 };
  });
});

test('layerwiseLrDecay on BERT: embeddings 0, encoder.layer.i → i + 1, head last; HF rule on request', () => {
  const lrs = [2e-4 * 0.512, 2e-4 * 0.64, 2e-4 * 0.8, 2e-4]; // decay 0.8: 0.8³, 0.8², 0.8, 1
  for (const rule of ['timm', 'hf'] as const) {
    const groups = optim.layerwiseLrDecay(bert, { lr: 2e-4, decay: 0.8, weightDecay: 0.01, rule });
    const decaying = rule === 'timm' ? BERT_TIMM_DECAY : BERT_HF_DECAY;
    assertTable(assignment(bert, groups), BERT_NAMES, (n) => {
      const id = bertGroupOf(n);
      const decay = decaying.includes(n);
      return { group: `layer_${id}_${decay ? 'decay' : 'no_decay'}`, lr: lrs[id], weightDecay: decay ? 0.01 : 0 };
    });
  }
  assert.throws(() => optim.layerwiseLrDecay(bert, { lr: 1e-3, decay: 1.5 }), /decay must be in \(0, 1\]/);
});

test('ResNet and custom layer groups', () => {
  const resnet = new models.ResNet({ block: 'basic', layers: [1, 1, 1, 1], numClasses: 5 });
  const groups = optim.layerwiseLrDecay(resnet, { lr: 0.1, decay: 0.5, weightDecay: 1e-4 });
  const lrOf = new Map(groups.flatMap((g) => g.paramNames.map((n) => [n, g.lr] as const)));
  // stem, layer1–4, head: 6 layers, scales 0.5⁵ … 1
  assert.equal(lrOf.get('conv1.weight'), 0.1 * 0.03125);
  assert.equal(lrOf.get('bn1.bias'), 0.1 * 0.03125);
  assert.equal(lrOf.get('layer1.0.conv1.weight'), 0.1 * 0.0625);
  assert.equal(lrOf.get('layer4.0.bn2.weight'), 0.1 * 0.5);
  assert.equal(lrOf.get('fc.weight'), 0.1);
  const disc = optim.discriminativeLr(resnet, [0.01]);
  assert.deepEqual(
    disc.map((g) => [g.name, g.lr]),
    [
      ['stem', 0.001],
      ['layer1', 0.001],
      ['layer2', 0.001],
      ['layer3', 0.001],
      ['layer4', 0.001],
      ['head', 0.01],
    ],
  );
  resnet.dispose();

  const body = new nn.Linear(4, 8);
  const head = new nn.Linear(8, 2);
  const net = new nn.Sequential(body, new nn.ReLU(), head);
  const custom = optim.discriminativeLr(
    net,
    { lo: 1e-4, hi: 1e-2 },
    {
      layerGroups: [
        { name: 'body', modules: [body] },
        { name: 'head', modules: [head] },
      ],
    },
  );
  assert.deepEqual(
    custom.map((g) => [g.name, g.lr, g.paramNames]),
    [
      ['body', 1e-4, ['0.weight', '0.bias']],
      ['head', 1e-2, ['2.weight', '2.bias']],
    ],
  );
  assert.throws(() => optim.discriminativeLr(net, 1e-3), /declares no layer groups: give options.layerGroups/);
  assert.throws(
    () => optim.discriminativeLr(net, 1e-3, { layerGroups: [{ name: 'body', modules: [body] }] }),
    /in no layer group: 2.weight, 2.bias/,
  );
  net.dispose();
});

test('the groups go to an optimizer as they are', () => {
  const groups = optim.layerwiseLrDecay(vit, { lr: 1e-3, decay: 0.5, weightDecay: 0.05 });
  const opt = new optim.AdamW(groups, { lr: 1, weightDecay: 0.3 });
  assert.deepEqual(
    opt.paramGroups.map((g) => [g.name, g.lr, g.weightDecay, g.initialLr]),
    groups.map((g) => [g.name, g.lr, g.weightDecay, g.lr]),
  );
});

// ---- the default fine-tuning lr ------------------------------------------------------------------

test('defaultFineTuneLr: pretraining lr / 10 from config.json, else per-method defaults, with a printable reason', () => {
  const d = (options: optim.FineTuneLrOptions) => optim.defaultFineTuneLr(options);
  assert.deepEqual(d({ method: 'full', config: { model_type: 'bert' } }), {
    lr: 2e-5,
    reason: 'lr 2e-5: BERT full fine-tuning default (Devlin et al. 2019)',
    source: 'default',
  });
  assert.deepEqual(d({ method: 'full', config: { model_type: 'bert', learning_rate: 1e-4 } }), {
    lr: 1e-5,
    reason: 'lr 1e-5 = pretraining lr 1e-4 / 10 (config.json learning_rate)',
    source: 'config',
    configKey: 'learning_rate',
  });
  // key order: pretraining_learning_rate before learning_rate before lr; non-numbers ignored
  assert.equal(
    d({ method: 'top-k', config: { lr: 1, learning_rate: 3e-4, pretraining_learning_rate: 6e-4 } }).lr,
    6e-5,
  );
  assert.equal(d({ method: 'gradual', config: { lr: 5e-4, learning_rate: '1e-4' } }).configKey, 'lr');
  // methods that train new or few parameters keep their default and say why
  const lora = d({ method: 'lora', config: { model_type: 'bert', learning_rate: 1e-4 } });
  assert.equal(lora.lr, 2e-4);
  assert.match(lora.reason, /^lr 2e-4: LoRA default .*config.json learning_rate 1e-4 not used/);
  assert.equal(d({ method: 'lora', config: { learning_rate: 1e-4 }, usePretrainingLr: 'always' }).lr, 1e-5);
  assert.equal(d({ method: 'full', config: { learning_rate: 1e-4 }, usePretrainingLr: 'never' }).lr, 2e-5);
  const table: [string, number][] = [
    ['head', 1e-3],
    ['bitfit', 1e-3],
    ['ln', 1e-3],
    ['adapters', 1e-4],
    ['houlsby', 1e-4],
    ['pfeiffer', 1e-4],
    ['lora', 2e-4],
    ['dora', 2e-4],
    ['ia3', 3e-3],
    ['prompt-tuning', 3e-2],
  ];
  for (const [method, lr] of table) assert.equal(d({ method }).lr, lr, method);
  assert.equal(d({ method: 'ia3' }).reason, 'lr 3e-3: IA3 default (T-Few, Liu et al. 2022)');
  assert.equal(d({ method: 'prompt-tuning' }).reason, 'lr 3e-2: prompt tuning default (PEFT docs; Lester et al. 2021)');
  assert.equal(d({ method: 'full', modelType: 'resnet' }).lr, 1e-3);
  assert.match(d({ method: 'full', config: { model_type: 'vit' } }).reason, /^lr 2e-5: ViT full fine-tuning default/);
  assert.throws(() => d({ method: 'qlora' }), /unknown fine-tuning method 'qlora'/);
});

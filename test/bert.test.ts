// BERT against transformers 5.17: tiny random-weight checkpoints saved by save_pretrained and the
// logits, losses and gradients transformers computed for them (test/fixtures/bert, written by
// tools/gen_bert_fixtures.py), plus the bert-base parameter count, masks, token types, head
// replacement and config.json both ways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import {
  dispose,
  loadSafetensors,
  memory,
  models,
  noGrad,
  tensor,
  tidy,
  functional as F,
  type nn,
  type Tensor,
} from 'finetune';

type Module = nn.Module;

const {
  BertForMaskedLM,
  BertForSequenceClassification,
  BertModel,
  BertTiedDecoder,
  BERT_PRESETS,
  adaptBertStateDict,
  bertConfig,
  bertConfigFromHf,
  bertConfigToHf,
  findPreset,
  modelFamily,
} = models;

const FIXTURES = new URL('../../../test/fixtures/bert/', import.meta.url);
const TOLERANCE = 1e-4;

interface Flat {
  shape: number[];
  values: number[];
}
interface Reference {
  input_ids: number[][];
  attention_mask: number[][];
  token_type_ids: number[][];
  labels: number[] | number[][];
  logits: Flat;
  loss: number;
  grads: Record<string, Flat>;
  logits_default?: Flat;
  multi_label?: { labels: number[][]; loss: number };
}

function readJson<T>(name: string, file: string): T {
  return JSON.parse(readFileSync(new URL(`${name}/${file}`, FIXTURES), 'utf8')) as T;
}

/** Builds the model config.json names and loads model.safetensors into it, strictly. */
async function loadFixture<M extends Module>(
  name: 'seqcls' | 'mlm',
  build: (config: models.BertConfig) => M,
): Promise<M> {
  const model = build(bertConfigFromHf(readJson(name, 'config.json')));
  const { tensors } = await loadSafetensors(new URL(`${name}/model.safetensors`, FIXTURES).pathname);
  try {
    const result = model.loadStateDict(tensors);
    assert.deepEqual(result, { missingKeys: [], unexpectedKeys: [] });
  } finally {
    dispose(tensors);
  }
  return model.eval();
}

function inputs(ref: Reference) {
  return {
    inputIds: tensor(ref.input_ids, { dtype: 'int64' }),
    attentionMask: tensor(ref.attention_mask, { dtype: 'int64' }),
    tokenTypeIds: tensor(ref.token_type_ids, { dtype: 'int64' }),
  };
}

function maxAbsDiff(expected: Flat, actual: Tensor): number {
  assert.deepEqual(actual.shape, expected.shape);
  const values = actual.contiguous().data() as Float32Array;
  let max = 0;
  expected.values.forEach((v, i) => (max = Math.max(max, Math.abs(v - values[i]))));
  return max;
}

function parameterByName(model: Module, name: string): Tensor {
  const found = model.namedParameters().find(([key]) => key === name);
  assert.ok(found, `no parameter ${name}`);
  return found[1];
}

const results: Record<string, number> = {};

test('BertForSequenceClassification matches transformers: logits, loss and gradients', async () => {
  const before = memory().numTensors;
  const ref = readJson<Reference>('seqcls', 'reference.json');
  const model = await loadFixture('seqcls', (c) => new BertForSequenceClassification(c));
  assert.equal(model.config.numLabels, 3);
  assert.deepEqual(model.config.id2label, { 0: 'negative', 1: 'neutral', 2: 'positive' });
  tidy(() => {
    const { logits, loss } = model.forward({ ...inputs(ref), labels: tensor(ref.labels, { dtype: 'int64' }) });
    results.seqclsLogits = maxAbsDiff(ref.logits, logits);
    assert.ok(results.seqclsLogits < TOLERANCE, `logits differ by ${results.seqclsLogits}`);
    assert.ok(Math.abs(loss!.item() - ref.loss) < TOLERANCE, `loss ${loss!.item()} vs ${ref.loss}`);
    loss!.backward();
    for (const [name, expected] of Object.entries(ref.grads)) {
      const diff = maxAbsDiff(expected, parameterByName(model, name).grad!);
      results[`seqclsGrad ${name}`] = diff;
      assert.ok(diff < TOLERANCE, `grad of ${name} differs by ${diff}`);
    }
    // The padding row of the word embeddings gets no gradient (padding_idx)
    const padRow = parameterByName(model, 'bert.embeddings.word_embeddings.weight').grad!.select(0, 0);
    assert.equal(padRow.abs().max().item(), 0);

    // No attention mask, no token types: the buffered zeros and attend-everywhere
    const plain = noGrad(() => model.forward({ inputIds: tensor(ref.input_ids, { dtype: 'int64' }) }).logits);
    results.seqclsDefaultLogits = maxAbsDiff(ref.logits_default!, plain);
    assert.ok(results.seqclsDefaultLogits < TOLERANCE);

    // Multi-label (BCE with logits) once problemType says so, with float labels
    model.config.problemType = 'multi_label_classification';
    const multi = model.forward({ ...inputs(ref), labels: tensor(ref.multi_label!.labels) }).loss!;
    assert.ok(
      Math.abs(multi.item() - ref.multi_label!.loss) < TOLERANCE,
      `multi-label loss ${multi.item()} vs ${ref.multi_label!.loss}`,
    );
    // Inferred from float labels too (problemType null → multi-label when labels are not integers)
    model.config.problemType = null;
    const inferred = model.forward({ ...inputs(ref), labels: tensor(ref.multi_label!.labels) }).loss!;
    assert.ok(Math.abs(inferred.item() - ref.multi_label!.loss) < TOLERANCE);
  });
  model.zeroGrad();
  model.dispose();
  assert.equal(memory().numTensors, before);
});

test('BertForMaskedLM matches transformers, with the decoder tied to the word embeddings', async () => {
  const before = memory().numTensors;
  const ref = readJson<Reference>('mlm', 'reference.json');
  const model = await loadFixture('mlm', (c) => new BertForMaskedLM(c));
  // transformers' model.safetensors stores the tied decoder under neither of its names
  const keys = [...model.stateDict().keys()];
  assert.ok(!keys.some((k) => k.startsWith('cls.predictions.decoder')));
  assert.ok(keys.includes('cls.predictions.bias') && !keys.some((k) => k.startsWith('bert.pooler')));
  const decoder = model.cls.predictions.decoder;
  assert.ok(decoder instanceof BertTiedDecoder);
  assert.equal(decoder.weight, model.bert.embeddings.word_embeddings.weight);
  assert.equal(decoder.bias, model.cls.predictions.bias);
  assert.ok(tidy(() => model.cls.predictions.bias.abs().sum().item()) > 0, 'the head bias was loaded');
  tidy(() => {
    const { logits, loss } = model.forward({ ...inputs(ref), labels: tensor(ref.labels, { dtype: 'int64' }) });
    assert.deepEqual(logits.shape, [2, 8, 100]);
    results.mlmLogits = maxAbsDiff(ref.logits, logits);
    assert.ok(results.mlmLogits < TOLERANCE, `logits differ by ${results.mlmLogits}`);
    assert.ok(Math.abs(loss!.item() - ref.loss) < TOLERANCE, `loss ${loss!.item()} vs ${ref.loss}`);
    loss!.backward();
    // The word embedding gradient includes the tied decoder's contribution
    for (const [name, expected] of Object.entries(ref.grads)) {
      const diff = maxAbsDiff(expected, parameterByName(model, name).grad!);
      results[`mlmGrad ${name}`] = diff;
      assert.ok(diff < TOLERANCE, `grad of ${name} differs by ${diff}`);
    }
  });
  // Tied parameters count once (transformers' num_parameters() gives the same)
  assert.equal(new Set(model.parameters()).size, model.parameters().length);
  assert.equal(model.numParameters(), 22660);
  model.zeroGrad();
  model.dispose();
  assert.equal(memory().numTensors, before);
});

test('the tie survives dtype conversion', () => {
  const before = memory().numTensors;
  const model = new BertForMaskedLM({ ...BERT_PRESETS['bert-tiny'], vocabSize: 50, maxPositionEmbeddings: 16 });
  model.to('float64');
  const decoder = model.cls.predictions.decoder as InstanceType<typeof BertTiedDecoder>;
  assert.equal(decoder.weight, model.bert.embeddings.word_embeddings.weight);
  assert.equal(decoder.weight.dtype, 'float64');
  tidy(() => {
    const { logits } = model.eval().forward({ inputIds: tensor([[1, 2, 3]], { dtype: 'int64' }) });
    assert.equal(logits.dtype, 'float64');
  });
  model.dispose();
  assert.equal(memory().numTensors, before);
});

test('bert-base-uncased with 2 labels has 109,483,778 parameters; bert-tiny and bert-mini their published sizes', () => {
  const before = memory().numTensors;
  const base = new BertForSequenceClassification({ ...BERT_PRESETS['bert-base-uncased'], numLabels: 2 });
  assert.equal(base.numParameters(), 109_483_778);
  base.dispose();
  const tiny = new BertModel(BERT_PRESETS['bert-tiny']);
  assert.equal(tiny.numParameters(), 4_385_920);
  tiny.dispose();
  const mini = new BertModel(BERT_PRESETS['bert-mini']);
  assert.equal(mini.numParameters(), 11_170_560);
  mini.dispose();
  assert.equal(memory().numTensors, before);
});

test('initialisation follows transformers: N(0, 0.02) weights, zero biases and padding row, LayerNorm 1/0', () => {
  const before = memory().numTensors;
  const model = new BertForMaskedLM(BERT_PRESETS['bert-tiny']);
  tidy(() => {
    const word = model.bert.embeddings.word_embeddings.weight;
    assert.ok(Math.abs(word.std().item() - 0.02) < 0.001, `word embedding std ${word.std().item()}`);
    assert.equal(word.select(0, 0).abs().max().item(), 0, 'padding row');
    const query = model.bert.encoder.layer.at(0).attention.self.query;
    assert.ok(Math.abs(query.weight.std().item() - 0.02) < 0.002);
    assert.equal(query.bias!.abs().max().item(), 0);
    const norm = model.bert.encoder.layer.at(1).output.LayerNorm;
    assert.equal(norm.weight!.eq(1).all().item(), true);
    assert.equal(norm.bias!.abs().max().item(), 0);
    assert.equal(model.cls.predictions.bias.abs().max().item(), 0);
    assert.deepEqual(model.bert.embeddings.position_ids.shape, [1, 512]);
    assert.equal(model.bert.embeddings.position_ids.select(1, 511).item(), 511);
  });
  model.dispose();
  assert.equal(memory().numTensors, before);
});

test('the attention mask hides padding; token types change the output', async () => {
  const before = memory().numTensors;
  const ref = readJson<Reference>('seqcls', 'reference.json');
  const model = await loadFixture('seqcls', (c) => new BertForSequenceClassification(c));
  tidy(() =>
    noGrad(() => {
      const { inputIds, attentionMask, tokenTypeIds } = inputs(ref);
      // Sequence 2 has 5 real tokens and 3 padding positions
      const padded = model.forward({ inputIds, attentionMask, tokenTypeIds }).logits.select(0, 1);
      const unpadded = model
        .forward({
          inputIds: inputIds.slice(0, 1, 2).slice(1, 0, 5),
          tokenTypeIds: tokenTypeIds.slice(0, 1, 2).slice(1, 0, 5),
        })
        .logits.select(0, 0);
      assert.ok(padded.sub(unpadded).abs().max().item() < 1e-5, 'padding with mask = no padding');
      const unmasked = model.forward({ inputIds, tokenTypeIds }).logits.select(0, 1);
      assert.ok(unmasked.sub(unpadded).abs().max().item() > 1e-4, 'without the mask, padding changes the result');
      // A boolean mask works the same as an integer one
      const boolMask = model
        .forward({ inputIds, attentionMask: attentionMask.bool(), tokenTypeIds })
        .logits.select(0, 1);
      assert.ok(boolMask.sub(padded).abs().max().item() < 1e-6);
      // Token types: all zeros (the default) differs from the fixture's segments
      const segments = model.forward({ inputIds, attentionMask, tokenTypeIds }).logits;
      const zerosTypes = model.forward({ inputIds, attentionMask }).logits;
      assert.ok(segments.sub(zerosTypes).abs().max().item() > 1e-4);
      // The BertModel outputs: hidden states and pooled [CLS]
      const out = model.bert.forward({ inputIds, attentionMask, tokenTypeIds });
      assert.deepEqual(out.lastHiddenState.shape, [2, 8, 32]);
      assert.deepEqual(out.pooledOutput!.shape, [2, 32]);
      assert.throws(
        () => model.forward({ inputIds: tensor([Array(33).fill(1)], { dtype: 'int64' }) }),
        /exceeds maxPositionEmbeddings \(32\)/,
      );
    }),
  );
  model.dispose();
  assert.equal(memory().numTensors, before);
});

test('attention masks as transformers takes them: [B, T], [B, T, T], boolean or additive [B, 1|H, T, T]; wrong shapes are named', async () => {
  const before = memory().numTensors;
  const ref = readJson<Reference>('seqcls', 'reference.json');
  const model = await loadFixture('seqcls', (c) => new BertForSequenceClassification(c));
  tidy(() =>
    noGrad(() => {
      const { inputIds, attentionMask, tokenTypeIds } = inputs(ref);
      const [batch, length] = inputIds.shape;
      const hidden = (mask: Tensor | undefined) =>
        model.bert.forward({ inputIds, attentionMask: mask, tokenTypeIds }).lastHiddenState;
      const padded = hidden(attentionMask);
      // The padding mask as query × key, and as a ready 4-d boolean or additive mask: the same outputs
      const keyMask = attentionMask.unsqueeze(1).expand([batch, length, length]);
      assert.ok(hidden(keyMask).sub(padded).abs().max().item() < 1e-6, '3-d');
      assert.ok(hidden(keyMask.unsqueeze(1).bool()).sub(padded).abs().max().item() < 1e-6, '4-d boolean');
      const additive = keyMask.unsqueeze(1).eq(0).float().mul(-1e9);
      assert.ok(hidden(additive).sub(padded).abs().max().item() < 1e-5, '4-d additive');
      assert.ok(
        hidden(additive.double()).sub(padded).abs().max().item() < 1e-5,
        "4-d additive in float64: cast to the model's dtype",
      );
      // A causal 3-d mask: position 0 sees only itself, so changing the last token leaves it unchanged, not the others
      const lowerTriangle = Array.from({ length }, (_, i) => Array.from({ length }, (_, j) => (j <= i ? 1 : 0)));
      const causal = tensor([lowerTriangle, lowerTriangle], { dtype: 'int64' });
      const changed = inputIds.clone();
      changed
        .select(0, 0)
        .select(0, length - 1)
        .fill_(7);
      const a = model.bert.forward({ inputIds, attentionMask: causal, tokenTypeIds }).lastHiddenState;
      const b = model.bert.forward({ inputIds: changed, attentionMask: causal, tokenTypeIds }).lastHiddenState;
      assert.ok(
        a.select(0, 0).select(0, 0).sub(b.select(0, 0).select(0, 0)).abs().max().item() < 1e-6,
        'causal: the first token does not see the last',
      );
      assert.ok(
        a
          .select(0, 0)
          .select(0, length - 1)
          .sub(b.select(0, 0).select(0, length - 1))
          .abs()
          .max()
          .item() > 1e-4,
      );
      assert.throws(
        () => hidden(attentionMask.slice(1, 0, length - 1)),
        /attentionMask must be \[batch, length\] for 2 sequences of 8 tokens, got shape \[2,7\]/,
      );
      assert.throws(() => hidden(keyMask.slice(2, 0, 3)), /must be \[batch, length, length\] .* got shape \[2,8,3\]/);
      assert.throws(
        () => hidden(attentionMask.reshape([1, 1, 1, batch, length])),
        /must be \[batch, length\], \[batch, length, length\] or \[batch, 1 or heads, length, length\]/,
      );
    }),
  );
  model.dispose();
  assert.equal(memory().numTensors, before);
});

test('dropout is active in train mode only', () => {
  const before = memory().numTensors;
  const model = new BertForSequenceClassification({
    ...BERT_PRESETS['bert-tiny'],
    vocabSize: 64,
    maxPositionEmbeddings: 16,
  });
  tidy(() =>
    noGrad(() => {
      const inputIds = tensor([[2, 5, 9, 3]], { dtype: 'int64' });
      const a = model.train().forward({ inputIds }).logits;
      const b = model.forward({ inputIds }).logits;
      assert.ok(a.sub(b).abs().max().item() > 0);
      const c = model.eval().forward({ inputIds }).logits;
      const d = model.forward({ inputIds }).logits;
      assert.equal(c.equal(d), true);
    }),
  );
  model.dispose();
  assert.equal(memory().numTensors, before);
});

test('resetClassifier replaces the head for a new label set and keeps the backbone', async () => {
  const before = memory().numTensors;
  const ref = readJson<Reference>('seqcls', 'reference.json');
  const model = await loadFixture('seqcls', (c) => new BertForSequenceClassification(c));
  const snapshot = tidy(() => [...model.bert.stateDict()].map(([key, t]) => [key, t.clone()] as const));
  const old = model.classifier;
  const head = model.resetClassifier(5, { id2label: { 0: 'a', 1: 'b', 2: 'c', 3: 'd', 4: 'e' } });
  assert.equal(model.classifier, head);
  assert.equal(old.weight.isDisposed, true);
  assert.deepEqual(head.weight.shape, [5, 32]);
  assert.equal(
    tidy(() => head.bias!.abs().max().item()),
    0,
  );
  assert.equal(model.config.numLabels, 5);
  assert.deepEqual(model.config.label2id, { a: 0, b: 1, c: 2, d: 3, e: 4 });
  for (const [key, t] of snapshot) assert.equal(model.bert.stateDict().get(key)!.equal(t), true, `${key} unchanged`);
  dispose(snapshot.map(([, t]) => t));
  tidy(() => {
    const { logits, loss } = model.forward({ ...inputs(ref), labels: tensor([4, 1], { dtype: 'int64' }) });
    assert.deepEqual(logits.shape, [2, 5]);
    assert.ok(Math.abs(loss!.item() - F.crossEntropy(logits, tensor([4, 1], { dtype: 'int64' })).item()) < 1e-6);
  });
  // One output: regression with MSE, as transformers does for num_labels 1
  model.resetClassifier(1);
  assert.deepEqual(model.config.id2label, { 0: 'LABEL_0' });
  tidy(() => {
    const labels = tensor([0.5, -1.25]);
    const { logits, loss } = model.forward({ ...inputs(ref), labels });
    assert.deepEqual(logits.shape, [2, 1]);
    assert.ok(Math.abs(loss!.item() - logits.squeeze().sub(labels).square().mean().item()) < 1e-6);
  });
  model.dispose();
  assert.equal(memory().numTensors, before);
});

test('bertConfigToHf writes the config.json transformers wrote; bertConfigFromHf reads it', () => {
  for (const name of ['seqcls', 'mlm']) {
    const json = readJson<Record<string, unknown>>(name, 'config.json');
    const { transformers_version: _version, ...expected } = json;
    const architecture = (json.architectures as string[])[0];
    const written = bertConfigToHf(bertConfigFromHf(json), architecture);
    assert.deepEqual(written, expected, name);
    assert.deepEqual(Object.keys(written), Object.keys(expected), 'same key order (sorted, as transformers writes)');
  }
  const seq = bertConfigFromHf(readJson('seqcls', 'config.json'));
  assert.equal(seq.hiddenSize, 32);
  assert.equal(seq.layerNormEps, 1e-12);
  assert.equal(seq.padTokenId, 0);
  assert.equal(seq.numLabels, 3);
  // Defaults: bert-base-uncased, two labels
  assert.deepEqual(bertConfigFromHf({ model_type: 'bert' }), BERT_PRESETS['bert-base-uncased']);
  assert.equal(bertConfigFromHf({ num_labels: 4 }).numLabels, 4);
  // A preset's generated labels give way to numLabels; named labels that disagree throw
  assert.deepEqual(bertConfig({ ...BERT_PRESETS['bert-tiny'], numLabels: 3 }).label2id, {
    LABEL_0: 0,
    LABEL_1: 1,
    LABEL_2: 2,
  });
  assert.throws(() => bertConfig({ numLabels: 3, id2label: { 0: 'no', 1: 'yes' } }), /numLabels \(3\) does not match/);
  const regression = bertConfigToHf(
    bertConfig({ numLabels: 1, problemType: 'regression' }),
    'BertForSequenceClassification',
  );
  assert.equal(regression.problem_type, 'regression');
  assert.deepEqual(regression.id2label, { 0: 'LABEL_0' });
  // The old bert-base-uncased config.json (transformers 4.6) reads
  const legacy = bertConfigFromHf({
    architectures: ['BertForMaskedLM'],
    attention_probs_dropout_prob: 0.1,
    gradient_checkpointing: false,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0.1,
    hidden_size: 768,
    initializer_range: 0.02,
    intermediate_size: 3072,
    layer_norm_eps: 1e-12,
    max_position_embeddings: 512,
    model_type: 'bert',
    num_attention_heads: 12,
    num_hidden_layers: 12,
    pad_token_id: 0,
    position_embedding_type: 'absolute',
    transformers_version: '4.6.0.dev0',
    type_vocab_size: 2,
    use_cache: true,
    vocab_size: 30522,
  });
  assert.deepEqual(legacy, BERT_PRESETS['bert-base-uncased']);
});

test('bad config.json values throw naming the key', () => {
  assert.throws(() => bertConfigFromHf({ hidden_size: '768' }), /'hidden_size' must be a number/);
  assert.throws(() => bertConfigFromHf({ hidden_act: 'swiglu' }), /'hidden_act' is not supported/);
  assert.throws(() => bertConfigFromHf({ is_decoder: true }), /'is_decoder'/);
  assert.throws(() => bertConfigFromHf({ position_embedding_type: 'relative_key' }), /'position_embedding_type'/);
  assert.throws(() => bertConfigFromHf({ model_type: 'roberta' }), /'model_type'/);
  assert.throws(
    () => bertConfigFromHf({ hidden_size: 100, num_attention_heads: 12 }),
    /'hidden_size' \(100\) must be a multiple of numAttentionHeads/,
  );
  assert.throws(() => bertConfigFromHf({ problem_type: 'ranking' }), /'problem_type' must be null or one of/);
  assert.throws(() => bertConfigFromHf({ pad_token_id: 40000 }), /'pad_token_id'/);
  assert.throws(() => bertConfigToHf(bertConfig(), 'BertForPreTraining'), /unknown architecture/);
});

test('the bert family is registered: architectures, presets, config both ways', () => {
  const family = modelFamily('bert');
  assert.deepEqual(Object.keys(family.architectures), [
    'BertModel',
    'BertForSequenceClassification',
    'BertForMaskedLM',
  ]);
  assert.equal(findPreset('bert-tiny')?.family, family);
  assert.equal(findPreset('bert-mini')?.family, family);
  const config = family.configFromHf({
    hidden_size: 64,
    num_attention_heads: 4,
    num_hidden_layers: 1,
    intermediate_size: 128,
    vocab_size: 40,
  });
  const model = family.architectures.BertForSequenceClassification(config);
  assert.ok(model instanceof BertForSequenceClassification);
  assert.equal(family.configToHf(config, 'BertForMaskedLM').hidden_size, 64);
  model.dispose();
  assert.throws(
    () => {
      (BERT_PRESETS['bert-tiny'] as { hiddenSize: number }).hiddenSize = 1;
    },
    TypeError,
    'presets are frozen',
  );
});

test('adaptBertStateDict maps legacy names, prefixes and tied keys onto the model', async () => {
  const before = memory().numTensors;
  const { tensors } = await loadSafetensors(new URL('mlm/model.safetensors', FIXTURES).pathname);
  // As an old checkpoint: LayerNorm.gamma/beta, persisted position_ids, the decoder saved twice
  const legacy = new Map<string, Tensor>();
  for (const [key, t] of tensors)
    legacy.set(key.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta'), t);
  const extra = tidy(() => ({
    positions: tensor([[0, 1, 2, 3]], { dtype: 'int64' }),
    decoder: tensors.get('bert.embeddings.word_embeddings.weight')!.clone(),
  }));
  legacy.set('bert.embeddings.position_ids', extra.positions);
  legacy.set('cls.predictions.decoder.weight', extra.decoder);
  const mlm = new BertForMaskedLM(bertConfigFromHf(readJson('mlm', 'config.json')));
  assert.deepEqual(mlm.loadStateDict(adaptBertStateDict(legacy, mlm)), { missingKeys: [], unexpectedKeys: [] });
  // The MLM checkpoint's backbone into a bare BertModel (prefix stripped; the pooler stays missing, the head unexpected)
  const bare = new BertModel(bertConfigFromHf(readJson('mlm', 'config.json')));
  const result = bare.loadStateDict(adaptBertStateDict(tensors, bare), { strict: false });
  assert.deepEqual(result.missingKeys, ['pooler.dense.weight', 'pooler.dense.bias']);
  assert.ok(result.unexpectedKeys.every((k) => k.startsWith('cls.predictions.')));
  assert.equal(bare.embeddings.word_embeddings.weight.equal(mlm.bert.embeddings.word_embeddings.weight), true);
  // And a bare checkpoint into a head model (prefix added)
  const head = new BertForSequenceClassification(bertConfigFromHf(readJson('mlm', 'config.json')));
  const headResult = head.loadStateDict(adaptBertStateDict(bare.stateDict(), head), { strict: false });
  assert.deepEqual(headResult, { missingKeys: ['classifier.weight', 'classifier.bias'], unexpectedKeys: [] });
  dispose([tensors, extra]);
  for (const m of [mlm, bare, head]) m.dispose();
  assert.equal(memory().numTensors, before);
});

test('report', () => {
  console.log('max abs diff vs transformers:', JSON.stringify(results));
});

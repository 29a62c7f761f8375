// GPT-2 against transformers 5.17 and PEFT 0.21: tiny random-weight checkpoints saved by save_pretrained and
// the logits, losses and generations transformers computed for them (test/fixtures/gpt2, written by
// tools/gen_gpt2_fixtures.py), PEFT LoRA adapters on Conv1D (fan_in_fan_out), plus config.json both ways,
// presets, tied weights, layer groups and gradient checkpointing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  fromPretrained,
  peft,
  loadSafetensors,
  models,
  nn,
  noGrad,
  LoraConfig,
  PeftModel,
  getPeftModel,
  tensor,
  tidy,
  type Tensor,
} from 'finetune';

const {
  GPT2ForSequenceClassification,
  GPT2LMHeadModel,
  GPT2Model,
  GPT2_PRESETS,
  KeyValueCache,
  adaptGPT2StateDict,
  gpt2Config,
  gpt2ConfigFromHf,
  gpt2ConfigToHf,
  layerGroupsOf,
  modelFamily,
} = models;

const FIXTURES = new URL('../../../test/fixtures/gpt2/', import.meta.url);
const path = (name: string) => new URL(name, FIXTURES).pathname;
const readJson = <T>(name: string): T => JSON.parse(readFileSync(path(name), 'utf8')) as T;
const TOLERANCE = 1e-4;

interface Flat {
  shape: number[];
  values: number[];
}
interface LmReference {
  input_ids: number[][];
  labels: number[][];
  padded_ids: number[][];
  padded_mask: number[][];
  logits: Flat;
  loss: number;
  padded_logits: Flat;
  greedy: number[][];
  greedy_padded: number[][];
  eos: number;
  greedy_eos: number[][];
  sampled: {
    seed: number;
    temperature: number;
    top_k: number;
    top_p: number;
    repetition_penalty: number;
    sequences: number[][];
  };
}

const ids = (rows: number[][]) => tensor(rows, { dtype: 'int64' });

function maxAbsDiff(expected: Flat, actual: Tensor): number {
  assert.deepEqual(actual.shape, expected.shape);
  const values = actual.contiguous().data() as Float32Array;
  return expected.values.reduce((max, v, i) => Math.max(max, Math.abs(v - values[i])), 0);
}

async function tinyLm(): Promise<models.GPT2LMHeadModel> {
  const model = await fromPretrained(path('lm'), { warn: (message) => assert.fail(message) });
  assert.ok(model instanceof GPT2LMHeadModel);
  return model.eval();
}

test('GPT2LMHeadModel matches transformers: logits with and without left padding, the loss with -100 labels', async () => {
  const ref = readJson<LmReference>('lm/reference.json');
  const model = await tinyLm();
  noGrad(() =>
    tidy(() => {
      const { logits, loss } = model.forward({ inputIds: ids(ref.input_ids), labels: ids(ref.labels) });
      const diff = maxAbsDiff(ref.logits, logits);
      assert.ok(diff < TOLERANCE, `logits differ by ${diff}`);
      assert.ok(Math.abs(loss!.item() - ref.loss) < TOLERANCE, `loss ${loss!.item()} vs ${ref.loss}`);
      const padded = model.forward({ inputIds: ids(ref.padded_ids), attentionMask: ids(ref.padded_mask) }).logits;
      const paddedDiff = maxAbsDiff(ref.padded_logits, padded);
      assert.ok(paddedDiff < TOLERANCE, `left-padded logits differ by ${paddedDiff}`);
    }),
  );
  model.dispose();
});

test("GPT-2 greedy generation of 20 tokens is transformers' token for token, with and without the KV cache", async () => {
  const ref = readJson<LmReference>('lm/reference.json');
  const model = await tinyLm();
  const run = (rows: number[][], options: models.GenerateOptions) =>
    tidy(() => model.generate(ids(rows), { maxNewTokens: 20, padTokenId: 0, ...options }).toArray());
  const ones = tensor(
    ref.input_ids.map((row) => row.map(() => 1)),
    { dtype: 'int64' },
  );
  assert.deepEqual(run(ref.input_ids, {}), ref.greedy);
  assert.deepEqual(run(ref.input_ids, { useCache: false }), ref.greedy);
  const mask = ids(ref.padded_mask);
  assert.deepEqual(run(ref.padded_ids, { attentionMask: mask }), ref.greedy_padded);
  assert.deepEqual(run(ref.padded_ids, { attentionMask: mask, useCache: false }), ref.greedy_padded);
  // Both rows reach the end token: the first pads after it, and generation stops when the last one does.
  assert.deepEqual(run(ref.input_ids, { attentionMask: ones, eosTokenId: ref.eos }), ref.greedy_eos);
  // Streaming: one callback per step with each row's new token.
  const streamed: number[][] = [];
  tidy(() => model.generate(ids(ref.input_ids), { maxNewTokens: 5, onToken: (tokens) => streamed.push(tokens) }));
  assert.deepEqual(
    streamed,
    [0, 1, 2, 3, 4].map((step) => ref.greedy.map((row) => row[8 + step])),
  );
  model.dispose();
});

test("GPT-2 sampling: top-k 1 is greedy, a seeded run repeats, and it draws transformers' tokens", async () => {
  const ref = readJson<LmReference>('lm/reference.json');
  const model = await tinyLm();
  const mask = ids(ref.padded_mask);
  const topK1 = tidy(() =>
    model
      .generate(ids(ref.padded_ids), { attentionMask: mask, maxNewTokens: 20, doSample: true, topK: 1, padTokenId: 0 })
      .toArray(),
  );
  assert.deepEqual(topK1, ref.greedy_padded);
  const s = ref.sampled;
  const sample = () =>
    tidy(() =>
      model
        .generate(ids(ref.padded_ids), {
          attentionMask: mask,
          maxNewTokens: 20,
          doSample: true,
          temperature: s.temperature,
          topK: s.top_k,
          topP: s.top_p,
          repetitionPenalty: s.repetition_penalty,
          padTokenId: 0,
          seed: s.seed,
        })
        .toArray(),
    );
  const first = sample();
  assert.deepEqual(sample(), first);
  // The same libtorch generator, seeded the same, drawing with torch.multinomial from the same probabilities.
  assert.deepEqual(first, s.sequences);
  model.dispose();
});

test("the logits processors match transformers' on fixed scores", () => {
  const fixture = readJson<{
    scores: number[][];
    input_ids: number[][];
    cases: Record<string, (number | null)[][]>;
  }>('processors.json');
  const settings: Record<string, models.LogitsProcessing> = {
    repetition_penalty: { repetitionPenalty: 1.5 },
    temperature: { doSample: true, temperature: 0.7, topK: 0 },
    top_k: { doSample: true, topK: 5 },
    top_p: { doSample: true, topP: 0.8, topK: 0 },
    top_p_tiny: { doSample: true, topP: 0.01, topK: 0 },
    all: { doSample: true, repetitionPenalty: 1.3, temperature: 0.7, topK: 20, topP: 0.9 },
  };
  for (const [name, expected] of Object.entries(fixture.cases)) {
    const actual = tidy(
      () =>
        models.processLogits(tensor(fixture.scores), ids(fixture.input_ids), settings[name]).toArray() as number[][],
    );
    actual.forEach((row, r) =>
      row.forEach((value, i) => {
        const want = expected[r][i];
        if (want === null) assert.equal(value, -Infinity, `${name}[${r}][${i}] should be removed`);
        else assert.ok(Math.abs(value - want) < 1e-5, `${name}[${r}][${i}]: ${value} vs ${want}`);
      }),
    );
  }
  assert.throws(
    () => models.processLogits(tensor(fixture.scores), ids(fixture.input_ids), { topP: 0 }),
    /topP must be in \(0, 1\]/,
  );
});

test('GPT-2 options match transformers: unscaled scores divided by layer + 1, n_inner, relu, an untied lm_head', async () => {
  const ref = readJson<{ input_ids: number[][]; logits: Flat }>('options/reference.json');
  const model = await fromPretrained(path('options'), { warn: (message) => assert.fail(message) });
  assert.ok(model instanceof GPT2LMHeadModel);
  assert.deepEqual(model.config.eosTokenId, [7, 9]);
  assert.ok(model.lm_head instanceof nn.Linear);
  model.eval();
  const logits = noGrad(() => tidy(() => model.forward({ inputIds: ids(ref.input_ids) }).logits));
  const diff = maxAbsDiff(ref.logits, logits);
  assert.ok(diff < TOLERANCE, `logits differ by ${diff}`);
  const { transformers_version: _version, ...written } = readJson<Record<string, unknown>>('options/config.json');
  assert.deepEqual(model.toConfigJson(), written);
  model.dispose();
});

test('GPT2ForSequenceClassification reads the score at the last non-pad token, as transformers', async () => {
  const ref = readJson<{ input_ids: number[][]; labels: number[]; logits: Flat; loss: number }>(
    'seqcls/reference.json',
  );
  const model = await fromPretrained(path('seqcls'), { warn: (message) => assert.fail(message) });
  assert.ok(model instanceof GPT2ForSequenceClassification);
  model.eval();
  noGrad(() =>
    tidy(() => {
      const inputIds = ids(ref.input_ids);
      const { logits, loss } = model.forward({
        inputIds,
        attentionMask: inputIds.ne(0).to('int64'),
        labels: tensor(ref.labels, { dtype: 'int64' }),
      });
      assert.ok(maxAbsDiff(ref.logits, logits) < TOLERANCE);
      assert.ok(Math.abs(loss!.item() - ref.loss) < TOLERANCE);
    }),
  );
  const unpadded = new GPT2ForSequenceClassification({ ...GPT2_PRESETS['gpt2-tiny'], numLabels: 2 });
  assert.throws(
    () =>
      unpadded.forward({
        inputIds: ids([
          [1, 2],
          [3, 4],
        ]),
      }),
    /need a padTokenId/,
  );
  model.dispose();
  unpadded.dispose();
});

test('the KV cache gives the logits of the whole sequence, token by token', async () => {
  const ref = readJson<LmReference>('lm/reference.json');
  const model = await tinyLm();
  noGrad(() =>
    tidy(() => {
      const inputIds = ids(ref.input_ids);
      const whole = model.forward({ inputIds }).logits;
      const cache = new KeyValueCache();
      const first = model.forward({ inputIds: inputIds.narrow(1, 0, 5), pastKeyValues: cache, useCache: true });
      assert.equal(first.pastKeyValues, cache);
      assert.equal(cache.length, 5);
      const rest = model.forward({ inputIds: inputIds.narrow(1, 5, 3), pastKeyValues: cache }).logits;
      assert.equal(cache.length, 8);
      assert.ok(
        rest
          .sub(whole.narrow(1, 5, 3))
          .abs()
          .max()
          .item() < 1e-5,
      );
      cache.dispose();
      assert.throws(
        () => model.forward({ inputIds: ids([[1, 2]]), attentionMask: ids([[1, 1, 1]]) }),
        /attentionMask must be \[batch, past \+ new tokens\] = \[1, 2\]/,
      );
    }),
  );
  model.dispose();
});

test('GPT-2 config.json both ways, presets, tied lm_head, checkpoint keys', async () => {
  const json = readJson<Record<string, unknown>>('lm/config.json');
  const config = gpt2ConfigFromHf(json);
  const { transformers_version: _version, ...written } = json;
  assert.deepEqual(gpt2ConfigToHf(config, 'GPT2LMHeadModel'), written);
  assert.throws(
    () => gpt2ConfigFromHf({ ...json, add_cross_attention: true }),
    /'add_cross_attention' is not supported/,
  );
  assert.throws(
    () => gpt2ConfigFromHf({ ...json, n_embd: 30 }),
    /GPT-2 config.json: 'n_embd' \(30\) must be a multiple of nHead/,
  );
  assert.throws(
    () => gpt2ConfigFromHf({ ...json, activation_function: 'swiglu' }),
    /'activation_function' is not supported/,
  );
  assert.throws(() => gpt2ConfigFromHf({ ...json, eos_token_id: 'x' }), /'eos_token_id' must be a token id/);
  assert.equal(modelFamily('gpt2').baseModelPrefix, 'transformer');

  // gpt2 has 124,439,808 parameters (transformers' num_parameters()); the tied lm_head is counted once.
  const parts = modelFamily('gpt2').sizeParts!(GPT2_PRESETS.gpt2);
  const body = parts.filter((p) => p.part !== 'final LayerNorm and heads').reduce((n, p) => n + p.parameters, 0);
  assert.equal(body + 2 * 768, 124_439_808);

  const model = new GPT2LMHeadModel(GPT2_PRESETS['gpt2-tiny']);
  const keys = [...model.stateDict().keys()];
  assert.ok(!keys.includes('lm_head.weight'), 'the tied lm_head is saved as transformer.wte.weight only');
  assert.equal(model.lm_head.weight, model.transformer.wte.weight);
  assert.equal(model.parameters().length, new Set(model.parameters()).size);
  // A checkpoint with the tied copy, no prefix and the old mask buffers (openai-community/gpt2's file) loads.
  const state = new Map(model.stateDict());
  const legacy = new Map([...state].map(([k, t]) => [k.replace(/^transformer\./, ''), t]));
  legacy.set('lm_head.weight', model.transformer.wte.weight);
  legacy.set('h.0.attn.bias', tensor([1]));
  assert.deepEqual(model.loadStateDict(adaptGPT2StateDict(legacy, model)), { missingKeys: [], unexpectedKeys: [] });
  const untied = new GPT2LMHeadModel({ ...GPT2_PRESETS['gpt2-tiny'], tieWordEmbeddings: false });
  assert.ok([...untied.stateDict().keys()].includes('lm_head.weight'));
  assert.deepEqual(
    layerGroupsOf(model).map((g) => g.name),
    ['embeddings', 'h.0', 'h.1', 'head'],
  );
  assert.deepEqual(
    layerGroupsOf(new GPT2Model(GPT2_PRESETS['gpt2-tiny'])).map((g) => g.name),
    ['embeddings', 'h.0', 'h.1', 'ln_f'],
  );
  assert.throws(() => gpt2Config({ nEmbd: 30, nHead: 4 }), /nEmbd \(30\) must be a multiple of nHead \(4\)/);
  model.dispose();
  untied.dispose();
});

test('GPT-2 gradient checkpointing gives the same loss and gradients', () => {
  const model = new GPT2LMHeadModel({ ...GPT2_PRESETS['gpt2-tiny'], residPdrop: 0, embdPdrop: 0, attnPdrop: 0 });
  const inputIds = ids([[1, 5, 9, 13, 2, 7]]);
  const gradients = () =>
    tidy(() => {
      model.zeroGrad();
      model.forward({ inputIds, labels: inputIds }).loss!.backward();
      return model.transformer.h.at(0).attn.c_attn.weight.grad!.clone();
    });
  const plain = gradients();
  model.gradientCheckpointingEnable();
  assert.ok(model.isGradientCheckpointing);
  const checkpointed = gradients();
  assert.ok(plain.sub(checkpointed).abs().max().item() < 1e-6);
  model.dispose();
});

test("LoRA and IA3 on GPT-2: Python PEFT's adapters load and give PEFT's logits, active, merged and unmerged", async () => {
  for (const name of ['lora', 'lora_mlp', 'ia3']) {
    const ref = readJson<{ logits: Flat; merged_logits: Flat }>(`${name}/reference.json`);
    const lm = readJson<LmReference>('lm/reference.json');
    // Each adapter's base is transformers' GPT2LMHeadModel(config) after manual_seed(0): lm/'s weights.
    const base = await tinyLm();
    const model = await PeftModel.fromPretrained(base, path(name), { warn: (m) => assert.fail(m) });
    model.eval();
    const inputs = { inputIds: ids(lm.padded_ids), attentionMask: ids(lm.padded_mask) };
    const logits = noGrad(() => tidy(() => (model.forward(inputs) as { logits: Tensor }).logits));
    const diff = maxAbsDiff(ref.logits, logits);
    assert.ok(diff < TOLERANCE, `${name}: adapter logits differ by ${diff}`);
    model.mergeAdapter();
    const merged = noGrad(() => tidy(() => (model.forward(inputs) as { logits: Tensor }).logits));
    assert.ok(maxAbsDiff(ref.merged_logits, merged) < TOLERANCE, `${name}: merged logits differ`);
    model.unmergeAdapter();
    const unmerged = noGrad(() => tidy(() => (model.forward(inputs) as { logits: Tensor }).logits));
    assert.ok(maxAbsDiff(ref.logits, unmerged) < TOLERANCE, `${name}: unmerged logits differ`);
    model.dispose();
  }
});

test('LoRA on GPT-2 defaults to c_attn with fan_in_fan_out and saves the keys and config PEFT writes', async () => {
  const expected = readJson<Record<string, unknown>>('lora/adapter_config.json');
  const warnings: string[] = [];
  const originalWarn = console.warn;
  console.warn = (message: string) => warnings.push(message);
  const model = (() => {
    try {
      return getPeftModel(
        new GPT2LMHeadModel(gpt2ConfigFromHf(readJson('lm/config.json'))),
        new LoraConfig({ taskType: 'CAUSAL_LM' }),
      );
    } finally {
      console.warn = originalWarn;
    }
  })();
  assert.deepEqual(warnings, [
    'fan_in_fan_out is set to False but the target module is `Conv1D`. Setting fan_in_fan_out to True.',
  ]);
  const config = model.peftConfig.get('default') as InstanceType<typeof LoraConfig>;
  assert.deepEqual(config.targetModules, ['c_attn']);
  assert.equal(config.fanInFanOut, true);
  const dir = mkdtempSync(join(tmpdir(), 'gpt2-lora-'));
  try {
    await model.savePretrained(dir);
    const saved = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    for (const key of ['task_type', 'peft_type', 'target_modules', 'fan_in_fan_out', 'r', 'lora_alpha'])
      assert.deepEqual(saved[key], key === 'r' || key === 'lora_alpha' ? 8 : expected[key], key);
    const { tensors } = await loadSafetensors(join(dir, 'adapter_model.safetensors'));
    const pythonKeys = (await loadSafetensors(path('lora/adapter_model.safetensors'))).tensors;
    assert.deepEqual([...tensors.keys()].sort(), [...pythonKeys.keys()].sort());
    for (const [key, t] of tensors) assert.deepEqual(t.shape, pythonKeys.get(key)!.shape, key);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  model.dispose();
});

test('LoRA adapters finetune saves on GPT-2 load in Python PEFT with the same logits (interop.json)', () => {
  // Written by tools/check_gpt2_peft_interop.py over tools/export-gpt2-peft-interop.ts's adapters.
  const interop = readJson<{
    peft: string;
    tolerance: number;
    cases: Record<string, { ok: boolean; max_abs_diff: number; fan_in_fan_out: boolean; task_type: string }>;
  }>('interop.json');
  assert.equal(interop.peft, '0.21.0');
  assert.deepEqual(Object.keys(interop.cases).sort(), ['lora_default', 'lora_mlp']);
  for (const [name, result] of Object.entries(interop.cases)) {
    assert.ok(result.ok, `${name} did not load in PEFT with the same logits`);
    assert.ok(result.max_abs_diff <= 1e-4, `${name}: PEFT's logits differ by ${result.max_abs_diff}`);
    assert.equal(result.fan_in_fan_out, true);
    assert.equal(result.task_type, 'CAUSAL_LM');
  }
});

test('freezing strategies on GPT-2: the head is ln_f (the tied lm_head trains with wte), top-k adds blocks', () => {
  const model = new GPT2LMHeadModel(GPT2_PRESETS['gpt2-tiny']);
  const h = 64;
  const block = 4 * h * h + 2 * h * 4 * h + 9 * h + 4 * h;
  assert.equal(peft.applyFreezingStrategy(model, { kind: 'head' }).trainable, 2 * h);
  assert.equal(peft.applyFreezingStrategy(model, { kind: 'top-k', k: 1 }).trainable, 2 * h + block);
  const summary = peft.applyFreezingStrategy(model, { kind: 'full' });
  assert.deepEqual(
    summary.groups.map((g) => [g.name, g.total]),
    [
      ['embeddings', (1000 + 128) * h],
      ['h.0', block],
      ['h.1', block],
      ['head', 2 * h],
    ],
  );
  model.dispose();
});

test("generate runs through a PeftModel (LoRA on GPT-2) and is the merged model's greedy output", async () => {
  const ref = readJson<LmReference>('lm/reference.json');
  const model = await PeftModel.fromPretrained(await tinyLm(), path('lora'), { warn: (m) => assert.fail(m) });
  model.eval();
  const withAdapter = tidy(() => models.generate(model, ids(ref.input_ids), { maxNewTokens: 10 }).toArray());
  model.mergeAdapter();
  const merged = tidy(() => models.generate(model, ids(ref.input_ids), { maxNewTokens: 10 }).toArray());
  assert.deepEqual(withAdapter, merged);
  assert.notDeepEqual(
    withAdapter,
    ref.greedy.map((row) => row.slice(0, 18)),
  );
  model.dispose();
});

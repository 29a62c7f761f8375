// The Llama family against transformers 5.17: tiny random-weight Llama (grouped-query attention,
// untied; and tied with biases and head_dim ≠ hidden/heads), Qwen2 and Mistral (sliding window)
// checkpoints saved by save_pretrained, with the logits, losses and greedy generations transformers
// computed for them (test/fixtures/llama, written by tools/gen_llama_fixtures.py); the KV cache
// against the full forward, sequence classification, config.json both ways and the refusals, the
// presets' parameter counts, gradient checkpointing, and LoRA from Python PEFT.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  cat,
  dispose,
  fromPretrained,
  getPeftModel,
  loadedConfigOf,
  loadSafetensors,
  manualSeed,
  models,
  noGrad,
  ones,
  peft,
  PeftModel,
  savePretrained,
  tensor,
  tidy,
  type Tensor,
} from 'finetune';

const {
  KeyValueCache,
  LlamaForCausalLM,
  LlamaForSequenceClassification,
  LLAMA_PRESETS,
  adaptLlamaStateDict,
  llamaConfig,
  llamaConfigFromHf,
  llamaConfigToHf,
  llamaSizeParts,
  modelFamily,
} = models;

const FIXTURES = new URL('../../../test/fixtures/llama/', import.meta.url);
const fixture = (name: string) => new URL(name, FIXTURES).pathname;
const TOLERANCE = 1e-4;

interface Flat {
  shape: number[];
  values: number[];
}
interface CausalReference {
  input_ids: number[][];
  logits: Flat;
  padded: {
    input_ids: number[][];
    attention_mask: number[][];
    /** The positions transformers' generate gives the left-padded row (the mask's cumulative sum − 1). */
    position_ids: number[][];
    logits: Flat;
    /** `llama` only: the logits with no position ids, as LlamaModel.forward numbers the tokens (0, 1, …). */
    logits_forward_default?: Flat;
  };
  labels: number[][];
  loss: number;
  generate: { prompt: number[][]; ids: number[][] };
  generate_padded: { prompt: number[][]; attention_mask: number[][]; ids: number[][] };
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(fixture(file), 'utf8')) as T;
const ids = (values: number[][]) => tensor(values, { dtype: 'int64' });

type CausalLM = InstanceType<typeof LlamaForCausalLM>;

/** A fixture checkpoint by name, or a folder by absolute path, loaded with no key missing or left over. */
async function load<M>(name: string): Promise<M> {
  const warnings: string[] = [];
  const model = await fromPretrained(name.startsWith('/') ? name : fixture(name), { warn: (m) => warnings.push(m) });
  assert.deepEqual(warnings, [], 'every checkpoint key loads, none is missing');
  return model.eval() as M;
}

/** The causal LMs the read-only tests share, loaded once (PEFT tests load their own: they change the model). */
const sharedModels = new Map<string, Promise<CausalLM>>();
function shared(name: string): Promise<CausalLM> {
  if (!sharedModels.has(name)) sharedModels.set(name, load<CausalLM>(name));
  return sharedModels.get(name)!;
}

function assertClose(actual: Tensor, expected: Flat, what: string): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const values = actual.flatten().toArray() as number[];
  const diff = Math.max(...values.map((x, i) => Math.abs(x - expected.values[i])));
  assert.ok(diff <= TOLERANCE, `${what}: max |Δ| ${diff} > ${TOLERANCE}`);
}

/** The largest |a - b| of two tensors of one shape. */
function maxDiff(a: Tensor, b: Tensor): number {
  return tidy(() => a.sub(b).abs().max().toArray() as number);
}

/**
 * Greedy decoding over the KV cache, the loop the shared generate() runs: the prompt once, then
 * each chosen token alone, the attention mask growing by one real token a step, and (with a mask)
 * the positions transformers' generate passes: the mask's cumulative sum − 1, then one more a step.
 */
function greedy(model: CausalLM, prompt: number[][], mask: number[][] | null, newTokens: number): number[][] {
  const cache = new KeyValueCache();
  try {
    return noGrad(() => {
      let input = ids(prompt);
      let attentionMask = mask ? ids(mask) : null;
      let positionIds = attentionMask ? attentionMask.cumsum(-1).sub(1).clamp(0) : null;
      const chosen: Tensor[] = [];
      for (let step = 0; step < newTokens; step++) {
        const next = tidy(() => {
          const { logits } = model.forward({
            inputIds: input,
            attentionMask,
            positionIds,
            pastKeyValues: cache,
            useCache: true,
          });
          return logits.select(1, logits.shape[1] - 1).argmax(-1, true);
        });
        chosen.push(next);
        input = next;
        if (attentionMask) attentionMask = cat([attentionMask, ones([prompt.length, 1], { dtype: 'int64' })], 1);
        if (positionIds) positionIds = positionIds.narrow(1, positionIds.shape[1] - 1, 1).add(1);
      }
      return cat(chosen, 1).toArray() as number[][];
    });
  } finally {
    cache.dispose();
  }
}

const CAUSAL = [
  { name: 'llama', architecture: 'LlamaForCausalLM' },
  { name: 'llama_tied', architecture: 'LlamaForCausalLM' },
  { name: 'qwen2', architecture: 'Qwen2ForCausalLM' },
  { name: 'mistral', architecture: 'MistralForCausalLM' },
];

for (const { name, architecture } of CAUSAL) {
  describe(`${name}: ${architecture} against transformers`, () => {
    const ref = readJson<CausalReference>(`${name}/reference.json`);

    test('logits, unpadded and left-padded, and the loss with labels', async () => {
      const model = await shared(name);
      assert.equal(model.constructor.name, architecture);
      noGrad(() =>
        tidy(() => {
          assertClose(model.forward({ inputIds: ids(ref.input_ids) }).logits, ref.logits, 'logits');
          const inputIds = ids(ref.padded.input_ids);
          const attentionMask = ids(ref.padded.attention_mask);
          const padded = model.forward({ inputIds, attentionMask, positionIds: ids(ref.padded.position_ids) }).logits;
          assertClose(padded, ref.padded.logits, "left-padded logits at generate's positions");
          if (ref.padded.logits_forward_default) {
            const unnumbered = model.forward({ inputIds, attentionMask }).logits;
            assertClose(unnumbered, ref.padded.logits_forward_default, "left-padded logits at forward's positions");
            // Rotary attention sees only distances, so shifting a row's positions changes no real token's logits.
            assert.ok(maxDiff(unnumbered, padded) <= TOLERANCE);
          }
          const { loss } = model.forward({ inputIds: ids(ref.input_ids), labels: ids(ref.labels) });
          assert.ok(
            Math.abs((loss!.toArray() as number) - ref.loss) <= TOLERANCE,
            `loss ${String(loss!.toArray())} vs ${ref.loss}`,
          );
        }),
      );
    });

    test('the KV cache: the prompt, then token by token, gives the full forward', async () => {
      const model = await shared(name);
      noGrad(() =>
        tidy(() => {
          const input = ids(ref.input_ids);
          const full = model.forward({ inputIds: input }).logits;
          const cache = new KeyValueCache();
          const pieces = [
            model.forward({ inputIds: input.narrow(1, 0, 3), pastKeyValues: cache, useCache: true }).logits,
          ];
          for (let t = 3; t < 8; t++)
            pieces.push(model.forward({ inputIds: input.narrow(1, t, 1), pastKeyValues: cache }).logits);
          assert.equal(cache.length, 8);
          cache.dispose();
          assert.ok(maxDiff(cat(pieces, 1), full) <= TOLERANCE);
        }),
      );
    });

    test("greedy generation of 20 tokens is transformers' (one prompt, and a left-padded batch)", async () => {
      const model = await shared(name);
      assert.deepEqual(greedy(model, ref.generate.prompt, null, 20), ref.generate.ids);
      assert.deepEqual(
        greedy(model, ref.generate_padded.prompt, ref.generate_padded.attention_mask, 20),
        ref.generate_padded.ids,
      );
    });

    test("generate() (the shared loop, KV cache) gives transformers' greedy tokens, and the same without the cache", async () => {
      const model = (await shared(name)) as unknown as {
        generate(ids: Tensor, options: object): Tensor;
      };
      for (const useCache of [true, false]) {
        const single = model.generate(ids(ref.generate.prompt), { maxNewTokens: 20, padTokenId: 0, useCache });
        assert.deepEqual(single.narrow(1, ref.generate.prompt[0].length, 20).toArray(), ref.generate.ids);
        single.dispose();
        const padded = model.generate(ids(ref.generate_padded.prompt), {
          maxNewTokens: 20,
          padTokenId: 0,
          attentionMask: ids(ref.generate_padded.attention_mask),
          useCache,
        });
        assert.deepEqual(
          padded.narrow(1, ref.generate_padded.prompt[0].length, 20).toArray(),
          ref.generate_padded.ids,
          `left-padded batch, useCache ${useCache}`,
        );
        padded.dispose();
      }
    });

    test("savePretrained writes transformers' weight keys, and the saved model gives the same logits", async () => {
      const dir = mkdtempSync(join(tmpdir(), `llama-save-${name}-`));
      try {
        const model = await shared(name);
        await savePretrained(model, dir);
        const keys = async (folder: string) => {
          const { tensors } = await loadSafetensors(join(folder, 'model.safetensors'));
          const out = [...tensors.keys()].sort();
          dispose([...tensors.values()]);
          return out;
        };
        assert.deepEqual(await keys(dir), await keys(fixture(name)));
        const reloaded = await load<CausalLM>(dir);
        noGrad(() =>
          tidy(() => {
            const input = { inputIds: ids(ref.input_ids) };
            assert.equal(maxDiff(reloaded.forward(input).logits, model.forward(input).logits), 0);
          }),
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test("config.json is read and written with transformers' keys and values", async () => {
      const written = readJson<Record<string, unknown>>(`${name}/config.json`);
      const model = await shared(name);
      const { transformers_version: _, ...expected } = written;
      assert.deepEqual(model.toConfigJson(), expected);
      assert.deepEqual(loadedConfigOf(model), written);
    });
  });
}

describe("RoPE scaling: each rope type gives transformers' logits and greedy tokens", () => {
  const ref = readJson<{
    input_ids: number[][];
    prompt: number[][];
    cases: Record<
      string,
      {
        base: string;
        config: Record<string, unknown>;
        logits: Flat;
        generate: number[][];
        generate_padded: { prompt: number[][]; attention_mask: number[][]; ids: number[][] };
        generate_no_cache: number[][];
      }
    >;
  }>('rope/reference.json');
  for (const [ropeType, c] of Object.entries(ref.cases)) {
    test(`${ropeType} (${c.base} weights)`, async () => {
      const config = llamaConfigFromHf(c.config);
      assert.equal(config.ropeScaling?.ropeType, ropeType);
      // transformers keeps the older spelling's `type` key beside rope_type; finetune writes rope_type only.
      const { type: _, ...written } = c.config.rope_parameters as Record<string, unknown>;
      assert.deepEqual(llamaConfigToHf(config).rope_parameters, written);
      // A fresh model: the dynamic type's frequencies depend on the calls before (the generator's order: logits, then generations).
      const model = new (config.modelType === 'qwen2' ? models.Qwen2ForCausalLM : LlamaForCausalLM)(config);
      model.eval();
      const { tensors } = await loadSafetensors(fixture(`${c.base}/model.safetensors`));
      model.loadStateDict(adaptLlamaStateDict(tensors, model));
      dispose([...tensors.values()]);
      noGrad(() => tidy(() => assertClose(model.forward({ inputIds: ids(ref.input_ids) }).logits, c.logits, 'logits')));
      const generate = (prompt: number[][], options: object) =>
        tidy(() =>
          model
            .generate(ids(prompt), { maxNewTokens: 20, padTokenId: 0, ...options })
            .narrow(1, prompt[0].length, 20)
            .toArray(),
        );
      assert.deepEqual(generate(ref.prompt, {}), c.generate, 'greedy, KV cache');
      const padded = c.generate_padded;
      assert.deepEqual(
        generate(padded.prompt, { attentionMask: ids(padded.attention_mask) }),
        padded.ids,
        'left-padded batch',
      );
      assert.deepEqual(generate(ref.prompt, { useCache: false }), c.generate_no_cache, 'greedy without the cache');
      model.dispose();
    });
  }
});

/**
 * Real checkpoints' config.json, as their Hugging Face repositories publish them (test/fixtures/llama/configs;
 * SmolLM2-135M, Qwen2.5-0.5B, Mistral-7B-v0.1 and Llama-3.2-1B copied from public copies of those files,
 * TinyLlama-1.1B-Chat-v1.0 assembled from its published fields), and transformers' logits and greedy tokens
 * for a shrunken copy of each (the same keys, tiny sizes) with weights from a fixed formula.
 */
describe("real checkpoints' config.json", () => {
  const expected: Record<string, Partial<InstanceType<typeof LlamaForCausalLM>['config']>> = {
    'SmolLM2-135M': {
      modelType: 'llama',
      numAttentionHeads: 9,
      numKeyValueHeads: 3,
      headDim: 64,
      tieWordEmbeddings: true,
      ropeTheta: 100000,
      ropeScaling: null,
      bosTokenId: 0,
      eosTokenId: 0,
      maxPositionEmbeddings: 8192,
      rmsNormEps: 1e-5,
      slidingWindow: null,
    },
    'Qwen2.5-0.5B': {
      modelType: 'qwen2',
      numAttentionHeads: 14,
      numKeyValueHeads: 2,
      headDim: 64,
      tieWordEmbeddings: true,
      ropeTheta: 1000000,
      ropeScaling: null,
      bosTokenId: 151643,
      eosTokenId: 151643,
      rmsNormEps: 1e-6,
      // sliding_window 32768 with use_sliding_window false: full attention, as transformers reads it.
      slidingWindow: null,
    },
    'Mistral-7B-v0.1': {
      modelType: 'mistral',
      numAttentionHeads: 32,
      numKeyValueHeads: 8,
      headDim: 128,
      tieWordEmbeddings: false,
      ropeTheta: 10000,
      bosTokenId: 1,
      eosTokenId: 2,
      maxPositionEmbeddings: 32768,
      slidingWindow: 4096,
    },
    'Llama-3.2-1B': {
      modelType: 'llama',
      numAttentionHeads: 32,
      numKeyValueHeads: 8,
      headDim: 64,
      tieWordEmbeddings: true,
      ropeTheta: 500000,
      ropeScaling: {
        ropeType: 'llama3',
        factor: 32,
        lowFreqFactor: 1,
        highFreqFactor: 4,
        originalMaxPositionEmbeddings: 8192,
      },
      bosTokenId: 128000,
      eosTokenId: 128001,
    },
    'TinyLlama-1.1B-Chat-v1.0': {
      modelType: 'llama',
      numAttentionHeads: 32,
      numKeyValueHeads: 4,
      headDim: 64,
      tieWordEmbeddings: false,
      ropeTheta: 10000,
      ropeScaling: null,
      bosTokenId: 1,
      eosTokenId: 2,
      maxPositionEmbeddings: 2048,
    },
  };
  const ref = readJson<{
    input_ids: number[][];
    prompt: number[][];
    shrunk: Record<string, { config: Record<string, unknown>; logits: Flat; generate: number[][] }>;
  }>('configs/reference.json');

  /** tools/gen_llama_fixtures.py's deterministic_weights: a 32-bit LCG seeded by the parameter's name. */
  function formulaWeights(model: CausalLM): void {
    const state = new Map<string, Tensor>();
    for (const [name, t] of model.stateDict()) {
      let seed = 0;
      for (const c of name) seed = (Math.imul(seed, 31) + c.charCodeAt(0)) >>> 0;
      const values = Array.from({ length: t.numel() }, () => {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        return seed / 2 ** 32 - 0.5 + (name.endsWith('norm.weight') ? 1 : 0);
      });
      state.set(name, tensor(values, { dtype: 'float32' }).reshape(t.shape));
    }
    model.loadStateDict(state);
    dispose([...state.values()]);
  }

  for (const [name, fields] of Object.entries(expected)) {
    test(`${name}: read into the right LlamaConfig; a shrunken copy gives transformers' logits and greedy tokens`, () => {
      const config = llamaConfigFromHf(readJson<Record<string, unknown>>(`configs/${name}.json`));
      for (const [key, value] of Object.entries(fields))
        assert.deepEqual(config[key as keyof typeof config], value, `${name}: ${key}`);
      const shrunk = ref.shrunk[name];
      const small = llamaConfigFromHf(shrunk.config);
      const model = new (
        small.modelType === 'qwen2'
          ? models.Qwen2ForCausalLM
          : small.modelType === 'mistral'
            ? models.MistralForCausalLM
            : LlamaForCausalLM
      )(small);
      model.eval();
      formulaWeights(model);
      noGrad(() =>
        tidy(() => assertClose(model.forward({ inputIds: ids(ref.input_ids) }).logits, shrunk.logits, name)),
      );
      const generated = tidy(() =>
        model.generate(ids(ref.prompt), { maxNewTokens: 20 }).narrow(1, ref.prompt[0].length, 20).toArray(),
      );
      assert.deepEqual(generated, shrunk.generate, `${name}: greedy tokens`);
      model.dispose();
    });
  }
});

test('LlamaForSequenceClassification scores the last token that is not padding', async () => {
  const ref = readJson<{
    input_ids: number[][];
    attention_mask: number[][];
    labels: number[];
    logits: Flat;
    loss: number;
  }>('seqcls/reference.json');
  const model = await load<InstanceType<typeof LlamaForSequenceClassification>>('seqcls');
  noGrad(() =>
    tidy(() => {
      const { logits, loss } = model.forward({
        inputIds: ids(ref.input_ids),
        attentionMask: ids(ref.attention_mask),
        labels: tensor(ref.labels, { dtype: 'int64' }),
      });
      assertClose(logits, ref.logits, 'logits');
      assert.ok(Math.abs((loss!.toArray() as number) - ref.loss) <= TOLERANCE);
    }),
  );
  const unpadded = new LlamaForSequenceClassification({ ...model.config, padTokenId: null });
  assert.throws(
    () => unpadded.forward({ inputIds: ids(ref.input_ids) }),
    /needs padTokenId in the config \(pad_token_id\)/,
  );
  unpadded.dispose();
});

test("LoRA: Python PEFT's adapter (q_proj, v_proj) gives PEFT's logits here", async () => {
  const ref = readJson<{ input_ids: number[][]; logits: Flat; logits_disabled: Flat }>('lora/reference.json');
  const base = await load<CausalLM>('llama');
  const model = await PeftModel.fromPretrained(base, fixture('lora'), { warn: (m) => assert.fail(m) });
  model.eval();
  const run = () =>
    noGrad(() => tidy(() => (model.forward({ inputIds: ids(ref.input_ids) }) as { logits: Tensor }).logits.clone()));
  const active = run();
  assertClose(active, ref.logits, 'adapter active');
  const disabled = model.disableAdapter(run);
  assertClose(disabled, ref.logits_disabled, 'adapter disabled');
  dispose([active, disabled]);
});

test("finetune's LoRA adapter on Llama is saved with the keys, shapes and config fields PEFT writes", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llama-lora-'));
  try {
    const base = await load<CausalLM>('llama');
    const model = getPeftModel(
      base,
      new peft.LoraConfig({ taskType: 'CAUSAL_LM', r: 4, loraAlpha: 8, targetModules: ['q_proj', 'v_proj'] }),
    );
    await model.savePretrained(dir);
    const shapes = async (folder: string) => {
      const { tensors } = await loadSafetensors(join(folder, 'adapter_model.safetensors'));
      const out = Object.fromEntries([...tensors].map(([key, t]) => [key, t.shape]));
      dispose([...tensors.values()]);
      return out;
    };
    assert.deepEqual(await shapes(dir), await shapes(fixture('lora')));
    const ours = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    const python = readJson<Record<string, unknown>>('lora/adapter_config.json');
    for (const key of ['peft_type', 'task_type', 'r', 'lora_alpha', 'bias', 'fan_in_fan_out', 'use_dora', 'use_rslora'])
      assert.deepEqual(ours[key], python[key], key);
    assert.deepEqual((ours.target_modules as string[]).sort(), (python.target_modules as string[]).sort());
    model.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the presets' parameter counts are the released checkpoints' (size estimate = built model)", () => {
  const count = (name: string) => {
    const parts = llamaSizeParts(LLAMA_PRESETS[name]);
    return parts.filter((p) => p.part !== 'score').reduce((n, p) => n + p.parameters, 0);
  };
  assert.equal(count('smollm-135m'), 134_515_008);
  assert.equal(count('tinyllama-1.1b'), 1_100_048_384);
  assert.equal(count('qwen2-0.5b'), 494_032_768);
  for (const overrides of [{}, { tieWordEmbeddings: true, attentionBias: true, mlpBias: true, headDim: 8 }]) {
    const model = new LlamaForCausalLM({ ...LLAMA_PRESETS['llama-tiny'], ...overrides });
    const built = model.parameters().reduce((n, p) => n + p.numel(), 0);
    const estimated = llamaSizeParts(model.config)
      .filter((p) => p.part !== 'score')
      .reduce((n, p) => n + p.parameters, 0);
    assert.equal(estimated, built);
    model.dispose();
  }
  assert.equal(modelFamily('qwen2').presets['qwen2-0.5b'], LLAMA_PRESETS['qwen2-0.5b']);
});

test('gradient checkpointing gives the same loss and gradients', () => {
  manualSeed(0);
  const model = new LlamaForCausalLM(LLAMA_PRESETS['llama-tiny']);
  const input = ids([
    [1, 5, 9, 33, 2, 80, 7, 7],
    [1, 200, 3, 4, 5, 6, 7, 8],
  ]);
  const step = () =>
    tidy(() => {
      model.zeroGrad();
      const attentionMask = ids([
        [1, 1, 1, 1, 1, 1, 1, 1],
        [0, 0, 1, 1, 1, 1, 1, 1],
      ]);
      const { loss } = model.forward({ inputIds: input, attentionMask, labels: input });
      loss!.backward();
      return [loss!.toArray() as number, [...model.model.layers][0].self_attn.q_proj.weight.grad!.clone()] as const;
    });
  const [plainLoss, plainGrad] = step();
  model.gradientCheckpointingEnable();
  const [checkpointedLoss, checkpointedGrad] = step();
  assert.equal(checkpointedLoss, plainLoss);
  assert.ok(maxDiff(checkpointedGrad, plainGrad) <= 1e-6);
  dispose([plainGrad, checkpointedGrad, input]);
  model.dispose();
});

test('adaptLlamaStateDict drops lm_head.weight for a tied head only, and adds or strips the model. prefix', () => {
  const tied = new LlamaForCausalLM({ ...LLAMA_PRESETS['llama-tiny'], tieWordEmbeddings: true });
  const classifier = new LlamaForSequenceClassification(LLAMA_PRESETS['llama-tiny']);
  const checkpoint = new Map([...tied.stateDict(), ['lm_head.weight', tied.lm_head.weight]]);
  assert.deepEqual([...adaptLlamaStateDict(checkpoint, tied).keys()], [...tied.stateDict().keys()]);
  // Into a classifier the causal head is left for the loader to report as unused, as transformers does.
  assert.ok(adaptLlamaStateDict(checkpoint, classifier).has('lm_head.weight'));
  const bare = new Map([...tied.model.stateDict()]);
  assert.deepEqual([...adaptLlamaStateDict(bare, tied).keys()], [...tied.stateDict().keys()]);
  tied.dispose();
  classifier.dispose();
});

describe('config.json refusals name the key', () => {
  const base = { model_type: 'llama', hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2 };
  test('rope types not implemented, bad rope settings and a partial rotary factor', () => {
    assert.throws(
      () => llamaConfigFromHf({ ...base, rope_scaling: { type: 'longrope', factor: 2 } }),
      /llama config.json: 'rope_scaling' has rope type "longrope", which is not supported \(supported: 'default', 'linear', 'dynamic', 'llama3', 'yarn'\)/,
    );
    assert.throws(
      () => llamaConfigFromHf({ ...base, rope_parameters: { rope_type: 'llama3', rope_theta: 5e5, factor: 8 } }),
      /'rope_parameters.low_freq_factor' is required by rope type 'llama3'/,
    );
    assert.throws(
      () => llamaConfigFromHf({ ...base, rope_scaling: { rope_type: 'linear', factor: 0.5 } }),
      /'rope_scaling.factor' must be a number ≥ 1/,
    );
    assert.throws(
      () =>
        llamaConfigFromHf({ ...base, rope_parameters: { rope_type: 'linear', factor: 2, partial_rotary_factor: 0.5 } }),
      /'rope_parameters.partial_rotary_factor' is not supported/,
    );
    assert.equal(llamaConfigFromHf({ ...base, rope_theta: 5e5, rope_scaling: null }).ropeTheta, 5e5);
    // The older spelling: rope_scaling wins over rope_parameters and takes rope_theta from the top level, as transformers reads it.
    const old = llamaConfigFromHf({ ...base, rope_theta: 5e5, rope_scaling: { type: 'dynamic', factor: 2 } });
    assert.deepEqual([old.ropeTheta, old.ropeScaling], [5e5, { ropeType: 'dynamic', factor: 2 }]);
  });
  test("Qwen2's sliding-window attention", () => {
    assert.throws(
      () => llamaConfigFromHf({ ...base, model_type: 'qwen2', use_sliding_window: true, sliding_window: 4096 }),
      /qwen2 config.json: 'use_sliding_window' is not supported/,
    );
    assert.throws(
      () => llamaConfigFromHf({ ...base, model_type: 'qwen2', layer_types: ['full_attention', 'sliding_attention'] }),
      /'layer_types' must be all 'full_attention'/,
    );
  });
  test('bad values and other model types', () => {
    assert.throws(
      () => llamaConfigFromHf({ ...base, num_key_value_heads: 3 }),
      /'num_attention_heads' \(4\) must be a multiple of numKeyValueHeads \(3\)/,
    );
    assert.throws(() => llamaConfigFromHf({ ...base, hidden_act: 'nope' }), /'hidden_act' is not supported/);
    assert.throws(
      () => llamaConfigFromHf({ ...base, model_type: 'gemma' }),
      /'model_type' must be one of llama, qwen2, mistral/,
    );
    assert.throws(
      () => new LlamaForCausalLM(LLAMA_PRESETS['qwen2-0.5b']),
      /LlamaForCausalLM: the config's modelType is 'qwen2'; build Qwen2ForCausalLM for it/,
    );
  });
  test('defaults follow transformers: key/value heads = heads, headDim = hidden / heads', () => {
    const config = llamaConfig({ hiddenSize: 64, numAttentionHeads: 8 });
    assert.equal(config.numKeyValueHeads, 8);
    assert.equal(config.headDim, 8);
    assert.equal(llamaConfigToHf(config).model_type, 'llama');
  });
});

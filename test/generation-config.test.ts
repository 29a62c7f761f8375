/**
 * generation_config.json, as transformers' GenerationConfig: a causal LM's generate() starts from the
 * checkpoint's file (end tokens, sampling settings), its options override it, savePretrained writes it back
 * with the keys it does not use kept, a file without token ids takes config.json's, PeftModel.generate uses
 * the base model's, and a bad value names the file and the key. The file is Qwen2.5-0.5B-Instruct's, as
 * published on the Hub.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { fromPretrained, getPeftModel, LoraConfig, manualSeed, models, savePretrained, tensor } from 'finetune';

const { generate, generationConfigJson, LlamaForCausalLM, llamaConfig, parseGenerationConfig } = models;
type CausalLM = InstanceType<typeof LlamaForCausalLM>;

const QWEN_INSTRUCT_GENERATION_CONFIG = {
  bos_token_id: 151643,
  pad_token_id: 151643,
  do_sample: true,
  eos_token_id: [151645, 151643],
  repetition_penalty: 1.1,
  temperature: 0.7,
  top_p: 0.8,
  top_k: 20,
  transformers_version: '4.37.0',
};

let tmp = '';
let plainDir = '';
const PROMPT = [[5, 17, 42, 8]];
const tokens = (t: { data(): ArrayLike<number | bigint> }) => Array.from(t.data(), Number);

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'finetune-generation-config-'));
  plainDir = join(tmp, 'plain');
  manualSeed(0);
  const model = new LlamaForCausalLM(
    llamaConfig({
      vocabSize: 64,
      hiddenSize: 32,
      intermediateSize: 64,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      maxPositionEmbeddings: 64,
      bosTokenId: 1,
      eosTokenId: 2,
      padTokenId: 0,
    }),
  );
  await savePretrained(model, plainDir);
  model.dispose();
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A copy of the saved model with `generation` as its generation_config.json. */
function withGenerationConfig(name: string, generation: unknown): string {
  const dir = join(tmp, name);
  cpSync(plainDir, dir, { recursive: true });
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify(generation));
  return dir;
}

test("parseGenerationConfig reads Qwen2.5-Instruct's file, and generationConfigJson writes it back key for key", () => {
  const parsed = parseGenerationConfig(QWEN_INSTRUCT_GENERATION_CONFIG, 'generation_config.json');
  assert.deepEqual(parsed, {
    bosTokenId: 151643,
    padTokenId: 151643,
    doSample: true,
    eosTokenId: [151645, 151643],
    repetitionPenalty: 1.1,
    temperature: 0.7,
    topP: 0.8,
    topK: 20,
    other: { transformers_version: '4.37.0' },
  });
  assert.deepEqual(generationConfigJson(parsed), QWEN_INSTRUCT_GENERATION_CONFIG);
  // null is unset, as transformers writes it.
  assert.deepEqual(parseGenerationConfig({ eos_token_id: null, top_k: 0 }, 'g.json'), { topK: 0 });
});

test('a bad generation_config.json value names the file and the key', async () => {
  const bad: [unknown, RegExp][] = [
    [{ top_p: 1.5 }, /generation_config\.json: "top_p" must be a number in \(0, 1\], got 1\.5/],
    [{ eos_token_id: [] }, /"eos_token_id" must be a token id or a non-empty list of them, got \[\]/],
    [{ do_sample: 'yes' }, /"do_sample" must be true or false, got "yes"/],
    [{ max_new_tokens: 0 }, /"max_new_tokens" must be an integer ≥ 1, got 0/],
    [[1, 2], /expected a JSON object of generation settings/],
  ];
  for (const [json, message] of bad)
    assert.throws(() => parseGenerationConfig(json, 'generation_config.json'), message);
  const dir = withGenerationConfig('bad', { temperature: -1 });
  await assert.rejects(
    fromPretrained(dir),
    new RegExp(
      `${join(dir, 'generation_config.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: "temperature" must be a number > 0, got -1`,
    ),
  );
});

test("savePretrained writes config.json's token ids as generation_config.json, as transformers' from_model_config", () => {
  assert.deepEqual(JSON.parse(readFileSync(join(plainDir, 'generation_config.json'), 'utf8')), {
    bos_token_id: 1,
    eos_token_id: 2,
    pad_token_id: 0,
  });
});

test("generate() starts from the file's end tokens and sampling settings; options override them; a save keeps the file", async () => {
  const reference = (await fromPretrained(plainDir)) as CausalLM;
  const prompt = tensor(PROMPT, { dtype: 'int64' });
  // Greedy (with the file's repetition penalty), with no end token: the token at the third step becomes
  // the file's second end token.
  const free = tokens(generate(reference, prompt, { maxNewTokens: 8, repetitionPenalty: 1.1 })).slice(4);
  const stop = free[2];
  assert.ok(
    !free.slice(0, 2).some((t) => t === stop || t === 63),
    'the end tokens must first appear at the third step',
  );
  const dir = withGenerationConfig('sampling', {
    ...QWEN_INSTRUCT_GENERATION_CONFIG,
    bos_token_id: 1,
    pad_token_id: 0,
    eos_token_id: [63, stop],
  });
  const model = (await fromPretrained(dir)) as CausalLM;
  assert.deepEqual(model.generationConfig.eosTokenId, [63, stop]);

  // The file samples: generate() with no options is generate() with the file's settings spelt out.
  const sampled = tokens(model.generate(prompt, { maxNewTokens: 8, seed: 3 }));
  const spelt = {
    maxNewTokens: 8,
    seed: 3,
    doSample: true,
    temperature: 0.7,
    topK: 20,
    topP: 0.8,
    repetitionPenalty: 1.1,
    eosTokenId: [63, stop],
    padTokenId: 0,
  };
  assert.deepEqual(sampled, tokens(generate(reference, prompt, spelt)));
  // Greedy by option: the continuation ends at the file's end token, after three new tokens.
  const greedy = tokens(model.generate(prompt, { maxNewTokens: 8, doSample: false }));
  assert.deepEqual(greedy.slice(4), free.slice(0, 3));
  assert.notDeepEqual(sampled.slice(4), free.slice(0, sampled.length - 4), 'sampling must change the continuation');
  // An option given as undefined leaves the file's setting in place.
  assert.deepEqual(tokens(model.generate(prompt, { maxNewTokens: 8, seed: 3, doSample: undefined })), sampled);

  // PeftModel.generate starts from the base model's settings (LoRA's B starts at zero: the same model).
  const peft = getPeftModel(model, new LoraConfig({ taskType: 'CAUSAL_LM', targetModules: ['q_proj', 'v_proj'] }));
  assert.deepEqual(tokens(peft.generate(prompt, { maxNewTokens: 8, seed: 3 })), sampled);

  const saved = join(tmp, 'saved');
  await savePretrained(model, saved);
  assert.deepEqual(JSON.parse(readFileSync(join(saved, 'generation_config.json'), 'utf8')), {
    ...QWEN_INSTRUCT_GENERATION_CONFIG,
    bos_token_id: 1,
    pad_token_id: 0,
    eos_token_id: [63, stop],
  });
  peft.dispose();
  reference.dispose();
});

test("a file without token ids takes config.json's (a hand-written sampling file still stops at the end token)", async () => {
  const dir = withGenerationConfig('no-ids', { do_sample: true, top_k: 5 });
  const model = (await fromPretrained(dir)) as CausalLM;
  assert.deepEqual(model.generationConfig, { bosTokenId: 1, eosTokenId: 2, padTokenId: 0, doSample: true, topK: 5 });
  assert.ok(existsSync(join(plainDir, 'generation_config.json')));
  model.dispose();
});

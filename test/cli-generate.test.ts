/**
 * `finetune generate` end to end: a tiny GPT-2 (random weights, saved here with the byte-level BPE
 * tokenizer of test/fixtures/causal-lm/gpt2-style) continues a prompt in a child process, and what it
 * prints is the text of the tokens model.generate gives in this process on the same weights — greedy,
 * with a LoRA adapter on it, and sampled with --seed. Plus the usage errors.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { dispose, getPeftModel, LoraConfig, manualSeed, tensor } from '../src/index.js';
import { applyChatTemplate, Tokenizer } from '../src/data/index.js';
import { savePretrained } from '../src/io/index.js';
import {
  generate,
  GPT2LMHeadModel,
  gpt2Config,
  LlamaForCausalLM,
  llamaConfig,
  type GenerateOptions,
} from '../src/models/index.js';
import { ROOT, runCli } from './helpers/cli.js';

const TOKENIZER_DIR = join(ROOT, 'test', 'fixtures', 'causal-lm', 'gpt2-style');
const PROMPT = 'The quick brown fox';
const NEW_TOKENS = 12;

let tmp = '';
let modelDir = '';
let adapterDir = '';
let tokenizer: Tokenizer;
/** The prompt's ids and the text generate() continues it with, here, for each case. */
let promptIds: number[] = [];
const expected: Record<'greedy' | 'sampled' | 'adapter', string> = { greedy: '', sampled: '', adapter: '' };

async function continuation(model: Parameters<typeof generate>[0], options: GenerateOptions): Promise<string> {
  const input = tensor([promptIds], { dtype: 'int64' });
  const out = generate(model, input, { maxNewTokens: NEW_TOKENS, ...options });
  const ids = Array.from(out.data() as ArrayLike<number | bigint>, Number).slice(promptIds.length);
  input.dispose();
  out.dispose();
  return tokenizer.decode(ids, { skipSpecialTokens: true });
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'finetune-generate-'));
  modelDir = join(tmp, 'gpt2-lm');
  adapterDir = join(tmp, 'lora');
  tokenizer = Tokenizer.fromFile(join(TOKENIZER_DIR, 'tokenizer.json'));
  promptIds = (await tokenizer.encode(PROMPT)).inputIds;
  manualSeed(0);
  // A wide initialisation, so that the logits are far from uniform and an adapter changes the argmax.
  const model = new GPT2LMHeadModel(
    gpt2Config({ vocabSize: 700, nPositions: 64, nEmbd: 32, nLayer: 2, nHead: 4, initializerRange: 0.3 }),
  );
  model.eval();
  await savePretrained(model, modelDir);
  for (const name of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'])
    copyFileSync(join(TOKENIZER_DIR, name), join(modelDir, name));
  expected.greedy = await continuation(model, {});
  expected.sampled = await continuation(model, { doSample: true, seed: 7, temperature: 0.8 });
  const warn = console.warn;
  console.warn = () => {}; // LoRA's note that Conv1D sets fan_in_fan_out
  const peft = getPeftModel(model, new LoraConfig({ taskType: 'CAUSAL_LM', initLoraWeights: false }));
  console.warn = warn;
  peft.eval();
  await peft.savePretrained(adapterDir);
  expected.adapter = await continuation(peft, {});
  peft.dispose();
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const generateArgs = (...extra: string[]) =>
  runCli(['generate', '--model', modelDir, '--prompt', PROMPT, '--max-new-tokens', String(NEW_TOKENS), ...extra]);

test('finetune generate (greedy) prints the text of the tokens model.generate gives, then the speed on stderr', () => {
  assert.ok(expected.greedy.length > 0);
  const run = generateArgs();
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, expected.greedy + '\n');
  assert.match(
    run.stderr,
    new RegExp(
      `^${NEW_TOKENS} new tokens in [\\d.]+ s \\([\\d.]+ tokens/s, prompt of ${promptIds.length} tokens included\\)$`,
      'm',
    ),
  );
});

test('finetune generate --adapter continues with the adapter (other text than the base), as PeftModel does here', () => {
  assert.notEqual(
    expected.adapter,
    expected.greedy,
    'the adapter must change the continuation for this test to mean anything',
  );
  const run = generateArgs('--adapter', adapterDir);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, expected.adapter + '\n');
});

test('finetune generate --do-sample --seed is reproducible and draws what generate() draws with that seed', () => {
  assert.notEqual(expected.sampled, expected.greedy);
  const first = generateArgs('--do-sample', '--seed', '7', '--temperature', '0.8');
  const second = generateArgs('--do-sample', '--seed', '7', '--temperature', '0.8');
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout, expected.sampled + '\n');
  assert.equal(second.stdout, first.stdout);
});

test("finetune generate starts from the checkpoint's generation_config.json (sampling there), and flags override it", () => {
  const sampling = join(tmp, 'gpt2-sampling');
  cpSync(modelDir, sampling, { recursive: true });
  const file = join(sampling, 'generation_config.json');
  const written = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(
    file,
    JSON.stringify({ ...written, do_sample: true, temperature: 0.8, transformers_version: '5.17.0' }),
  );
  const args = ['generate', '--model', sampling, '--prompt', PROMPT, '--max-new-tokens', String(NEW_TOKENS)];
  const sampled = runCli([...args, '--seed', '7']);
  assert.equal(sampled.code, 0, sampled.stderr);
  assert.equal(sampled.stdout, expected.sampled + '\n');
  assert.match(
    sampled.stderr,
    /^generation defaults from .*generation_config\.json: do_sample true, temperature 0\.8 \(flags override them\)$/m,
  );
  const greedy = runCli([...args, '--do-sample=false']);
  assert.equal(greedy.code, 0, greedy.stderr);
  assert.equal(greedy.stdout, expected.greedy + '\n');
  // Sampling flags are fine where the file samples.
  assert.equal(runCli([...args, '--seed', '7', '--temperature', '0.8']).stdout, expected.sampled + '\n');
});

test('finetune generate --prompt - reads the prompt from stdin', () => {
  const run = runCli(['generate', '--model', modelDir, '--prompt', '-', '--max-new-tokens', String(NEW_TOKENS)], {
    input: PROMPT + '\n',
  });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, expected.greedy + '\n');
});

test('finetune generate: usage errors name the flag and exit 2; an encoder is refused', () => {
  const cases: [string[], RegExp][] = [
    [['--model', modelDir], /--prompt is required/],
    [['--model', modelDir, '--prompt', 'x', '--top-p', '0.9'], /--top-p shapes sampling: add --do-sample/],
    [['--model', modelDir, '--prompt', 'x', '--chat'], /--chat: .*tokenizer\.json has no chat template/],
    [['--model', modelDir, '--prompt', 'x', '--max-new-tokens', '0'], /--max-new-tokens must be at least 1/],
    [['--model', 'bert-tiny', '--prompt', 'x'], /BertForSequenceClassification is not a decoder language model/],
    [
      [
        '--model',
        join(ROOT, 'test/fixtures/gpt2/lm'),
        '--tokenizer',
        join(ROOT, 'test/fixtures/causal-lm/gpt2-style'),
        '--prompt',
        'the',
      ],
      /--tokenizer: the tokenizer \(.*gpt2-style\/tokenizer\.json, 700 tokens\) gave token id \d+, outside the model's vocabulary \(vocab_size 100\): the tokenizer does not belong to this model/,
    ],
  ];
  for (const [args, message] of cases) {
    const run = runCli(['generate', ...args]);
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, message);
  }
  const pickle = join(tmp, 'pytorch_model.bin');
  writeFileSync(pickle, 'not read');
  const run = runCli(['generate', '--model', pickle, '--prompt', 'x']);
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /\.bin files are PyTorch pickle checkpoints/);
});

test('finetune generate --chat on a Llama wraps the prompt in the chat template and stops at its end token, as model.generate', async () => {
  const dir = join(tmp, 'llama-chat');
  const chatTokenizerDir = join(ROOT, 'test', 'fixtures', 'causal-lm', 'llama3-style');
  const chatTokenizer = Tokenizer.fromFile(join(chatTokenizerDir, 'tokenizer.json'));
  manualSeed(1);
  // 700 words and the 5 Llama 3 special tokens; <|eot_id|> (704) ends a turn, as tokenizer_config.json's eos_token.
  const model = new LlamaForCausalLM(
    llamaConfig({
      vocabSize: 705,
      hiddenSize: 32,
      intermediateSize: 64,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      maxPositionEmbeddings: 128,
      bosTokenId: 700,
      eosTokenId: 704,
      initializerRange: 0.3,
    }),
  );
  model.eval();
  await savePretrained(model, dir);
  for (const name of ['tokenizer.json', 'tokenizer_config.json'])
    copyFileSync(join(chatTokenizerDir, name), join(dir, name));
  const text = applyChatTemplate(chatTokenizer, [{ role: 'user', content: 'Name a colour.' }], {
    addGenerationPrompt: true,
  });
  const ids = (await chatTokenizer.encode(text, { addSpecialTokens: false })).inputIds;
  assert.equal(ids[0], 700, 'the template writes <|begin_of_text|> once');
  const input = tensor([ids], { dtype: 'int64' });
  const out = model.generate(input, { maxNewTokens: NEW_TOKENS });
  const expectedText = await chatTokenizer.decode(
    Array.from(out.data() as ArrayLike<number | bigint>, Number).slice(ids.length),
    { skipSpecialTokens: true },
  );
  dispose([input, out]);
  model.dispose();
  assert.ok(expectedText.length > 0, 'the model says something before its end token');
  const run = runCli([
    'generate',
    '--model',
    dir,
    '--prompt',
    'Name a colour.',
    '--chat',
    '--max-new-tokens',
    String(NEW_TOKENS),
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, expectedText + '\n');
  assert.match(run.stderr, new RegExp(`prompt of ${ids.length} tokens included`));
});

/**
 * End to end: `finetune train --task causal-lm` on a tiny GPT-2 and a tiny Llama (config folders made
 * here, random init, with the small byte-level tokenizers of test/fixtures/causal-lm), then `finetune eval`
 * and `finetune generate` on what it saved, each a child process run from another working folder; the
 * plan's numbers against data.CausalLmDataset's on the same file, and the flags a causal LM refuses.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CausalLmDataset, Tokenizer } from '../src/data/index.js';
import { readJson, ROOT, runCli, type ChildRun } from './helpers/cli.js';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'causal-lm');
const GPT2_TOKENIZER = join(FIXTURES, 'gpt2-style');
const LLAMA_TOKENIZER = join(FIXTURES, 'llama3-style');
const PAIRS = join(FIXTURES, 'pairs.jsonl');

let tmp = '';
/** A folder outside the repository the commands run from, so that nothing resolves against the repository. */
let elsewhere = '';
let gpt2Dir = '';
let llamaDir = '';
let textFile = '';

/** The tiny GPT-2 on the text file in blocks of 16: the flags most runs here start with. */
let gpt2OnText: string[] = [];

/** `finetune …` run from `elsewhere`. */
const finetune = (...args: string[]): ChildRun => runCli(args, { cwd: elsewhere });

/** A model folder as a user has one: config.json (random init, no weights) and the tokenizer's files. */
function writeModelFolder(dir: string, config: Record<string, unknown>, tokenizerDir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  for (const name of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'])
    if (existsSync(join(tokenizerDir, name))) copyFileSync(join(tokenizerDir, name), join(dir, name));
  return dir;
}

/** The last evaluation trainer_state.json holds. */
function lastEval(outputDir: string): Record<string, number> {
  const history = readJson(join(outputDir, 'trainer_state.json')).log_history as Record<string, number>[];
  return history.filter((e) => typeof e.eval_loss === 'number').at(-1)!;
}

/** `finetune eval --json`'s metrics. */
function evalJson(run: ChildRun): Record<string, number> {
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
}

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'finetune-clm-'));
  elsewhere = join(tmp, 'cwd');
  mkdirSync(elsewhere);
  const gpt2Eos = Tokenizer.fromFile(GPT2_TOKENIZER).eosTokenId;
  gpt2Dir = writeModelFolder(
    join(tmp, 'tiny-gpt2'),
    {
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      vocab_size: Tokenizer.fromFile(GPT2_TOKENIZER).vocabSize,
      n_positions: 64,
      n_embd: 32,
      n_layer: 2,
      n_head: 2,
      bos_token_id: gpt2Eos,
      eos_token_id: gpt2Eos,
    },
    GPT2_TOKENIZER,
  );
  const llama = Tokenizer.fromFile(LLAMA_TOKENIZER);
  llamaDir = writeModelFolder(
    join(tmp, 'tiny-llama'),
    {
      model_type: 'llama',
      architectures: ['LlamaForCausalLM'],
      vocab_size: llama.vocabSize,
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 128,
      bos_token_id: llama.bosTokenId,
      eos_token_id: llama.eosTokenId,
    },
    LLAMA_TOKENIZER,
  );
  // A small, very regular text: a model learns it in a few steps.
  const lines = Array.from({ length: 24 }, (_, i) => `the ${['cat', 'dog', 'fox'][i % 3]} sat on the mat .\n`);
  textFile = join(tmp, 'train.txt');
  writeFileSync(textFile, lines.join(''));
  gpt2OnText = ['--model', gpt2Dir, '--text-file', textFile, '--block-size', '16'];
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('train --task causal-lm (chosen from GPT2LMHeadModel): full fine-tuning packs the text, lowers perplexity, and eval and generate reload it', async () => {
  const out = join(tmp, 'gpt2-full');
  const run = finetune(
    'train',
    ...gpt2OnText,
    '--eval-file',
    textFile,
    '--method',
    'full',
    '--num-train-epochs',
    '3',
    '--per-device-train-batch-size',
    '4',
    '--learning-rate',
    '1e-2',
    '--sample-prompt',
    'the cat',
    '--sample-max-new-tokens',
    '4',
    '--output-dir',
    out,
  );
  assert.equal(run.code, 0, run.stderr);
  // The plan: the blocks and the dropped remainder, as data.CausalLmDataset packs the same file.
  const expected = await CausalLmDataset.fromFile(textFile, { tokenizer: GPT2_TOKENIZER, blockSize: 16 });
  assert.ok(
    run.stdout.includes(
      `data: causal-lm, train ${expected.length} blocks × 16 tokens (packing; ${expected.droppedTokens} tokens after the last full block dropped) from ${textFile} (plain text)`,
    ),
    run.stdout,
  );
  assert.match(run.stdout, /model: .* → GPT2LMHeadModel, next-token prediction/);
  assert.match(run.stdout, /^epoch\s+train_loss\s+valid_loss\s+perplexity\s+time$/m);
  assert.match(run.stdout, /^sample: "the cat/m);
  // Perplexity per epoch, falling; a random model's is about its vocabulary (700 tokens), the trained one far lower.
  const perplexities = [...run.stdout.matchAll(/^\d+\s+[\d.]+\s+[\d.]+\s+([\d.]+)\s+\d\d:\d\d$/gm)].map((m) =>
    Number(m[1]),
  );
  assert.equal(perplexities.length, 3, run.stdout);
  assert.ok(perplexities[2] < perplexities[0], `${perplexities.join(' → ')}`);
  const final = lastEval(out);
  assert.ok(final.eval_perplexity < 30, `eval perplexity ${final.eval_perplexity}`);
  assert.ok(run.stdout.includes(`final evaluation (step ${final.step}): eval_loss ${final.eval_loss.toFixed(4)}`));
  for (const file of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'report.html'])
    assert.ok(existsSync(join(out, file)), file);
  // As transformers' save_pretrained: the generation defaults beside the model, and said.
  assert.match(run.stdout, /^wrote .*: config\.json, model\.safetensors, generation_config\.json, tokenizer\.json/m);
  assert.ok(existsSync(join(out, 'generation_config.json')));
  const runConfig = readJson(join(out, 'run_config.json'));
  assert.deepEqual(
    [runConfig.task, runConfig.block_size, runConfig.packing, runConfig.dropped_tokens, runConfig.num_labels],
    ['causal-lm', 16, true, expected.droppedTokens, null],
  );
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /<h2>Samples<\/h2>.*the cat/s);

  // A fresh process in another folder: the saved model evaluates to the run's final evaluation.
  const metrics = evalJson(finetune('eval', '--model', out, '--eval-file', textFile, '--json'));
  assert.equal(metrics.eval_loss, final.eval_loss); // the same blocks, weights and batches: the same number
  assert.ok(Math.abs(metrics.eval_perplexity - Math.exp(metrics.eval_loss)) < 1e-9);
  const shown = finetune('eval', '--model', out, '--text-file', textFile);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /causal LM: loss and perplexity/);
  assert.match(shown.stdout, /^eval_perplexity\s+[\d.]+$/m);

  const generated = finetune('generate', '--model', out, '--prompt', 'the dog', '--max-new-tokens', '6');
  assert.equal(generated.code, 0, generated.stderr);
  assert.match(generated.stderr, /new tokens? in/);
});

test('train --method lora on a GPT-2: a CAUSAL_LM adapter on c_attn without a head copy, evaluated and generated with --model BASE --adapter OUT', () => {
  const out = join(tmp, 'gpt2-lora');
  const run = finetune(
    'train',
    ...gpt2OnText,
    '--eval-file',
    textFile,
    '--method',
    'lora',
    '--max-steps',
    '4',
    '--learning-rate',
    '1e-2',
    '--output-dir',
    out,
  );
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /method: lora — LoRA r=8, α=32, dropout 0\.1 on c_attn$/m);
  const adapter = readJson(join(out, 'adapter_config.json'));
  assert.deepEqual(
    [adapter.task_type, adapter.target_modules, adapter.modules_to_save, adapter.fan_in_fan_out],
    ['CAUSAL_LM', ['c_attn'], null, true],
  );
  assert.ok(existsSync(join(out, 'base_model', 'model.safetensors')));
  const final = lastEval(out);
  const metrics = evalJson(
    finetune('eval', '--model', join(out, 'base_model'), '--adapter', out, '--eval-file', textFile, '--json'),
  );
  assert.equal(metrics.eval_loss, final.eval_loss); // the same blocks, weights and batches: the same number
  const generated = finetune(
    'generate',
    '--model',
    join(out, 'base_model'),
    '--adapter',
    out,
    '--prompt',
    'the fox',
    '--max-new-tokens',
    '4',
  );
  assert.equal(generated.code, 0, generated.stderr);
});

test('train on prompt/response pairs with a Llama: the loss on the responses only, the masked prompt tokens in the plan, LoRA on q_proj, v_proj', async () => {
  const out = join(tmp, 'llama-pairs');
  const run = finetune(
    'train',
    '--model',
    llamaDir,
    '--text-file',
    PAIRS,
    '--eval-file',
    PAIRS,
    '--prompt-column',
    'prompt',
    '--response-column',
    'response',
    '--method',
    'lora',
    '--max-steps',
    '2',
    '--output-dir',
    out,
  );
  assert.equal(run.code, 0, run.stderr);
  // The same pairs read by the library: in the chat template, the prompt's tokens labelled -100.
  const pairs = await CausalLmDataset.fromFile(PAIRS, {
    tokenizer: LLAMA_TOKENIZER,
    promptColumn: 'prompt',
    responseColumn: 'response',
    blockSize: 128,
  });
  let tokens = 0;
  let masked = 0;
  for (let i = 0; i < pairs.length; i++) {
    const { inputIds, labels } = pairs.get(i);
    tokens += inputIds.length;
    masked += labels.filter((label) => label === -100).length;
  }
  const { inputIds, labels } = pairs.get(0);
  const trained = await pairs.tokenizer.decode(inputIds.filter((_, i) => labels[i] !== -100));
  assert.equal(trained, 'positive<|eot_id|>');
  assert.ok(
    run.stdout.includes(
      `data: causal-lm, train ${pairs.length} examples of up to 128 tokens (no packing; ${tokens} tokens), ${masked} prompt tokens masked (no loss) from ${PAIRS} (prompt: prompt → response: response, chat template)`,
    ),
    run.stdout,
  );
  const adapter = readJson(join(out, 'adapter_config.json'));
  assert.deepEqual(
    [adapter.task_type, adapter.target_modules, adapter.modules_to_save],
    ['CAUSAL_LM', ['q_proj', 'v_proj'], null],
  );
  assert.match(readFileSync(join(out, 'tokenizer_config.json'), 'utf8'), /chat_template/);
  // eval reads the pairs with the recorded columns and block size.
  const metrics = evalJson(finetune('eval', '--model', out, '--eval-file', PAIRS, '--json'));
  assert.equal(metrics.eval_loss, lastEval(out).eval_loss);
  const chat = finetune(
    'generate',
    '--model',
    out,
    '--prompt',
    'Translate to French: good morning',
    '--chat',
    '--max-new-tokens',
    '3',
  );
  assert.equal(chat.code, 0, chat.stderr);
});

test('train --task causal-lm: bad flags exit 2 naming the flag; a missing column names the file and the column', () => {
  const bad = (args: string[], pattern: RegExp, code = 2) => {
    const run = finetune('train', '--output-dir', join(tmp, 'never'), ...args);
    assert.equal(run.code, code, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, pattern);
  };
  const gpt2 = ['--model', gpt2Dir, '--text-file', textFile];
  bad([...gpt2, '--block-size', '0'], /--block-size must be a positive integer, got 0/);
  bad(
    [...gpt2, '--block-size', '65'],
    /--block-size 65 is too long: .* has 64 positions; give --block-size 64 or less/,
  );
  bad(
    ['--model', gpt2Dir, '--text-file', PAIRS, '--response-column', 'response'],
    /--response-column needs --prompt-column/,
  );
  bad(
    [...gpt2, '--prompt-column', 'prompt', '--response-column', 'response'],
    /--prompt-column: --text-file .* is plain text/,
  );
  bad([...gpt2, '--method', 'head'], /--method head trains a classification head.*GPT2LMHeadModel/);
  bad([...gpt2, '--label-column', 'label'], /--label-column does not apply to --task causal-lm/);
  bad([...gpt2, '--max-length', '32'], /--max-length does not apply to --task causal-lm: give --block-size/);
  bad(
    [...gpt2, '--sample-prompt', 'the'],
    /--sample-prompt continues its prompt at each evaluation: give --eval-file or --validation-split/,
  );
  bad(['--model', 'gpt2-tiny', '--text-file', textFile], /--model gpt2-tiny is a preset .* give --tokenizer/);
  bad(
    ['--model', gpt2Dir, '--text-file', PAIRS, '--prompt-column', 'question', '--response-column', 'response'],
    new RegExp(`${PAIRS.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: .*'question'.*--prompt-column`),
    1,
  );
});

test('compare on a causal LM: methods ranked by perplexity (lower is better), each row the final eval_perplexity of its run; head refused', () => {
  const out = join(tmp, 'compare');
  const run = finetune(
    'compare',
    ...gpt2OnText,
    '--eval-file',
    textFile,
    '--methods',
    'lora,ia3',
    '--learning-rate',
    '1e-3',
    '--max-steps',
    '2',
    '--output-dir',
    out,
  );
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /strategy +lr +trainable params +% +perplexity +train time +peak memory/);
  assert.match(run.stdout, /^perplexity: on \S+train\.txt \(lower is better\)\.$/m);
  const rows = readJson(join(out, 'results.json')).rows as { strategy: string; accuracy: number }[];
  assert.deepEqual(
    rows.map((r) => r.strategy),
    ['lora', 'ia3'],
  );
  for (const row of rows) assert.equal(row.accuracy, lastEval(join(out, row.strategy)).eval_perplexity, row.strategy);
  const head = finetune('compare', ...gpt2OnText, '--eval-file', textFile, '--methods', 'lora,head');
  assert.equal(head.code, 2);
  assert.match(head.stderr, /--methods head: a causal LM has no classification head/);
});

test('train --task causal-lm --validation-split holds out blocks (seeded) and evaluates on them; eval rebuilds them', () => {
  const out = join(tmp, 'gpt2-split');
  const run = finetune(
    'train',
    '--model',
    gpt2Dir,
    '--text-file',
    textFile,
    '--validation-split',
    '0.25',
    '--block-size',
    '16',
    '--max-steps',
    '1',
    '--report',
    'false',
    '--output-dir',
    out,
  );
  assert.equal(run.code, 0, run.stderr);
  const blocks = Number(/train (\d+) blocks × 16 tokens/.exec(run.stdout)?.[1]);
  const held = Number(
    /eval (\d+) blocks × 16 tokens .* held out \(--validation-split 0\.25, seed 42\)/.exec(run.stdout)?.[1],
  );
  assert.equal(held, Math.ceil((blocks + held) * 0.25), run.stdout);
  assert.equal(readJson(join(out, 'run_config.json')).validation_split, 0.25);
  assert.ok(Number.isFinite(lastEval(out).eval_perplexity));
  // eval without a file splits the run's training file again (run_config.json): the run's final evaluation exactly.
  const shown = finetune('eval', '--model', out);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(
    shown.stdout,
    new RegExp(`data: ${held} blocks × 16 tokens .* held out of .* \\(the run's --validation-split 0\\.25, seed 42\\)`),
  );
  assert.equal(evalJson(finetune('eval', '--model', out, '--json')).eval_loss, lastEval(out).eval_loss);
});

test('lr-find on a causal LM: the text flags are read as train reads them, and the curve is written', () => {
  const out = join(tmp, 'gpt2-lr-find');
  const run = finetune(
    'lr-find',
    '--model',
    gpt2Dir,
    '--text-file',
    textFile,
    '--block-size',
    '16',
    '--num-it',
    '12',
    '--per-device-train-batch-size',
    '2',
    '--output-dir',
    out,
    '--json',
  );
  // 0 with a suggestion, 1 when the curve is refused (12 steps of a random tiny model are often flat)
  assert.ok(run.code === 0 || run.code === 1, run.stderr);
  assert.equal((JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { steps: number }).steps, 12);
  const curve = readJson(join(out, 'lr_find.json'));
  assert.equal((curve.lrs as number[]).length, (curve.losses as number[]).length);
  assert.ok((curve.losses as number[]).length >= 2 && (curve.losses as number[]).every(Number.isFinite));
  assert.doesNotMatch(run.stdout + run.stderr, /labels go with the texts/);
});

test('prompt tuning on a GPT-2: trained, then generate carries its virtual tokens through the KV cache', () => {
  const out = join(tmp, 'gpt2-prompt-tuning');
  const run = finetune(
    'train',
    ...gpt2OnText,
    '--method',
    'prompt-tuning',
    '--num-virtual-tokens',
    '4',
    '--max-steps',
    '2',
    '--report',
    'false',
    '--output-dir',
    out,
  );
  assert.equal(run.code, 0, run.stderr);
  assert.equal(readJson(join(out, 'adapter_config.json')).task_type, 'CAUSAL_LM');
  const generated = finetune('generate', '--model', out, '--prompt', 'the cat', '--max-new-tokens', '6');
  assert.equal(generated.code, 0, generated.stderr);
  assert.match(generated.stderr, /6 new tokens in/);
});

test('advise on a decoder: no head-only baseline (IA3 instead), the text flag, compare by perplexity', () => {
  const run = finetune('advise', '--model', gpt2Dir, '--examples', '300');
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^data: 300 training texts from --examples$/m);
  assert.match(run.stdout, /^recommendation: lora$/m);
  assert.match(run.stdout, /^ {2}or: ia3 — IA3: the fewest trainable parameters/m);
  assert.doesNotMatch(run.stdout, /or: head/);
  assert.match(run.stdout, /finetune train --model \S+ --text-file <file> --method lora/);
  assert.match(run.stdout, /then compare a few with: finetune compare … --methods lora,ia3 \(ranked by perplexity\)/);
  const counted = finetune('advise', '--model', gpt2Dir, '--text-file', textFile);
  assert.equal(counted.code, 0, counted.stderr);
  assert.match(counted.stdout, /^data: 24 training texts from \S+train\.txt \(lines\)$/m);
  assert.match(counted.stdout, /finetune train --model \S+ --text-file \S+train\.txt --method lora/);
});

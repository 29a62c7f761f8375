/**
 * What is trained is what is saved: every method `finetune train` offers × BERT, ViT, AlexNet-style
 * and ResNet × where the checkpoint came from (a preset; pretrained with the same head; pretrained
 * with another head size; for BERT an MLM checkpoint without pooler; checkpoints saved by Python
 * transformers), and the decoders GPT-2 and Llama (made here, and saved by transformers) × full
 * fine-tuning, LoRA, IA3 and prompt tuning (CAUSAL_LM). Each case trains 2 steps through the train
 * command's own code (in this process) — a decoder 3 AdamW steps on the next-token loss, here until
 * `finetune train --task causal-lm` trains them — keeps the trained model's logits on fixed inputs,
 * then two fresh processes (test/helpers/roundtrip-load.ts), started in another working directory,
 * load each output folder as eval / predict / generate do and merge each adapter as merge does:
 * logits equal to the trained model's to 1e-6 and identical between the two processes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pngjs from 'pngjs';

import { manualSeed, randint, rand, ones, type Tensor } from '../src/tensor/index.js';
import type { Module } from '../src/nn/index.js';
import { createModel, fromPretrained, saveSafetensors, savePretrained } from '../src/io/index.js';
import type { HfConfig } from '../src/models/index.js';
import { AdamW } from '../src/optim/index.js';
import { resolveOptions } from '../src/cli/core/flags.js';
import {
  getPeftModel,
  IA3Config,
  LoraConfig,
  PromptTuningConfig,
  type MethodName,
  type PeftModel,
} from '../src/peft/index.js';
import { TRAIN_FLAGS } from '../src/cli/core/run-flags.js';
import { train } from '../src/cli/train.js';
import { logitsOf, type RoundTripCase, type RoundTripResult } from './helpers/roundtrip-load.js';

const root = process.cwd();
const ADAPTERS: readonly MethodName[] = ['lora', 'dora', 'ia3', 'prompt-tuning', 'houlsby', 'pfeiffer'];
const FREEZING: readonly MethodName[] = ['full', 'head', 'top-k', 'bitfit', 'ln', 'gradual'];
/** CNNs have no LayerNorm (ln is refused), no text input (prompt tuning), no IA3 targets in PEFT, and one bottleneck placement (houlsby = pfeiffer). */
const CNN_METHODS = [...FREEZING, ...ADAPTERS].filter((m) => !['ln', 'prompt-tuning', 'ia3', 'pfeiffer'].includes(m));
/** ResNet's only biases are its head's and BatchNorm's, which head-only training trains too (bitfit is refused). */
const RESNET_METHODS = CNN_METHODS.filter((m) => m !== 'bitfit');
const DECODER_METHODS: readonly MethodName[] = ['full', 'lora', 'ia3', 'prompt-tuning'];

interface Family {
  name: string;
  /** config.json of the small pretrained checkpoints made here. */
  config: HfConfig;
  /** The train command's preset and data flags; a decoder has neither and trains here (trainDecoder). */
  preset?: string;
  /** Methods that apply (prompt tuning is for text; PEFT has no IA3 targets for CNNs). */
  methods: readonly MethodName[];
  data?: string[];
  /** Checkpoints saved by Python transformers (test/fixtures), with the tokenizer they need. */
  python?: Record<string, string>;
}

const BERT_CONFIG: HfConfig = {
  model_type: 'bert',
  vocab_size: 30522,
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  intermediate_size: 64,
  max_position_embeddings: 64,
};
const VIT_CONFIG: HfConfig = {
  model_type: 'vit',
  image_size: 32,
  patch_size: 8,
  num_channels: 3,
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  intermediate_size: 64,
};
const ALEXNET_CONFIG: HfConfig = {
  model_type: 'alexnet',
  arch: 'alexnet',
  in_channels: 1,
  conv_channels: [8, 16, 16, 16, 16],
  hidden_size: 32,
  dropout: 0.5,
};
const RESNET_CONFIG: HfConfig = { model_type: 'resnet', arch: 'resnet18', layers: [1, 1, 1, 1] };
const GPT2_CONFIG: HfConfig = {
  model_type: 'gpt2',
  architectures: ['GPT2LMHeadModel'],
  vocab_size: 100,
  n_positions: 64,
  n_embd: 32,
  n_layer: 2,
  n_head: 4,
};
const LLAMA_CONFIG: HfConfig = {
  model_type: 'llama',
  architectures: ['LlamaForCausalLM'],
  vocab_size: 64,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
};

let tmp = '';
/** Each case with its trained logits and how close the loads must come to them. */
const cases: (RoundTripCase & { trained: number[]; tolerance: number })[] = [];
const runs: Record<string, RoundTripResult>[] = [];

/** A CSV of 16 short sentences in two classes, and a tokenizer of 100 words for the Python checkpoints (vocabulary 100). */
function textData(dir: string): { csv: string; smallTokenizer: string } {
  const rows = readFileSync(join(root, 'data', 'sst2', 'train-200.tsv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1, 17)
    .map((line) => line.split('\t'));
  const csv = join(dir, 'reviews.csv');
  writeFileSync(
    csv,
    'label,sentence\n' +
      rows.map(([label, text]) => `${label === '1' ? 'good' : 'bad'},"${text.replace(/"/g, '""')}"`).join('\n') +
      '\n',
  );
  // bert-base-uncased's tokenizer.json with a vocabulary cut to the specials and 95 words of these rows
  const json = JSON.parse(readFileSync(join(root, 'data', 'bert-base-uncased', 'tokenizer.json'), 'utf8')) as {
    added_tokens: { id: number; content: string }[];
    post_processor: { special_tokens: Record<string, { ids: number[] }> };
    model: { vocab: Record<string, number> };
  };
  const words = [
    ...new Set(rows.flatMap(([, text]) => text.toLowerCase().split(/\W+/)).filter((w) => w && w in json.model.vocab)),
  ].slice(0, 95);
  const vocab: Record<string, number> = {};
  for (const token of ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...words])
    vocab[token] = Object.keys(vocab).length;
  json.model.vocab = vocab;
  json.added_tokens = json.added_tokens.filter((t) => t.content in vocab).map((t) => ({ ...t, id: vocab[t.content] }));
  for (const [name, special] of Object.entries(json.post_processor.special_tokens)) special.ids = [vocab[name]];
  const smallTokenizer = join(dir, 'tokenizer-100');
  mkdirSync(smallTokenizer);
  writeFileSync(join(smallTokenizer, 'tokenizer.json'), JSON.stringify(json));
  return { csv, smallTokenizer };
}

/** Two classes of 6 RGB PNGs, 40 × 40: bright on the left, or on the right. */
function imageData(dir: string): string {
  const folder = join(dir, 'shapes');
  for (const [label, bright] of [
    ['left', (x: number) => x < 20],
    ['right', (x: number) => x >= 20],
  ] as const) {
    mkdirSync(join(folder, label), { recursive: true });
    for (let k = 0; k < 6; k++) {
      const png = new pngjs.PNG({ width: 40, height: 40 });
      for (let i = 0; i < 1600; i++)
        png.data.set([bright(i % 40) ? 200 + k : 20, bright(i % 40) ? 180 : 30 + k, (i * 7 + k) % 255, 255], i * 4);
      writeFileSync(join(folder, label, `${k}.png`), pngjs.PNG.sync.write(png));
    }
  }
  return folder;
}

/** A pretrained checkpoint made here: the family's small config with `numLabels` classes (or another architecture), random weights, saved. */
async function checkpoint(
  dir: string,
  config: HfConfig,
  options: { numLabels?: number; architecture?: string },
): Promise<string> {
  manualSeed(7);
  const model = createModel(config, options);
  await savePretrained(model, dir);
  model.dispose();
  return dir;
}

/** Fixed inputs for the family, saved for the fresh processes. */
function inputsFor(family: Family, channels: number, size: number, vocab: number): Map<string, Tensor> {
  manualSeed(11);
  if (!family.data) {
    const mask = ones([3, 8], { dtype: 'int64' });
    mask.narrow(1, 0, 2).narrow(0, 0, 1).zero_(); // the first row left-padded, as generate's batches are
    const decoderVocab = family.config.vocab_size as number;
    return new Map([
      ['inputIds', randint(0, decoderVocab, [3, 8])],
      ['attentionMask', mask],
    ]);
  }
  if (family.name !== 'bert') return new Map([['image', rand([3, channels, size, size]).mul(2).sub(1)]]);
  const mask = ones([3, 8], { dtype: 'int64' });
  mask.narrow(1, 6, 2).narrow(0, 0, 1).zero_();
  return new Map([
    ['inputIds', randint(5, vocab, [3, 8])],
    ['attentionMask', mask],
  ]);
}

function decoderAdapterConfig(method: MethodName, base: string) {
  const common = { taskType: 'CAUSAL_LM' as const, baseModelNameOrPath: base };
  if (method === 'lora') return new LoraConfig({ ...common, r: 4, loraAlpha: 8 });
  if (method === 'ia3') return new IA3Config(common);
  return new PromptTuningConfig({ ...common, numVirtualTokens: 3 });
}

/**
 * A decoder case: `method` on the checkpoint at `base`, 3 AdamW steps on the next-token loss of
 * random token rows (lr large enough to move every method's weights), the model or adapter saved to
 * `out`; returns the trained logits on `batch`.
 */
async function trainDecoder(base: string, method: MethodName, vocab: number, out: string, batch: Map<string, Tensor>) {
  manualSeed(3);
  const loaded = (await fromPretrained(base)) as Module;
  const model: Module = method === 'full' ? loaded : getPeftModel(loaded, decoderAdapterConfig(method, base));
  model.train();
  const optimizer = new AdamW(
    model.parameters().filter((p) => p.requiresGrad),
    { lr: 1e-2 },
  );
  for (let step = 0; step < 3; step++) {
    const inputIds = randint(0, vocab, [4, 10]);
    const output = (model as unknown as { forward(x: object): { loss: Tensor } }).forward({
      inputIds,
      labels: inputIds,
    });
    output.loss.backward();
    optimizer.step();
    optimizer.zeroGrad();
    output.loss.dispose();
    inputIds.dispose();
  }
  const trained = logitsOf(model, Object.fromEntries(batch) as Record<string, Tensor>);
  if (method === 'full') await savePretrained(model, out);
  else await (model as PeftModel).savePretrained(out);
  model.dispose();
  return trained;
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'finetune-roundtrip-'));
  const { csv, smallTokenizer } = textData(tmp);
  const images = imageData(tmp);
  const text = ['--train-file', csv];
  const families: Family[] = [
    {
      name: 'bert',
      config: BERT_CONFIG,
      preset: 'bert-tiny',
      methods: [...FREEZING, ...ADAPTERS],
      data: text,
      python: { 'python-seqcls': 'bert/seqcls', 'python-mlm': 'bert/mlm' },
    },
    {
      name: 'vit',
      config: VIT_CONFIG,
      preset: 'vit-tiny',
      methods: [...FREEZING, ...ADAPTERS.filter((m) => m !== 'prompt-tuning')],
      data: ['--image-folder', images, '--image-size', '32'],
      python: { python: 'vit/hf' },
    },
    {
      name: 'alexnet',
      config: ALEXNET_CONFIG,
      preset: 'alexnet-small',
      methods: CNN_METHODS,
      data: ['--image-folder', images, '--image-size', '64'],
    },
    {
      name: 'resnet',
      config: RESNET_CONFIG,
      preset: 'resnet18',
      methods: RESNET_METHODS,
      data: ['--image-folder', images, '--image-size', '32'],
    },
    { name: 'gpt2', config: GPT2_CONFIG, methods: DECODER_METHODS, python: { python: 'gpt2/lm' } },
    { name: 'llama', config: LLAMA_CONFIG, methods: DECODER_METHODS, python: { python: 'llama/llama' } },
  ];
  // The runs' plans, progress and tables would bury the test's own output.
  const log = console.log;
  const error = console.error;
  const warn = console.warn; // LoRA's note that GPT-2's Conv1D sets fan_in_fan_out
  const write = process.stdout.write;
  console.log = () => {};
  console.error = () => {};
  console.warn = () => {};
  process.stdout.write = () => true;
  try {
    for (const family of families) {
      const dir = join(tmp, family.name);
      const origins: Record<string, { model: string; extra?: string[] }> = family.preset
        ? {
            preset: { model: family.preset },
            'same-head': { model: await checkpoint(join(dir, 'same-head'), family.config, { numLabels: 2 }) },
            'other-head': { model: await checkpoint(join(dir, 'other-head'), family.config, { numLabels: 5 }) },
          }
        : { 'made-here': { model: await checkpoint(join(dir, 'made-here'), family.config, {}) } };
      if (family.name === 'bert')
        origins.mlm = { model: await checkpoint(join(dir, 'mlm'), family.config, { architecture: 'BertForMaskedLM' }) };
      for (const [origin, fixture] of Object.entries(family.python ?? {})) {
        origins[origin] = {
          model: join(root, 'test', 'fixtures', fixture),
          extra: family.name === 'bert' ? ['--tokenizer', smallTokenizer] : [],
        };
      }
      for (const [origin, { model, extra = [] }] of Object.entries(origins)) {
        const python = origin.startsWith('python');
        const channels = family.name === 'alexnet' ? 1 : 3;
        const size = family.name === 'alexnet' ? 64 : 32;
        const inputs = join(dir, `inputs-${origin}.safetensors`);
        const batch = inputsFor(family, channels, size, python ? 100 : 1000);
        await saveSafetensors(inputs, batch);
        for (const method of family.methods) {
          const name = `${family.name}/${origin}/${method}`;
          const out = join(dir, origin, method);
          if (!family.data) {
            const trained = await trainDecoder(model, method, family.config.vocab_size as number, out, batch);
            // 1e-6 relative to the largest logit: the Python decoders' wide initialisation (0.2–0.3) gives logits in
            // the tens, where float32 rounding of another thread count (the fresh processes run one) or of the merged
            // W + BA alone is a few 1e-6.
            const tolerance = 1e-6 * Math.max(1, ...trained.map(Math.abs));
            cases.push({ name, dir: out, inputs, adapter: method !== 'full', trained, tolerance });
            continue;
          }
          const argv = [
            '--model',
            model,
            ...family.data,
            ...extra,
            '--method',
            method,
            '--max-steps',
            '2',
            '--per-device-train-batch-size',
            '4',
            '--seed',
            '3',
            '--report=false',
            '--output-dir',
            out,
          ];
          // Large enough that every method moves its weights visibly in two steps.
          argv.push('--learning-rate', '1e-2');
          if (method === 'gradual') argv.push('--unfreeze-every-steps', '1');
          const trainer = await train(resolveOptions(argv, TRAIN_FLAGS).options);
          const trained = logitsOf(trainer.model, Object.fromEntries(batch) as Record<string, Tensor>);
          trainer.model.dispose();
          cases.push({ name, dir: out, inputs, adapter: ADAPTERS.includes(method), trained, tolerance: 1e-6 });
        }
        for (const t of batch.values()) t.dispose();
      }
    }
  } finally {
    console.log = log;
    console.error = error;
    console.warn = warn;
    process.stdout.write = write;
  }
  const manifest = join(tmp, 'manifest.json');
  writeFileSync(manifest, JSON.stringify(cases.map(({ trained: _, tolerance: __, ...c }) => c)));
  // Two fresh processes, from a working directory that is neither the repository nor the runs' parent.
  const elsewhere = mkdtempSync(join(tmpdir(), 'finetune-elsewhere-'));
  for (const k of [0, 1]) {
    const results = join(tmp, `results-${k}.json`);
    const child = spawnSync(
      process.execPath,
      [join(root, 'build', 'ts', 'test', 'helpers', 'roundtrip-load.js'), manifest, results],
      {
        cwd: elsewhere,
        encoding: 'utf8',
        env: { ...process.env, OMP_NUM_THREADS: '1' },
        timeout: 600_000,
      },
    );
    assert.equal(child.status, 0, child.stderr);
    runs.push(JSON.parse(readFileSync(results, 'utf8')) as Record<string, RoundTripResult>);
  }
  rmSync(elsewhere, { recursive: true, force: true });
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function maxAbsDiff(a: readonly number[], b: readonly number[]): number {
  assert.equal(a.length, b.length, 'logit counts differ');
  return Math.max(...a.map((x, i) => Math.abs(x - b[i])));
}

test('the matrix covers every method × BERT, ViT, AlexNet, ResNet, GPT-2, Llama × every checkpoint origin', () => {
  const has = (pattern: RegExp) => cases.filter((c) => pattern.test(c.name)).length;
  // BERT: preset, same head, other head, MLM, Python's sequence-classification and MLM checkpoints
  assert.equal(has(/^bert\//), 6 * 12);
  assert.equal(has(/^vit\//), 4 * 11);
  assert.equal(has(/^alexnet\//), 3 * 8);
  assert.equal(has(/^resnet\//), 3 * 7);
  // GPT-2 and Llama: made here, and saved by transformers
  assert.equal(has(/^gpt2\//), 2 * 4);
  assert.equal(has(/^llama\//), 2 * 4);
  assert.equal(cases.length, 177);
});

test('a saved model or adapter, loaded in a fresh process, gives the trained logits to 1e-6, the same in two processes', () => {
  const bad: string[] = [];
  for (const c of cases) {
    const [first, second] = runs.map((r) => r[c.name]);
    const diff = maxAbsDiff(first.loaded, c.trained);
    if (!(diff <= c.tolerance)) bad.push(`${c.name}: loaded differs from trained by ${diff}`);
    if (maxAbsDiff(first.loaded, second.loaded) !== 0) bad.push(`${c.name}: two loads differ`);
  }
  assert.deepEqual(bad, []);
});

test('a merged adapter (Conv1D fan_in_fan_out included), loaded in a fresh process, gives the trained logits to 1e-6 (prompt tuning and bottleneck adapters cannot merge, and say why)', () => {
  const bad: string[] = [];
  for (const c of cases.filter((c) => c.adapter)) {
    const [first, second] = runs.map((r) => r[c.name]);
    if (/\/(prompt-tuning|houlsby|pfeiffer)$/.test(c.name)) {
      assert.match(first.mergeError ?? '', /prompt tuning|virtual tokens|nonlinearity/i, c.name);
      continue;
    }
    if (first.mergeError) {
      bad.push(`${c.name}: ${first.mergeError}`);
      continue;
    }
    const diff = maxAbsDiff(first.merged!, c.trained);
    if (!(diff <= c.tolerance)) bad.push(`${c.name}: merged differs from trained by ${diff}`);
    if (maxAbsDiff(first.merged!, second.merged!) !== 0) bad.push(`${c.name}: two merges differ`);
  }
  assert.deepEqual(bad, []);
});

test('every method trained something of its own (the comparison is not of untrained models)', () => {
  // From the same checkpoint, the same data and seed, no two methods end with the same logits.
  const seen = new Map<string, string>();
  for (const c of cases) {
    const key = `${c.name.slice(0, c.name.lastIndexOf('/'))}:${c.trained.map((x) => x.toFixed(6)).join(',')}`;
    assert.ok(!seen.has(key), `${c.name} gives the same logits as ${seen.get(key)}`);
    seen.set(key, c.name);
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { runCli } from './helpers/cli.js';

// `finetune inspect` run as a user runs it: the built CLI in a child process.
const finetune = (...args: string[]) => runCli(args);

interface Row {
  method: string;
  status: 'ok' | 'n/a' | 'error';
  kind: 'freezing' | 'peft';
  trainable?: number;
  total?: number;
  percent?: number;
  reason?: string;
  stages?: { stage: number; groups: string[]; trainable: number; percent: number }[];
  peftLine?: string;
}

interface Report {
  architecture: string;
  numLabels: number;
  total: number;
  groups: { name: string; total: number }[];
  rows: Row[];
}

const scratch = mkdtempSync(join(tmpdir(), 'finetune-inspect-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

// A tiny BERT classifier: the counts below are worked out from its shapes, not from finetune.
const h = 32;
const layers = 2;
const inter = 64;
const vocab = 100;
const positions = 40;
const types = 2;
const labels = 3;
const tinyBert = join(scratch, 'tiny-bert');
mkdirSync(tinyBert);
writeFileSync(
  join(tinyBert, 'config.json'),
  JSON.stringify({
    model_type: 'bert',
    architectures: ['BertForSequenceClassification'],
    hidden_size: h,
    num_hidden_layers: layers,
    num_attention_heads: 2,
    intermediate_size: inter,
    vocab_size: vocab,
    max_position_embeddings: positions,
    type_vocab_size: types,
    num_labels: labels,
  }),
);

const linear = (inF: number, outF: number) => inF * outF + outF;
const embeddings = (vocab + positions + types) * h + 2 * h; // three tables + LayerNorm
const layerParams = 3 * linear(h, h) + linear(h, h) + 2 * h + linear(h, inter) + linear(inter, h) + 2 * h;
const pooler = linear(h, h);
const classifier = linear(h, labels);
const total = embeddings + layers * layerParams + pooler + classifier;
const head = pooler + classifier;
const layerBiases = 3 * h + h + h + inter + h + h; // q, k, v, attention output, LayerNorm, intermediate, output, LayerNorm
const layerNorms = 2 * h + layers * 2 * (2 * h);

test("inspect --model bert-base-uncased --method lora prints PEFT's trainable-parameters line for the seed's config", () => {
  const run = finetune('inspect', '--model', 'bert-base-uncased', '--method', 'lora');
  assert.equal(run.code, 0, run.stderr);
  const lines = run.stdout.split('\n');
  assert.ok(lines.includes('trainable params: 296,450 || all params: 109,780,228 || trainable%: 0.2700'), run.stdout);
  assert.match(run.stdout, /^bert-base-uncased: BertForSequenceClassification, 2 labels, 109,483,778 parameters$/m);
  assert.match(
    run.stdout,
    /^lora \*\s+296,450\s+109,780,228\s+0\.27%\s+rank r=8, α=32 on 24 layers \(query, value\) \+ head copy \(classifier\)$/m,
  );
  assert.match(run.stdout, /PEFT rows count as PEFT's get_nb_trainable_parameters/);
});

test('inspect --json on a config.json folder: every row equals the count worked out from the shapes', () => {
  const run = finetune('inspect', '--model', tinyBert, '--json');
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as Report;
  assert.equal(report.architecture, 'BertForSequenceClassification');
  assert.equal(report.numLabels, labels);
  assert.equal(report.total, total);
  assert.deepEqual(
    report.groups.map((g) => g.name),
    ['embeddings', 'encoder.layer.0', 'encoder.layer.1', 'head'],
  );
  const rows = new Map(report.rows.map((r) => [r.method, r]));
  assert.deepEqual(
    [...rows.keys()],
    ['full', 'head', 'top-k', 'gradual', 'bitfit', 'ln', 'houlsby', 'pfeiffer', 'lora', 'dora', 'ia3', 'prompt-tuning'],
  );
  for (const row of report.rows) assert.equal(row.status, 'ok', `${row.method}: ${row.reason}`);

  const counts = (method: string) => [rows.get(method)!.trainable, rows.get(method)!.total];
  // Freezing rows: over the base model.
  assert.deepEqual(counts('full'), [total, total]);
  assert.deepEqual(counts('head'), [head, total]);
  assert.deepEqual(counts('top-k'), [head + layerParams, total], 'k = round(3 / 4) = 1 group below the head');
  assert.deepEqual(counts('bitfit'), [head + h + layers * layerBiases, total]);
  assert.deepEqual(counts('ln'), [head + layerNorms, total]);
  const stages = rows.get('gradual')!.stages!;
  assert.deepEqual(
    stages.map((s) => s.trainable),
    [head, head + layerParams, head + 2 * layerParams, total],
  );
  assert.deepEqual(stages[1].groups, ['encoder.layer.1', 'head']);
  assert.ok(Math.abs(stages[0].percent - (100 * head) / total) < 1e-9);

  // PEFT rows: PEFT's counts over the wrapped model (adapters and the classifier's trainable copy included in the total).
  const peft = (method: string, added: number) =>
    assert.deepEqual(counts(method), [added + classifier, total + added + classifier], method);
  const lora = layers * 2 * (h * 8 + 8 * h); // query and value: A [8, h], B [h, 8]
  peft('lora', lora);
  peft('dora', lora + layers * 2 * h); // + a magnitude per output feature
  peft('ia3', layers * (h + h + h + inter)); // key, value (outputs); attention.output.dense, output.dense (inputs: PEFT's suffix match)
  const m = Math.max(1, Math.floor(h / 16));
  const adapter = linear(h, m) + linear(m, h);
  peft('houlsby', layers * 2 * adapter);
  peft('pfeiffer', layers * adapter);
  peft('prompt-tuning', 20 * h);
  assert.equal(
    rows.get('lora')!.peftLine,
    `trainable params: ${(lora + classifier).toLocaleString('en-US')} || all params: ${(total + lora + classifier).toLocaleString('en-US')} || trainable%: ${((100 * (lora + classifier)) / (total + lora + classifier)).toFixed(4)}`,
  );
});

test('inspect text output: thousands separators, 2-decimal %, top-k names k, stages explained, --num-labels and --k', () => {
  const run = finetune(
    'inspect',
    '--model',
    tinyBert,
    '--method',
    'full,top-k,gradual',
    '--num-labels',
    '5',
    '--k',
    '2',
  );
  assert.equal(run.code, 0, run.stderr);
  const total5 = total - classifier + linear(h, 5);
  const grouped = (n: number) => n.toLocaleString('en-US');
  assert.match(
    run.stdout,
    new RegExp(`^full\\s+${grouped(total5)}\\s+${grouped(total5)}\\s+100\\.00%\\s+every parameter$`, 'm'),
  );
  const top2 = pooler + linear(h, 5) + 2 * layerParams;
  assert.match(
    run.stdout,
    new RegExp(
      `^top-k \\(k=2\\)\\s+${grouped(top2)}\\s+${grouped(total5)}\\s+${((100 * top2) / total5).toFixed(2)}%\\s+the head and the 2 layer groups below it \\(encoder\\.layer\\.0, encoder\\.layer\\.1\\)$`,
      'm',
    ),
  );
  assert.match(run.stdout, /^gradual unfreezing\s+\S+–\S+\s+\S+\s+[\d.]+–100\.00%/m);
  assert.match(run.stdout, /a stage is one step of the schedule/);
  assert.match(run.stdout, /1: [\d.]+ · 2: [\d.]+ · 3: [\d.]+ · 4: 100\.00/);
});

test('inspect marks methods that do not apply as n/a with the reason; DoRA on a CNN wraps its convolutions', () => {
  const run = finetune('inspect', '--model', 'alexnet', '--method', 'ln,lora,dora,ia3,prompt-tuning', '--json');
  assert.equal(run.code, 0, run.stderr);
  const rows = (JSON.parse(run.stdout) as Report).rows;
  assert.deepEqual(
    rows.map((r) => [r.method, r.status]),
    [
      ['ln', 'n/a'],
      ['lora', 'ok'],
      ['dora', 'ok'],
      ['ia3', 'n/a'],
      ['prompt-tuning', 'n/a'],
    ],
  );
  assert.match(rows[0].reason!, /no LayerNorm or GroupNorm/);
  // DoRA = LoRA on AlexNet's five Conv2d + a magnitude per output channel (64 + 192 + 384 + 256 + 256)
  assert.equal(rows[2].trainable! - rows[1].trainable!, 64 + 192 + 384 + 256 + 256);
  assert.match(rows[3].reason!, /no default IA3 targets for model_type 'alexnet'/);
  assert.match(rows[4].reason!, /text models only/);
  const text = finetune('inspect', '--model', 'alexnet', '--method', 'ln');
  assert.match(text.stdout, /^ln\s+n\/a \(AlexNet has no LayerNorm or GroupNorm\)$/m);
});

test('inspect errors: usage errors exit 2 listing what is known, runtime errors exit 1', () => {
  const preset = finetune('inspect', '--model', 'bert-huge');
  assert.equal(preset.code, 2);
  assert.match(
    preset.stderr,
    /unknown model 'bert-huge'.*presets: .*bert-base-uncased.*alexnet.*resnet50.*vit-base-patch16-224/,
  );
  const method = finetune('inspect', '--model', 'alexnet', '--method', 'lora,qlora');
  assert.equal(method.code, 2);
  assert.match(
    method.stderr,
    /unknown method 'qlora' \(known: full, head, top-k, gradual, bitfit, ln, houlsby, pfeiffer, lora, dora, ia3, prompt-tuning, all/,
  );
  assert.equal(finetune('inspect').code, 2);
  const flag = finetune('inspect', '--model', 'alexnet', '--rank', '4');
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /unknown flag --rank/);
  const k = finetune('inspect', '--model', tinyBert, '--method', 'top-k', '--k', '4');
  assert.equal(k.code, 2);
  assert.match(k.stderr, /--k must be at most 3/);
  assert.equal(finetune('inspect', '--model', tinyBert, '--num-labels', '0').code, 2);

  const empty = join(scratch, 'empty');
  mkdirSync(empty);
  const noConfig = finetune('inspect', '--model', empty);
  assert.equal(noConfig.code, 1);
  assert.match(noConfig.stderr, /has no config\.json/);
  const broken = join(scratch, 'broken');
  mkdirSync(broken);
  writeFileSync(join(broken, 'config.json'), '{ "model_type": ');
  const badJson = finetune('inspect', '--model', broken);
  assert.equal(badJson.code, 1);
  assert.match(badJson.stderr, /not valid JSON/);
  const target = finetune('inspect', '--model', tinyBert, '--method', 'lora', '--target', 'nowhere');
  assert.equal(target.code, 1);
  assert.match(target.stdout, /^lora\s+error \(Target modules \["nowhere"\] not found/m);

  const help = finetune('inspect', '--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: finetune inspect --model <preset\|dir>/);
  assert.match(finetune('--help').stdout, /finetune inspect/);
});

/**
 * End to end: the training commands of the CLI on a tiny BERT (random init from a config folder made
 * here: hidden 32, 2 layers) and SST-2's 200 training rows — train with LoRA, eval, predict, merge,
 * the files on disk, exit codes, a YAML config, advise and compare. Each command runs as a child
 * process (`node dist/cli/main.js …`) with one libtorch thread, so a busy machine slows it little.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { formatBytes, formatNumber, formatSeconds } from '../src/report/index.js';
import { readJson, runCli, SST2_DEV, SST2_TRAIN, writeTinyBertModelFolder } from './helpers/cli.js';

let tmp = '';
let modelDir = '';
let lora = '';

const finetune = (...args: string[]) => runCli(args);

/** Two classes of 6 RGB 8×8 images in folder/<class>/: bright left half, or bright right half. */
async function writeImageFolder(folder: string): Promise<void> {
  const { PNG } = (await import('pngjs')).default;
  for (const [label, bright] of [
    ['left', (x: number) => x < 4],
    ['right', (x: number) => x >= 4],
  ] as const) {
    mkdirSync(join(folder, label), { recursive: true });
    for (let k = 0; k < 6; k++) {
      const png = new PNG({ width: 8, height: 8 });
      for (let i = 0; i < 64; i++)
        png.data.set([bright(i % 8) ? 200 + k : 20, bright(i % 8) ? 180 : 30 + k, 40, 255], i * 4);
      writeFileSync(join(folder, label, `${k}.png`), PNG.sync.write(png));
    }
  }
}

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'finetune-cli-'));
  modelDir = writeTinyBertModelFolder(join(tmp, 'tiny-bert')); // with its own tokenizer (what --tokenizer defaults to)
  lora = join(tmp, 'lora');
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('finetune train: LoRA on a tiny BERT prints the plan, progress and epoch table, and writes the documented layout', () => {
  const run = finetune(
    'train',
    '--model',
    modelDir,
    '--train-file',
    SST2_TRAIN,
    '--eval-file',
    SST2_DEV,
    '--max-eval-samples',
    '64',
    '--labels',
    'negative,positive',
    '--method',
    'lora',
    '--max-length',
    '32',
    '--max-steps',
    '4',
    '--save-steps',
    '2',
    '--logging-steps',
    '1',
    '--output-dir',
    lora,
  );
  assert.equal(run.code, 0, run.stderr);
  const out = run.stdout;
  assert.match(out, /random init \(.*config\.json but no model\.safetensors\)/);
  assert.match(
    out,
    /data: train 200 from .*train-200\.tsv \(text: sentence, label: label; labels negative: 98, positive: 102\)/,
  );
  assert.match(out, /eval 64 from .*dev\.tsv \(text: content\)/);
  assert.match(out, /tokenizer: .*tiny-bert\/tokenizer\.json; max length 32/);
  assert.match(out, /method: lora — LoRA r=8, α=32/);
  assert.match(out, /trainable params: [\d,]+ \|\| all params: [\d,]+ \|\| trainable%: \d+\.\d{4}/);
  assert.match(out, /lr 2e-4: LoRA default/);
  assert.match(out, /4 optimizer steps: 1 epoch\(s\)/);
  assert.match(out, /step 4\/4 \(100%\)/);
  assert.match(out, /epoch\s+train_loss\s+valid_loss\s+accuracy\s+f1\s+time\n1\s+\d/);
  assert.match(out, /final evaluation \(step 4\): eval_loss \d/);

  const files = readdirSync(lora).sort();
  for (const name of [
    'adapter_config.json',
    'adapter_model.safetensors',
    'base_model',
    'checkpoint-2',
    'checkpoint-4',
    'loss.png',
    'lr.png',
    'metrics.jsonl',
    'metrics.png',
    'report.html',
    'run_config.json',
    'tokenizer.json',
    'tokenizer_config.json',
    'trainer_state.json',
    'vocab.txt',
  ]) {
    assert.ok(files.includes(name), `${name} in ${files.join(', ')}`);
  }
  assert.ok(!files.includes('model.safetensors'), 'an adapter run writes the adapter, not the model');
  for (const name of ['config.json', 'model.safetensors'])
    assert.ok(existsSync(join(lora, 'base_model', name)), `base_model/${name}`);
  for (const name of [
    'adapter_model.safetensors',
    'adapter_config.json',
    'optimizer.safetensors',
    'scheduler.json',
    'trainer_state.json',
    'training_args.json',
  ]) {
    assert.ok(existsSync(join(lora, 'checkpoint-4', name)), `checkpoint-4/${name}`);
  }
  const adapter = readJson(join(lora, 'adapter_config.json'));
  assert.equal(adapter.peft_type, 'LORA');
  assert.equal(adapter.r, 8);
  assert.deepEqual([...(adapter.target_modules as string[])].sort(), ['query', 'value']);
  assert.equal(adapter.base_model_name_or_path, join(lora, 'base_model'));
  const base = readJson(join(lora, 'base_model', 'config.json'));
  assert.deepEqual(base.id2label, { 0: 'negative', 1: 'positive' });
  const runConfig = readJson(join(lora, 'run_config.json'));
  assert.equal(runConfig.strategy, 'lora');
  assert.deepEqual(runConfig.labels, ['negative', 'positive']);
  assert.equal(runConfig.text_column, 'sentence');
  assert.equal(runConfig.max_length, 32);
  assert.ok(
    (runConfig.trainable_params as number) > 0 &&
      (runConfig.trainable_params as number) < (runConfig.total_params as number),
  );
  assert.ok((runConfig.peak_rss_bytes as number) > 10e6);
  const state = readJson(join(lora, 'trainer_state.json'));
  assert.equal(state.global_step, 4);
  assert.ok((state.total_flos as number) > 0, 'FLOs are estimated for a text model');
  // The last line: how fast (the Trainer's train_samples_per_second) and how much memory (run_config.json's peak_rss_bytes)
  const summary = (state.log_history as Record<string, number>[]).find((e) => 'train_samples_per_second' in e);
  const lastLine = out.trim().split('\n').at(-1) ?? '';
  assert.equal(
    lastLine,
    `done in ${formatSeconds(runConfig.train_seconds as number)}: ${formatNumber(summary?.train_samples_per_second as number, 3)} samples/s, peak memory ${formatBytes(runConfig.peak_rss_bytes as number)} (the process's peak resident set size)`,
  );
  const entries = readFileSync(join(lora, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number>);
  assert.equal(entries.filter((e) => 'loss' in e).length, 4, 'a training log every step');
  assert.ok(entries.some((e) => 'eval_accuracy' in e && e.step === 4));
  assert.match(readFileSync(join(lora, 'report.html'), 'utf8'), /^<!doctype html>/);
  assert.deepEqual([...readFileSync(join(lora, 'loss.png')).subarray(1, 4)], [0x50, 0x4e, 0x47]);
});

test('finetune eval reads the adapter folder back: the metrics the run ended with', () => {
  const run = finetune('eval', '--model', lora, '--eval-file', SST2_DEV, '--max-eval-samples', '64', '--json');
  assert.equal(run.code, 0, run.stderr);
  const metrics = JSON.parse(run.stdout) as Record<string, number>;
  assert.equal(metrics.examples, 64);
  const final = (readJson(join(lora, 'trainer_state.json')).log_history as Record<string, number>[])
    .filter((e) => 'eval_accuracy' in e)
    .at(-1)!;
  assert.equal(metrics.eval_accuracy, final.eval_accuracy);
  assert.ok(Math.abs(metrics.eval_loss - final.eval_loss) < 1e-5, `${metrics.eval_loss} vs ${final.eval_loss}`);
  const text = finetune('eval', '--model', lora, '--eval-file', SST2_DEV, '--max-eval-samples', '64');
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /model: .*base_model \+ adapter .*lora \(2 labels: negative, positive\)/);
  assert.match(text.stdout, /eval_accuracy\s+\d\.\d{4}/);
});

test('finetune predict prints labels with scores (top-k), from texts or a file', () => {
  const run = finetune(
    'predict',
    '--model',
    lora,
    '--text',
    'a gripping, beautifully acted film',
    '--text',
    'dull and far too long',
    '--top-k',
    '2',
    '--json',
  );
  assert.equal(run.code, 0, run.stderr);
  const rows = run.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { input: string; predictions: { label: string; score: number }[] });
  assert.equal(rows.length, 2);
  assert.equal(rows[0].input, 'a gripping, beautifully acted film');
  for (const row of rows) {
    assert.deepEqual(row.predictions.map((p) => p.label).sort(), ['negative', 'positive']);
    assert.ok(Math.abs(row.predictions[0].score + row.predictions[1].score - 1) < 1e-5);
    assert.ok(row.predictions[0].score >= row.predictions[1].score);
  }
  const inputs = join(tmp, 'inputs.txt');
  writeFileSync(inputs, 'one long string of cliches .\n\nit is a gem\n');
  const text = finetune('predict', '--model', lora, '--file', inputs);
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[1], /^it is a gem\s+(negative|positive) 0\.\d{4}$/);
  const none = finetune('predict', '--model', lora);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /nothing to predict/);
});

test('finetune merge folds the adapter into a plain checkpoint that evaluates the same', () => {
  const merged = join(tmp, 'merged');
  const run = finetune('merge', '--adapter', lora, '--output-dir', merged);
  assert.equal(run.code, 0, run.stderr);
  const files = readdirSync(merged).sort();
  assert.deepEqual(files, [
    'config.json',
    'model.safetensors',
    'run_config.json',
    'tokenizer.json',
    'tokenizer_config.json',
    'vocab.txt',
  ]);
  const before = JSON.parse(
    finetune('eval', '--model', lora, '--eval-file', SST2_DEV, '--max-eval-samples', '64', '--json').stdout,
  ) as Record<string, number>;
  const after = finetune('eval', '--model', merged, '--eval-file', SST2_DEV, '--max-eval-samples', '64', '--json');
  assert.equal(after.code, 0, after.stderr);
  const metrics = JSON.parse(after.stdout) as Record<string, number>;
  assert.equal(metrics.eval_accuracy, before.eval_accuracy);
  assert.ok(Math.abs(metrics.eval_loss - before.eval_loss) < 1e-4, `${metrics.eval_loss} vs ${before.eval_loss}`);
});

test('exit codes: a bad data file is 1 and names file:line; usage errors are 2; a NaN loss is 3', () => {
  const bad = join(tmp, 'bad.tsv');
  writeFileSync(bad, 'label\tsentence\n0\ta fine film\n1\ttoo\tmany fields\n');
  const badRun = finetune('train', '--model', modelDir, '--train-file', bad, '--output-dir', join(tmp, 'bad-out'));
  assert.equal(badRun.code, 1, badRun.stderr);
  assert.match(badRun.stderr, /bad\.tsv:3: 3 fields, the header has 2/);

  const missing = finetune('train', '--model', modelDir, '--train-file', join(tmp, 'nope.tsv'));
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope\.tsv does not exist/);
  const typo = finetune('train', '--model', modelDir, '--train-file', SST2_TRAIN, '--lerning-rate', '1e-3');
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /unknown flag --lerning-rate \(did you mean --learning-rate\?\)/);
  const conflict = finetune(
    'train',
    '--model',
    modelDir,
    '--train-file',
    SST2_TRAIN,
    '--warmup-steps',
    '3',
    '--warmup-ratio',
    '0.1',
  );
  assert.equal(conflict.code, 2);
  assert.match(conflict.stderr, /give --warmup-steps \(3\) or --warmup-ratio \(0\.1\), not both/);
  const method = finetune('train', '--model', modelDir, '--train-file', SST2_TRAIN, '--method', 'lorra');
  assert.equal(method.code, 2);
  assert.match(method.stderr, /unknown method 'lorra'/);

  const nan = finetune(
    'train',
    '--model',
    modelDir,
    '--train-file',
    SST2_TRAIN,
    '--method',
    'full',
    '--learning-rate',
    '1e30',
    '--max-grad-norm',
    '0',
    '--max-steps',
    '3',
    '--max-length',
    '32',
    '--output-dir',
    join(tmp, 'nan'),
    '--report=false',
  );
  assert.equal(nan.code, 3, nan.stderr);
  assert.match(
    nan.stderr,
    /training stopped at step \d+ \(epoch \d+, batch \d+ of \d+\): the (loss|gradient norm) is (NaN|Infinity|-Infinity) \(--nan-policy stop\)\. .*pass --nan-policy skip/,
  );

  const help = finetune('train', '--help');
  assert.equal(help.code, 0);
  assert.match(
    help.stdout,
    /Exit codes:\n  0  done\n  1  runtime error[^\n]*\n  2  usage error[^\n]*\n  3  training stopped/,
  );
  assert.match(help.stdout, /--per-device-train-batch-size N/);
});

test('finetune train --config run.yaml: snake, kebab and camel keys; flags override the file', () => {
  const out = join(tmp, 'yaml');
  const config = join(tmp, 'run.yaml');
  writeFileSync(
    config,
    [
      '# a head-only run',
      `model: ${modelDir}`,
      `train_file: ${SST2_TRAIN}`,
      'validation-split: 0.2',
      'method: head',
      'maxLength: 32',
      'max_steps: 3',
      'labels: [negative, positive]',
      'learning_rate: 1e-3',
      `output_dir: ${out}`,
      '',
    ].join('\n'),
  );
  const run = finetune('train', '--config', config, '--max-steps', '2');
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /eval 40 held out \(--validation-split 0\.2, stratified, seed 42\)/);
  assert.match(run.stdout, /lr 1e-3 \(learningRate\)/);
  assert.equal(readJson(join(out, 'trainer_state.json')).global_step, 2);
  assert.ok(existsSync(join(out, 'model.safetensors')), 'a freezing method saves the whole model');
  assert.equal(readJson(join(out, 'run_config.json')).strategy, 'head');
  // eval without a file splits the run's training file again (run_config.json): the run's final evaluation.
  const shown = finetune('eval', '--model', out, '--json');
  assert.equal(shown.code, 0, shown.stderr);
  const metrics = JSON.parse(shown.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
  const evals = (readJson(join(out, 'trainer_state.json')).log_history as Record<string, number>[]).filter(
    (e) => typeof e.eval_loss === 'number',
  );
  assert.deepEqual([metrics.examples, metrics.eval_loss], [40, evals.at(-1)!.eval_loss]);

  writeFileSync(config, `model: ${modelDir}\nlearning_rat: 3\n`);
  const typo = finetune('train', '--config', config);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /run\.yaml:2: unknown key 'learning_rat' \(did you mean learning-rate\?\)/);
});

test('finetune advise: the strategy and the numbers behind it, for small and large data', () => {
  const small = finetune('advise', '--train-file', SST2_TRAIN);
  assert.equal(small.code, 0, small.stderr);
  assert.match(small.stdout, /data: 200 labelled examples/);
  assert.match(small.stdout, /recommendation: lora\n\s+or: head/);
  assert.match(small.stdout, /200 labelled examples: tiny data \(< 1,000\) → head only or LoRA/);
  assert.match(small.stdout, /2 classes, about 100 examples per class \(the smallest has 98\)/);

  const large = finetune('advise', '--examples', '250000', '--tasks', '3', '--json');
  assert.equal(large.code, 0, large.stderr);
  const advice = JSON.parse(large.stdout) as { method: string; band: string; multiTask: boolean; reasons: string[] };
  assert.equal(advice.band, 'large');
  assert.equal(advice.method, 'full');
  assert.equal(advice.multiTask, true);
  assert.ok(advice.reasons.some((r) => /250,000 labelled examples: large data/.test(r)));
  // full updates the pretrained weights (its registration says so): one adapter per task is houlsby instead.
  assert.ok(advice.reasons.some((r) => /3 tasks: a multi-task model.*--method houlsby per task\)$/.test(r)));

  const medium = finetune('advise', '--examples', '50000', '--domain', 'far');
  assert.match(medium.stdout, /recommendation: full \(--discriminative-lr 2\.6\)/);
  assert.match(medium.stdout, /domain far from pretraining: more layers trainable/);
});

test('finetune compare: two methods, the same budget and seed, one table and comparison.html/png', () => {
  const out = join(tmp, 'compare');
  const run = finetune(
    'compare',
    '--model',
    modelDir,
    '--train-file',
    SST2_TRAIN,
    '--eval-file',
    SST2_DEV,
    '--max-eval-samples',
    '32',
    '--methods',
    'head,lora',
    '--max-steps',
    '2',
    '--max-length',
    '32',
    '--learning-rate',
    '1e-3',
    '--output-dir',
    out,
  );
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /comparing head, lora on .*: 2 steps each, seed 42, one child process per run \(2 runs\)/);
  // each run: a line as it starts, one as it ends
  assert.match(run.stdout, /^\[1\/2\] head: training \(log: .*head\.log\)$/m);
  assert.match(run.stdout, /^\[2\/2\] lora: done in \d+\.\d s, accuracy 0\.\d{4}$/m);
  const table = run.stdout.split('\n').filter((l) => /^(strategy|head|lora)\s/.test(l));
  assert.equal(table.length, 3, run.stdout);
  assert.match(table[0], /strategy\s+lr\s+trainable params\s+%\s+accuracy\s+train time\s+peak memory/);
  assert.match(table[1], /^head\s+1e-3\s+[\d,]+\s+[\d.]+%\s+0\.\d+\s+\d+\.\d s\s+[\d.]+ MiB$/);
  assert.match(table[2], /^lora\s+1e-3\s+[\d,]+\s+[\d.]+%\s+0\.\d+\s+\d+\.\d s\s+[\d.]+ MiB$/);
  assert.match(run.stdout, /^lr: 1e-3 for every method \(--learning-rate\)\.$/m);
  for (const name of ['comparison.html', 'comparison.png', 'comparison.md', 'results.json', 'head.log', 'lora.log'])
    assert.ok(existsSync(join(out, name)), name);
  for (const method of ['head', 'lora']) assert.equal(readJson(join(out, method, 'trainer_state.json')).global_step, 2);
});

test('finetune compare: each method picks its lr by a sweep on a validation split of the training data; the eval file scores only the chosen run', () => {
  const out = join(tmp, 'compare-sweep');
  const run = finetune(
    'compare',
    '--model',
    modelDir,
    '--train-file',
    SST2_TRAIN,
    '--eval-file',
    SST2_DEV,
    '--max-eval-samples',
    '48',
    '--methods',
    'head',
    '--max-steps',
    '4',
    '--max-length',
    '32',
    '--output-dir',
    out,
  );
  assert.equal(run.code, 0, run.stderr);
  const results = readJson(join(out, 'results.json')) as { rows: Array<Record<string, unknown>> };
  const row = results.rows[0];
  const sweep = row.sweep as Array<{
    lr: number;
    validationAccuracy: number;
    validationLoss: number;
    outcome: string;
    dir: string;
  }>;
  // no rates given: head's default lr (1e-3) × 1, 3, 10
  assert.deepEqual(
    sweep.map((r) => r.lr),
    [1e-3, 3e-3, 1e-2],
  );
  for (const [i, r] of sweep.entries()) {
    assert.equal(r.outcome, 'done');
    const config = readJson(join(r.dir, 'run_config.json'));
    // trained on 90% of the training file, validated on the other 10% — never on the eval file
    assert.deepEqual(
      [config.learning_rate, config.train_examples, config.eval_examples, config.validation_split, config.eval_file],
      [r.lr, 180, 20, 0.1, undefined],
    );
    const state = readJson(join(r.dir, 'trainer_state.json'));
    const lastEval = (state.log_history as Record<string, number>[]).filter((e) => 'eval_accuracy' in e).at(-1);
    assert.deepEqual([r.validationAccuracy, r.validationLoss], [lastEval?.eval_accuracy, lastEval?.eval_loss]);
    assert.ok(
      !readdirSync(r.dir).some((f) => f.startsWith('checkpoint-')),
      'a sweep run keeps its model, no checkpoints',
    );
    // progress: a line as it starts, a few while it trains (by quarters: not every step), one as it ends
    const tag = `[${i + 1}/3] head · lr ${['1e-3', '3e-3', '1e-2'][i]}`;
    const lines = run.stdout.split('\n').filter((l) => l.startsWith(`${tag}: `));
    assert.match(lines[0], /: training \(log: .*\.log\)$/);
    // (and the run's end-of-training warnings, which a 4-step run on random weights earns)
    const progress = lines.slice(1, -1).filter((l) => !l.includes(': warning: '));
    assert.ok(
      progress.every((l) => /: \[epoch 1\/1\] step [1-3]\/4 /.test(l)) && progress.length >= 1 && progress.length <= 3,
      lines.join('\n'),
    );
    assert.match(lines.at(-1) ?? '', /: done in \d+\.\d s, validation accuracy 0\.\d{4}, loss \d\.\d{4}$/);
  }
  // the chosen rate: the best validation accuracy, then the lower loss, then the smaller rate
  const best = [...sweep].sort(
    (a, b) => b.validationAccuracy - a.validationAccuracy || a.validationLoss - b.validationLoss || a.lr - b.lr,
  )[0];
  assert.equal(row.lr, best.lr);
  assert.equal(row.dir, best.dir);
  // the table's accuracy is the chosen run's on the eval file, as finetune eval measures it
  const evaluated = finetune(
    'eval',
    '--model',
    best.dir,
    '--eval-file',
    SST2_DEV,
    '--max-eval-samples',
    '48',
    '--json',
  );
  assert.equal(evaluated.code, 0, evaluated.stderr);
  assert.equal(row.accuracy, (JSON.parse(evaluated.stdout) as Record<string, number>).eval_accuracy);
  const lr = ['1e-3', '3e-3', '1e-2'][sweep.indexOf(best)];
  assert.match(
    run.stdout,
    new RegExp(
      `^head\\s+${lr}\\s+[\\d,]+\\s+[\\d.]+%\\s+${formatNumber(row.accuracy as number).replace('.', '\\.')}\\s`,
      'm',
    ),
  );
  assert.match(run.stdout, /^accuracy: on .*dev\.tsv, which took no part in choosing the lr\.$/m);
  assert.match(
    readFileSync(join(out, 'comparison.md'), 'utf8'),
    new RegExp(
      `^head: validation accuracy \\(loss\\) by lr 1e-3 [\\d.]+ \\([\\d.]+\\), 3e-3 [\\d.]+ \\([\\d.]+\\), 1e-2 [\\d.]+ \\([\\d.]+\\) → ${lr}\\.$`,
      'm',
    ),
  );

  // one rate and a sweep at once, or a rate that is not a number: usage errors before anything trains
  const both = finetune(
    'compare',
    '--model',
    modelDir,
    '--train-file',
    SST2_TRAIN,
    '--eval-file',
    SST2_DEV,
    '--learning-rate',
    '1e-3',
    '--learning-rates',
    '1e-3,1e-2',
    '--output-dir',
    join(tmp, 'compare-bad'),
  );
  assert.equal(both.code, 2);
  assert.match(
    both.stderr,
    /give --learning-rate \(one rate for every method\) or --learning-rates \(a sweep\), not both/,
  );
  const bad = finetune(
    'compare',
    '--model',
    modelDir,
    '--train-file',
    SST2_TRAIN,
    '--eval-file',
    SST2_DEV,
    '--learning-rates',
    '1e-3,fast',
    '--output-dir',
    join(tmp, 'compare-bad'),
  );
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--learning-rates: 'fast' is not a positive number/);
  assert.ok(!existsSync(join(tmp, 'compare-bad')), 'nothing was written');
});

test('libtorch prints no NNPACK warning: NNPACK is off where it cannot initialise, and doctor says so', async () => {
  const folder = join(tmp, 'nnpack-images');
  await writeImageFolder(folder);
  // Batches of one image are where libtorch's convolution asks NNPACK (it takes oneDNN for larger ones); where NNPACK
  // cannot initialise, libtorch warned once per convolution (76 lines for this run before NNPACK was turned off).
  const run = finetune(
    'train',
    '--model',
    'resnet18',
    '--image-folder',
    folder,
    '--validation-split',
    '0.25',
    '--image-size',
    '32',
    '--max-steps',
    '1',
    '--per-device-eval-batch-size',
    '1',
    '--report=false',
    '--output-dir',
    join(tmp, 'nnpack'),
  );
  assert.equal(run.code, 0, run.stderr);
  assert.doesNotMatch(run.stderr + run.stdout, /NNPACK/);
  const info = JSON.parse(finetune('doctor', '--json').stdout) as { nnpack: { available: boolean; enabled: boolean } };
  assert.equal(info.nnpack.enabled, info.nnpack.available, 'NNPACK is on exactly where it initialises');
  assert.match(
    finetune('doctor').stdout,
    info.nnpack.available ? /^nnpack\s+on/m : /^nnpack\s+off: NNPACK cannot initialise on this CPU/m,
  );
});

test('finetune train on images with a one-channel model (alexnet-small): grayscale input, its preprocessor_config.json, DoRA on its convolutions', async () => {
  const folder = join(tmp, 'images');
  await writeImageFolder(folder);
  const out = join(tmp, 'gray');
  const run = finetune(
    'train',
    '--model',
    'alexnet-small',
    '--image-folder',
    folder,
    '--validation-split',
    '0.25',
    '--image-size',
    '64',
    '--method',
    'dora',
    '--max-steps',
    '2',
    '--per-device-train-batch-size',
    '4',
    '--output-dir',
    out,
  );
  assert.equal(run.code, 0, run.stderr + run.stdout);
  assert.match(run.stdout, /images: grayscale, resized to 64×64, normalised with mean \[0\.459\] and std \[0\.226\]/);
  assert.match(run.stdout, /method: dora — DoRA r=8, α=32, dropout 0\.1 on 5 modules/);
  const pre = readJson(join(out, 'preprocessor_config.json'));
  assert.deepEqual(
    [pre.image_mean, pre.image_std, pre.do_convert_rgb],
    [[0.299 * 0.485 + 0.587 * 0.456 + 0.114 * 0.406], [0.299 * 0.229 + 0.587 * 0.224 + 0.114 * 0.225], false],
  );
  // The trained folder evaluates with the same preprocessing
  const evaluated = finetune('eval', '--model', out, '--image-folder', folder);
  assert.equal(evaluated.code, 0, evaluated.stderr + evaluated.stdout);
  assert.match(evaluated.stdout, /eval_accuracy\s+[\d.]+/);
});

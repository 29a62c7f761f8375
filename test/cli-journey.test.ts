/**
 * The two journeys of issue 13 that broke, as a user runs them: each command a child process
 * (`node dist/cli/main.js …`) started in a folder outside the repository, on data made here.
 * 1. `finetune pretrain` an MLM BERT (no pooler), LoRA on it: predict twice gives the same
 *    scores; eval of the adapter, of the merged model and training's final evaluation agree.
 * 2. LoRA on a pretrained 5-class CNN with 2-class images: eval, predict and merge work and agree.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pngjs from 'pngjs';

import { runCli, SST2_TRAIN } from './helpers/cli.js';

let user = '';

function finetune(...args: string[]) {
  const run = runCli(args, { cwd: user, timeout: 180_000 });
  return { ...run, all: `${run.stdout}\n${run.stderr}` };
}

function json(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(user, path), 'utf8')) as Record<string, unknown>;
}

/** `eval_accuracy 0.5450` → 0.545, from train's final line or eval's table. */
function accuracy(output: string): number {
  const match = /eval_accuracy\s+([\d.]+)/.exec(output);
  assert.ok(match, `no eval_accuracy in:\n${output}`);
  return Number(match[1]);
}

before(() => {
  user = mkdtempSync(join(tmpdir(), 'finetune-user-'));
  // Reviews as a user's CSV (columns review,sentiment), from SST-2's first 200 training rows
  const rows = readFileSync(SST2_TRAIN, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split('\t'));
  const csv = (part: string[][]) =>
    'review,sentiment\n' +
    part.map(([label, text]) => `"${text.replace(/"/g, '""')}",${label === '1' ? 'positive' : 'negative'}`).join('\n') +
    '\n';
  writeFileSync(join(user, 'train.csv'), csv(rows.slice(0, 160)));
  writeFileSync(join(user, 'test.csv'), csv(rows.slice(160)));
  // Images in 5 classes (the "pretraining" data) and in 2 others (the user's): stripes at 5 angles, or a bright left / right half
  const draw = (folder: string, label: string, pixel: (x: number, y: number, k: number) => number) => {
    mkdirSync(join(user, folder, label), { recursive: true });
    for (let k = 0; k < 4; k++) {
      const png = new pngjs.PNG({ width: 32, height: 32 });
      for (let i = 0; i < 1024; i++) {
        const v = pixel(i % 32, Math.floor(i / 32), k);
        png.data.set([v, v, v, 255], i * 4);
      }
      writeFileSync(join(user, folder, label, `${k}.png`), pngjs.PNG.sync.write(png));
    }
  };
  for (let c = 0; c < 5; c++)
    draw('five', `class${c}`, (x, y, k) =>
      Math.floor((x * Math.cos(c) + y * Math.sin(c)) / 3) % 2 ? 220 - k : 30 + k,
    );
  draw('shapes', 'left', (x, _, k) => (x < 16 ? 210 + k : 25));
  draw('shapes', 'right', (x, _, k) => (x >= 16 ? 210 + k : 25));
});

after(() => {
  if (user) rmSync(user, { recursive: true, force: true });
});

test('LoRA on an MLM checkpoint without pooler: the pooler trains with the adapter; predict is the same twice; eval of the adapter, the merged model and training agree', () => {
  const pre = finetune(
    'pretrain',
    '--model',
    'bert-tiny',
    '--text-file',
    'train.csv',
    '--max-steps',
    '5',
    '--output-dir',
    'mlm-tiny',
  );
  assert.equal(pre.code, 0, pre.all);
  const trained = finetune(
    'train',
    '--model',
    'mlm-tiny',
    '--train-file',
    'train.csv',
    '--eval-file',
    'test.csv',
    '--method',
    'lora',
    '--max-steps',
    '6',
    '--learning-rate',
    '1e-3',
    '--output-dir',
    'lora',
  );
  assert.equal(trained.code, 0, trained.all);
  assert.match(trained.stdout, /newly initialised: bert\.pooler\.dense\.weight/);
  assert.match(trained.stdout, /\+ a trainable copy of the head and of bert\.pooler\.dense \(not in the checkpoint\)/);
  const adapterConfig = json('lora/adapter_config.json');
  assert.deepEqual(adapterConfig.modules_to_save, ['bert.pooler.dense', 'classifier', 'score']);
  assert.equal(
    adapterConfig.base_model_name_or_path,
    join(user, 'mlm-tiny'),
    'the base is recorded as an absolute path',
  );
  const first = finetune('predict', '--model', 'lora', '--text', 'not bad at all .');
  const second = finetune('predict', '--model', 'lora', '--text', 'not bad at all .');
  assert.equal(first.code, 0, first.all);
  assert.equal(first.stdout, second.stdout);
  assert.doesNotMatch(first.stderr, /newly initialized|random/, 'no module is left random at load');
  const adapterEval = finetune('eval', '--model', 'lora', '--eval-file', 'test.csv');
  assert.equal(adapterEval.code, 0, adapterEval.all);
  assert.equal(
    accuracy(adapterEval.stdout),
    accuracy(trained.stdout.slice(trained.stdout.indexOf('final evaluation'))),
  );
  const merged = finetune('merge', '--adapter', 'lora', '--output-dir', 'merged');
  assert.equal(merged.code, 0, merged.all);
  const mergedEval = finetune('eval', '--model', 'merged', '--eval-file', 'test.csv');
  assert.equal(mergedEval.code, 0, mergedEval.all);
  assert.equal(accuracy(mergedEval.stdout), accuracy(adapterEval.stdout));
  // Head-only on the MLM checkpoint learns nothing here, and the advice says why
  const head = finetune(
    'train',
    '--model',
    'mlm-tiny',
    '--train-file',
    'train.csv',
    '--eval-file',
    'test.csv',
    '--method',
    'head',
    '--max-steps',
    '3',
    '--output-dir',
    'head',
  );
  assert.equal(head.code, 0, head.all);
  assert.match(head.stderr, /^warning: evaluation accuracy 0\.\d{4} \(step 3\) is (at|below) the majority-class rate/m);
  assert.match(
    head.stderr,
    /this checkpoint had no pooler: masked-language pretraining never trains the \[CLS\] features the head reads; a method that trains the network \(--method lora, full\)/,
  );
  // The adapter still finds its base from another working directory
  const elsewhere = runCli(['predict', '--model', join(user, 'lora'), '--text', 'not bad at all .'], { cwd: tmpdir() });
  assert.equal(elsewhere.code, 0, elsewhere.stderr);
  assert.equal(elsewhere.stdout, first.stdout);
});

test('LoRA on a pretrained 5-class CNN with 2-class images: eval, predict and merge rebuild the 2-class head and agree', () => {
  const base = finetune(
    'train',
    '--model',
    'alexnet-small',
    '--image-folder',
    'five',
    '--image-size',
    '64',
    '--method',
    'full',
    '--max-steps',
    '2',
    '--output-dir',
    'cnn-5',
  );
  assert.equal(base.code, 0, base.all);
  assert.equal((json('cnn-5/config.json') as { num_classes?: number }).num_classes, 5);
  const lora = finetune(
    'train',
    '--model',
    'cnn-5',
    '--image-folder',
    'shapes',
    '--validation-split',
    '0.25',
    '--method',
    'lora',
    '--max-steps',
    '4',
    '--learning-rate',
    '3e-3',
    '--output-dir',
    'cnn-lora',
  );
  assert.equal(lora.code, 0, lora.all);
  assert.match(lora.stdout, /newly initialised: classifier\.6\.weight, classifier\.6\.bias/);
  const evaluated = finetune('eval', '--model', 'cnn-lora', '--image-folder', 'shapes');
  assert.equal(evaluated.code, 0, evaluated.all);
  // Without a folder, eval splits the run's training folder again (run_config.json): the run's final evaluation.
  const shown = finetune('eval', '--model', 'cnn-lora');
  assert.equal(shown.code, 0, shown.all);
  assert.match(
    shown.stdout,
    /images held out of \S*shapes \(the run's --validation-split 0\.25, seed 42, stratified\)/,
  );
  const heldOut = finetune('eval', '--model', 'cnn-lora', '--json');
  assert.equal(heldOut.code, 0, heldOut.all);
  const history = (json('cnn-lora/trainer_state.json').log_history as Record<string, number>[]).filter(
    (e) => typeof e.eval_loss === 'number',
  );
  const metrics = JSON.parse(heldOut.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
  assert.equal(metrics.eval_loss, history.at(-1)!.eval_loss);
  // From another folder too: 'shapes' is found from the folder train ran in (run_config.json's working_dir).
  const elsewhere = runCli(['eval', '--model', join(user, 'cnn-lora'), '--json'], { cwd: tmpdir() });
  assert.equal(elsewhere.code, 0, elsewhere.stderr);
  assert.equal(
    (JSON.parse(elsewhere.stdout.trim().split('\n').at(-1)!) as Record<string, number>).eval_loss,
    metrics.eval_loss,
  );
  const predicted = finetune('predict', '--model', 'cnn-lora', join('shapes', 'left', '0.png'), '--json');
  assert.equal(predicted.code, 0, predicted.all);
  assert.match(predicted.stdout, /"left"|"right"/);
  assert.doesNotMatch(predicted.stdout, /class[0-4]/, "the labels are the adapter's, not the base's");
  // PEFT's two files alone (an adapter from Python): the head size comes from the head's shape in the adapter file
  mkdirSync(join(user, 'bare-lora'));
  for (const name of ['adapter_config.json', 'adapter_model.safetensors'])
    copyFileSync(join(user, 'cnn-lora', name), join(user, 'bare-lora', name));
  const bare = finetune('predict', '--model', 'bare-lora', join('shapes', 'left', '0.png'), '--json');
  assert.equal(bare.code, 0, bare.all);
  const scores = (out: string) =>
    (JSON.parse(out) as { predictions: { score: number }[] }).predictions.map((p) => p.score);
  assert.deepEqual(scores(bare.stdout), scores(predicted.stdout));
  assert.match(bare.stdout, /"LABEL_[01]"/, "no class names without run_config.json, and not the base's");
  const merged = finetune('merge', '--adapter', 'cnn-lora', '--output-dir', 'cnn-merged');
  assert.equal(merged.code, 0, merged.all);
  assert.equal((json('cnn-merged/config.json') as { num_classes?: number }).num_classes, 2);
  const mergedEval = finetune('eval', '--model', 'cnn-merged', '--image-folder', 'shapes');
  assert.equal(mergedEval.code, 0, mergedEval.all);
  assert.equal(accuracy(mergedEval.stdout), accuracy(evaluated.stdout));
  assert.equal(
    finetune('predict', '--model', 'cnn-merged', join('shapes', 'left', '0.png'), '--json').stdout,
    predicted.stdout,
  );
});

test('a method that would train exactly what --method head trains is refused, naming what to use: ln on AlexNet, bitfit on ResNet', () => {
  const ln = finetune(
    'train',
    '--model',
    'alexnet-small',
    '--image-folder',
    'shapes',
    '--image-size',
    '64',
    '--method',
    'ln',
    '--max-steps',
    '1',
    '--output-dir',
    'ln',
  );
  assert.equal(ln.code, 2, ln.all);
  assert.match(ln.stderr, /--method ln trains LayerNorm \/ GroupNorm weights, and AlexNet has none .*--method head/);
  const bitfit = finetune(
    'train',
    '--model',
    'resnet18',
    '--image-folder',
    'shapes',
    '--image-size',
    '32',
    '--method',
    'bitfit',
    '--max-steps',
    '1',
    '--output-dir',
    'bitfit',
  );
  assert.equal(bitfit.code, 2, bitfit.all);
  assert.match(
    bitfit.stderr,
    /--method bitfit trains every bias, and ResNet has none outside the head and its BatchNorm layers.*--train-bn false/,
  );
  // Without BatchNorm training, BitFit on a ResNet is a method of its own (BatchNorm biases and the head)
  const own = finetune(
    'train',
    '--model',
    'resnet18',
    '--image-folder',
    'shapes',
    '--image-size',
    '32',
    '--method',
    'bitfit',
    '--train-bn',
    'false',
    '--max-steps',
    '1',
    '--output-dir',
    'bitfit',
  );
  assert.equal(own.code, 0, own.all);
});

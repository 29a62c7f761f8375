// The learning-rate range test that refuses to suggest from a flat or noisy curve, Trainer.lrFind
// (fastai's Learner.lr_find), `finetune lr-find`, and `finetune train --learning-rate auto`: on a
// tiny BERT (hidden 64, one layer) and a keyword task it learns in a few dozen steps, against the
// same sentences with random labels, whose curve cannot fall. CLI runs are child processes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  data,
  functional as F,
  getRngState,
  manualSeed,
  models,
  nn,
  optim,
  randn,
  setNumThreads,
  setRngState,
  tensor,
  tidy,
  Trainer,
  TrainingArguments,
  type Tensor,
} from 'finetune';
import { TINY_BERT, writeKeywordCsv, writeTinyBertFolder } from './helpers/keyword-data.js';
import { snapshot, ROOT } from './helpers/trainer-setup.js';
import { readJson, runCli } from './helpers/cli.js';

setNumThreads(1);

let tmp = '';
let modelDir = '';
let keywords = '';
let randomLabels = '';

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'finetune-lr-find-'));
  modelDir = writeTinyBertFolder(join(tmp, 'tiny-bert'));
  keywords = writeKeywordCsv(join(tmp, 'keywords.csv'));
  randomLabels = writeKeywordCsv(join(tmp, 'random-labels.csv'), { randomLabels: true });
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function finetune(...args: string[]) {
  return runCli([...args, '--threads', '1'], { cwd: tmp, timeout: 180_000 });
}

/** Seeded standard normal numbers (Box–Muller on a small LCG), for curves with a known noise. */
function gaussians(n: number, seed: number): number[] {
  let s = seed;
  const u = () => ((s = (s * 1103515245 + 12345) % 2147483648) + 1) / 2147483649;
  return Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

test('lrCurve measures the fall and the batch-to-batch noise; a trend does not pass for noise', () => {
  const noise = gaussians(200, 7).map((z) => 0.1 * z);
  const flat = noise.map((e) => 1 + e);
  const falling = noise.map((e, i) => 1 - i / 400 + e);
  for (const raw of [flat, falling]) {
    const curve = optim.lrCurve([1, 2], [1, 0.9], raw, 11);
    assert.ok(Math.abs(curve.rawNoise - 0.1) < 0.015, `σ estimated ${curve.rawNoise}, true 0.1`);
    // σ·√(1/11 + 0.02/1.98): the start averages 11 losses, the EMA's own wander
    assert.ok(Math.abs(curve.noise - curve.rawNoise * Math.sqrt(1 / 11 + 0.02 / 1.98)) < 1e-12);
    assert.ok(Math.abs(curve.drop - 0.1) < 1e-12);
    assert.equal(curve.minLr, 2);
  }
});

test("lrFind refuses a flat curve (lrs too small to train) and a noisy one (targets unrelated to inputs), saying why; minDrop 0 gives fastai's suggestions anyway", async () => {
  manualSeed(0);
  const model = new nn.Linear(8, 1);
  const x = randn([256, 8]);
  const signal = tidy(() => x.matmul(randn([8, 1])).add(0.5));
  const noise = randn([256, 1]);
  /** The loss on 16 rows (batch i), or on all 256 when i is null. */
  const batchLoss = (target: Tensor, i: number | null) =>
    tidy(() => {
      const rows = tensor(
        Array.from({ length: i === null ? 256 : 16 }, (_, k) => (i === null ? k : (i * 16 + k) % 256)),
        { dtype: 'int64' },
      );
      const pick = (t: Tensor) => t.indexSelect(0, rows);
      const loss = F.mseLoss(model.forward(pick(x)) as Tensor, pick(target));
      loss.backward();
      return Number(loss.item());
    });
  const optimizer = new optim.SGD(model.parameters(), { lr: 0.01 });

  // The learnable problem, whole batches, at lrs from 1e-9 to 1e-8: the loss hardly moves.
  const tiny = await optim.lrFind({
    optimizer,
    model,
    trainStep: () => batchLoss(signal, null),
    startLr: 1e-9,
    endLr: 1e-8,
  });
  assert.deepEqual(tiny.suggestions, {});
  assert.match(
    tiny.refused ?? '',
    /^the smoothed loss never falls more than 5\.0% below its start: at best [\d.]+ → [\d.]+ \(0\.0%\): a flat curve/,
  );
  assert.ok(tiny.curve!.drop > 0 && tiny.curve!.drop < 1e-4, `drop ${tiny.curve!.drop}`);

  // Batches of 16 at the same lrs: the smoothed loss wanders a few % below its start by chance, which
  // fastai's minimum would take for a fall; it is within its noise.
  const chance = await optim.lrFind({
    optimizer,
    model,
    trainStep: (i) => batchLoss(signal, i),
    startLr: 1e-9,
    endLr: 1e-8,
  });
  assert.deepEqual(chance.suggestions, {});
  assert.match(
    chance.refused ?? '',
    /^the fall of the smoothed loss, [\d.]+ → [\d.]+ \([\d.]+%\), is less than 3× its noise \(±[\d.]+; the raw loss varies by ±[\d.]+ from batch to batch\)/,
  );
  assert.ok(chance.curve!.drop >= 0.05, `a fall of ${chance.curve!.drop} is not flat, only noise`);

  // Targets that are noise: whatever the lr, the loss cannot fall below the noise's variance.
  const noisy = await optim.lrFind({ optimizer, model, trainStep: (i) => batchLoss(noise, i), endLr: 1 });
  assert.deepEqual(noisy.suggestions, {});
  assert.ok(noisy.refused !== undefined, 'a curve of noise is refused');

  // The learnable problem over the usual range falls by far more than 5% and its noise: suggestions.
  const real = await optim.lrFind({ optimizer, model, trainStep: (i) => batchLoss(signal, i) });
  assert.equal(real.refused, undefined, real.refused);
  assert.ok(
    real.curve!.drop > 0.3 && real.curve!.startLoss - real.curve!.minLoss > 3 * real.curve!.noise,
    JSON.stringify(real.curve),
  );
  assert.deepEqual(Object.keys(real.suggestions).sort(), ['minimum', 'steep', 'valley']);

  // fastai's behaviour: suggest from any curve.
  const anyway = await optim.lrFind({
    optimizer,
    model,
    trainStep: () => batchLoss(signal, null),
    startLr: 1e-9,
    endLr: 1e-8,
    minDrop: 0,
    minSignalToNoise: 0,
  });
  assert.equal(anyway.refused, undefined);
  assert.ok(anyway.suggestions.valley !== undefined);
  for (const t of [x, signal, noise]) t.dispose();
});

async function keywordTrainer(file: string): Promise<Trainer> {
  const tokenizer = data.Tokenizer.fromFile(join(ROOT, 'data/bert-base-uncased/tokenizer.json'));
  const dataset = await data.TextClassificationDataset.fromFile(file, {
    textColumn: 'text',
    labelColumn: 'label',
    tokenizer,
    maxLength: 16,
  });
  manualSeed(0);
  const config = models.bertConfigFromHf({ ...TINY_BERT, num_labels: 2 });
  const model = new models.BertForSequenceClassification(config);
  return new Trainer({
    model,
    args: new TrainingArguments({ outputDir: join(tmp, 'unused'), perDeviceTrainBatchSize: 16, seed: 0 }),
    trainDataset: dataset,
    log: null,
  });
}

test('Trainer.lrFind: a falling curve on learnable data gives suggestions and restores weights, optimizer and generator; random labels are refused', async () => {
  const trainer = await keywordTrainer(keywords);
  const weights = snapshot(trainer.model);
  const generator = getRngState();
  const result = await trainer.lrFind();
  assert.equal(result.refused, undefined, result.refused);
  assert.ok(result.curve!.drop > 0.1, `the smoothed loss falls ${(100 * result.curve!.drop).toFixed(1)}%`);
  const valley = result.suggestions.valley!;
  assert.ok(valley > 1e-4 && valley < 1e-1, `valley ${valley}`);
  assert.deepEqual(snapshot(trainer.model), weights, 'weights restored');
  assert.equal(trainer.optimizer!.state.size, 0, 'the optimizer has no state left');
  assert.equal(trainer.optimizer!.paramGroups[0].lr, trainer.learningRate);
  const next = Array.from(randn([6]).data() as Float32Array);
  setRngState(generator);
  assert.deepEqual(
    Array.from(randn([6]).data() as Float32Array),
    next,
    'the generator is where it was before the range test',
  );

  const flat = await (await keywordTrainer(randomLabels)).lrFind();
  assert.deepEqual(flat.suggestions, {});
  assert.match(flat.refused ?? '', /smoothed loss/);
  assert.ok(flat.curve!.drop < 0.05, `drop ${flat.curve!.drop}`);
});

test('finetune lr-find: suggestions and the curve for learnable data; for random labels, exit 1 with why and what to try', () => {
  const ok = finetune(
    'lr-find',
    '--model',
    modelDir,
    '--train-file',
    keywords,
    '--max-length',
    '16',
    '--per-device-train-batch-size',
    '16',
    '--output-dir',
    'lr-ok',
  );
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /suggested lr: \S+\s+valley/);
  assert.match(ok.stdout, /curve: smoothed loss 0\.\d+ → 0\.\d+ \(\d+% fall, noise ±[\d.]+\), \d+ steps/);
  assert.match(ok.stdout, /then: finetune train … --method full --learning-rate \S+/);

  const flat = finetune(
    'lr-find',
    '--model',
    modelDir,
    '--train-file',
    randomLabels,
    '--max-length',
    '16',
    '--per-device-train-batch-size',
    '16',
    '--output-dir',
    'lr-flat',
  );
  assert.equal(flat.code, 1, flat.stdout + flat.stderr);
  assert.doesNotMatch(flat.stdout, /suggested lr/);
  assert.match(
    flat.stderr,
    /finetune lr-find: no suggestion: the (smoothed loss never falls|fall of the smoothed loss)/,
  );
  assert.match(flat.stderr, /try: .*--num-it 200.*--per-device-train-batch-size 64/);
  const saved = readJson(join(tmp, 'lr-flat', 'lr_find.json'));
  assert.deepEqual(saved.suggestions, {});
  assert.equal(typeof saved.refused, 'string');
});

test('finetune train --learning-rate auto: trains at the valley from the same start as that lr given by hand; falls back to the default with a warning on a flat curve (YAML learning_rate: auto)', () => {
  const common = [
    '--model',
    modelDir,
    '--train-file',
    keywords,
    '--validation-split',
    '0.2',
    '--max-length',
    '16',
    '--per-device-train-batch-size',
    '16',
    '--num-train-epochs',
    '6',
    '--disable-tqdm',
    '--report=false',
  ];
  const auto = finetune('train', ...common, '--learning-rate', 'auto', '--output-dir', 'auto');
  assert.equal(auto.code, 0, auto.stderr);
  const line = /learning rate auto: (\S+) \(lr-find valley; smoothed loss [\d.]+ → [\d.]+ \(\d+% fall/.exec(
    auto.stdout,
  );
  assert.ok(line, auto.stdout);
  const recorded = readJson(join(tmp, 'auto', 'run_config.json'));
  assert.equal(recorded.learning_rate, Number(line[1]));
  assert.match(String(recorded.learning_rate_reason), /lr-find valley/);
  assert.equal((recorded.learning_rate_auto as { source: string }).source, 'lr-find');
  assert.deepEqual(recorded.training_warnings, []);
  assert.doesNotMatch(auto.stderr, /warning:/);

  const byHand = finetune('train', ...common, '--learning-rate', line[1], '--output-dir', 'by-hand');
  assert.equal(byHand.code, 0, byHand.stderr);
  assert.ok(
    readFileSync(join(tmp, 'auto', 'model.safetensors')).equals(
      readFileSync(join(tmp, 'by-hand', 'model.safetensors')),
    ),
    'the range test leaves the run as it would have been',
  );

  writeFileSync(
    join(tmp, 'auto.yaml'),
    `model: ${modelDir}\ntrain_file: ${randomLabels}\nvalidation_split: 0.2\nmax_length: 16\nmax_steps: 10\nlearning_rate: auto\n`,
  );
  const flat = finetune(
    'train',
    '--config',
    join(tmp, 'auto.yaml'),
    '--output-dir',
    'auto-flat',
    '--disable-tqdm',
    '--report=false',
  );
  assert.equal(flat.code, 0, flat.stderr);
  assert.match(
    flat.stderr,
    /warning: learning rate auto: lr-find suggests nothing — the (smoothed loss never falls|fall of the smoothed loss).*; training at the method's default instead, 2e-5/,
  );
  assert.match(flat.stdout, /lr 2e-5: BERT full fine-tuning default/);
  const fallback = readJson(join(tmp, 'auto-flat', 'run_config.json'));
  assert.equal(fallback.learning_rate, 2e-5);
  assert.equal((fallback.learning_rate_auto as { source: string }).source, 'fallback');

  const bad = finetune('train', '--model', modelDir, '--train-file', keywords, '--learning-rate', 'fast');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--learning-rate expects a number or auto, got 'fast'/);
  const resumed = finetune(
    'train',
    '--model',
    modelDir,
    '--train-file',
    keywords,
    '--learning-rate',
    'auto',
    '--resume-from-checkpoint',
  );
  assert.equal(resumed.code, 2);
  assert.match(resumed.stderr, /--learning-rate auto does not apply to --resume-from-checkpoint/);
});

// The end-of-training checks (train.diagnoseTraining): accuracy at the majority-class rate of the
// evaluation data and a training loss that did not move, on hand-made logs (the arithmetic at its
// boundaries) and on real runs of a tiny BERT on a keyword task — too low an lr learns nothing and
// is flagged, a working one is not —; `finetune train` prints and records them, `finetune compare`
// shows them. CLI runs are child processes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { data, manualSeed, models, setNumThreads, train, Trainer, TrainingArguments } from 'finetune';
import { TINY_BERT, writeKeywordCsv, writeTinyBertFolder } from './helpers/keyword-data.js';
import { ROOT } from './helpers/trainer-setup.js';
import { runCli } from './helpers/cli.js';

setNumThreads(1);

let tmp = '';
let modelDir = '';
let keywords = '';

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'finetune-warnings-'));
  modelDir = writeTinyBertFolder(join(tmp, 'tiny-bert'));
  keywords = writeKeywordCsv(join(tmp, 'keywords.csv'));
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function finetune(...args: string[]) {
  return runCli([...args, '--threads', '1'], { cwd: tmp, timeout: 180_000 });
}

const losses = (...values: number[]): train.LogEntry[] =>
  values.map((loss, i) => ({ loss, learning_rate: 1e-3, epoch: i + 1, step: 10 * (i + 1) }));

test('diagnoseTraining: accuracy within 2 standard errors of the majority-class rate, and a loss that moved less than 5%, are flagged with their numbers', () => {
  const labels = [...Array<number>(70).fill(0), ...Array<number>(30).fill(1)]; // majority 0.7 of 100: 2·√(0.7·0.3/100) = 0.0917
  const evalAt = (accuracy: number): train.LogEntry[] => [
    ...losses(0.7, 0.3),
    { eval_loss: 0.5, eval_accuracy: accuracy, epoch: 2, step: 20 },
  ];
  const options = { evalLabels: labels, labelNames: ['negative', 'positive'] };

  const chance = train.diagnoseTraining(evalAt(0.79), options);
  assert.deepEqual(
    chance.map((w) => w.kind),
    ['chance-accuracy'],
  );
  assert.equal(chance[0].details.majorityRate, 0.7);
  assert.ok(Math.abs(chance[0].details.margin - 2 * Math.sqrt(0.21 / 100)) < 1e-12);
  assert.match(
    chance[0].message,
    /^evaluation accuracy 0\.7900 \(step 20\) is at the majority-class rate of the evaluation data, 0\.7000 \(always 'negative'; 100 examples, ±0\.0917 is chance\)/,
  );
  assert.deepEqual(train.diagnoseTraining(evalAt(0.8), options), [], '0.80 is more than 2 standard errors above 0.70');
  assert.match(train.diagnoseTraining(evalAt(0.5), options)[0].message, /is below the majority-class rate/);
  assert.deepEqual(train.diagnoseTraining(evalAt(0.5), {}), [], 'no labels, no accuracy check');

  // the first logged loss against the mean of the last (up to 3, at most half of the) logs
  const flat = train.diagnoseTraining(losses(0.7, 0.69, 0.69, 0.68));
  assert.deepEqual(
    flat.map((w) => w.kind),
    ['flat-loss'],
  );
  assert.ok(Math.abs(flat[0].details.change - (0.7 - 0.685) / 0.7) < 1e-12);
  assert.match(
    flat[0].message,
    /^the training loss did not fall: 0\.7000 at step 10 → 0\.6850 over the last 2 logs \(steps 30–40\), 2\.1% lower/,
  );
  assert.deepEqual(train.diagnoseTraining(losses(0.7, 0.5, 0.4, 0.3)), []);
  assert.deepEqual(train.diagnoseTraining(losses(0.7, 0.66)), [], 'a 5.7% fall counts as moving');
  const rose = train.diagnoseTraining(losses(0.5, 0.6, 0.7, 0.8));
  assert.deepEqual(
    rose.map((w) => w.kind),
    ['rising-loss'],
  );
  assert.match(rose[0].message, /rose: 0\.5000 at step 10 → 0\.7500 .*50\.0% higher/);
  assert.deepEqual(train.diagnoseTraining(losses(0.7)), [], 'one log says nothing');
});

test('diagnoseTraining: a perplexity no lower than the unigram baseline (training counts + 1 over the vocabulary) is flagged', () => {
  // p(1) = (3 + 1) / (4 + 4), p(2) = (1 + 1) / 8: exp(-(ln 0.5 + ln 0.25) / 2) = 2√2
  const unigram = { trainTokens: [1, 1, 1, 2], evalTokens: [1, 2], vocabSize: 4 };
  const evalAt = (perplexity: number): train.LogEntry[] => [
    ...losses(3, 1),
    { eval_loss: Math.log(perplexity), eval_perplexity: perplexity, epoch: 2, step: 20 },
  ];
  const flagged = train.diagnoseTraining(evalAt(2.9), { unigram });
  assert.deepEqual(
    flagged.map((w) => w.kind),
    ['unigram-perplexity'],
  );
  assert.ok(Math.abs(flagged[0].details.unigramPerplexity - 2 * Math.SQRT2) < 1e-12);
  assert.match(
    flagged[0].message,
    /^evaluation perplexity 2\.90 \(step 20\) is no lower than 2\.83, the perplexity of predicting each token by its frequency in the training data \(2 evaluation tokens\)/,
  );
  assert.deepEqual(train.diagnoseTraining(evalAt(2.8), { unigram }), []);
  assert.deepEqual(train.diagnoseTraining(evalAt(2.9)), [], 'no tokens, no perplexity check');
});

test('diagnoseTraining on real runs: a tiny GPT-2 at lr 1e-6 stays above the unigram perplexity and is flagged; at 1e-2 it is not', async () => {
  const tokenizer = data.Tokenizer.fromFile(join(ROOT, 'test/fixtures/causal-lm/gpt2-style'));
  const text = Array.from(
    { length: 60 },
    (_, i) => `the ${['old', 'brave', 'kind'][i % 3]} king rode to the ${['sea', 'hill'][i % 2]} .`,
  );
  const trainSet = await data.CausalLmDataset.fromTexts(text.slice(0, 48), { tokenizer, blockSize: 16 });
  const evalSet = await data.CausalLmDataset.fromTexts(text.slice(48), { tokenizer, blockSize: 16 });
  const unigram = {
    trainTokens: trainSet.predictedTokens(),
    evalTokens: evalSet.predictedTokens(),
    vocabSize: tokenizer.vocabSize,
  };
  const run = async (learningRate: number) => {
    manualSeed(0);
    const model = new models.GPT2LMHeadModel({ ...models.GPT2_PRESETS['gpt2-tiny'], vocabSize: tokenizer.vocabSize });
    const trainer = new Trainer({
      model,
      args: new TrainingArguments({
        outputDir: join(tmp, `lm-${learningRate}`),
        learningRate,
        numTrainEpochs: 8,
        perDeviceTrainBatchSize: 4,
        evalStrategy: 'epoch',
        saveStrategy: 'no',
        loggingSteps: 4,
        seed: 0,
      }),
      trainDataset: trainSet,
      evalDataset: evalSet,
      log: null,
    });
    await trainer.train();
    model.dispose();
    return train.diagnoseTraining(trainer.state.logHistory, { unigram }).map((w) => w.kind);
  };
  assert.deepEqual(await run(1e-6), ['unigram-perplexity', 'flat-loss']);
  assert.deepEqual(await run(1e-2), []);
});

test('diagnoseTraining on real runs: a tiny BERT at lr 1e-6 stays at chance with a flat loss and is flagged; at 3e-3 it learns the keywords and is not', async () => {
  const tokenizer = data.Tokenizer.fromFile(join(ROOT, 'data/bert-base-uncased/tokenizer.json'));
  const dataset = await data.TextClassificationDataset.fromFile(keywords, {
    textColumn: 'text',
    labelColumn: 'label',
    tokenizer,
    maxLength: 16,
  });
  const { train: trainSplit, validation } = data.trainValidationSplit(dataset, { validationFraction: 0.2, seed: 0 });
  const run = async (learningRate: number) => {
    manualSeed(0);
    const model = new models.BertForSequenceClassification(models.bertConfigFromHf({ ...TINY_BERT, num_labels: 2 }));
    const trainer = new Trainer({
      model,
      args: new TrainingArguments({
        outputDir: join(tmp, `run-${learningRate}`),
        learningRate,
        numTrainEpochs: 6,
        perDeviceTrainBatchSize: 16,
        evalStrategy: 'epoch',
        saveStrategy: 'no',
        loggingSteps: 5,
        seed: 0,
      }),
      trainDataset: trainSplit,
      evalDataset: validation,
      log: null,
    });
    await trainer.train();
    const warnings = train.diagnoseTraining(trainer.state.logHistory, {
      evalLabels: validation.targets,
      labelNames: dataset.labelNames,
    });
    const accuracy = trainer.state.logHistory.filter((e) => typeof e.eval_accuracy === 'number').at(-1)!
      .eval_accuracy as number;
    model.dispose();
    return { warnings, accuracy };
  };
  const low = await run(1e-6);
  assert.deepEqual(
    low.warnings.map((w) => w.kind),
    ['chance-accuracy', 'flat-loss'],
    low.warnings.map((w) => w.message).join('\n'),
  );
  const good = await run(3e-3);
  assert.ok(good.accuracy > 0.9, `accuracy ${good.accuracy}`);
  assert.deepEqual(good.warnings, []);
});

test('finetune train warns at the end of a run that learned nothing (the default lr on a tiny random BERT), with the numbers and what to try, and records it; compare shows it', () => {
  const run = finetune(
    'train',
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
    '--output-dir',
    'default-lr',
    '--disable-tqdm',
    '--report=false',
  );
  assert.equal(run.code, 0, run.stderr);
  assert.match(
    run.stderr,
    /^warning: evaluation accuracy 0\.\d{4} \(step 60\) is (at|below) the majority-class rate of the evaluation data, 0\.\d{4} \(always '(negative|positive)'; 40 examples, ±0\.\d{4} is chance\)/m,
  );
  assert.match(
    run.stderr,
    /^warning: the training loss did not fall: 0\.\d{4} at step \d+ → 0\.\d{4} over the last 3 logs/m,
  );
  assert.match(
    run.stderr,
    /^ {2}the run learned little at lr 2e-5: try finetune lr-find \(or --learning-rate auto\), a higher --learning-rate \(2e-4\), or more steps \(--num-train-epochs, --max-steps\)$/m,
  );
  // At 1e-3, full fine-tuning is at the top of its range: the advice stops suggesting a higher lr.
  const high = finetune(
    'train',
    '--model',
    modelDir,
    '--train-file',
    keywords,
    '--validation-split',
    '0.2',
    '--max-length',
    '16',
    '--method',
    'full',
    '--learning-rate',
    '1e-3',
    '--max-steps',
    '2',
    '--output-dir',
    'high-lr',
    '--disable-tqdm',
    '--report=false',
  );
  assert.equal(high.code, 0, high.stderr);
  assert.match(
    high.stderr,
    // The tiny BERT here starts from random weights: no pretraining to forget, so no 1e-3 ceiling on the advice.
    /^ {2}the run learned little at lr 1e-3: try finetune lr-find \(or --learning-rate auto\), a higher --learning-rate \(1e-2\), or more steps \(--num-train-epochs, --max-steps\)$/m,
  );
  const recorded = JSON.parse(readFileSync(join(tmp, 'default-lr', 'run_config.json'), 'utf8')) as {
    training_warnings: string[];
  };
  assert.equal(recorded.training_warnings.length, 3);
  assert.match(recorded.training_warnings[0], /^evaluation accuracy/);

  const compare = finetune(
    'compare',
    '--model',
    modelDir,
    '--train-file',
    keywords,
    '--validation-split',
    '0.2',
    '--max-length',
    '16',
    '--methods',
    'full',
    '--max-steps',
    '20',
    '--output-dir',
    'compare',
  );
  assert.equal(compare.code, 0, compare.stderr);
  assert.match(
    compare.stderr,
    /^warning: full: evaluation accuracy 0\.\d{4} \(step 20\) is (at|below) the majority-class rate/m,
  );
  // compare sweeps full's default lr × 1, 3, 10 and warns about the run it kept
  const chosen = (JSON.parse(readFileSync(join(tmp, 'compare', 'results.json'), 'utf8')) as { rows: { lr: number }[] })
    .rows[0].lr;
  assert.ok([2e-5, 6e-5, 2e-4].includes(chosen), String(chosen));
  assert.match(
    compare.stderr,
    new RegExp(`^warning: full: the run learned little at lr ${chosen.toExponential().replace('+', '')}`, 'm'),
  );
});

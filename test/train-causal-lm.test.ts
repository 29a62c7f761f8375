// Trainer evaluation of causal LMs: eval_loss is the token-weighted mean (the same whatever the
// batch size), eval_perplexity its exp (run_clm.py), and no logits or accuracy are kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { fromTypedArray, manualSeed, noGrad, tidy } from '../src/tensor/index.js';
import { GPT2LMHeadModel, GPT2_PRESETS } from '../src/models/index.js';
import { CausalLmDataset } from '../src/data/index.js';
import { Trainer } from '../src/train/index.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/causal-lm/', import.meta.url));

test('Trainer.evaluate on a causal LM: token-weighted eval_loss, eval_perplexity = exp(eval_loss), no accuracy', async (t) => {
  const outputDir = mkdtempSync(join(tmpdir(), 'train-clm-'));
  t.after(() => rmSync(outputDir, { recursive: true, force: true }));
  const dataset = await CausalLmDataset.fromFile(join(FIXTURES, 'sample.txt'), {
    tokenizer: join(FIXTURES, 'gpt2-style'),
    blockSize: 16,
    packing: false,
  });
  const lengths = Array.from({ length: dataset.length }, (_, i) => dataset.get(i).inputIds.length);
  assert.ok(
    new Set(lengths).size > 1,
    `the examples must differ in length to tell a token mean from an example mean: ${lengths}`,
  );
  manualSeed(0);
  const model = new GPT2LMHeadModel({ ...GPT2_PRESETS['gpt2-tiny'], residPdrop: 0, embdPdrop: 0, attnPdrop: 0 });
  model.eval();
  // The reference: each example alone, its mean loss weighted by the tokens it predicts.
  let lossSum = 0;
  let tokens = 0;
  const collate = dataset.collator();
  for (let i = 0; i < dataset.length; i++) {
    const predicted = dataset
      .get(i)
      .labels.slice(1)
      .filter((id) => id !== -100).length;
    if (predicted === 0) continue; // a one-token line: nothing to predict, a NaN mean
    const loss = tidy(() => noGrad(() => Number(model.forward(collate([dataset.get(i)])).loss!.item())));
    lossSum += loss * predicted;
    tokens += predicted;
  }
  const expected = lossSum / tokens;
  for (const perDeviceEvalBatchSize of [1, 4]) {
    const trainer = new Trainer({
      model,
      args: { outputDir, perDeviceEvalBatchSize },
      evalDataset: dataset,
      log: null,
    });
    const metrics = await trainer.evaluate();
    assert.ok(
      Math.abs(metrics.eval_loss - expected) < 1e-5,
      `batch ${perDeviceEvalBatchSize}: ${metrics.eval_loss} vs ${expected}`,
    );
    assert.equal(metrics.eval_perplexity, Math.exp(metrics.eval_loss));
    assert.equal(metrics.eval_accuracy, undefined);
    const { predictions, labelIds } = await trainer.predict(dataset);
    assert.deepEqual(predictions, []);
    assert.equal(labelIds, null);
  }
});

test('Trainer samplePrompts: each evaluation logs a greedy continuation and keeps it in the log history', async (t) => {
  const outputDir = mkdtempSync(join(tmpdir(), 'train-clm-'));
  t.after(() => rmSync(outputDir, { recursive: true, force: true }));
  const dataset = await CausalLmDataset.fromFile(join(FIXTURES, 'sample.txt'), {
    tokenizer: join(FIXTURES, 'gpt2-style'),
    blockSize: 16,
  });
  manualSeed(0);
  const model = new GPT2LMHeadModel({ ...GPT2_PRESETS['gpt2-tiny'], vocabSize: dataset.tokenizer.vocabSize });
  const lines: string[] = [];
  const prompt = 'the film is';
  const trainer = new Trainer({
    model,
    args: { outputDir, samplePrompts: [prompt], sampleMaxNewTokens: 5, saveStrategy: 'no' },
    evalDataset: dataset,
    log: (line) => lines.push(line),
  });
  await trainer.evaluate();
  // The reference: the model's own greedy generate() on the prompt's ids.
  const ids = (await dataset.tokenizer.encode(prompt)).inputIds;
  const output = model.generate(fromTypedArray(BigInt64Array.from(ids, BigInt), [1, ids.length], { dtype: 'int64' }), {
    maxNewTokens: 5,
  });
  const newIds = Array.from(output.data() as BigInt64Array, Number).slice(ids.length);
  const expected = prompt + (await dataset.tokenizer.decode(newIds, { skipSpecialTokens: true }));
  assert.equal(trainer.state.logHistory.at(-1)!.sample_1, expected);
  assert.ok(lines.includes(`sample: ${JSON.stringify(expected)}`), lines.join('\n'));
});

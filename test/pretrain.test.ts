import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  data,
  fromPretrained,
  LoraConfig,
  loadSafetensors,
  manualSeed,
  models,
  pretrain,
  Trainer,
  type Tensor,
} from 'finetune';

const tokenizer = data.Tokenizer.fromFile('data/bert-base-uncased/tokenizer.json');

test('MLM collator: ≈15 % selected, 80/10/10, special tokens and padding never masked, labels -100 elsewhere', async () => {
  const texts = await pretrain.readTexts('data/sst2/train-200.tsv', { textColumn: 'sentence' });
  const ds = await pretrain.TextLinesDataset.fromTexts(texts, tokenizer, { maxLength: 64 });
  const collator = pretrain.mlmCollator(tokenizer, { seed: 7 });
  const special = new Set(tokenizer.allSpecialIds);
  let maskable = 0,
    selected = 0,
    toMask = 0,
    toRandom = 0,
    kept = 0,
    padSeen = 0;
  for (let round = 0; round < 20; round++) {
    for (let start = 0; start < ds.length; start += 16) {
      const examples: pretrain.TextLinesExample[] = [];
      for (let i = start; i < Math.min(ds.length, start + 16); i++) examples.push(ds.get(i));
      const b = collator.maskBatch(examples);
      b.inputIds.forEach((row, r) => {
        const original = examples[r].inputIds;
        row.forEach((id, c) => {
          const label = b.labels[r][c];
          if (c >= original.length) {
            padSeen++;
            assert.equal(label, -100, 'padding is never selected');
            assert.equal(id, tokenizer.padTokenId);
            return;
          }
          if (special.has(original[c])) {
            assert.equal(label, -100, 'special tokens are never selected');
            assert.equal(id, original[c]);
            return;
          }
          maskable++;
          if (label === -100) {
            assert.equal(id, original[c], 'unselected tokens are unchanged');
            return;
          }
          selected++;
          assert.equal(label, original[c], 'labels hold the original id');
          if (id === tokenizer.maskTokenId) toMask++;
          else if (id === original[c]) kept++;
          else toRandom++;
        });
      });
    }
  }
  assert.ok(padSeen > 0);
  const rate = selected / maskable;
  assert.ok(Math.abs(rate - 0.15) < 0.01, `selected ${rate}`);
  assert.ok(Math.abs(toMask / selected - 0.8) < 0.02, `[MASK] ${toMask / selected}`);
  // A random draw can hit the original token (1/30522): "kept" ≈ 10 % + a hair.
  assert.ok(Math.abs(toRandom / selected - 0.1) < 0.015, `random ${toRandom / selected}`);
  assert.ok(Math.abs(kept / selected - 0.1) < 0.015, `kept ${kept / selected}`);

  // Seeded: the same seed masks the same way; tensors are int64 [B, L].
  const a = pretrain.mlmCollator(tokenizer, { seed: 3 }).maskBatch([ds.get(0), ds.get(1)]);
  const b = pretrain.mlmCollator(tokenizer, { seed: 3 }).maskBatch([ds.get(0), ds.get(1)]);
  assert.deepEqual(a, b);
  const batch = collator.collate([ds.get(0), ds.get(1), ds.get(2)]);
  assert.equal(batch.labels.dtype, 'int64');
  assert.deepEqual(batch.labels.shape, batch.inputIds.shape);
  for (const t of Object.values(batch)) (t as Tensor).dispose();
});

test('MLM collator: whole-word masking selects every piece of a word together', async () => {
  const enc = await tokenizer.encode('unbelievably tokenization embeddings hyperparameters', null, {});
  const ids = Array.from(enc.inputIds);
  const collator = pretrain.mlmCollator(tokenizer, { seed: 1, wholeWordMask: true, mlmProbability: 0.5 });
  const isCont = (id: number): boolean => tokenizer.idToToken(id)!.startsWith('##');
  for (let round = 0; round < 50; round++) {
    const { labels } = collator.maskBatch([{ inputIds: ids }]);
    for (let i = 1; i < ids.length; i++) {
      if (isCont(ids[i])) assert.equal(labels[0][i] !== -100, labels[0][i - 1] !== -100, 'a word is selected whole');
    }
    assert.equal(labels[0][0], -100);
    assert.equal(labels[0][ids.length - 1], -100);
  }
});

test('pretrainMlm: a tiny BERT on train-200, loss falls; saved in HF format; loads back as BertForSequenceClassification', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pretrain-'));
  try {
    const texts = await pretrain.readTexts('data/sst2/train-200.tsv', { textColumn: 'sentence' });
    const trainDataset = await pretrain.TextLinesDataset.fromTexts(texts.slice(0, 180), tokenizer, { maxLength: 32 });
    const evalDataset = await pretrain.TextLinesDataset.fromTexts(texts.slice(180), tokenizer, { maxLength: 32 });
    manualSeed(0);
    const config = {
      vocabSize: tokenizer.vocabSize,
      hiddenSize: 32,
      numHiddenLayers: 2,
      numAttentionHeads: 2,
      intermediateSize: 64,
      maxPositionEmbeddings: 64,
    };
    const model = new models.BertForMaskedLM(config);
    const lines: string[] = [];
    const report = await pretrain.pretrainMlm({
      model,
      tokenizer,
      tokenizerDir: 'data/bert-base-uncased',
      trainDataset,
      evalDataset,
      outputDir: dir,
      maxSteps: 20,
      batchSize: 16,
      learningRate: 3e-3,
      loggingSteps: 5,
      seed: 0,
      log: (l) => lines.push(l),
    });
    assert.equal(report.steps, 20);
    assert.equal(report.log.length, 4);
    assert.ok(
      report.log[3].loss < report.log[0].loss - 0.5,
      `train MLM loss ${report.log.map((e) => e.loss.toFixed(3)).join(' → ')}`,
    );
    assert.ok(
      report.finalEval!.loss < report.initialEval!.loss,
      `held-out ${report.initialEval!.loss} → ${report.finalEval!.loss}`,
    );
    assert.ok(report.finalEval!.accuracy >= 0 && report.finalEval!.accuracy <= 1);
    assert.ok(
      lines.some((l) => /^step 20\/20 .*mlm_loss .*masked_accuracy/.test(l)),
      lines.join('\n'),
    );
    for (const f of [
      'config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
      'vocab.txt',
      'pretrain_report.json',
      'pretrain_report.md',
    ]) {
      assert.ok(existsSync(join(dir, f)), f);
    }
    const saved = (await loadSafetensors(join(dir, 'model.safetensors'))).tensors;
    assert.ok(saved.has('cls.predictions.bias') && saved.has('bert.embeddings.word_embeddings.weight'));
    assert.ok(!saved.has('cls.predictions.decoder.weight'), 'the tied decoder is stored once');

    const warnings: string[] = [];
    const originalWarn = console.warn;
    console.warn = (...a: unknown[]) => void warnings.push(a.join(' '));
    let cls;
    try {
      cls = await fromPretrained(dir, { architecture: 'BertForSequenceClassification', numLabels: 2 });
    } finally {
      console.warn = originalWarn;
    }
    assert.ok(cls instanceof models.BertForSequenceClassification);
    const clsState = cls.stateDict();
    const mlmState = model.stateDict();
    for (const [key, t] of mlmState) {
      if (!key.startsWith('bert.')) continue;
      assert.deepEqual(
        Array.from(clsState.get(key)!.data() as Float32Array),
        Array.from(t.data() as Float32Array),
        `${key} loaded`,
      );
    }
    assert.ok(clsState.has('classifier.weight') && clsState.has('bert.pooler.dense.weight'));
    // The head (classifier, pooler) is new.
    assert.ok(
      warnings.some((w) => /newly initialized/.test(w) && /classifier/.test(w)),
      warnings.join('\n'),
    );

    // config.json records the pretraining lr; the fine-tuning lr rule reads it through the loaded model:
    // a tenth of it for the methods that update the pretrained weights, the method's own default for the others.
    assert.equal(
      (JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { pretraining_learning_rate: number })
        .pretraining_learning_rate,
      3e-3,
    );
    const ruleFor = (strategy: ConstructorParameters<typeof Trainer>[0]['args']) =>
      new Trainer({ model: cls, args: strategy, log: null });
    for (const strategy of [
      undefined,
      { kind: 'top-k', k: 1 },
      { kind: 'gradual-unfreezing', schedule: { every: 'epoch' } },
    ] as const) {
      const trainer = ruleFor({ outputDir: dir, strategy });
      assert.equal(trainer.learningRate, 3e-4, strategy?.kind ?? 'full');
      assert.equal(
        trainer.learningRateReason,
        'lr 3e-4 = pretraining lr 3e-3 / 10 (config.json pretraining_learning_rate)',
      );
    }
    const lora = ruleFor({
      outputDir: dir,
      strategy: new LoraConfig({ taskType: 'SEQ_CLS', targetModules: ['query', 'value'] }),
    });
    assert.equal(lora.learningRate, 2e-4);
    assert.match(
      lora.learningRateReason,
      /LoRA default .*; config\.json pretraining_learning_rate 3e-3 not used: lora trains new or few parameters/,
    );
    for (const t of saved.values()) t.dispose();
    cls.dispose();
    model.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('finetune pretrain records its lr in config.json; finetune train --method full on that checkpoint trains at a tenth of it and says so', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pretrain-cli-'));
  const cli = join(process.cwd(), 'dist', 'cli', 'main.js');
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [cli, ...args, '--threads', '1'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, OMP_NUM_THREADS: '1' },
      timeout: 180_000,
    });
  try {
    const tokenizerDir = join(process.cwd(), 'data', 'bert-base-uncased');
    const texts = join(process.cwd(), 'data', 'sst2', 'train-200.tsv');
    const pretrained = run(
      'pretrain',
      '--model',
      'bert-tiny',
      '--text-file',
      texts,
      '--text-column',
      'sentence',
      '--tokenizer',
      tokenizerDir,
      '--output-dir',
      'mlm',
      '--max-steps',
      '2',
      '--batch-size',
      '8',
      '--max-length',
      '32',
      '--learning-rate',
      '4e-4',
    );
    assert.equal(pretrained.status, 0, pretrained.stderr);
    assert.equal(
      (JSON.parse(readFileSync(join(dir, 'mlm', 'config.json'), 'utf8')) as { pretraining_learning_rate: number })
        .pretraining_learning_rate,
      4e-4,
    );
    const trained = run(
      'train',
      '--model',
      'mlm',
      '--train-file',
      texts,
      '--method',
      'full',
      '--max-length',
      '32',
      '--max-steps',
      '1',
      '--output-dir',
      'full',
      '--disable-tqdm',
      '--report=false',
    );
    assert.equal(trained.status, 0, trained.stderr);
    assert.match(trained.stdout, /^lr 4e-5 = pretraining lr 4e-4 \/ 10 \(config\.json pretraining_learning_rate\)$/m);
    const runConfig = JSON.parse(readFileSync(join(dir, 'full', 'run_config.json'), 'utf8')) as {
      learning_rate: number;
      learning_rate_reason: string;
    };
    assert.equal(runConfig.learning_rate, 4e-5);
    assert.match(runConfig.learning_rate_reason, /pretraining lr 4e-4/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  createModel,
  fromPretrained,
  loadPretrained,
  loadSafetensors,
  memory,
  models,
  savePretrained,
  tensor,
  tidy,
  type nn,
  type Tensor,
} from 'finetune';

const seqcls = 'test/fixtures/bert/seqcls';
const mlm = 'test/fixtures/bert/mlm';
const reference = JSON.parse(readFileSync(join(seqcls, 'reference.json'), 'utf8')) as {
  input_ids: number[][];
  attention_mask: number[][];
  token_type_ids: number[][];
  logits: { values: number[] };
};

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'finetune-pretrained-'));
}

function logitsOf(model: nn.Module): number[] {
  const classifier = model as unknown as {
    eval(): unknown;
    forward(inputs: Record<string, Tensor>): { logits: Tensor };
  };
  classifier.eval();
  return tidy(() => {
    const inputs = {
      inputIds: tensor(reference.input_ids, { dtype: 'int64' }),
      attentionMask: tensor(reference.attention_mask, { dtype: 'int64' }),
      tokenTypeIds: tensor(reference.token_type_ids, { dtype: 'int64' }),
    };
    return Array.from(classifier.forward(inputs).logits.data() as Float32Array);
  });
}

function maxDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  return Math.max(...a.map((x, i) => Math.abs(x - b[i])));
}

test('fromPretrained reads a transformers checkpoint folder and reproduces its logits', async () => {
  const warnings: string[] = [];
  const { model, info } = await loadPretrained(seqcls, { warn: (m) => warnings.push(m) });
  assert.ok(model instanceof models.BertForSequenceClassification);
  assert.deepEqual(info, { missingKeys: [], unexpectedKeys: [], mismatchedKeys: [] });
  assert.deepEqual(warnings, []);
  assert.ok(maxDiff(logitsOf(model), reference.logits.values) < 1e-4);
  model.dispose();
});

test('a different head: new labels need ignoreMismatchedSizes, and the report names the fresh weights', async () => {
  await assert.rejects(
    fromPretrained(seqcls, { numLabels: 5, warn: () => {} }),
    /classifier.weight: checkpoint \[3,32\] vs model \[5,32\][\s\S]*ignoreMismatchedSizes/,
  );
  const warnings: string[] = [];
  const { model, info } = await loadPretrained(seqcls, {
    numLabels: 5,
    ignoreMismatchedSizes: true,
    warn: (m) => warnings.push(m),
  });
  assert.deepEqual(
    info.mismatchedKeys.map((m) => m.key),
    ['classifier.weight', 'classifier.bias'],
  );
  assert.match(
    warnings.join('\n'),
    /Some weights of BertForSequenceClassification were not initialized from the model checkpoint at .* newly initialized: \[classifier.weight, classifier.bias\]/,
  );
  const reloaded = await fromPretrained(seqcls, { warn: () => {} });
  const [a, b] = [model, reloaded].map((m) => m.stateDict().get('bert.encoder.layer.1.output.dense.weight')!);
  assert.ok(a.equal(b), 'backbone weights kept');
  model.dispose();
  reloaded.dispose();
});

test('checkpoints move between architectures: the bert. prefix is added or removed, unused heads reported', async () => {
  const warnings: string[] = [];
  const { model: backbone, info } = await loadPretrained(seqcls, {
    architecture: 'BertModel',
    warn: (m) => warnings.push(m),
  });
  assert.ok(backbone instanceof models.BertModel);
  assert.deepEqual(info.unexpectedKeys.sort(), ['classifier.bias', 'classifier.weight']);
  assert.deepEqual(info.missingKeys, []);
  assert.match(
    warnings[0],
    /were not used when initializing BertModel: \[classifier\.(weight|bias), classifier\.(weight|bias)\]/,
  );

  const dir = scratch();
  await savePretrained(backbone, dir);
  const { model: classifier, info: back } = await loadPretrained(dir, {
    architecture: 'BertForSequenceClassification',
    numLabels: 3,
    warn: () => {},
  });
  assert.deepEqual(back.missingKeys, ['classifier.weight', 'classifier.bias']);
  const key = 'encoder.layer.0.attention.self.query.weight';
  assert.ok(classifier.stateDict().get(`bert.${key}`)!.equal(backbone.stateDict().get(key)!));
  backbone.dispose();
  classifier.dispose();
});

test('savePretrained writes what transformers writes and reloads to the same model', async () => {
  const model = await fromPretrained(mlm, { warn: () => {} });
  const dir = scratch();
  await savePretrained(model, dir);
  assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'model.safetensors']);
  const written = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const original = JSON.parse(readFileSync(join(mlm, 'config.json'), 'utf8')) as Record<string, unknown>;
  for (const key of [
    'model_type',
    'architectures',
    'hidden_size',
    'num_hidden_layers',
    'vocab_size',
    'layer_norm_eps',
    'tie_word_embeddings',
  ]) {
    assert.deepEqual(written[key], original[key], key);
  }
  const ours = await loadSafetensors(join(dir, 'model.safetensors'));
  const theirs = await loadSafetensors(join(mlm, 'model.safetensors'));
  assert.deepEqual(
    [...ours.tensors.keys()].sort(),
    [...theirs.tensors.keys()].sort(),
    'same keys: the tied decoder weight is stored once',
  );
  for (const [k, t] of theirs.tensors) assert.ok(ours.tensors.get(k)!.equal(t), k);
  assert.deepEqual(ours.metadata, { format: 'pt' });
  for (const t of [...ours.tensors.values(), ...theirs.tensors.values()]) t.dispose();

  // overwriting leaves no temporary files and the new content
  await savePretrained(model, dir);
  assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'model.safetensors']);
  model.dispose();
});

test('sharded checkpoints save and load', async () => {
  const model = await fromPretrained(seqcls, { warn: () => {} });
  const dir = scratch();
  await savePretrained(model, dir, { maxShardSize: 40_000 });
  const files = readdirSync(dir).sort();
  assert.ok(files.includes('model.safetensors.index.json'), files.join(' '));
  assert.ok(files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length >= 2);
  const reloaded = await fromPretrained(dir, { warn: () => {} });
  assert.ok(maxDiff(logitsOf(reloaded), reference.logits.values) < 1e-4);
  model.dispose();
  reloaded.dispose();
});

test('pickle checkpoints are refused with the conversion command; missing files are named', async () => {
  const dir = scratch();
  copyFileSync(join(seqcls, 'config.json'), join(dir, 'config.json'));
  writeFileSync(join(dir, 'pytorch_model.bin'), 'not really a pickle');
  await assert.rejects(fromPretrained(dir), /pytorch_model\.bin[\s\S]*safetensors/);
  const empty = scratch();
  await assert.rejects(fromPretrained(empty), /config\.json/);
  writeFileSync(join(empty, 'config.json'), '{"model_type": "bert",');
  await assert.rejects(fromPretrained(empty), /config\.json is not valid JSON/);
  writeFileSync(join(empty, 'config.json'), '{"model_type": "gpt17"}');
  await assert.rejects(fromPretrained(empty), /unknown model_type 'gpt17'/);
});

test('fromPretrained downloads from a Hub endpoint into the cache and then works offline', async () => {
  const files = new Map(readdirSync(seqcls).map((f) => [f, readFileSync(join(seqcls, f))]));
  const commit = 'a'.repeat(40);
  let gets = 0;
  const server = createServer((req, res) => {
    const match = /^\/acme\/tiny-bert\/resolve\/main\/(.+)$/.exec(req.url ?? '');
    const body = match ? files.get(decodeURIComponent(match[1])) : undefined;
    if (!body) {
      res.writeHead(404, { 'X-Error-Code': match ? 'EntryNotFound' : 'RepoNotFound', 'X-Repo-Commit': commit });
      res.end();
      return;
    }
    const etag = createHash('sha1').update(body).digest('hex');
    res.writeHead(200, { 'X-Repo-Commit': commit, ETag: `"${etag}"`, 'Content-Length': body.length });
    if (req.method === 'GET') {
      gets++;
      res.end(body);
    } else res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const cacheDir = scratch();
  try {
    const model = await fromPretrained('acme/tiny-bert', { endpoint, cacheDir, warn: () => {} });
    assert.ok(maxDiff(logitsOf(model), reference.logits.values) < 1e-4);
    model.dispose();
    assert.equal(gets, 2, 'config.json and model.safetensors');
    assert.ok(existsSync(join(cacheDir, 'models--acme--tiny-bert', 'snapshots', commit, 'model.safetensors')));
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  const offline = await fromPretrained('acme/tiny-bert', { endpoint, cacheDir, offline: true, warn: () => {} });
  assert.ok(maxDiff(logitsOf(offline), reference.logits.values) < 1e-4);
  offline.dispose();
});

test('createModel builds presets at full size: BERT-base for sequence classification has 109,483,778 parameters', () => {
  const before = memory().numTensors;
  const model = createModel('bert-base-uncased', { architecture: 'BertForSequenceClassification', numLabels: 2 });
  assert.equal(model.numParameters(), 109_483_778);
  model.dispose();
  assert.equal(memory().numTensors, before);
  assert.throws(() => createModel('gpt-17'), /unknown preset 'gpt-17'/);
});

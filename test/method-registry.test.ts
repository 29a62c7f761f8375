/**
 * The fine-tuning method registry (peft's registerMethod): the built-in methods and their order, aliases,
 * errors naming the registered methods, and the worked example of docs/adding-a-method.md — a toy method
 * registered by a script, then trained and evaluated through the CLI's entry function (`main` in
 * dist/cli/main.js) in that script's process, on a tiny BERT made here.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { loadSafetensorsSync } from '../src/io/index.js';
import { Linear, Sequential } from '../src/nn/index.js';
import { defaultFineTuneLr } from '../src/optim/index.js';
import {
  getMethod,
  getPeftModel,
  methodAliases,
  methodNames,
  methodOfStrategy,
  LoraConfig,
  PeftConfig,
  registerMethod,
} from '../src/peft/index.js';

import { CLI, ROOT, runCli, runNode, SST2_DEV, SST2_TRAIN, writeTinyBertModelFolder } from './helpers/cli.js';

let tmp = '';
let scripts = '';
let modelDir = '';

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'finetune-methods-'));
  // Inside the package, so the docs' `from 'finetune'` resolves to dist/ (as test/readme.test.ts runs them).
  scripts = mkdtempSync(join(ROOT, 'build', 'method-registry-'));
  modelDir = writeTinyBertModelFolder(join(tmp, 'tiny-bert'));
});

after(() => {
  for (const dir of [tmp, scripts]) if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the built-in methods register in the order of tables and help, with their aliases', () => {
  assert.deepEqual(methodNames(), [
    'full',
    'head',
    'top-k',
    'gradual',
    'bitfit',
    'ln',
    'houlsby',
    'pfeiffer',
    'lora',
    'dora',
    'ia3',
    'prompt-tuning',
  ]);
  assert.deepEqual(Object.fromEntries(methodAliases()), {
    'gradual-unfreezing': ['gradual'],
    'layer-norm': ['ln'],
    adapters: ['houlsby', 'pfeiffer'],
    bottleneck: ['houlsby', 'pfeiffer'],
    prompt: ['prompt-tuning'],
  });
  // An alias several methods list selects the first for --method (train) and all of them in inspect.
  assert.equal(getMethod('adapters').name, 'houlsby');
  assert.equal(methodOfStrategy(new LoraConfig({ useDora: true })).name, 'dora');
  assert.equal(methodOfStrategy({ kind: 'gradual-unfreezing' }).name, 'gradual');
  assert.throws(
    () => getMethod('qlora'),
    /^Error: unknown fine-tuning method 'qlora' \(known: full, head, top-k, gradual, bitfit, ln, houlsby, pfeiffer, lora, dora, ia3, prompt-tuning\)$/,
  );
  assert.throws(() => registerMethod({ ...getMethod('lora') }), /fine-tuning method 'lora' is already registered/);
});

test('a PEFT config of an unregistered type is an error naming the registered types', () => {
  class UnknownConfig extends PeftConfig {
    readonly peftType = 'NOPE';
    targetModules = ['0'];
  }
  const model = new Sequential(new Linear(2, 2));
  assert.throws(
    () => getPeftModel(model, new UnknownConfig()),
    /^Error: unknown PEFT type "NOPE" \(registered: BOTTLENECK, LORA, IA3, PROMPT_TUNING\)$/,
  );
  assert.throws(() => methodOfStrategy(new UnknownConfig()), /unknown PEFT type "NOPE"/);
  model.dispose();
});

/** The docs' worked example (the block that registers 'shift'), then the CLI's main on each command given as JSON. */
function writeShiftScript(): string {
  const page = readFileSync(join(ROOT, 'docs', 'adding-a-method.md'), 'utf8');
  const example = [...page.matchAll(/```ts\n([\s\S]*?)```/g)]
    .map((m) => m[1])
    .find((code) => code.includes("name: 'shift'"));
  assert.ok(example, "docs/adding-a-method.md has the example registering 'shift'");
  const file = join(scripts, 'shift.mjs');
  writeFileSync(
    file,
    `${example}
import { main } from ${JSON.stringify(pathToFileURL(CLI).href)};
for (const argv of JSON.parse(process.argv[2])) {
  const code = await main(argv);
  if (code !== 0) {
    process.exitCode = code;
    break;
  }
}
`,
  );
  return file;
}

test("the docs' toy method, registered by a script, trains and evaluates through the CLI", () => {
  const out = join(tmp, 'shift');
  const common = ['--labels', 'negative,positive', '--max-length', '32'];
  const train = [
    'train',
    '--model',
    modelDir,
    '--train-file',
    SST2_TRAIN,
    ...common,
    '--method',
    'shift',
    '--max-steps',
    '3',
    '--save-strategy',
    'no',
    '--output-dir',
    out,
  ];
  const evaluate = ['eval', '--model', out, '--eval-file', SST2_DEV, '--max-eval-samples', '16', '--json'];
  const result = runNode([writeShiftScript(), JSON.stringify([train, evaluate])]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /method: shift — shift vectors on query, value \+ a trainable copy of the head\n/);
  assert.match(result.stdout, /lr 1e-3: shift default \(as BitFit, Ben Zaken et al\. 2022\)/);
  // 2 layers × (query + value) × 32 outputs, and the classifier's copy (32 × 2 + 2).
  assert.match(result.stdout, /trainable params: 194 \|\| all params: /);

  const config = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config.peft_type, 'SHIFT');
  assert.deepEqual(config.target_modules, ['query', 'value']);
  assert.equal(config.task_type, 'SEQ_CLS');
  const { tensors } = loadSafetensorsSync(join(out, 'adapter_model.safetensors'));
  assert.deepEqual([...tensors.keys()].filter((key) => key.includes('shift_vector')).sort(), [
    'base_model.model.bert.encoder.layer.0.attention.self.query.shift_vector',
    'base_model.model.bert.encoder.layer.0.attention.self.value.shift_vector',
    'base_model.model.bert.encoder.layer.1.attention.self.query.shift_vector',
    'base_model.model.bert.encoder.layer.1.attention.self.value.shift_vector',
  ]);
  const shift = tensors.get('base_model.model.bert.encoder.layer.1.attention.self.value.shift_vector')!;
  assert.deepEqual(shift.shape, [32]);
  // Started at zero; 3 Adam steps at 1e-3 move every element by about 3e-3 at most.
  const values = [...(shift.data() as Float32Array)];
  assert.ok(
    values.some((v) => v !== 0),
    'the shift vector trained',
  );
  assert.ok(
    values.every((v) => Math.abs(v) <= 3.1e-3),
    `|Adam's steps| ≤ 3 × lr: ${values.join(', ')}`,
  );
  for (const tensor of tensors.values()) tensor.dispose();

  // eval loaded the adapter (peft_type SHIFT, read through the registry) and scored 16 examples.
  const line = result.stdout.trim().split('\n').at(-1)!;
  const metrics = JSON.parse(line) as Record<string, number>;
  assert.equal(metrics.examples, 16);
  assert.ok(Number.isFinite(metrics.eval_loss) && metrics.eval_accuracy >= 0 && metrics.eval_accuracy <= 1, line);
});

test("finetune inspect counts the docs' toy method like the built-in PEFT rows", () => {
  const result = runNode([
    writeShiftScript(),
    JSON.stringify([['inspect', '--model', 'bert-tiny', '--method', 'shift,lora', '--json']]),
  ]);
  assert.equal(result.code, 0, result.stderr);
  const rows = (JSON.parse(result.stdout.slice(result.stdout.indexOf('{\n'))) as { rows: Record<string, unknown>[] })
    .rows;
  assert.deepEqual(
    rows.map((row) => row.method),
    ['lora', 'shift'],
  );
  // bert-tiny: 2 layers × (query + value) × 128 outputs, and the classifier's copy (128 × 2 + 2).
  assert.deepEqual(
    { ...rows[1], config: undefined, peftLine: undefined, total: undefined, percent: undefined },
    {
      method: 'shift',
      kind: 'peft',
      label: 'shift',
      status: 'ok',
      trainable: 770,
      detail: 'shift vectors on query, value + head copy (classifier)',
      config: undefined,
      peftLine: undefined,
      total: undefined,
      percent: undefined,
    },
  );
});

test('without the registration, --method shift is a usage error naming the registered methods', () => {
  const result = runCli([
    'train',
    '--model',
    modelDir,
    '--train-file',
    SST2_TRAIN,
    '--method',
    'shift',
    '--output-dir',
    join(tmp, 'unregistered'),
  ]);
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /--method: unknown method 'shift' \(known: full, head, top-k, gradual, bitfit, ln, houlsby, pfeiffer, lora, dora, ia3, prompt-tuning\)/,
  );
});

test('the lr rule reads the registered default of each method', () => {
  assert.equal(
    defaultFineTuneLr({ method: 'adapters' }).reason,
    'lr 1e-4: bottleneck adapter default (Houlsby et al. 2019; Pfeiffer et al. 2020)',
  );
  assert.equal(
    defaultFineTuneLr({ method: 'gradual-unfreezing', modelType: 'resnet' }).reason,
    'lr 1e-3: ResNet gradual unfreezing default (PyTorch transfer-learning tutorial: SGD, momentum 0.9)',
  );
});

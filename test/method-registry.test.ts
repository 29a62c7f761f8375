/**
 * The fine-tuning method registry (peft's registerMethod): the built-in methods and their order, aliases,
 * errors naming the registered methods, and the worked example of docs/adding-a-method.md — a toy method
 * registered by a script, then trained and evaluated through the CLI's entry function (`main` in
 * dist/cli/main.js) in that script's process, on a tiny BERT made here.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { COMPARE_FLAGS } from '../src/cli/compare.js';
import { toArgv } from '../src/cli/core/flags.js';
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

const root = process.cwd();
const cli = join(root, 'dist', 'cli', 'main.js');
const TRAIN = join(root, 'data', 'sst2', 'train-200.tsv');
const DEV = join(root, 'data', 'sst2', 'dev.tsv');

let tmp = '';
let scripts = '';
let modelDir = '';

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'finetune-methods-'));
  // Inside the package, so the docs' `from 'finetune'` resolves to dist/ (as test/readme.test.ts runs them).
  scripts = mkdtempSync(join(root, 'build', 'method-registry-'));
  modelDir = join(tmp, 'tiny-bert');
  mkdirSync(modelDir);
  const config = {
    model_type: 'bert',
    architectures: ['BertForSequenceClassification'],
    vocab_size: 30522,
    hidden_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    intermediate_size: 64,
    max_position_embeddings: 64,
  };
  writeFileSync(join(modelDir, 'config.json'), JSON.stringify(config));
  for (const name of ['tokenizer.json', 'tokenizer_config.json', 'vocab.txt'])
    copyFileSync(join(root, 'data', 'bert-base-uncased', name), join(modelDir, name));
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

/** The docs' worked example: the block that registers 'shift'. */
function shiftExample(): string {
  const page = readFileSync(join(root, 'docs', 'adding-a-method.md'), 'utf8');
  const example = [...page.matchAll(/```ts\n([\s\S]*?)```/g)]
    .map((m) => m[1])
    .find((code) => code.includes("name: 'shift'"));
  assert.ok(example, "docs/adding-a-method.md has the example registering 'shift'");
  return example;
}

/** The docs' worked example, then the CLI's main on each command given as JSON. */
function writeShiftScript(): string {
  const file = join(scripts, 'shift.mjs');
  writeFileSync(
    file,
    `${shiftExample()}
import { main } from ${JSON.stringify(pathToFileURL(cli).href)};
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

function run(args: string[], cwd = root) {
  const child = spawnSync(process.execPath, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '1' },
    timeout: 120_000,
  });
  return { code: child.status, stdout: child.stdout, stderr: child.stderr };
}

test("the docs' toy method, registered by a script, trains and evaluates through the CLI", () => {
  const out = join(tmp, 'shift');
  const common = ['--labels', 'negative,positive', '--max-length', '32'];
  const train = [
    'train',
    '--model',
    modelDir,
    '--train-file',
    TRAIN,
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
  const evaluate = ['eval', '--model', out, '--eval-file', DEV, '--max-eval-samples', '16', '--json'];
  const result = run([writeShiftScript(), JSON.stringify([train, evaluate])]);
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
  const result = run([
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

test('without the registration, --method shift is a usage error naming the registered methods and --require', () => {
  const result = run([
    cli,
    'train',
    '--model',
    modelDir,
    '--train-file',
    TRAIN,
    '--method',
    'shift',
    '--output-dir',
    join(tmp, 'unregistered'),
  ]);
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /--method: unknown method 'shift' \(known: full, head, top-k, gradual, bitfit, ln, houlsby, pfeiffer, lora, dora, ia3, prompt-tuning; a method of your own: --require the module that registers it\)/,
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

/**
 * A working folder of one's own: the docs' example as shift.mjs, and `finetune` installed beside it
 * (node_modules/finetune, a link to this package), so its `import … from 'finetune'` is the CLI's finetune.
 */
function userProject(): string {
  const dir = mkdtempSync(join(tmp, 'project-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'finetune'), 'dir');
  writeFileSync(join(dir, 'shift.mjs'), shiftExample());
  return dir;
}

test("--require registers the docs' toy method in the CLI's own process: finetune train / inspect / lr-find --require shift.mjs --method shift", () => {
  const project = userProject();
  const result = run(
    [
      cli,
      'train',
      '--require',
      'shift.mjs',
      '--model',
      modelDir,
      '--train-file',
      TRAIN,
      '--labels',
      'negative,positive',
      '--max-length',
      '32',
      '--method',
      'shift',
      '--max-steps',
      '2',
      '--save-strategy',
      'no',
      '--report=false',
      '--output-dir',
      'run',
    ],
    project,
  );
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /method: shift — shift vectors on query, value \+ a trainable copy of the head\n/);
  assert.match(result.stdout, /lr 1e-3: shift default \(as BitFit, Ben Zaken et al\. 2022\)/);
  const config = JSON.parse(readFileSync(join(project, 'run', 'adapter_config.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  assert.equal(config.peft_type, 'SHIFT');

  // inspect and lr-find take it too.
  const inspect = run([cli, 'inspect', '--require', 'shift.mjs', '--model', 'bert-tiny', '--method', 'shift'], project);
  assert.equal(inspect.code, 0, inspect.stderr);
  assert.match(inspect.stdout, /^shift \*\s+770\s/m);
  const lrFind = run(
    [
      cli,
      'lr-find',
      ...['--require', 'shift.mjs', '--model', modelDir, '--train-file', TRAIN, '--labels', 'negative,positive'],
      ...['--max-length', '32', '--method', 'shift', '--num-it', '6', '--json', '--output-dir', 'lr-find'],
    ],
    project,
  );
  assert.equal(lrFind.code, 0, lrFind.stderr);
  const found = JSON.parse(lrFind.stdout.trim().split('\n').at(-1)!) as { steps: number; default_lr: number };
  assert.deepEqual([found.steps, found.default_lr], [6, 1e-3]);
});

test('compare passes --require on to its child processes: the toy method is a row of the comparison', () => {
  const project = userProject();
  const result = run(
    [
      cli,
      'compare',
      '--require',
      './shift.mjs',
      '--methods',
      'shift,head',
      '--model',
      modelDir,
      '--train-file',
      TRAIN,
      '--eval-file',
      DEV,
      '--max-eval-samples',
      '16',
      '--labels',
      'negative,positive',
      '--max-length',
      '32',
      '--max-steps',
      '2',
      '--learning-rate',
      '1e-3',
      '--report=false',
      '--output-dir',
      'compared',
    ],
    project,
  );
  assert.equal(result.code, 0, result.stderr);
  const results = JSON.parse(readFileSync(join(project, 'compared', 'results.json'), 'utf8')) as {
    rows: { strategy: string; trainableParams: number }[];
  };
  // shift: 2 layers × (query + value) × 32 outputs, and the classifier's copy (32 × 2 + 2); head: BERT's head group, pooler (32 × 32 + 32) and classifier.
  assert.deepEqual(
    results.rows.map((row) => [row.strategy, row.trainableParams]),
    [
      ['shift', 194],
      ['head', 1122],
    ],
  );
  assert.match(result.stdout, /^shift\s/m);
});

test("compare's children get each --require module as a flag of its own (a path may hold a comma); lists stay comma-joined", () => {
  assert.deepEqual(
    toArgv({ require: ['/p/one.mjs', '/p/two,three.mjs'], 'target-modules': ['query', 'value'] }, COMPARE_FLAGS),
    ['--require=/p/one.mjs', '--require=/p/two,three.mjs', '--target-modules=query,value'],
  );
});

test('--require of a missing module is a usage error naming the flag and where it looked', () => {
  const project = userProject();
  const train = (module: string) =>
    run([cli, 'train', '--require', module, '--model', modelDir, '--method', 'shift', '--output-dir', 'run'], project);
  const file = train('./nope.mjs');
  assert.equal(file.code, 2);
  assert.match(file.stderr, new RegExp(`--require \\./nope\\.mjs: no such file \\(${join(project, 'nope.mjs')}\\)`));
  const named = train('nope-methods');
  assert.equal(named.code, 2);
  assert.match(
    named.stderr,
    new RegExp(
      `--require nope-methods: no file ${join(project, 'nope-methods')} and no package 'nope-methods' found from ${project}`,
    ),
  );
});

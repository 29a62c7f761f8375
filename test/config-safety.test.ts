/**
 * Hostile config.json, adapter_config.json, adapter names and safetensors headers (issue 14, items 5,
 * 7, 8 and 14): every one is refused with an error naming the file, the key and the value — fast, and
 * before anything is allocated — or, where it is valid, loads right. Library cases run in-process
 * (none of them can crash the process any more); CLI cases run `node dist/cli/main.js` as a child.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  createModel,
  loadPeftModel,
  loadPretrained,
  loadSafetensors,
  models,
  nn,
  peft,
  saveSafetensors,
  zeros,
} from 'finetune';

import { runCli } from './helpers/cli.js';

function finetune(cwd: string, ...args: string[]) {
  return runCli(args, { cwd });
}

/** Runs `fn`, which must throw; returns the error and how long it took. */
function refusal(fn: () => unknown): { message: string; ms: number } {
  const start = performance.now();
  try {
    fn();
  } catch (error) {
    return { message: (error as Error).message, ms: performance.now() - start };
  }
  assert.fail('expected an error');
}

async function asyncRefusal(fn: () => Promise<unknown>): Promise<{ message: string; ms: number }> {
  const start = performance.now();
  try {
    await fn();
  } catch (error) {
    return { message: (error as Error).message, ms: performance.now() - start };
  }
  assert.fail('expected an error');
}

/** Runs `fn` with FINETUNE_MAX_MODEL_BYTES set to `bytes` (or unset), so limits do not depend on this machine's memory. */
function withModelLimit<T>(bytes: string | undefined, fn: () => T): T {
  const saved = process.env.FINETUNE_MAX_MODEL_BYTES;
  if (bytes === undefined) delete process.env.FINETUNE_MAX_MODEL_BYTES;
  else process.env.FINETUNE_MAX_MODEL_BYTES = bytes;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.FINETUNE_MAX_MODEL_BYTES;
    else process.env.FINETUNE_MAX_MODEL_BYTES = saved;
  }
}

function safetensorsFile(path: string, header: string, data = Buffer.alloc(0)): void {
  const json = Buffer.from(header);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([length, json, data]));
}

const tiny = {
  model_type: 'bert',
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  intermediate_size: 64,
  vocab_size: 100,
};

// ---- item 5: bounds from config.json ---------------------------------------------------------

test('config.json counts that size JavaScript objects are bounded before anything is built', () => {
  const layers = refusal(() => createModel({ ...tiny, num_hidden_layers: 1e9 }, { configSource: 'deep/config.json' }));
  assert.equal(
    layers.message,
    "deep/config.json: BERT config.json: 'num_hidden_layers' must be at most 1024, got 1000000000",
  );
  const labels = refusal(() => createModel({ ...tiny, num_labels: 1e9 }, { configSource: 'wide/config.json' }));
  assert.equal(
    labels.message,
    "wide/config.json: BERT config.json: 'num_labels' must be at most 1,000,000, got 1000000000",
  );
  const vitLayers = refusal(() => createModel({ model_type: 'vit', num_hidden_layers: 5000 }));
  assert.equal(
    vitLayers.message,
    "createModel(): ViT config.json: 'num_hidden_layers' must be a positive integer up to 1024, got 5000",
  );
  const blocks = refusal(() => createModel({ model_type: 'resnet', block: 'basic', layers: [1, 1e9, 1, 1] }));
  assert.equal(
    blocks.message,
    "createModel(): resnet config.json: 'layers' must be 4 positive integers up to 1024, got [1,1000000000,1,1]",
  );
  const classes = refusal(() => createModel({ model_type: 'alexnet', num_classes: 2e9 }));
  assert.equal(
    classes.message,
    "createModel(): alexnet config.json: 'num_classes' must be a positive integer up to 1000000, got 2000000000",
  );
  for (const { ms } of [layers, labels, vitLayers, blocks, classes])
    assert.ok(ms < 500, `refused in ${ms.toFixed(0)} ms`);
});

test('a config whose parameters exceed the memory limit is refused with the estimate and the fields that drive it', () => {
  withModelLimit('1000000000', () => {
    const wide = refusal(() =>
      createModel({ ...tiny, hidden_size: 65536, num_attention_heads: 1 }, { configSource: 'wide/config.json' }),
    );
    assert.match(
      wide.message,
      /^wide\/config\.json: the bert model this config describes would hold about [\d,]+ parameters \([\d.,]+ GiB in float32\), more than FINETUNE_MAX_MODEL_BYTES \(954 MiB\); refused before allocating\. Most of it is the encoder layers, sized by num_hidden_layers = 2, hidden_size = 65536, intermediate_size = 64\. If the config is right, set FINETUNE_MAX_MODEL_BYTES/,
    );
    const vocab = refusal(() => createModel({ ...tiny, vocab_size: 2e8 }));
    assert.match(
      vocab.message,
      /Most of it is the word embeddings, sized by vocab_size = 200000000, hidden_size = 32\./,
    );
    const vit = refusal(() =>
      createModel({
        model_type: 'vit',
        image_size: 100000,
        patch_size: 1,
        hidden_size: 64,
        num_attention_heads: 1,
        intermediate_size: 64,
      }),
    );
    assert.match(
      vit.message,
      /the vit model .* Most of it is the position embeddings, sized by image_size = 100000, patch_size = 1, hidden_size = 64\./,
    );
    const resnet = refusal(() => createModel({ model_type: 'resnet', arch: 'resnet50', width_per_group: 100000 }));
    assert.match(
      resnet.message,
      /the resnet model .* Most of it is the layer4, sized by layers\[3\] = 3, groups = 1, width_per_group = 100000\./,
    );
    const alexnet = refusal(() => createModel({ model_type: 'alexnet', hidden_size: 1000000 }));
    assert.match(
      alexnet.message,
      /the alexnet model .* Most of it is the fc6 and fc7, sized by conv_channels = \[64,192,384,256,256\], hidden_size = 1000000\./,
    );
    for (const { ms } of [wide, vocab, vit, resnet, alexnet]) assert.ok(ms < 500, `refused in ${ms.toFixed(0)} ms`);
  });
  // Without the setting the limit is this machine's memory, which no 825 GiB model fits.
  const unset = withModelLimit(undefined, () =>
    refusal(() => createModel({ ...tiny, hidden_size: 65536, num_attention_heads: 1 })),
  );
  assert.match(unset.message, /more than this machine's memory \([\d.,]+ GiB\)/);
  assert.equal(
    withModelLimit('lots', () => refusal(() => createModel('bert-tiny'))).message,
    'preset \'bert-tiny\': FINETUNE_MAX_MODEL_BYTES must be a positive whole number of bytes, got "lots"',
  );
  // The setting lowers the limit as well as raising it: bert-tiny (4.4M parameters, 16.9 MiB) under 10,000,000 bytes is refused, under 100,000,000 built.
  assert.match(
    withModelLimit('10000000', () => refusal(() => createModel('bert-tiny'))).message,
    /^preset 'bert-tiny': the bert model .* would hold about 4,433,596 parameters \(16\.9 MiB in float32\), more than FINETUNE_MAX_MODEL_BYTES \(9\.54 MiB\)/,
  );
  withModelLimit('100000000', () => createModel('bert-tiny').dispose());
});

test("the size estimate bounds each architecture's real parameter count from above, within 10% (it counts every head of the family)", () => {
  const cases: [string | Record<string, unknown>, string | undefined][] = [
    ['bert-tiny', 'BertModel'],
    ['bert-tiny', 'BertForSequenceClassification'],
    ['bert-tiny', 'BertForMaskedLM'],
    [
      {
        model_type: 'vit',
        hidden_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 2,
        intermediate_size: 128,
        image_size: 32,
        patch_size: 8,
      },
      'ViTModel',
    ],
    [
      {
        model_type: 'vit',
        hidden_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 2,
        intermediate_size: 128,
        image_size: 32,
        patch_size: 8,
      },
      'ViTForImageClassification',
    ],
    ['resnet18', undefined],
    [{ model_type: 'resnet', arch: 'resnext50_32x4d', num_classes: 10 }, undefined],
    ['alexnet-small', undefined],
    [{ model_type: 'gpt2', vocab_size: 500, n_positions: 64, n_embd: 64, n_layer: 2, n_head: 2 }, 'GPT2LMHeadModel'],
    [
      { model_type: 'gpt2', vocab_size: 500, n_positions: 64, n_embd: 64, n_layer: 2, n_head: 2, num_labels: 3 },
      'GPT2ForSequenceClassification',
    ],
  ];
  for (const [source, architecture] of cases) {
    const model = createModel(source, { architecture });
    try {
      const family = models.modelFamilies().find((f) => Object.hasOwn(f.architectures, model.constructor.name))!;
      const actual = model.parameters().reduce((total, p) => total + p.numel(), 0);
      const estimate = models.estimateModelBytes(family, (model as unknown as { config: unknown }).config)! / 4;
      assert.ok(
        estimate >= actual && estimate <= actual * 1.1,
        `${JSON.stringify(source)} ${model.constructor.name}: estimate ${estimate}, actual ${actual}`,
      );
    } finally {
      model.dispose();
    }
  }
});

test('loadPretrained refuses an oversized config.json before reading the weights', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-config-safety-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...tiny, vocab_size: 2e8 }));
  // Weights that are not safetensors: reading them first would fail with another error.
  writeFileSync(join(dir, 'model.safetensors'), 'not safetensors');
  const { message, ms } = await withModelLimit('1000000000', () => asyncRefusal(() => loadPretrained(dir)));
  assert.match(
    message,
    new RegExp(
      `^${join(dir, 'config.json').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: the bert model this config describes would hold about [\\d,]+ parameters`,
    ),
  );
  assert.ok(ms < 1000, `refused in ${ms.toFixed(0)} ms`);
});

// ---- item 7: lookups that reached Object's prototype -------------------------------------------

test("user strings naming Object's properties select nothing: presets, architectures, activations, arch", () => {
  assert.equal(refusal(() => createModel('toString')).message, "unknown preset 'toString'");
  assert.equal(refusal(() => createModel('constructor')).message, "unknown preset 'constructor'");
  assert.equal(models.findPreset('hasOwnProperty'), undefined);
  assert.equal(
    refusal(() => createModel({ ...tiny, hidden_act: 'constructor' })).message,
    'createModel(): BERT config.json: \'hidden_act\' is not supported (supported: gelu, gelu_python, gelu_new, gelu_fast, gelu_pytorch_tanh, quick_gelu, relu, silu, swish, mish, tanh, sigmoid, linear), got "constructor"',
  );
  assert.throws(
    () => models.bertConfig({ hiddenAct: 'toString' as never }),
    /BertConfig: hiddenAct 'toString' is not supported/,
  );
  assert.match(
    refusal(() => createModel({ model_type: 'vit', hidden_act: 'constructor' })).message,
    /'hidden_act' must be one of gelu, .*, got "constructor"/,
  );
  assert.match(
    refusal(() => createModel({ model_type: 'resnet', arch: 'constructor' })).message,
    /ResNet: unknown arch 'constructor'/,
  );
  // An architecture the family does not build is passed over in config.json, as transformers does, and refused when asked for.
  const model = createModel({ ...tiny, architectures: ['constructor', 'BertForMaskedLM'] });
  assert.ok(model instanceof nn.Module);
  assert.equal(model.constructor.name, 'BertForMaskedLM');
  model.dispose();
  assert.match(
    refusal(() => createModel(tiny, { architecture: 'constructor' })).message,
    /^createModel\(\): unknown architecture "constructor" for model_type 'bert' \(known: BertModel, BertForSequenceClassification, BertForMaskedLM\)$/,
  );
});

test('adapter_config.json fields are type-checked as PEFT declares them; errors name the file and key and show the value as JSON', () => {
  const where = 'lora/adapter_config.json';
  const lora = (fields: Record<string, unknown>) =>
    refusal(() => peft.peftConfigFromJson({ peft_type: 'LORA', ...fields }, where)).message;
  assert.equal(lora({ lora_alpha: 'x' }), `${where}: 'lora_alpha' must be a finite number, got "x"`);
  assert.equal(lora({ r: '8' }), `${where}: 'r' must be a positive integer, got "8"`);
  assert.equal(lora({ r: 2.5 }), `${where}: 'r' must be a positive integer, got 2.5`);
  assert.equal(
    lora({ target_modules: 5 }),
    `${where}: 'target_modules' must be a string, a list of strings or null, got 5`,
  );
  assert.equal(
    lora({ target_modules: ['query', 7] }),
    `${where}: 'target_modules' must be a string, a list of strings or null, got ["query",7]`,
  );
  assert.equal(lora({ lora_dropout: 1 }), `${where}: 'lora_dropout' must be a number in [0, 1), got 1`);
  assert.equal(
    lora({ modules_to_save: 'classifier' }),
    `${where}: 'modules_to_save' must be a list of strings or null, got "classifier"`,
  );
  assert.equal(lora({ use_rslora: 'yes' }), `${where}: 'use_rslora' must be true or false, got "yes"`);
  assert.equal(
    lora({ rank_pattern: { query: '4' } }),
    `${where}: 'rank_pattern' must map module patterns to positive integers, got {"query":"4"}`,
  );
  assert.equal(
    lora({ layers_to_transform: [0, -1], target_modules: ['query'] }),
    `${where}: 'layers_to_transform' must be a non-negative integer, a list of them or null, got [0,-1]`,
  );
  assert.equal(
    lora({ task_type: 'constructor' }),
    `${where}: 'task_type' must be null or one of SEQ_CLS, TOKEN_CLS, QUESTION_ANS, FEATURE_EXTRACTION, CAUSAL_LM, SEQ_2_SEQ_LM, got "constructor"`,
  );
  assert.equal(
    lora({ base_model_name_or_path: 3 }),
    `${where}: 'base_model_name_or_path' must be a string or null, got 3`,
  );
  assert.equal(
    refusal(() => peft.peftConfigFromJson({ peft_type: 'IA3', feedforward_modules: {} }, where)).message,
    `${where}: 'feedforward_modules' must be a string, a list of strings or null, got {}`,
  );
  assert.equal(
    refusal(() => peft.peftConfigFromJson({ peft_type: 'PROMPT_TUNING', num_virtual_tokens: '20' }, where)).message,
    `${where}: 'num_virtual_tokens' must be a positive integer, got "20"`,
  );
  assert.equal(
    refusal(() => peft.peftConfigFromJson({ peft_type: 'BOTTLENECK', reduction_factor: '16' }, where)).message,
    `${where}: 'reduction_factor' must be a positive number, got "16"`,
  );
  assert.equal(
    refusal(() => peft.peftConfigFromJson({ peft_type: 'constructor' }, where)).message,
    `${where}: peft_type "constructor" is not supported (supported: BOTTLENECK, LORA, IA3, PROMPT_TUNING)`,
  );
  // In code, the same checks name the class and the camelCase field.
  assert.throws(() => new peft.LoraConfig({ loraAlpha: 'x' as never }), {
    message: 'LoraConfig: loraAlpha must be a finite number, got "x"',
  });
});

test('a LoRA adapter folder whose lora_alpha is a string is refused at load instead of giving NaN logits', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-config-safety-'));
  writeFileSync(
    join(dir, 'adapter_config.json'),
    JSON.stringify({ peft_type: 'LORA', r: 2, lora_alpha: 'x', target_modules: ['query'] }),
  );
  const base = createModel(tiny);
  try {
    const { message } = await asyncRefusal(() => loadPeftModel(base, dir));
    assert.equal(message, `${join(dir, 'adapter_config.json')}: 'lora_alpha' must be a finite number, got "x"`);
  } finally {
    base.dispose();
  }
});

// ---- item 8: adapter names --------------------------------------------------------------------

test('adapter names are checked like PEFT’s before they name a module or a folder', async () => {
  const base = createModel(tiny);
  const model = peft.getPeftModel(base, new peft.LoraConfig({ r: 2, targetModules: ['query'] }));
  try {
    const config = () => new peft.LoraConfig({ r: 2, targetModules: ['query'] });
    const separators =
      "may not contain '.', '/', '\\' or control characters: it becomes a module key segment and a subfolder of the save folder";
    assert.throws(() => model.addAdapter('../../victim/escaped', config()), {
      message: `adapter name "../../victim/escaped" ${separators}`,
    });
    assert.throws(() => model.addAdapter('a\\b', config()), { message: `adapter name "a\\\\b" ${separators}` });
    assert.throws(() => model.addAdapter('..', config()), { message: `adapter name ".." ${separators}` });
    assert.throws(() => model.addAdapter('', config()), { message: 'adapter name "" must be a non-empty string' });
    assert.throws(() => model.addAdapter('constructor', config()), {
      message: `adapter name "constructor" is one of Object's property names (constructor, toString, …)`,
    });
    assert.throws(
      () => model.addAdapter('lora_A', config()),
      (error: Error) =>
        error.message.startsWith(`adapter name "lora_A" is reserved: finetune's PEFT layers use it in their keys`),
    );
    assert.throws(() => model.addAdapter('weight', config()), {
      message:
        'adapter name "weight" is already a key segment of the model (embeddings.word_embeddings.weight); saved keys would lose it',
    });
    assert.throws(() => model.setAdapter('../x'), { message: `adapter name "../x" ${separators}` });
    const other = createModel(tiny);
    assert.throws(() => peft.getPeftModel(other, config(), ''), {
      message: 'adapter name "" must be a non-empty string',
    });
    other.dispose();
    assert.deepEqual([...model.peftConfig.keys()], ['default'], 'no refused adapter was added');

    const parent = mkdtempSync(join(tmpdir(), 'finetune-config-safety-'));
    const dir = join(parent, 'save');
    await assert.rejects(model.savePretrained(dir, { selectedAdapters: ['../escaped'] }), {
      message: `adapter name "../escaped" ${separators}`,
    });
    await assert.rejects(model.loadAdapter(dir, '../escaped'), { message: `adapter name "../escaped" ${separators}` });
    model.addAdapter('second', config());
    await model.savePretrained(dir);
    assert.deepEqual(readdirSync(parent), ['save'], 'nothing written beside the save folder');
    assert.deepEqual(readdirSync(dir).sort(), ['adapter_config.json', 'adapter_model.safetensors', 'second']);
    assert.ok(existsSync(join(dir, 'second', 'adapter_model.safetensors')));
  } finally {
    model.dispose();
  }
});

// ---- item 14: clear errors ----------------------------------------------------------------------

test('a config.json that is null, an array or a number is refused naming the file and what it holds', async () => {
  for (const [text, what] of [
    ['null', 'null'],
    ['[1, 2]', 'an array'],
    ['5', 'number 5'],
    ['"bert"', 'string "bert"'],
  ]) {
    const dir = mkdtempSync(join(tmpdir(), 'finetune-config-safety-'));
    writeFileSync(join(dir, 'config.json'), text);
    const { message } = await asyncRefusal(() => loadPretrained(dir));
    assert.equal(message, `${join(dir, 'config.json')}: expected a JSON object, got ${what}`);
  }
  assert.equal(
    refusal(() => createModel(null as never)).message,
    'createModel(): a config must be a JSON object, got null',
  );
});

test('a safetensors header with a megabyte string of \\u escapes loads (it overflowed the regex stack)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-config-safety-'));
  const path = join(dir, 'escapes.safetensors');
  const escaped = '\\u0041'.repeat(1_400_000);
  safetensorsFile(
    path,
    `{"__metadata__":{"note":"${escaped}"},"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
    Buffer.from(new Float32Array([2.5]).buffer),
  );
  const { tensors, metadata } = await loadSafetensors(path);
  assert.equal(metadata.note, 'A'.repeat(1_400_000));
  assert.deepEqual([...tensors.get('t')!.data()], [2.5]);
  for (const t of tensors.values()) t.dispose();
  // A bad escape is still refused, naming the file.
  safetensorsFile(join(dir, 'bad.safetensors'), '{"__metadata__":{"note":"\\q"}}');
  await assert.rejects(loadSafetensors(join(dir, 'bad.safetensors')), (error: Error) =>
    error.message.startsWith(
      `${join(dir, 'bad.safetensors')}: invalid safetensors file: the header is not valid JSON: invalid string: bad escape`,
    ),
  );
});

test('empty tensors whose dimensions overflow a stride are refused naming the file and tensor', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-config-safety-'));
  const path = join(dir, 'huge.safetensors');
  const big = 2 ** 53 - 1;
  safetensorsFile(path, `{"empty":{"dtype":"F32","shape":[0,${big},${big}],"data_offsets":[0,0]}}`);
  await assert.rejects(loadSafetensors(path), {
    message: `${path}: tensor "empty": invalid safetensors file: "shape" [0, ${big}, ${big}] is too large: its dimensions (a 0 counted as 1) multiply to 81129638414606663681390495662081, more than a tensor's strides can address (2^63 − 1)`,
  });
  // Dimensions whose strides fit still load as the empty tensor they are.
  safetensorsFile(path, `{"empty":{"dtype":"F32","shape":[0,${2 ** 31},${2 ** 31}],"data_offsets":[0,0]}}`);
  const { tensors } = await loadSafetensors(path);
  assert.deepEqual(tensors.get('empty')!.shape, [0, 2 ** 31, 2 ** 31]);
  for (const t of tensors.values()) t.dispose();
  // Saving a real empty tensor and reading it back is unaffected.
  const empty = zeros([0, 3]);
  await saveSafetensors(join(dir, 'round.safetensors'), new Map([['e', empty]]));
  empty.dispose();
  const back = await loadSafetensors(join(dir, 'round.safetensors'));
  assert.deepEqual(back.tensors.get('e')!.shape, [0, 3]);
  for (const t of back.tensors.values()) t.dispose();
});

// ---- the CLI ----------------------------------------------------------------------------------

test('CLI: --model x.pt is refused as a pickle, an oversized or null config.json names the file, Object names select nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-config-safety-cli-'));
  writeFileSync(join(dir, 'x.pt'), Buffer.from('PK\x03\x04 a torch.save zip'));
  mkdirSync(join(dir, 'deep'));
  writeFileSync(join(dir, 'deep', 'config.json'), JSON.stringify({ ...tiny, num_hidden_layers: 1e9 }));
  mkdirSync(join(dir, 'wide'));
  writeFileSync(join(dir, 'wide', 'config.json'), JSON.stringify({ ...tiny, vocab_size: 2e8 }));
  mkdirSync(join(dir, 'null'));
  writeFileSync(join(dir, 'null', 'config.json'), 'null');
  writeFileSync(join(dir, 'train.tsv'), 'sentence\tlabel\ngood\t1\nbad\t0\n');

  const pickle = finetune(dir, 'eval', '--model', 'x.pt');
  assert.equal(pickle.code, 1, pickle.stderr);
  assert.match(
    pickle.stderr,
    /x\.pt: \.pt files are PyTorch pickle checkpoints\. finetune does not load pickle checkpoints.*\n.*from safetensors\.torch import save_file/,
  );

  const deep = finetune(dir, 'eval', '--model', 'deep');
  assert.equal(deep.code, 1, deep.stderr);
  assert.match(
    deep.stderr,
    /deep\/config\.json: BERT config\.json: 'num_hidden_layers' must be at most 1024, got 1000000000/,
  );

  const wide = runCli(['inspect', '--model', 'wide'], { cwd: dir, env: { FINETUNE_MAX_MODEL_BYTES: '1000000000' } });
  assert.equal(wide.code, 1, wide.stderr);
  assert.match(
    wide.stderr,
    /wide\/config\.json: the bert model this config describes would hold about [\d,]+ parameters .* Most of it is the word embeddings, sized by vocab_size = 200000000, hidden_size = 32\./,
  );

  const nullConfig = finetune(dir, 'eval', '--model', 'null');
  assert.equal(nullConfig.code, 1, nullConfig.stderr);
  assert.match(nullConfig.stderr, /null\/config\.json: expected a JSON object, got null/);

  for (const name of ['toString', 'constructor']) {
    const run = finetune(dir, 'train', '--model', name, '--train-file', 'train.tsv');
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, new RegExp(`--model: unknown model '${name}': not a preset, a folder or a Hub id`));
  }
  const method = finetune(dir, 'train', '--model', 'bert-tiny', '--method', 'constructor', '--train-file', 'train.tsv');
  assert.equal(method.code, 2, method.stderr);
  assert.match(method.stderr, /--method: unknown method 'constructor'/);
});

// adapter_config.json as each built-in PEFT config writes it, pinned byte for byte (key order and values) for a
// default and a fully set config of every method, read back to the same text; the file savePretrained writes; and
// the error each field's wrong value gives, in code and when read from adapter_config.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { nn, peft } from 'finetune';

const { BottleneckConfig, IA3Config, LoraConfig, PromptTuningConfig, getPeftModel, peftConfigFromJson } = peft;

/** Each config and the exact JSON.stringify of its toJson() (savePretrained writes it indented, inference_mode true). */
const CASES: [string, () => InstanceType<typeof peft.PeftConfig>, string][] = [
  [
    'LoRA, defaults',
    () => new LoraConfig(),
    '{"task_type":null,"base_model_name_or_path":null,"revision":null,"inference_mode":false,"peft_type":"LORA","r":8,"target_modules":null,"exclude_modules":null,"lora_alpha":8,"lora_dropout":0,"fan_in_fan_out":false,"bias":"none","use_rslora":false,"modules_to_save":null,"init_lora_weights":true,"layers_to_transform":null,"layers_pattern":null,"rank_pattern":{},"alpha_pattern":{},"use_dora":false}',
  ],
  [
    'LoRA, every field set',
    () =>
      new LoraConfig({
        taskType: 'SEQ_CLS',
        baseModelNameOrPath: 'bert-base-uncased',
        revision: 'main',
        inferenceMode: true,
        r: 4,
        targetModules: ['query', 'value'],
        excludeModules: 'pooler.*',
        loraAlpha: 16,
        loraDropout: 0.1,
        fanInFanOut: true,
        bias: 'lora_only',
        useRslora: true,
        modulesToSave: ['classifier'],
        initLoraWeights: 'gaussian',
        layersToTransform: [0, 1],
        layersPattern: 'layer',
        rankPattern: { value: 2 },
        alphaPattern: { value: 4 },
        useDora: true,
      }),
    '{"task_type":"SEQ_CLS","base_model_name_or_path":"bert-base-uncased","revision":"main","inference_mode":true,"peft_type":"LORA","r":4,"target_modules":["query","value"],"exclude_modules":"pooler.*","lora_alpha":16,"lora_dropout":0.1,"fan_in_fan_out":true,"bias":"lora_only","use_rslora":true,"modules_to_save":["classifier"],"init_lora_weights":"gaussian","layers_to_transform":[0,1],"layers_pattern":"layer","rank_pattern":{"value":2},"alpha_pattern":{"value":4},"use_dora":true}',
  ],
  [
    'IA3, defaults',
    () => new IA3Config(),
    '{"task_type":null,"base_model_name_or_path":null,"revision":null,"inference_mode":false,"peft_type":"IA3","target_modules":null,"exclude_modules":null,"feedforward_modules":null,"fan_in_fan_out":false,"modules_to_save":null,"init_ia3_weights":true}',
  ],
  [
    'IA3, every field set (duplicates dropped, as PEFT keeps sets)',
    () =>
      new IA3Config({
        taskType: 'TOKEN_CLS',
        targetModules: ['key', 'value', 'output.dense', 'key'],
        excludeModules: ['pooler'],
        feedforwardModules: ['output.dense'],
        fanInFanOut: true,
        modulesToSave: ['classifier'],
        initIa3Weights: false,
      }),
    '{"task_type":"TOKEN_CLS","base_model_name_or_path":null,"revision":null,"inference_mode":false,"peft_type":"IA3","target_modules":["key","value","output.dense"],"exclude_modules":["pooler"],"feedforward_modules":["output.dense"],"fan_in_fan_out":true,"modules_to_save":["classifier"],"init_ia3_weights":false}',
  ],
  [
    'prompt tuning, defaults',
    () => new PromptTuningConfig({ numVirtualTokens: 20 }),
    '{"task_type":null,"base_model_name_or_path":null,"revision":null,"inference_mode":false,"peft_type":"PROMPT_TUNING","num_virtual_tokens":20,"token_dim":null,"num_transformer_submodules":null,"num_attention_heads":null,"num_layers":null,"modules_to_save":null,"prompt_tuning_init":"RANDOM","prompt_tuning_init_text":null,"tokenizer_name_or_path":null,"tokenizer_kwargs":null}',
  ],
  [
    'prompt tuning, every field set',
    () =>
      new PromptTuningConfig({
        taskType: 'SEQ_CLS',
        numVirtualTokens: 4,
        tokenDim: 32,
        numTransformerSubmodules: 1,
        numAttentionHeads: 2,
        numLayers: 2,
        modulesToSave: ['classifier'],
        promptTuningInit: 'TEXT',
        promptTuningInitText: 'classify this',
        tokenizerNameOrPath: 'bert-base-uncased',
        tokenizerKwargs: { trust_remote_code: false },
      }),
    '{"task_type":"SEQ_CLS","base_model_name_or_path":null,"revision":null,"inference_mode":false,"peft_type":"PROMPT_TUNING","num_virtual_tokens":4,"token_dim":32,"num_transformer_submodules":1,"num_attention_heads":2,"num_layers":2,"modules_to_save":["classifier"],"prompt_tuning_init":"TEXT","prompt_tuning_init_text":"classify this","tokenizer_name_or_path":"bert-base-uncased","tokenizer_kwargs":{"trust_remote_code":false}}',
  ],
  [
    'bottleneck, defaults',
    () => new BottleneckConfig(),
    '{"task_type":null,"base_model_name_or_path":null,"revision":null,"inference_mode":false,"peft_type":"BOTTLENECK","variant":"pfeiffer","reduction_factor":16,"non_linearity":"relu","target_modules":null,"exclude_modules":null,"modules_to_save":null,"layers_to_transform":null,"layers_pattern":null,"init_weights":"near-identity"}',
  ],
  [
    'bottleneck, every field set',
    () =>
      new BottleneckConfig({
        taskType: 'SEQ_CLS',
        variant: 'houlsby',
        reductionFactor: 8,
        nonLinearity: 'gelu',
        targetModules: ['output.dense'],
        excludeModules: 'pooler.*',
        modulesToSave: ['classifier'],
        layersToTransform: 1,
        layersPattern: ['layer'],
        initWeights: false,
      }),
    '{"task_type":"SEQ_CLS","base_model_name_or_path":null,"revision":null,"inference_mode":false,"peft_type":"BOTTLENECK","variant":"houlsby","reduction_factor":8,"non_linearity":"gelu","target_modules":["output.dense"],"exclude_modules":"pooler.*","modules_to_save":["classifier"],"layers_to_transform":1,"layers_pattern":["layer"],"init_weights":false}',
  ],
];

for (const [name, make, expected] of CASES) {
  test(`adapter_config.json text: ${name}; read back, the same text`, () => {
    const config = make();
    assert.equal(JSON.stringify(config.toJson()), expected);
    const read = peftConfigFromJson(JSON.parse(expected) as Record<string, unknown>);
    assert.equal(read.constructor, config.constructor);
    assert.equal(JSON.stringify(read.toJson()), expected);
    // Each config holds its own copies of object defaults: changing one config's changes no other's.
    assert.equal(JSON.stringify(make().toJson()), expected);
  });
}

test('LoRA defaults: a config changing its rankPattern in place leaves the next config its own empty one', () => {
  const first = new LoraConfig();
  first.rankPattern.value = 2;
  assert.deepEqual(new LoraConfig().rankPattern, {});
});

test('savePretrained writes toJson() indented, with inference_mode true, byte for byte', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-peft-json-'));
  try {
    const model = getPeftModel(new nn.Sequential(new nn.Linear(2, 3)), new LoraConfig({ targetModules: ['0'], r: 2 }));
    await model.savePretrained(dir);
    assert.equal(
      readFileSync(join(dir, 'adapter_config.json'), 'utf8'),
      `{
  "task_type": null,
  "base_model_name_or_path": null,
  "revision": null,
  "inference_mode": true,
  "peft_type": "LORA",
  "r": 2,
  "target_modules": [
    "0"
  ],
  "exclude_modules": null,
  "lora_alpha": 8,
  "lora_dropout": 0,
  "fan_in_fan_out": false,
  "bias": "none",
  "use_rslora": false,
  "modules_to_save": null,
  "init_lora_weights": true,
  "layers_to_transform": null,
  "layers_pattern": null,
  "rank_pattern": {},
  "alpha_pattern": {},
  "use_dora": false
}
`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** [config, field, wrong value, the error in code, the error reading adapter_config.json ('a/adapter_config.json')]. */
const FIELD_ERRORS: [string, string, unknown, string, string][] = [
  [
    'LORA',
    'taskType',
    'x',
    'LoraConfig: taskType must be null or one of SEQ_CLS, TOKEN_CLS, QUESTION_ANS, FEATURE_EXTRACTION, CAUSAL_LM, SEQ_2_SEQ_LM, got "x"',
    '\'task_type\' must be null or one of SEQ_CLS, TOKEN_CLS, QUESTION_ANS, FEATURE_EXTRACTION, CAUSAL_LM, SEQ_2_SEQ_LM, got "x"',
  ],
  [
    'LORA',
    'baseModelNameOrPath',
    -1.5,
    'LoraConfig: baseModelNameOrPath must be a string or null, got -1.5',
    "'base_model_name_or_path' must be a string or null, got -1.5",
  ],
  [
    'LORA',
    'inferenceMode',
    'x',
    'LoraConfig: inferenceMode must be true or false, got "x"',
    '\'inference_mode\' must be true or false, got "x"',
  ],
  ['LORA', 'r', -1.5, 'LoraConfig: r must be a positive integer, got -1.5', "'r' must be a positive integer, got -1.5"],
  [
    'LORA',
    'targetModules',
    -1.5,
    'LoraConfig: targetModules must be a string, a list of strings or null, got -1.5',
    "'target_modules' must be a string, a list of strings or null, got -1.5",
  ],
  [
    'LORA',
    'loraAlpha',
    'x',
    'LoraConfig: loraAlpha must be a finite number, got "x"',
    '\'lora_alpha\' must be a finite number, got "x"',
  ],
  [
    'LORA',
    'loraDropout',
    -1.5,
    'LoraConfig: loraDropout must be a number in [0, 1), got -1.5',
    "'lora_dropout' must be a number in [0, 1), got -1.5",
  ],
  [
    'LORA',
    'bias',
    'x',
    "LoraConfig: bias must be 'none', 'all' or 'lora_only', got \"x\"",
    "'bias' must be 'none', 'all' or 'lora_only', got \"x\"",
  ],
  [
    'LORA',
    'modulesToSave',
    'x',
    'LoraConfig: modulesToSave must be a list of strings or null, got "x"',
    '\'modules_to_save\' must be a list of strings or null, got "x"',
  ],
  [
    'LORA',
    'initLoraWeights',
    'x',
    'LoraConfig: initLoraWeights must be true, false or \'gaussian\', got "x"',
    "'init_lora_weights' must be true, false or 'gaussian', got \"x\"",
  ],
  [
    'LORA',
    'layersToTransform',
    'x',
    'LoraConfig: layersToTransform must be a non-negative integer, a list of them or null, got "x"',
    '\'layers_to_transform\' must be a non-negative integer, a list of them or null, got "x"',
  ],
  [
    'LORA',
    'layersPattern',
    'x',
    'LoraConfig: layersPattern only applies together with layersToTransform',
    'LoraConfig: layersPattern only applies together with layersToTransform',
  ],
  [
    'LORA',
    'rankPattern',
    'x',
    'LoraConfig: rankPattern must map module patterns to positive integers, got "x"',
    '\'rank_pattern\' must map module patterns to positive integers, got "x"',
  ],
  [
    'LORA',
    'alphaPattern',
    'x',
    'LoraConfig: alphaPattern must map module patterns to finite numbers, got "x"',
    '\'alpha_pattern\' must map module patterns to finite numbers, got "x"',
  ],
  [
    'LORA',
    'useDora',
    -1.5,
    'LoraConfig: useDora must be true or false, got -1.5',
    "'use_dora' must be true or false, got -1.5",
  ],
  [
    'IA3',
    'feedforwardModules',
    -1.5,
    'IA3Config: feedforwardModules must be a string, a list of strings or null, got -1.5',
    "'feedforward_modules' must be a string, a list of strings or null, got -1.5",
  ],
  [
    'IA3',
    'initIa3Weights',
    'x',
    'IA3Config: initIa3Weights must be true or false, got "x"',
    '\'init_ia3_weights\' must be true or false, got "x"',
  ],
  [
    'PROMPT_TUNING',
    'numVirtualTokens',
    'x',
    'PromptTuningConfig: numVirtualTokens must be a positive integer, got "x"',
    '\'num_virtual_tokens\' must be a positive integer, got "x"',
  ],
  [
    'PROMPT_TUNING',
    'tokenDim',
    -1.5,
    'PromptTuningConfig: tokenDim must be a positive integer or null, got -1.5',
    "'token_dim' must be a positive integer or null, got -1.5",
  ],
  [
    'PROMPT_TUNING',
    'promptTuningInit',
    'x',
    "PromptTuningConfig: promptTuningInit must be 'RANDOM', 'SAMPLE_VOCAB' or 'TEXT', got \"x\"",
    "'prompt_tuning_init' must be 'RANDOM', 'SAMPLE_VOCAB' or 'TEXT', got \"x\"",
  ],
  [
    'PROMPT_TUNING',
    'tokenizerNameOrPath',
    -1.5,
    'PromptTuningConfig: tokenizerNameOrPath must be a string or null, got -1.5',
    "'tokenizer_name_or_path' must be a string or null, got -1.5",
  ],
  [
    'BOTTLENECK',
    'variant',
    'x',
    "BottleneckConfig: variant must be 'houlsby' or 'pfeiffer', got \"x\"",
    "'variant' must be 'houlsby' or 'pfeiffer', got \"x\"",
  ],
  [
    'BOTTLENECK',
    'reductionFactor',
    -1.5,
    'BottleneckConfig: reductionFactor must be a positive number, got -1.5',
    "'reduction_factor' must be a positive number, got -1.5",
  ],
  [
    'BOTTLENECK',
    'reductionFactor',
    'x',
    'BottleneckConfig: reductionFactor must be a positive number, got "x"',
    '\'reduction_factor\' must be a positive number, got "x"',
  ],
  [
    'BOTTLENECK',
    'nonLinearity',
    'x',
    'BottleneckConfig: nonLinearity must be one of relu, gelu, swish, silu, tanh, got "x"',
    '\'non_linearity\' must be one of relu, gelu, swish, silu, tanh, got "x"',
  ],
  [
    'BOTTLENECK',
    'layersToTransform',
    -1.5,
    'BottleneckConfig: layersToTransform must be a non-negative integer, a list of them or null, got -1.5',
    "'layers_to_transform' must be a non-negative integer, a list of them or null, got -1.5",
  ],
  [
    'BOTTLENECK',
    'initWeights',
    'x',
    "BottleneckConfig: initWeights must be 'near-identity', 'houlsby' or false, got \"x\"",
    "'init_weights' must be 'near-identity', 'houlsby' or false, got \"x\"",
  ],
];

const MAKE: Record<string, (options: Record<string, unknown>) => unknown> = {
  LORA: (options) => new LoraConfig(options),
  IA3: (options) => new IA3Config(options),
  PROMPT_TUNING: (options) => new PromptTuningConfig({ numVirtualTokens: 2, ...options }),
  BOTTLENECK: (options) => new BottleneckConfig(options),
};

test('a wrong field value: the same error text in code and, naming the key, from adapter_config.json', () => {
  for (const [peftType, field, value, inCode, inFile] of FIELD_ERRORS) {
    assert.throws(() => MAKE[peftType]({ [field]: value }), { message: inCode }, `${peftType} ${field}`);
    const json = {
      peft_type: peftType,
      ...(peftType === 'PROMPT_TUNING' ? { num_virtual_tokens: 2 } : {}),
      [field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)]: value,
    };
    assert.throws(
      () => peftConfigFromJson(json, 'a/adapter_config.json'),
      { message: `a/adapter_config.json: ${inFile}` },
      `${peftType} ${field} from JSON`,
    );
  }
});

test('null means the default, in code and in adapter_config.json; a value of a field left out is its default', () => {
  assert.equal(new LoraConfig({ r: null as unknown as number }).r, 8);
  assert.equal((peftConfigFromJson({ peft_type: 'LORA', r: null }) as InstanceType<typeof LoraConfig>).r, 8);
  assert.equal(new BottleneckConfig({ initWeights: false }).initWeights, false);
});

test("the options type is the field table's: a wrong type, an unknown option or a missing required one does not compile", () => {
  // @ts-expect-error r is a number
  assert.throws(() => new LoraConfig({ r: 'x' }), { message: 'LoraConfig: r must be a positive integer, got "x"' });
  // @ts-expect-error LoraConfig has no option rr
  assert.equal(new LoraConfig({ rr: 2 }).r, 8);
  // @ts-expect-error numVirtualTokens has no default
  const missing = () => new PromptTuningConfig({ tokenDim: 8 });
  assert.throws(missing, /numVirtualTokens must be a positive integer, got undefined/);
  const config: { r: number; targetModules: string[] | string | null } = new LoraConfig({ r: 4 });
  assert.equal(config.r, 4);
});

/** A method's config declared outside finetune: one field table, one with an adapter_config.json key of its own. */
const SCALE_FIELDS = {
  /** The scale's start value. */
  startValue: peft.peftField<number>({ kind: 'number', default: 1, key: 'init_scale' }),
  /** Names to wrap. */
  targetModules: peft.peftField<string[] | string | null>({ kind: 'modulePatterns', default: null }),
};

// eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-unsafe-declaration-merging
interface ScaleConfig extends peft.PeftFieldsOf<typeof SCALE_FIELDS> {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
class ScaleConfig extends peft.PeftConfig {
  readonly peftType = 'SCALE_TEST';
  constructor(options: peft.PeftConfigOptions & peft.PeftOptionsOf<typeof SCALE_FIELDS> = {}) {
    super(options, SCALE_FIELDS);
  }
}
peft.registerPeftConfig(
  'SCALE_TEST',
  (options) => new ScaleConfig(options as never),
  () => new ScaleConfig(),
);

test("a config's own table: its key written and read, its errors naming that key, the mechanical key refused", () => {
  const config = new ScaleConfig({ startValue: 2, targetModules: ['0'] });
  const text =
    '{"task_type":null,"base_model_name_or_path":null,"revision":null,"inference_mode":false,"peft_type":"SCALE_TEST","init_scale":2,"target_modules":["0"]}';
  assert.equal(JSON.stringify(config.toJson()), text);
  const read = peftConfigFromJson(JSON.parse(text) as Record<string, unknown>);
  assert.ok(read instanceof ScaleConfig);
  assert.equal(read.startValue, 2);
  assert.throws(() => peftConfigFromJson({ peft_type: 'SCALE_TEST', init_scale: 'x' }, 'f.json'), {
    message: `f.json: 'init_scale' must be a finite number, got "x"`,
  });
  assert.throws(() => peftConfigFromJson({ peft_type: 'SCALE_TEST', start_value: 3 }, 'f.json'), {
    message: 'f.json: SCALE_TEST option(s) not supported by finetune: start_value=3',
  });
});

/** A config declared before field tables: it sets its own fields in its constructor. */
class OldStyleConfig extends peft.PeftConfig {
  readonly peftType = 'OLD_STYLE_TEST';
  targetModules: string[] | null;
  constructor(options: peft.PeftConfigOptions & { targetModules?: string[] | null } = {}) {
    super(options);
    this.targetModules = options.targetModules ?? null;
  }
}
peft.registerPeftConfig(
  'OLD_STYLE_TEST',
  (options) => new OldStyleConfig(options as never),
  () => new OldStyleConfig(),
);

test('a config that sets its fields itself, without a table, still writes and reads them after peft_type', () => {
  const text =
    '{"task_type":"SEQ_CLS","base_model_name_or_path":null,"revision":null,"inference_mode":false,"peft_type":"OLD_STYLE_TEST","target_modules":["a"]}';
  assert.equal(JSON.stringify(new OldStyleConfig({ taskType: 'SEQ_CLS', targetModules: ['a'] }).toJson()), text);
  const read = peftConfigFromJson(JSON.parse(text) as Record<string, unknown>);
  assert.deepEqual((read as OldStyleConfig).targetModules, ['a']);
});

/**
 * The config of the Llama family, after transformers' configuration_llama.py, and of the checkpoints
 * that are the same network under another model_type: Qwen2 (configuration_qwen2.py: q/k/v biases,
 * no o_proj bias, sliding-window attention off) and Mistral (configuration_mistral.py: no biases, an
 * optional sliding window). Their fields and defaults, their checks, config.json both ways (the
 * transformers 5 `rope_parameters` and the older `rope_theta` / `rope_scaling` keys), the presets and
 * the size estimate. What is not the same network (a rope type not implemented, Qwen2's sliding
 * window) is refused when read, naming the key.
 */
import { ACT2FN, isActivationName, type ActivationName } from '../nn/index.js';
import {
  ConfigJsonReader,
  PROBLEM_TYPES,
  checkFields,
  defaultLabels,
  field,
  fieldsToJson,
  invertLabels,
  labelsToJson,
  orNull,
  sortedKeys,
  withoutUndefined,
  type ConfigField,
  type ConfigFields,
  type LabelsConfig,
} from './pretrained-config.js';
import { MAX_LABELS, MAX_LAYERS, type HfConfig, type ModelSizePart } from './registry.js';
import { ropeFromHf, ropeScalingProblem, ropeToHf, type LlamaRopeScaling } from './llama-rope.js';

/** The config.json model types this family reads: one network, three names. */
export const LLAMA_MODEL_TYPES = ['llama', 'qwen2', 'mistral'] as const;
export type LlamaModelType = (typeof LLAMA_MODEL_TYPES)[number];

/** transformers' LlamaConfig (and Qwen2Config, MistralConfig) in camelCase; `llamaConfig()` fills the defaults. */
export interface LlamaConfig extends LabelsConfig {
  /** config.json's model_type: which transformers classes the checkpoint names. */
  modelType: LlamaModelType;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  /** Key/value heads (grouped-query attention); numAttentionHeads for plain multi-head attention. */
  numKeyValueHeads: number;
  /** Width of one head; hiddenSize / numAttentionHeads unless a checkpoint sets it. */
  headDim: number;
  hiddenAct: ActivationName;
  maxPositionEmbeddings: number;
  initializerRange: number;
  rmsNormEps: number;
  /** The rotary embeddings' base (rope_parameters.rope_theta). */
  ropeTheta: number;
  /** The rope type other than 'default' and its settings (rope_parameters), or null (see llama-rope.ts). */
  ropeScaling: LlamaRopeScaling | null;
  /** Llama: biases in q/k/v/o_proj. Qwen2 has q/k/v biases and Mistral none, whatever this says. */
  attentionBias: boolean;
  attentionDropout: number;
  /** Llama: biases in gate/up/down_proj (never in Qwen2 or Mistral). */
  mlpBias: boolean;
  /** lm_head is embed_tokens' matrix. */
  tieWordEmbeddings: boolean;
  /** The padding token: the sequence classifier reads the last token that is not it. */
  padTokenId: number | null;
  bosTokenId: number | null;
  eosTokenId: number | number[] | null;
  /** Mistral: each token attends to at most this many (itself included); null attends to all before it. */
  slidingWindow: number | null;
}

type Defaults = Omit<LlamaConfig, 'id2label' | 'label2id' | 'headDim'> & { headDim?: number };

const LLAMA_DEFAULTS: Defaults = {
  modelType: 'llama',
  vocabSize: 32000,
  hiddenSize: 4096,
  intermediateSize: 11008,
  numHiddenLayers: 32,
  numAttentionHeads: 32,
  numKeyValueHeads: 32,
  hiddenAct: 'silu',
  maxPositionEmbeddings: 2048,
  initializerRange: 0.02,
  rmsNormEps: 1e-6,
  ropeTheta: 10000,
  ropeScaling: null,
  attentionBias: false,
  attentionDropout: 0,
  mlpBias: false,
  tieWordEmbeddings: false,
  padTokenId: null,
  bosTokenId: 1,
  eosTokenId: 2,
  slidingWindow: null,
  numLabels: 2,
  problemType: null,
};

/** Each model type's defaults, as its transformers config class has them. */
const DEFAULTS: Readonly<Record<LlamaModelType, Defaults>> = {
  llama: LLAMA_DEFAULTS,
  qwen2: {
    ...LLAMA_DEFAULTS,
    modelType: 'qwen2',
    vocabSize: 151936,
    intermediateSize: 22016,
    maxPositionEmbeddings: 32768,
    bosTokenId: null,
    eosTokenId: null,
  },
  mistral: {
    ...LLAMA_DEFAULTS,
    modelType: 'mistral',
    intermediateSize: 14336,
    numKeyValueHeads: 8,
    maxPositionEmbeddings: 131072,
    slidingWindow: 4096,
  },
};

const tokenId: ConfigField = orNull((value) =>
  Number.isInteger(value) && (value as number) >= 0 ? undefined : 'must be a non-negative integer',
);

/** The fields config.json holds under their snake_case names, with their checks (the rope keys are read apart). */
const FIELDS: ConfigFields<LlamaConfig> = {
  vocabSize: field.positiveInteger(),
  hiddenSize: field.positiveInteger(),
  intermediateSize: field.positiveInteger(),
  numHiddenLayers: field.positiveInteger(MAX_LAYERS),
  numAttentionHeads: field.positiveInteger(),
  numKeyValueHeads: field.positiveInteger(),
  headDim: field.positiveInteger(),
  hiddenAct: (value) =>
    typeof value === 'string' && isActivationName(value)
      ? undefined
      : `is not supported (supported: ${Object.keys(ACT2FN).join(', ')})`,
  maxPositionEmbeddings: field.positiveInteger(),
  initializerRange: (value) => (typeof value === 'number' && value >= 0 ? undefined : 'must be a non-negative number'),
  rmsNormEps: field.positiveNumber(),
  ropeTheta: field.positiveNumber(),
  attentionBias: field.boolean(),
  attentionDropout: field.fraction(),
  mlpBias: field.boolean(),
  tieWordEmbeddings: field.boolean(),
  padTokenId: tokenId,
  bosTokenId: tokenId,
  eosTokenId: (value) =>
    Array.isArray(value)
      ? value.every((id) => tokenId(id) === undefined)
        ? undefined
        : 'must be token ids'
      : tokenId(value),
  slidingWindow: orNull(field.positiveInteger()),
};

/** Fields only the Llama model type has (Qwen2 and Mistral fix their biases). */
const LLAMA_ONLY: readonly (keyof LlamaConfig)[] = ['attentionBias', 'mlpBias'];

/** The biases each projection has, by model type. */
export function llamaBiases(c: LlamaConfig): { qkv: boolean; o: boolean; mlp: boolean } {
  if (c.modelType === 'qwen2') return { qkv: true, o: false, mlp: false };
  if (c.modelType === 'mistral') return { qkv: false, o: false, mlp: false };
  return { qkv: c.attentionBias, o: c.attentionBias, mlp: c.mlpBias };
}

/**
 * A complete, checked LlamaConfig: the model type's defaults (modelType 'llama' unless given) for
 * what is not given. numKeyValueHeads defaults to numAttentionHeads and headDim to
 * hiddenSize / numAttentionHeads, as in transformers.
 */
export function llamaConfig(overrides: Partial<LlamaConfig> = {}): LlamaConfig {
  const modelType = overrides.modelType ?? 'llama';
  if (!(LLAMA_MODEL_TYPES as readonly string[]).includes(modelType))
    throw new Error(
      `LlamaConfig: modelType must be one of ${LLAMA_MODEL_TYPES.join(', ')}, got ${JSON.stringify(modelType)}`,
    );
  const given = withoutUndefined(overrides);
  const base = DEFAULTS[modelType];
  const numAttentionHeads = given.numAttentionHeads ?? base.numAttentionHeads;
  const merged = {
    ...base,
    numKeyValueHeads:
      given.numAttentionHeads !== undefined && modelType !== 'mistral' ? numAttentionHeads : base.numKeyValueHeads,
    ...given,
  };
  const numLabels = merged.id2label ? Object.keys(merged.id2label).length : merged.numLabels;
  if (!(Number.isInteger(numLabels) && numLabels >= 0 && numLabels <= MAX_LABELS))
    throw new Error(
      `LlamaConfig: numLabels must be an integer in [0, ${MAX_LABELS.toLocaleString('en-US')}], got ${JSON.stringify(numLabels)}`,
    );
  const id2label = merged.id2label ?? defaultLabels(numLabels);
  const config: LlamaConfig = {
    ...merged,
    headDim: merged.headDim ?? Math.floor(merged.hiddenSize / merged.numAttentionHeads),
    numLabels,
    id2label,
    label2id: merged.label2id ?? invertLabels(id2label),
  };
  checkConfig(config);
  return config;
}

function checkConfig(c: LlamaConfig): void {
  checkFields(c, FIELDS, 'LlamaConfig');
  if (c.modelType !== 'llama') {
    for (const key of LLAMA_ONLY)
      if (c[key] === true)
        throw new Error(
          `LlamaConfig: ${key} is a Llama setting; ${c.modelType} fixes its biases (${c.modelType === 'qwen2' ? 'q/k/v_proj have them, o_proj and the MLP do not' : 'none'})`,
        );
  }
  const ropeProblem = ropeScalingProblem(c.ropeScaling);
  if (ropeProblem) throw new Error(`LlamaConfig: ${ropeProblem}`);
  if (c.numAttentionHeads % c.numKeyValueHeads)
    throw new Error(
      `LlamaConfig: numAttentionHeads (${c.numAttentionHeads}) must be a multiple of numKeyValueHeads (${c.numKeyValueHeads})`,
    );
  if (c.headDim % 2) throw new Error(`LlamaConfig: headDim must be even for rotary embeddings, got ${c.headDim}`);
  if (c.slidingWindow !== null && c.modelType !== 'mistral')
    throw new Error(
      `LlamaConfig: slidingWindow is supported for mistral only, got ${c.slidingWindow} for ${c.modelType}`,
    );
  if (c.problemType !== null && !PROBLEM_TYPES.includes(c.problemType))
    throw new Error(
      `LlamaConfig: problemType must be null or one of ${PROBLEM_TYPES.join(', ')}, got ${JSON.stringify(c.problemType)}`,
    );
  if (c.padTokenId !== null && c.padTokenId >= c.vocabSize)
    throw new Error(`LlamaConfig: padTokenId (${c.padTokenId}) must be below vocabSize (${c.vocabSize})`);
}

// ---- config.json ----------------------------------------------------------------------

/**
 * Reads a transformers config.json of model_type 'llama', 'qwen2' or 'mistral' (absent: 'llama').
 * Unknown keys are ignored and missing ones take the model type's defaults; a wrong type, a rope
 * type not implemented (rope_parameters or the older rope_scaling; see llama-rope.ts) and Qwen2's
 * sliding-window attention throw, naming the key.
 */
export function llamaConfigFromHf(json: HfConfig): LlamaConfig {
  const given = json.model_type ?? 'llama';
  const reader = new ConfigJsonReader(json, `${String(given)} config.json`);
  if (!(LLAMA_MODEL_TYPES as readonly unknown[]).includes(given))
    throw reader.error('model_type', `must be one of ${LLAMA_MODEL_TYPES.join(', ')}`);
  const modelType = given as LlamaModelType;
  const own: Partial<LlamaConfig> = { ...reader.fields(FIELDS), ...reader.labels(), modelType };
  if (modelType !== 'llama') for (const key of LLAMA_ONLY) delete own[key];
  if (modelType === 'qwen2') {
    if (json.use_sliding_window === true)
      throw reader.error(
        'use_sliding_window',
        'is not supported (Qwen2 sliding-window attention); only full attention is',
      );
    const layerTypes = json.layer_types;
    if (Array.isArray(layerTypes) && layerTypes.some((type) => type !== 'full_attention'))
      throw reader.error('layer_types', "must be all 'full_attention' (sliding-window layers are not supported)");
    // Qwen2 writes sliding_window even when it is off; transformers ignores it then.
    delete own.slidingWindow;
  }
  const rope = ropeFromHf(reader, own.maxPositionEmbeddings ?? DEFAULTS[modelType].maxPositionEmbeddings);
  own.ropeTheta = rope.ropeTheta ?? own.ropeTheta;
  own.ropeScaling = rope.ropeScaling;
  if (own.id2label !== undefined) delete own.numLabels;
  try {
    return llamaConfig(own);
  } catch (error) {
    throw reader.naming(error, 'LlamaConfig');
  }
}

/** The class-name prefix of each model type, as transformers names its classes. */
const CLASS_PREFIX: Readonly<Record<LlamaModelType, string>> = { llama: 'Llama', qwen2: 'Qwen2', mistral: 'Mistral' };

/** The architectures a model type's checkpoints name ('LlamaForCausalLM', 'Qwen2Model', …). */
export function llamaArchitectures(modelType: LlamaModelType): string[] {
  return ['ForCausalLM', 'Model', 'ForSequenceClassification'].map((suffix) => CLASS_PREFIX[modelType] + suffix);
}

/**
 * Writes config.json as transformers 5.17 writes it for `architecture` (sorted keys, rope_parameters,
 * id2label/label2id only when not the default two LABEL_i, problem_type only when set).
 */
export function llamaConfigToHf(config: LlamaConfig, architecture?: string): HfConfig {
  const c = llamaConfig(config);
  const known = llamaArchitectures(c.modelType);
  const name = architecture ?? known[0];
  if (!known.includes(name))
    throw new Error(`llamaConfigToHf: unknown architecture '${name}' for ${c.modelType} (known: ${known.join(', ')})`);
  const written = (Object.keys(FIELDS) as (keyof LlamaConfig & string)[]).filter(
    (key) =>
      key !== 'ropeTheta' &&
      (c.modelType === 'llama' || !LLAMA_ONLY.includes(key)) &&
      (c.modelType === 'mistral' || key !== 'slidingWindow') &&
      (key !== 'headDim' || c.modelType !== 'qwen2' || c.headDim !== c.hiddenSize / c.numAttentionHeads),
  );
  const namedLabels = JSON.stringify(c.id2label) !== JSON.stringify(defaultLabels(2));
  return sortedKeys({
    architectures: [name],
    dtype: 'float32',
    model_type: c.modelType,
    use_cache: true,
    ...fieldsToJson(c, written),
    rope_parameters: ropeToHf(c.ropeTheta, c.ropeScaling),
    ...(c.modelType === 'qwen2'
      ? {
          layer_types: Array.from({ length: c.numHiddenLayers }, () => 'full_attention'),
          max_window_layers: 28,
          sliding_window: null,
          use_sliding_window: false,
        }
      : {}),
    ...(c.modelType === 'llama' ? { pretraining_tp: 1 } : {}),
    ...(c.problemType !== null ? { problem_type: c.problemType } : {}),
    ...(namedLabels ? labelsToJson(c.id2label!, c.label2id!) : {}),
  });
}

// ---- presets ------------------------------------------------------------------------

/**
 * Named configurations with the released checkpoints' numbers: HuggingFaceTB/SmolLM-135M,
 * TinyLlama/TinyLlama-1.1B-Chat-v1.0 and Qwen/Qwen2-0.5B (random weights when built from the
 * preset; load the checkpoint for its weights), and 'llama-tiny', finetune's own shape for tests
 * (2 layers, 4 heads over 2 key/value heads, width 64, vocabulary 256).
 */
export const LLAMA_PRESETS: Readonly<Record<string, Readonly<LlamaConfig>>> = Object.freeze({
  'smollm-135m': frozen({
    vocabSize: 49152,
    hiddenSize: 576,
    intermediateSize: 1536,
    numHiddenLayers: 30,
    numAttentionHeads: 9,
    numKeyValueHeads: 3,
    maxPositionEmbeddings: 2048,
    rmsNormEps: 1e-5,
    tieWordEmbeddings: true,
    bosTokenId: 0,
    eosTokenId: 0,
  }),
  'tinyllama-1.1b': frozen({
    vocabSize: 32000,
    hiddenSize: 2048,
    intermediateSize: 5632,
    numHiddenLayers: 22,
    numAttentionHeads: 32,
    numKeyValueHeads: 4,
    maxPositionEmbeddings: 2048,
    rmsNormEps: 1e-5,
  }),
  'qwen2-0.5b': frozen({
    modelType: 'qwen2',
    vocabSize: 151936,
    hiddenSize: 896,
    intermediateSize: 4864,
    numHiddenLayers: 24,
    numAttentionHeads: 14,
    numKeyValueHeads: 2,
    maxPositionEmbeddings: 131072,
    ropeTheta: 1000000,
    rmsNormEps: 1e-6,
    tieWordEmbeddings: true,
    bosTokenId: 151643,
    eosTokenId: 151643,
  }),
  'llama-tiny': frozen({
    vocabSize: 256,
    hiddenSize: 64,
    intermediateSize: 128,
    numHiddenLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    maxPositionEmbeddings: 256,
    rmsNormEps: 1e-5,
  }),
});

function frozen(overrides: Partial<LlamaConfig>): Readonly<LlamaConfig> {
  const config = llamaConfig(overrides);
  Object.freeze(config.id2label);
  Object.freeze(config.label2id);
  return Object.freeze(config);
}

// ---- size ---------------------------------------------------------------------------

/**
 * The family's parameters by part, from the config alone (see ModelFamily.sizeParts): embed_tokens,
 * the decoder layers, the final norm, an untied lm_head and the sequence classifier's score, so the
 * sum bounds each architecture's count from above.
 */
export function llamaSizeParts(c: LlamaConfig): ModelSizePart[] {
  const h = c.hiddenSize;
  const i = c.intermediateSize;
  const queryWidth = c.numAttentionHeads * c.headDim;
  const keyValueWidth = c.numKeyValueHeads * c.headDim;
  const bias = llamaBiases(c);
  const attention =
    2 * h * queryWidth + 2 * h * keyValueWidth + (bias.qkv ? queryWidth + 2 * keyValueWidth : 0) + (bias.o ? h : 0);
  const mlp = 3 * h * i + (bias.mlp ? 2 * i + h : 0);
  const vocabularyFields = { vocab_size: c.vocabSize, hidden_size: h };
  return [
    { part: 'token embeddings', parameters: c.vocabSize * h, fields: vocabularyFields },
    {
      part: 'decoder layers',
      parameters: c.numHiddenLayers * (attention + mlp + 2 * h),
      fields: {
        num_hidden_layers: c.numHiddenLayers,
        hidden_size: h,
        intermediate_size: i,
        num_attention_heads: c.numAttentionHeads,
        num_key_value_heads: c.numKeyValueHeads,
        head_dim: c.headDim,
      },
    },
    { part: 'final norm', parameters: h, fields: { hidden_size: h } },
    ...(c.tieWordEmbeddings ? [] : [{ part: 'lm_head', parameters: c.vocabSize * h, fields: vocabularyFields }]),
    { part: 'score', parameters: c.numLabels * h, fields: { num_labels: c.numLabels, hidden_size: h } },
  ];
}

/**
 * GPT-2's config, after transformers' configuration_gpt2.py (5.17): its own fields under their
 * config.json names in camelCase (n_embd → nEmbd) and their defaults (gpt2's), its checks,
 * config.json both ways, the presets and the size estimate. The labels and problem_type (for
 * GPT2ForSequenceClassification) and the reader are the shared base's (pretrained-config.ts).
 */
import { ACT2FN, isActivationName, type ActivationName } from '../nn/index.js';
import {
  ConfigJsonReader,
  PROBLEM_TYPES,
  fieldsToJson,
  field,
  frozenPreset,
  namedLabelsToJson,
  resolveLabels,
  sortedKeys,
  withoutUndefined,
  type ConfigField,
  type ConfigFields,
  type LabelsConfig,
} from './pretrained-config.js';
import { MAX_LAYERS, type HfConfig, type ModelSizePart } from './registry.js';

/** transformers' GPT2Config in camelCase; `gpt2Config()` fills the defaults (openai-community/gpt2's). */
export interface GPT2Config extends LabelsConfig {
  vocabSize: number;
  /** Learned positions: the longest sequence (transformers' max_position_embeddings). */
  nPositions: number;
  /** Hidden size. */
  nEmbd: number;
  nLayer: number;
  nHead: number;
  /** The MLP's inner size; null for 4·nEmbd. */
  nInner: number | null;
  activationFunction: ActivationName;
  residPdrop: number;
  embdPdrop: number;
  attnPdrop: number;
  layerNormEpsilon: number;
  initializerRange: number;
  /** GPT2DoubleHeadsModel's sequence summary (kept so config.json round-trips; not built here). */
  summaryType: string;
  summaryUseProj: boolean;
  summaryActivation: string | null;
  summaryProjToLabels: boolean;
  summaryFirstDropout: number;
  /** Attention scores divided by √headDim (true in every released GPT-2). */
  scaleAttnWeights: boolean;
  /** Scores further divided by layerIndex + 1 (Mistral's GPT-2 runs). */
  scaleAttnByInverseLayerIdx: boolean;
  /**
   * transformers' fp16 stabiliser for its eager attention only: with SDPA (its default and the only
   * path here) it changes nothing, so it is read and written back, not acted on.
   */
  reorderAndUpcastAttn: boolean;
  useCache: boolean;
  bosTokenId: number | null;
  /** One id or several (generation stops at any). */
  eosTokenId: number | number[] | null;
  /** GPT-2 has no padding token; sequence classification of batches needs one. */
  padTokenId: number | null;
  /** lm_head shares wte's matrix (one tensor, saved once), as in every released GPT-2. */
  tieWordEmbeddings: boolean;
  numLabels: number;
  id2label: Record<number, string>;
  label2id: Record<string, number>;
}

const DEFAULTS: Omit<GPT2Config, 'id2label' | 'label2id'> = {
  vocabSize: 50257,
  nPositions: 1024,
  nEmbd: 768,
  nLayer: 12,
  nHead: 12,
  nInner: null,
  activationFunction: 'gelu_new',
  residPdrop: 0.1,
  embdPdrop: 0.1,
  attnPdrop: 0.1,
  layerNormEpsilon: 1e-5,
  initializerRange: 0.02,
  summaryType: 'cls_index',
  summaryUseProj: true,
  summaryActivation: null,
  summaryProjToLabels: true,
  summaryFirstDropout: 0.1,
  scaleAttnWeights: true,
  scaleAttnByInverseLayerIdx: false,
  reorderAndUpcastAttn: false,
  useCache: true,
  bosTokenId: 50256,
  eosTokenId: 50256,
  padTokenId: null,
  tieWordEmbeddings: true,
  numLabels: 2,
  problemType: null,
};

const tokenIds: ConfigField = (value) =>
  value === null ||
  (typeof value === 'number' && Number.isInteger(value)) ||
  (Array.isArray(value) && value.every((v) => Number.isInteger(v)))
    ? undefined
    : 'must be a token id, a list of them or null';

/** GPT-2's own config.json fields, type-checked when read; gpt2Config checks the ranges. */
const FIELDS: ConfigFields<GPT2Config> = {
  vocabSize: field.typed('number'),
  nPositions: field.typed('number'),
  nEmbd: field.typed('number'),
  nLayer: field.typed('number'),
  nHead: field.typed('number'),
  nInner: field.typed('number', { nullable: true }),
  activationFunction: field.typed('string'),
  residPdrop: field.typed('number'),
  embdPdrop: field.typed('number'),
  attnPdrop: field.typed('number'),
  layerNormEpsilon: field.typed('number'),
  initializerRange: field.typed('number'),
  summaryType: field.typed('string'),
  summaryUseProj: field.typed('boolean'),
  summaryActivation: field.typed('string', { nullable: true }),
  summaryProjToLabels: field.typed('boolean'),
  summaryFirstDropout: field.typed('number'),
  scaleAttnWeights: field.typed('boolean'),
  scaleAttnByInverseLayerIdx: field.typed('boolean'),
  reorderAndUpcastAttn: field.typed('boolean'),
  useCache: field.typed('boolean'),
  bosTokenId: field.typed('number', { nullable: true }),
  eosTokenId: tokenIds,
  padTokenId: field.typed('number', { nullable: true }),
  tieWordEmbeddings: field.typed('boolean'),
};

/**
 * A complete, checked GPT2Config: defaults for what is not given; labels as bertConfig's
 * (id2label's size wins, LABEL_i otherwise).
 */
export function gpt2Config(overrides: Partial<GPT2Config> = {}): GPT2Config {
  const merged = { ...DEFAULTS, ...withoutUndefined(overrides) };
  const config: GPT2Config = { ...merged, ...resolveLabels('GPT2Config', overrides, merged.numLabels) };
  checkConfig(config);
  return config;
}

function checkConfig(c: GPT2Config): void {
  for (const key of ['vocabSize', 'nPositions', 'nEmbd', 'nLayer', 'nHead', 'numLabels'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 1)
      throw new Error(`GPT2Config: ${key} must be a positive integer, got ${JSON.stringify(c[key])}`);
  }
  if (c.nInner !== null && (!Number.isInteger(c.nInner) || c.nInner < 1))
    throw new Error(`GPT2Config: nInner must be a positive integer or null, got ${JSON.stringify(c.nInner)}`);
  if (c.nLayer > MAX_LAYERS) throw new Error(`GPT2Config: nLayer must be at most ${MAX_LAYERS}, got ${c.nLayer}`);
  for (const key of ['residPdrop', 'embdPdrop', 'attnPdrop', 'summaryFirstDropout'] as const) {
    if (typeof c[key] !== 'number' || c[key] < 0 || c[key] > 1)
      throw new Error(`GPT2Config: ${key} must be in [0, 1], got ${JSON.stringify(c[key])}`);
  }
  for (const key of ['initializerRange', 'layerNormEpsilon'] as const) {
    if (typeof c[key] !== 'number' || !(c[key] >= 0))
      throw new Error(`GPT2Config: ${key} must be a non-negative number, got ${JSON.stringify(c[key])}`);
  }
  if (c.nEmbd % c.nHead) throw new Error(`GPT2Config: nEmbd (${c.nEmbd}) must be a multiple of nHead (${c.nHead})`);
  if (!isActivationName(c.activationFunction)) {
    throw new Error(
      `GPT2Config: activationFunction '${c.activationFunction}' is not supported (supported: ${Object.keys(ACT2FN).join(', ')})`,
    );
  }
  // Not checked against vocabSize, as transformers does not: a small config that keeps gpt2's default
  // 50256 is valid there (its end token is then never generated).
  const ids = { bosTokenId: c.bosTokenId, padTokenId: c.padTokenId, eosTokenId: c.eosTokenId };
  for (const [key, value] of Object.entries(ids)) {
    const list = value === null ? [] : Array.isArray(value) ? value : [value];
    if (list.some((id) => !Number.isInteger(id) || id < 0))
      throw new Error(`GPT2Config: ${key} must be null or non-negative token ids, got ${JSON.stringify(value)}`);
  }
  if (c.problemType !== null && !PROBLEM_TYPES.includes(c.problemType)) {
    throw new Error(
      `GPT2Config: problemType must be null or one of ${PROBLEM_TYPES.join(', ')}, got ${JSON.stringify(c.problemType)}`,
    );
  }
}

// ---- config.json ----------------------------------------------------------------------

/**
 * Reads a transformers config.json (model_type 'gpt2'): unknown keys ignored, missing ones
 * defaulted; a wrong type or a setting not built here (add_cross_attention) throws, naming the key.
 */
export function gpt2ConfigFromHf(json: HfConfig): GPT2Config {
  const reader = new ConfigJsonReader(json, 'GPT-2 config.json');
  reader.checkModelType('gpt2');
  if (json.add_cross_attention === true)
    throw reader.error('add_cross_attention', 'is not supported (GPT-2 as the decoder of an encoder-decoder)');
  const overrides = { ...reader.fields(FIELDS), ...reader.labels() };
  if (overrides.id2label !== undefined) delete overrides.numLabels;
  if (overrides.activationFunction !== undefined && !isActivationName(overrides.activationFunction))
    throw reader.error('activation_function', `is not supported (supported: ${Object.keys(ACT2FN).join(', ')})`);
  try {
    return gpt2Config(overrides);
  } catch (error) {
    throw reader.naming(error, 'GPT2Config');
  }
}

/** The architectures GPT-2 builds, as named in config.json's `architectures`. */
export const GPT2_ARCHITECTURES = ['GPT2LMHeadModel', 'GPT2Model', 'GPT2ForSequenceClassification'] as const;

/**
 * Writes config.json as transformers 5.17 writes it for `architecture`: the same keys, sorted;
 * id2label/label2id only when not the default two LABEL_i, problem_type only when set.
 */
export function gpt2ConfigToHf(config: GPT2Config, architecture: string = 'GPT2LMHeadModel'): HfConfig {
  if (!(GPT2_ARCHITECTURES as readonly string[]).includes(architecture))
    throw new Error(`gpt2ConfigToHf: unknown architecture '${architecture}' (known: ${GPT2_ARCHITECTURES.join(', ')})`);
  const c = gpt2Config(config);
  return sortedKeys({
    add_cross_attention: false,
    architectures: [architecture],
    dtype: 'float32',
    model_type: 'gpt2',
    ...fieldsToJson(c, Object.keys(FIELDS) as (keyof GPT2Config & string)[]),
    ...(c.problemType !== null ? { problem_type: c.problemType } : {}),
    ...namedLabelsToJson(c.id2label, c.label2id),
  });
}

// ---- presets ------------------------------------------------------------------------

/**
 * openai-community/gpt2 (124M: L12 H768 A12), gpt2-medium (355M: L24 H1024 A16), distilgpt2
 * (82M: L6 H768 A12), and gpt2-tiny (L2 H64 A4, vocab 1000, 128 positions) for tests and examples.
 */
export const GPT2_PRESETS: Readonly<Record<'gpt2' | 'gpt2-medium' | 'distilgpt2' | 'gpt2-tiny', Readonly<GPT2Config>>> =
  Object.freeze({
    gpt2: frozenPreset(gpt2Config()),
    'gpt2-medium': frozenPreset(gpt2Config({ nEmbd: 1024, nLayer: 24, nHead: 16 })),
    distilgpt2: frozenPreset(gpt2Config({ nLayer: 6 })),
    'gpt2-tiny': frozenPreset(
      gpt2Config({ vocabSize: 1000, nPositions: 128, nEmbd: 64, nLayer: 2, nHead: 4, bosTokenId: 0, eosTokenId: 0 }),
    ),
  });

// ---- size ---------------------------------------------------------------------------

/**
 * GPT-2's parameters by part, from the config alone: embeddings, the blocks (c_attn 3h²+3h,
 * attention c_proj h²+h, c_fc hi+i, MLP c_proj ih+h, two LayerNorms 4h), and the heads (ln_f, an
 * untied lm_head, the score), so the sum bounds every architecture's count from above.
 */
export function gpt2SizeParts(c: GPT2Config): ModelSizePart[] {
  const h = c.nEmbd;
  const i = c.nInner ?? 4 * h;
  return [
    { part: 'token embeddings', parameters: c.vocabSize * h, fields: { vocab_size: c.vocabSize, n_embd: h } },
    { part: 'position embeddings', parameters: c.nPositions * h, fields: { n_positions: c.nPositions, n_embd: h } },
    {
      part: 'transformer blocks',
      parameters: c.nLayer * (4 * h * h + 2 * h * i + 9 * h + i),
      fields: { n_layer: c.nLayer, n_embd: h, n_inner: c.nInner },
    },
    {
      part: 'final LayerNorm and heads',
      parameters: 2 * h + (c.tieWordEmbeddings ? 0 : c.vocabSize * h) + c.numLabels * h,
      fields: { n_embd: h, vocab_size: c.vocabSize, num_labels: c.numLabels },
    },
  ];
}

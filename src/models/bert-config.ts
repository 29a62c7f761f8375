/**
 * BERT's config, after transformers' configuration_bert.py: its own fields and their defaults
 * (bert-base-uncased's), its checks, config.json both ways, the presets and the size estimate. The
 * labels, problem_type, snake_case keys and the reader are the shared base's (pretrained-config.ts).
 */
import { ACT2FN, isActivationName, type ActivationName } from '../nn/index.js';
import type { ProblemType } from './classification-loss.js';
import {
  ConfigJsonReader,
  PROBLEM_TYPES,
  encoderLayersSizePart,
  fieldsToJson,
  field,
  frozenPreset,
  namedLabelsToJson,
  resolveLabels,
  sortedKeys,
  withoutUndefined,
  type ConfigFields,
  type LabelsConfig,
} from './pretrained-config.js';
import { MAX_LAYERS, type HfConfig, type ModelSizePart } from './registry.js';

/** Activations BERT checkpoints name in `hidden_act` (transformers' ACT2FN keys). */
export type BertActivation = ActivationName;

/** How BertForSequenceClassification computes its loss (transformers' `problem_type`). */
export type BertProblemType = ProblemType;

/** transformers' BertConfig in camelCase; `bertConfig()` fills the defaults (bert-base-uncased's). */
export interface BertConfig extends LabelsConfig {
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  hiddenAct: BertActivation;
  hiddenDropoutProb: number;
  attentionProbsDropoutProb: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  /** Std of the normal init of Linear and Embedding weights. */
  initializerRange: number;
  layerNormEps: number;
  /** The word embedding row that gets no gradient (and starts at zero); null for none. */
  padTokenId: number | null;
  /** Dropout before the classifier; null uses hiddenDropoutProb. */
  classifierDropout: number | null;
  /** The MLM decoder shares the word embedding matrix (and the head's bias), as in every released BERT. */
  tieWordEmbeddings: boolean;
  /** Classifier outputs; 1 means regression unless problemType says otherwise. */
  numLabels: number;
  id2label: Record<number, string>;
  label2id: Record<string, number>;
}

const DEFAULTS: Omit<BertConfig, 'id2label' | 'label2id'> = {
  vocabSize: 30522,
  hiddenSize: 768,
  numHiddenLayers: 12,
  numAttentionHeads: 12,
  intermediateSize: 3072,
  hiddenAct: 'gelu',
  hiddenDropoutProb: 0.1,
  attentionProbsDropoutProb: 0.1,
  maxPositionEmbeddings: 512,
  typeVocabSize: 2,
  initializerRange: 0.02,
  layerNormEps: 1e-12,
  padTokenId: 0,
  classifierDropout: null,
  tieWordEmbeddings: true,
  numLabels: 2,
  problemType: null,
};

/**
 * BERT's own config.json fields, checked for their type only when read: their ranges are
 * bertConfig's checks, whose errors the reader renames to the key.
 */
const FIELDS: ConfigFields<BertConfig> = {
  vocabSize: field.typed('number'),
  hiddenSize: field.typed('number'),
  numHiddenLayers: field.typed('number'),
  numAttentionHeads: field.typed('number'),
  intermediateSize: field.typed('number'),
  hiddenAct: field.typed('string'),
  hiddenDropoutProb: field.typed('number'),
  attentionProbsDropoutProb: field.typed('number'),
  maxPositionEmbeddings: field.typed('number'),
  typeVocabSize: field.typed('number'),
  initializerRange: field.typed('number'),
  layerNormEps: field.typed('number'),
  padTokenId: field.typed('number', { nullable: true }),
  classifierDropout: field.typed('number', { nullable: true }),
  tieWordEmbeddings: field.typed('boolean'),
};

/**
 * A complete, checked BertConfig: defaults for what is not given. Labels follow numLabels
 * (LABEL_0 …) unless id2label names them, whose size then sets numLabels. A generated
 * LABEL_i map of another size gives way to numLabels, so `{ ...BERT_PRESETS['bert-tiny'],
 * numLabels: 5 }` works; named labels that disagree with numLabels throw.
 */
export function bertConfig(overrides: Partial<BertConfig> = {}): BertConfig {
  const merged = { ...DEFAULTS, ...withoutUndefined(overrides) };
  const config: BertConfig = { ...merged, ...resolveLabels('BertConfig', overrides, merged.numLabels) };
  checkConfig(config);
  return config;
}

function checkConfig(c: BertConfig): void {
  const positive: (keyof BertConfig)[] = [
    'vocabSize',
    'hiddenSize',
    'numHiddenLayers',
    'numAttentionHeads',
    'intermediateSize',
    'maxPositionEmbeddings',
    'typeVocabSize',
    'numLabels',
  ];
  for (const key of positive) {
    const v = c[key];
    if (!Number.isInteger(v) || (v as number) < 1)
      throw new Error(`BertConfig: ${key} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  if (c.numHiddenLayers > MAX_LAYERS)
    throw new Error(`BertConfig: numHiddenLayers must be at most ${MAX_LAYERS}, got ${c.numHiddenLayers}`);
  for (const key of ['hiddenDropoutProb', 'attentionProbsDropoutProb'] as const) {
    if (typeof c[key] !== 'number' || c[key] < 0 || c[key] > 1)
      throw new Error(`BertConfig: ${key} must be in [0, 1], got ${JSON.stringify(c[key])}`);
  }
  if (
    c.classifierDropout !== null &&
    (typeof c.classifierDropout !== 'number' || c.classifierDropout < 0 || c.classifierDropout > 1)
  ) {
    throw new Error(
      `BertConfig: classifierDropout must be in [0, 1] or null, got ${JSON.stringify(c.classifierDropout)}`,
    );
  }
  for (const key of ['initializerRange', 'layerNormEps'] as const) {
    if (typeof c[key] !== 'number' || !(c[key] >= 0))
      throw new Error(`BertConfig: ${key} must be a non-negative number, got ${JSON.stringify(c[key])}`);
  }
  if (c.hiddenSize % c.numAttentionHeads) {
    throw new Error(
      `BertConfig: hiddenSize (${c.hiddenSize}) must be a multiple of numAttentionHeads (${c.numAttentionHeads})`,
    );
  }
  if (!isActivationName(c.hiddenAct)) {
    throw new Error(
      `BertConfig: hiddenAct '${c.hiddenAct}' is not supported (supported: ${Object.keys(ACT2FN).join(', ')})`,
    );
  }
  if (c.padTokenId !== null && (!Number.isInteger(c.padTokenId) || c.padTokenId < 0 || c.padTokenId >= c.vocabSize)) {
    throw new Error(
      `BertConfig: padTokenId must be null or an integer in [0, ${c.vocabSize}), got ${JSON.stringify(c.padTokenId)}`,
    );
  }
  if (c.problemType !== null && !PROBLEM_TYPES.includes(c.problemType)) {
    throw new Error(
      `BertConfig: problemType must be null or one of ${PROBLEM_TYPES.join(', ')}, got ${JSON.stringify(c.problemType)}`,
    );
  }
  if (typeof c.tieWordEmbeddings !== 'boolean') throw new Error(`BertConfig: tieWordEmbeddings must be a boolean`);
}

// ---- config.json ----------------------------------------------------------------------

/**
 * Reads a transformers config.json (model_type 'bert'). Unknown keys are ignored and missing
 * ones take BertConfig's defaults; a key with a wrong type or an unsupported setting
 * (is_decoder, add_cross_attention, a relative position_embedding_type) throws, naming it.
 */
export function bertConfigFromHf(json: HfConfig): BertConfig {
  const reader = new ConfigJsonReader(json, 'BERT config.json');
  reader.checkModelType('bert');
  if (json.is_decoder === true) throw reader.error('is_decoder', 'is not supported (BERT as a causal decoder)');
  if (json.add_cross_attention === true) throw reader.error('add_cross_attention', 'is not supported');
  const positions = json.position_embedding_type;
  if (positions !== undefined && positions !== null && positions !== 'absolute')
    throw reader.error('position_embedding_type', "must be 'absolute'");

  const overrides = { ...reader.fields(FIELDS), ...reader.labels() };
  // As transformers: named labels set the number of labels, whatever num_labels says.
  if (overrides.id2label !== undefined) delete overrides.numLabels;
  if (overrides.hiddenAct !== undefined && !isActivationName(overrides.hiddenAct)) {
    throw reader.error('hidden_act', `is not supported (supported: ${Object.keys(ACT2FN).join(', ')})`);
  }
  try {
    return bertConfig(overrides);
  } catch (error) {
    throw reader.naming(error, 'BertConfig');
  }
}

/** The architectures BERT builds, as named in config.json's `architectures`. */
export const BERT_ARCHITECTURES = ['BertModel', 'BertForSequenceClassification', 'BertForMaskedLM'] as const;
export type BertArchitecture = (typeof BERT_ARCHITECTURES)[number];

/**
 * Writes config.json as transformers 5.17 writes it for `architecture`: the same keys (sorted),
 * id2label/label2id only when they are not the default two LABEL_i, problem_type only when set;
 * `transformers_version` is left out.
 */
export function bertConfigToHf(config: BertConfig, architecture: string = 'BertModel'): HfConfig {
  if (!(BERT_ARCHITECTURES as readonly string[]).includes(architecture)) {
    throw new Error(`bertConfigToHf: unknown architecture '${architecture}' (known: ${BERT_ARCHITECTURES.join(', ')})`);
  }
  const c = bertConfig(config);
  return sortedKeys({
    add_cross_attention: false,
    architectures: [architecture],
    bos_token_id: null,
    dtype: 'float32',
    eos_token_id: null,
    is_decoder: false,
    model_type: 'bert',
    use_cache: true,
    ...fieldsToJson(c, Object.keys(FIELDS) as (keyof BertConfig & string)[]),
    ...(c.problemType !== null ? { problem_type: c.problemType } : {}),
    ...namedLabelsToJson(c.id2label, c.label2id),
  });
}

// ---- presets ------------------------------------------------------------------------

/**
 * Named configurations: google-bert/bert-base-uncased (L12 H768 A12), and Google's compact
 * BERTs as prajjwal1 publishes them, bert-tiny (L2 H128 A2) and bert-mini (L4 H256 A4).
 */
export const BERT_PRESETS: Readonly<Record<'bert-base-uncased' | 'bert-tiny' | 'bert-mini', Readonly<BertConfig>>> =
  Object.freeze({
    'bert-base-uncased': frozenPreset(bertConfig()),
    'bert-tiny': frozenPreset(
      bertConfig({ hiddenSize: 128, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 512 }),
    ),
    'bert-mini': frozenPreset(
      bertConfig({ hiddenSize: 256, numHiddenLayers: 4, numAttentionHeads: 4, intermediateSize: 1024 }),
    ),
  });

// ---- size ---------------------------------------------------------------------------

/**
 * BERT's parameters by part, from the config alone (see ModelFamily.sizeParts): the embeddings, the
 * encoder layers, and every head (pooler, MLM transform and bias, classifier), so the sum bounds
 * each architecture's count from above.
 */
export function bertSizeParts(c: BertConfig): ModelSizePart[] {
  const h = c.hiddenSize;
  const i = c.intermediateSize;
  return [
    { part: 'word embeddings', parameters: c.vocabSize * h, fields: { vocab_size: c.vocabSize, hidden_size: h } },
    {
      part: 'position and token type embeddings',
      parameters: (c.maxPositionEmbeddings + c.typeVocabSize + 2) * h,
      fields: { max_position_embeddings: c.maxPositionEmbeddings, type_vocab_size: c.typeVocabSize, hidden_size: h },
    },
    encoderLayersSizePart(c.numHiddenLayers, h, i),
    {
      part: 'pooler and masked-LM head',
      parameters: 2 * h * h + 5 * h + c.vocabSize,
      fields: { hidden_size: h, vocab_size: c.vocabSize },
    },
    { part: 'classifier', parameters: c.numLabels * (h + 1), fields: { num_labels: c.numLabels, hidden_size: h } },
  ];
}

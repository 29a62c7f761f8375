/**
 * ViT's config, after transformers' configuration_vit.py: its own fields and their defaults
 * (ViT-Base/16 at 224 px), its checks, config.json both ways, the presets and the size estimate. The
 * labels, problem_type, snake_case keys and the reader are the shared base's (pretrained-config.ts).
 */
import type { ActivationName } from '../nn/index.js';
import type { ProblemType } from './classification-loss.js';
import {
  ConfigJsonReader,
  PROBLEM_TYPES,
  checkFields,
  defaultLabels,
  encoderLayersSizePart,
  field,
  fieldsToJson,
  invertLabels,
  labelsToJson,
  orNull,
  sortedKeys,
  withoutUndefined,
  type ConfigFields,
  type LabelsConfig,
} from './pretrained-config.js';
import { MAX_LABELS, MAX_LAYERS, type HfConfig, type ModelSizePart } from './registry.js';

/** The activations ViT checkpoints use, by their transformers names (keys of nn's ACT2FN). */
export const VIT_ACTIVATIONS = [
  'gelu',
  'gelu_new',
  'gelu_pytorch_tanh',
  'quick_gelu',
  'relu',
  'silu',
  'swish',
  'tanh',
] as const satisfies readonly ActivationName[];
export type ViTActivation = (typeof VIT_ACTIVATIONS)[number];

/** How ViTForImageClassification turns logits and labels into a loss (transformers' problem_type). */
export type ViTProblemType = ProblemType;

/** transformers' ViTConfig, in camelCase. vitConfig() fills in transformers' defaults (ViT-Base/16, 224 px). */
export interface ViTConfig extends LabelsConfig {
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  hiddenAct: ViTActivation;
  /** Dropout after the embeddings, the attention output and the MLP. */
  hiddenDropoutProb: number;
  /** Dropout on the attention probabilities. */
  attentionProbsDropoutProb: number;
  /** Standard deviation of the (truncated) normal initialisation. */
  initializerRange: number;
  layerNormEps: number;
  /** Image side, or [height, width]. */
  imageSize: number | [number, number];
  /** Patch side, or [height, width]. */
  patchSize: number | [number, number];
  numChannels: number;
  /** Bias in the query/key/value projections. */
  qkvBias: boolean;
  /** Only used by masked image modelling; kept for config.json round trips. */
  encoderStride: number;
  /** Width of ViTModel's pooler; null means hiddenSize. */
  poolerOutputSize: number | null;
  poolerAct: ViTActivation;
  /** Classifier outputs; 0 gives no classifier (Identity), as in transformers. */
  numLabels: number;
}

const DEFAULTS: ViTConfig = {
  hiddenSize: 768,
  numHiddenLayers: 12,
  numAttentionHeads: 12,
  intermediateSize: 3072,
  hiddenAct: 'gelu',
  hiddenDropoutProb: 0,
  attentionProbsDropoutProb: 0,
  initializerRange: 0.02,
  layerNormEps: 1e-12,
  imageSize: 224,
  patchSize: 16,
  numChannels: 3,
  qkvBias: true,
  encoderStride: 16,
  poolerOutputSize: null,
  poolerAct: 'tanh',
  numLabels: 2,
  problemType: null,
};

/** ViT's own fields and their checks, for config.json (naming the key) and for configs given in code. */
const FIELDS: ConfigFields<ViTConfig> = {
  hiddenSize: field.positiveInteger(),
  numHiddenLayers: field.positiveInteger(MAX_LAYERS),
  numAttentionHeads: field.positiveInteger(),
  intermediateSize: field.positiveInteger(),
  hiddenAct: field.oneOf(VIT_ACTIVATIONS),
  hiddenDropoutProb: field.fraction(),
  attentionProbsDropoutProb: field.fraction(),
  initializerRange: field.positiveNumber(),
  layerNormEps: field.positiveNumber(),
  imageSize: field.positiveIntegerOrPair(),
  patchSize: field.positiveIntegerOrPair(),
  numChannels: field.positiveInteger(),
  qkvBias: field.boolean(),
  encoderStride: field.positiveInteger(),
  poolerOutputSize: orNull(field.positiveInteger()),
  poolerAct: field.oneOf(VIT_ACTIVATIONS),
};

/** A full, checked ViTConfig: transformers' defaults (ViT-Base/16 at 224 px, 2 labels) with `overrides`. */
export function vitConfig(overrides: Partial<ViTConfig> = {}): ViTConfig {
  const config: ViTConfig = { ...DEFAULTS, ...withoutUndefined(overrides) };
  checkConfig(config);
  return config;
}

/** `config` with another number of labels; class names that no longer fit are dropped (LABEL_i then). */
export function vitWithNumLabels(config: ViTConfig, numLabels: number): ViTConfig {
  const fits = config.id2label !== undefined && Object.keys(config.id2label).length === numLabels;
  return vitConfig({
    ...config,
    numLabels,
    id2label: fits ? config.id2label : undefined,
    label2id: fits ? config.label2id : undefined,
  });
}

/** The class names of a config: its id2label/label2id, or LABEL_0 … LABEL_{n-1}. */
export function vitLabels(config: ViTConfig): { id2label: Record<number, string>; label2id: Record<string, number> } {
  const id2label = config.id2label ?? defaultLabels(config.numLabels);
  return { id2label, label2id: config.label2id ?? invertLabels(id2label) };
}

/** A side or a [height, width] pair as [height, width]. */
export function heightWidth(value: number | [number, number]): [number, number] {
  return typeof value === 'number' ? [value, value] : value;
}

function checkConfig(config: ViTConfig): void {
  if (config.numHiddenLayers > MAX_LAYERS)
    throw new Error(`ViT: numHiddenLayers must be at most ${MAX_LAYERS}, got ${config.numHiddenLayers}`);
  if (config.numLabels > MAX_LABELS)
    throw new Error(`ViT: numLabels must be at most ${MAX_LABELS.toLocaleString('en-US')}, got ${config.numLabels}`);
  checkFields(config, FIELDS, 'ViT');
  if (!Number.isInteger(config.numLabels) || config.numLabels < 0)
    throw new Error(`ViT: numLabels must be a non-negative integer, got ${JSON.stringify(config.numLabels)}`);
  if (config.problemType !== null && !PROBLEM_TYPES.includes(config.problemType)) {
    throw new Error(
      `ViT: problemType must be null or one of ${PROBLEM_TYPES.join(', ')}, got ${JSON.stringify(config.problemType)}`,
    );
  }
  if (config.hiddenSize % config.numAttentionHeads) {
    throw new Error(
      `ViT: hiddenSize (${config.hiddenSize}) must be a multiple of numAttentionHeads (${config.numAttentionHeads})`,
    );
  }
  if (config.id2label && Object.keys(config.id2label).length !== config.numLabels) {
    throw new Error(
      `ViT: id2label has ${Object.keys(config.id2label).length} entries but numLabels is ${config.numLabels}`,
    );
  }
  const [h, w] = heightWidth(config.imageSize);
  const [ph, pw] = heightWidth(config.patchSize);
  if (ph > h || pw > w) throw new Error(`ViT: patchSize ${ph}×${pw} is larger than imageSize ${h}×${w}`);
}

// ---- config.json ------------------------------------------------------------------------------

/** Reads a ViT config.json (snake_case, as transformers writes it); unknown keys are ignored, missing (or null) ones defaulted. */
export function vitConfigFromHf(json: HfConfig): ViTConfig {
  const reader = new ConfigJsonReader(json, 'ViT config.json', { nullIsAbsent: true });
  reader.checkModelType('vit');
  const own = reader.fields(FIELDS);
  const labels = reader.labels();
  const named = labels.id2label === undefined ? undefined : Object.keys(labels.id2label).length;
  const numLabels = labels.numLabels ?? named ?? DEFAULTS.numLabels;
  if (named !== undefined && named !== numLabels) {
    throw new Error(`ViT config.json: num_labels is ${numLabels} but id2label has ${named} entries`);
  }
  return vitConfig({ ...own, ...labels, numLabels });
}

export const VIT_ARCHITECTURES = ['ViTForImageClassification', 'ViTModel'] as const;
export type ViTArchitecture = (typeof VIT_ARCHITECTURES)[number];

/** Writes config.json for `architecture`, in transformers' snake_case (readable by transformers' ViTConfig). */
export function vitConfigToHf(config: ViTConfig, architecture: string = 'ViTForImageClassification'): HfConfig {
  if (!(VIT_ARCHITECTURES as readonly string[]).includes(architecture)) {
    throw new Error(`ViT: unknown architecture '${architecture}' (known: ${VIT_ARCHITECTURES.join(', ')})`);
  }
  const full = vitConfig(config);
  const { id2label, label2id } = vitLabels(full);
  return sortedKeys({
    architectures: [architecture],
    model_type: 'vit',
    ...fieldsToJson(full, Object.keys(FIELDS) as (keyof ViTConfig & string)[]),
    pooler_output_size: full.poolerOutputSize ?? full.hiddenSize,
    ...labelsToJson(id2label, label2id),
    ...(full.problemType ? { problem_type: full.problemType } : {}),
  });
}

// ---- presets ----------------------------------------------------------------------------------

const vitBase = (overrides: Partial<ViTConfig> = {}) => Object.freeze(vitConfig({ numLabels: 1000, ...overrides }));
/** torchvision's ViTs: layer norm eps 1e-6, exact GELU, 1000 ImageNet classes. */
const torchvisionVit = (overrides: Partial<ViTConfig>) => vitBase({ layerNormEps: 1e-6, ...overrides });

/**
 * Named configurations. 'vit-base-patch16-224' is google/vit-base-patch16-224; 'vit-tiny' and 'vit-small'
 * are the DeiT-Ti/-S shapes (patch 16, 224 px); 'vit_b_16' … 'vit_h_14' are torchvision's builders, for
 * vitStateDictFromTorchvision. All have 1000 labels: use resetClassifier for another label set.
 */
export const VIT_PRESETS: Readonly<Record<string, Readonly<ViTConfig>>> = {
  'vit-base-patch16-224': vitBase(),
  'vit-tiny': vitBase({ hiddenSize: 192, numAttentionHeads: 3, intermediateSize: 768 }),
  'vit-small': vitBase({ hiddenSize: 384, numAttentionHeads: 6, intermediateSize: 1536 }),
  vit_b_16: torchvisionVit({}),
  vit_b_32: torchvisionVit({ patchSize: 32 }),
  vit_l_16: torchvisionVit({ hiddenSize: 1024, numHiddenLayers: 24, numAttentionHeads: 16, intermediateSize: 4096 }),
  vit_l_32: torchvisionVit({
    hiddenSize: 1024,
    numHiddenLayers: 24,
    numAttentionHeads: 16,
    intermediateSize: 4096,
    patchSize: 32,
  }),
  vit_h_14: torchvisionVit({
    hiddenSize: 1280,
    numHiddenLayers: 32,
    numAttentionHeads: 16,
    intermediateSize: 5120,
    patchSize: 14,
  }),
};

// ---- size -------------------------------------------------------------------------------------

/**
 * ViT's parameters by part, from the config alone (see ModelFamily.sizeParts): patch projection,
 * [CLS] token and positions, the encoder layers, the final LayerNorm with ViTModel's pooler, and
 * the classifier — the sum bounds each architecture's count from above.
 */
export function vitSizeParts(c: ViTConfig): ModelSizePart[] {
  const h = c.hiddenSize;
  const i = c.intermediateSize;
  const [imageHeight, imageWidth] = heightWidth(c.imageSize);
  const [patchHeight, patchWidth] = heightWidth(c.patchSize);
  const patches = Math.floor(imageHeight / patchHeight) * Math.floor(imageWidth / patchWidth);
  const pooled = c.poolerOutputSize ?? h;
  return [
    {
      part: 'patch projection',
      parameters: (c.numChannels * patchHeight * patchWidth + 1) * h,
      fields: { num_channels: c.numChannels, patch_size: c.patchSize, hidden_size: h },
    },
    {
      part: 'position embeddings',
      parameters: (patches + 2) * h,
      fields: { image_size: c.imageSize, patch_size: c.patchSize, hidden_size: h },
    },
    encoderLayersSizePart(c.numHiddenLayers, h, i),
    {
      part: 'final LayerNorm and pooler',
      parameters: 2 * h + (h + 1) * pooled,
      fields: { hidden_size: h, pooler_output_size: pooled },
    },
    { part: 'classifier', parameters: c.numLabels * (h + 1), fields: { num_labels: c.numLabels, hidden_size: h } },
  ];
}

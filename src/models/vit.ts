/**
 * Vision Transformer (Dosovitskiy et al., "An Image is Worth 16x16 Words", 2020), with the module
 * tree and parameter names of Hugging Face transformers' ViTModel / ViTForImageClassification, so
 * their checkpoints load key for key:
 *
 *   vit.embeddings.cls_token                                  [1, 1, H]
 *   vit.embeddings.position_embeddings                        [1, patches + 1, H]
 *   vit.embeddings.patch_embeddings.projection.{weight,bias}  Conv2d(C, H, patch, stride=patch)
 *   vit.encoder.layer.N.layernorm_before / layernorm_after    pre-norm transformer block
 *   vit.encoder.layer.N.attention.attention.{query,key,value}
 *   vit.encoder.layer.N.attention.output.dense
 *   vit.encoder.layer.N.intermediate.dense / output.dense     the MLP
 *   vit.layernorm, (pooler.dense: ViTModel only), classifier
 *
 * torchvision's vision_transformer is the same network under other names; vitStateDictFromTorchvision
 * renames its weights (vit_b_16 & co.) into this layout.
 *
 * Reads top to bottom: config → patch embeddings → attention → MLP → block → encoder → ViTModel →
 * classifier → initialisation → presets and config.json → torchvision weights → registration.
 */
import { cat, functional as F, tidy, zeros, type Device, type Tensor } from '../tensor/index.js';
import { Conv2d, Dropout, Identity, init, LayerNorm, Linear, Module, ModuleList, parameter, type StateDict } from '../nn/index.js';
import { classificationLoss, type ProblemType } from './classification-loss.js';
import { MAX_LABELS, MAX_LAYERS, registerModelFamily, type HfConfig, type LayerGroup, type ModelSizePart } from './registry.js';
import type { BatchInput } from './batch-input.js';

// ---- config ------------------------------------------------------------------------------------

/** Activations by their transformers names (ACT2FN). */
export type ViTActivation = 'gelu' | 'gelu_new' | 'gelu_pytorch_tanh' | 'quick_gelu' | 'relu' | 'silu' | 'swish' | 'tanh';

/** How ViTForImageClassification turns logits and labels into a loss (transformers' problem_type). */
export type ViTProblemType = ProblemType;

/** transformers' ViTConfig, in camelCase. vitConfig() fills in transformers' defaults (ViT-Base/16, 224 px). */
export interface ViTConfig {
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
  /** Class names by index; LABEL_0, LABEL_1, … when absent. */
  id2label?: Record<number, string>;
  label2id?: Record<string, number>;
  /** null: regression for 1 label, else single-label for integer labels, multi-label for float ones. */
  problemType: ViTProblemType | null;
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

/** A full ViTConfig: transformers' defaults (ViT-Base/16 at 224 px, 2 labels) with `overrides`. */
export function vitConfig(overrides: Partial<ViTConfig> = {}): ViTConfig {
  const config = { ...DEFAULTS, ...overrides };
  if (config.id2label === undefined) delete config.id2label;
  if (config.label2id === undefined) delete config.label2id;
  return config;
}

/** `config` with another number of labels; class names that no longer fit are dropped (LABEL_i then). */
export function vitWithNumLabels(config: ViTConfig, numLabels: number): ViTConfig {
  const fits = config.id2label !== undefined && Object.keys(config.id2label).length === numLabels;
  return vitConfig({ ...config, numLabels, id2label: fits ? config.id2label : undefined, label2id: fits ? config.label2id : undefined });
}

/** The class names of a config: its id2label/label2id, or LABEL_0 … LABEL_{n-1}. */
export function vitLabels(config: ViTConfig): { id2label: Record<number, string>; label2id: Record<string, number> } {
  const id2label: Record<number, string> = config.id2label ?? {};
  if (!config.id2label) for (let i = 0; i < config.numLabels; i++) id2label[i] = `LABEL_${i}`;
  const label2id = config.label2id ?? Object.fromEntries(Object.entries(id2label).map(([i, name]) => [name, Number(i)]));
  return { id2label, label2id };
}

function pair(value: number | [number, number]): [number, number] {
  return typeof value === 'number' ? [value, value] : value;
}

function checkConfig(config: ViTConfig): void {
  if (config.numHiddenLayers > MAX_LAYERS) throw new Error(`ViT: numHiddenLayers must be at most ${MAX_LAYERS}, got ${config.numHiddenLayers}`);
  if (config.numLabels > MAX_LABELS) throw new Error(`ViT: numLabels must be at most ${MAX_LABELS.toLocaleString('en-US')}, got ${config.numLabels}`);
  if (config.hiddenSize % config.numAttentionHeads) {
    throw new Error(`ViT: hiddenSize (${config.hiddenSize}) must be a multiple of numAttentionHeads (${config.numAttentionHeads})`);
  }
  if (config.id2label && Object.keys(config.id2label).length !== config.numLabels) {
    throw new Error(`ViT: id2label has ${Object.keys(config.id2label).length} entries but numLabels is ${config.numLabels}`);
  }
  const [h, w] = pair(config.imageSize);
  const [ph, pw] = pair(config.patchSize);
  if (ph > h || pw > w) throw new Error(`ViT: patchSize ${ph}×${pw} is larger than imageSize ${h}×${w}`);
}

const ACTIVATIONS: ViTActivation[] = ['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'quick_gelu', 'relu', 'silu', 'swish', 'tanh'];

function activation(name: ViTActivation): (x: Tensor) => Tensor {
  switch (name) {
    case 'gelu': return (x) => F.gelu(x);
    case 'gelu_new':
    case 'gelu_pytorch_tanh': return (x) => F.gelu(x, 'tanh');
    case 'quick_gelu': return (x) => x.mul(x.mul(1.702).sigmoid());
    case 'relu': return F.relu;
    case 'silu':
    case 'swish': return F.silu;
    case 'tanh': return (x) => x.tanh();
    default: throw new Error(`ViT: unknown activation '${String(name)}' (known: ${ACTIVATIONS.join(', ')})`);
  }
}

// ---- embeddings: patches, [CLS] token, positions ----------------------------------------------

/** Cuts the image into non-overlapping patches and projects each to hiddenSize: [B, C, H, W] → [B, patches, hidden]. */
export class ViTPatchEmbeddings extends Module {
  projection: Conv2d;
  readonly imageSize: [number, number];
  readonly patchSize: [number, number];
  readonly numChannels: number;
  readonly numPatches: number;

  constructor(config: ViTConfig) {
    super();
    this.imageSize = pair(config.imageSize);
    this.patchSize = pair(config.patchSize);
    this.numChannels = config.numChannels;
    this.numPatches = Math.floor(this.imageSize[0] / this.patchSize[0]) * Math.floor(this.imageSize[1] / this.patchSize[1]);
    this.projection = new Conv2d(config.numChannels, config.hiddenSize, this.patchSize, { stride: this.patchSize });
  }

  forward(pixelValues: Tensor): Tensor {
    return this.projection.forward(pixelValues).flatten(2).transpose(1, 2);
  }
}

/** [CLS] token + patch embeddings + learned position embeddings, then dropout. */
export class ViTEmbeddings extends Module {
  cls_token: Tensor;
  position_embeddings: Tensor;
  patch_embeddings: ViTPatchEmbeddings;
  dropout: Dropout;

  constructor(config: ViTConfig) {
    super();
    this.patch_embeddings = new ViTPatchEmbeddings(config);
    this.cls_token = parameter(zeros([1, 1, config.hiddenSize]));
    this.position_embeddings = parameter(zeros([1, this.patch_embeddings.numPatches + 1, config.hiddenSize]));
    this.dropout = new Dropout(config.hiddenDropoutProb);
  }

  forward(pixelValues: Tensor): Tensor {
    const { imageSize: [height, width], numChannels } = this.patch_embeddings;
    const shape = pixelValues.shape;
    if (shape.length !== 4) throw new Error(`ViT: pixelValues must be [batch, channels, height, width], got shape [${shape}]`);
    if (shape[1] !== numChannels) throw new Error(`ViT: expected ${numChannels} channels (config numChannels), got ${shape[1]} (pixelValues shape [${shape}])`);
    if (shape[2] !== height || shape[3] !== width) {
      throw new Error(
        `ViT: expected ${height}×${width} images (config imageSize), got ${shape[2]}×${shape[3]}; ` +
          `interpolating position embeddings to other sizes is not supported: resize the images`,
      );
    }
    const patches = this.patch_embeddings.forward(pixelValues);
    const cls = this.cls_token.expand([shape[0], -1, -1]);
    return this.dropout.forward(cat([cls, patches], 1).add(this.position_embeddings));
  }
}

// ---- attention ---------------------------------------------------------------------------------

/** Multi-head self-attention: separate query/key/value projections, libtorch's fused attention kernel. */
export class ViTSelfAttention extends Module {
  query: Linear;
  key: Linear;
  value: Linear;
  readonly numHeads: number;
  readonly headDim: number;
  readonly dropoutProb: number;

  constructor(config: ViTConfig) {
    super();
    this.numHeads = config.numAttentionHeads;
    this.headDim = config.hiddenSize / config.numAttentionHeads;
    this.dropoutProb = config.attentionProbsDropoutProb;
    const bias = config.qkvBias;
    this.query = new Linear(config.hiddenSize, config.hiddenSize, { bias });
    this.key = new Linear(config.hiddenSize, config.hiddenSize, { bias });
    this.value = new Linear(config.hiddenSize, config.hiddenSize, { bias });
  }

  forward(hidden: Tensor): Tensor {
    const [batch, length, width] = hidden.shape;
    // [batch, length, hidden] → [batch, heads, length, headDim]
    const heads = (x: Tensor) => x.view([batch, length, this.numHeads, this.headDim]).transpose(1, 2);
    const context = F.scaledDotProductAttention(heads(this.query.forward(hidden)), heads(this.key.forward(hidden)), heads(this.value.forward(hidden)), {
      dropoutP: this.training ? this.dropoutProb : 0,
    });
    return context.transpose(1, 2).reshape([batch, length, width]);
  }
}

/** The attention's output projection (the residual is added by ViTLayer). */
export class ViTSelfOutput extends Module {
  dense: Linear;
  dropout: Dropout;

  constructor(config: ViTConfig) {
    super();
    this.dense = new Linear(config.hiddenSize, config.hiddenSize);
    this.dropout = new Dropout(config.hiddenDropoutProb);
  }

  forward(hidden: Tensor): Tensor {
    return this.dropout.forward(this.dense.forward(hidden));
  }
}

export class ViTAttention extends Module {
  attention: ViTSelfAttention;
  output: ViTSelfOutput;

  constructor(config: ViTConfig) {
    super();
    this.attention = new ViTSelfAttention(config);
    this.output = new ViTSelfOutput(config);
  }

  forward(hidden: Tensor): Tensor {
    return this.output.forward(this.attention.forward(hidden));
  }
}

// ---- MLP ---------------------------------------------------------------------------------------

/** First MLP layer: hidden → intermediate, then the activation. */
export class ViTIntermediate extends Module {
  dense: Linear;
  readonly act: (x: Tensor) => Tensor;

  constructor(config: ViTConfig) {
    super();
    this.dense = new Linear(config.hiddenSize, config.intermediateSize);
    this.act = activation(config.hiddenAct);
  }

  forward(hidden: Tensor): Tensor {
    return this.act(this.dense.forward(hidden));
  }
}

/** Second MLP layer: intermediate → hidden, dropout, plus the residual. */
export class ViTOutput extends Module {
  dense: Linear;
  dropout: Dropout;

  constructor(config: ViTConfig) {
    super();
    this.dense = new Linear(config.intermediateSize, config.hiddenSize);
    this.dropout = new Dropout(config.hiddenDropoutProb);
  }

  forward(hidden: Tensor, residual: Tensor): Tensor {
    return this.dropout.forward(this.dense.forward(hidden)).add(residual);
  }
}

// ---- transformer block and encoder -------------------------------------------------------------

/** Pre-norm block: x + attention(norm(x)), then h + mlp(norm(h)). */
export class ViTLayer extends Module {
  attention: ViTAttention;
  intermediate: ViTIntermediate;
  output: ViTOutput;
  layernorm_before: LayerNorm;
  layernorm_after: LayerNorm;

  constructor(config: ViTConfig) {
    super();
    this.attention = new ViTAttention(config);
    this.intermediate = new ViTIntermediate(config);
    this.output = new ViTOutput(config);
    this.layernorm_before = new LayerNorm(config.hiddenSize, config.layerNormEps);
    this.layernorm_after = new LayerNorm(config.hiddenSize, config.layerNormEps);
  }

  forward(x: Tensor): Tensor {
    // One scope per block, as PyTorch's reference counting frees them: the block's intermediates
    // are released when it returns (autograd keeps what backward needs), so the next blocks reuse
    // their memory instead of the process faulting in fresh pages until the caller's scope ends.
    return tidy(() => {
      const h = this.attention.forward(this.layernorm_before.forward(x)).add(x);
      return this.output.forward(this.intermediate.forward(this.layernorm_after.forward(h)), h);
    });
  }
}

export class ViTEncoder extends Module {
  layer: ModuleList<ViTLayer>;

  constructor(config: ViTConfig) {
    super();
    this.layer = new ModuleList(Array.from({ length: config.numHiddenLayers }, () => new ViTLayer(config)));
  }

  forward(hidden: Tensor): Tensor {
    let x = hidden;
    for (const layer of this.layer) x = layer.forward(x);
    return x;
  }
}

/** ViTModel's optional pooler: dense + activation on the [CLS] token. */
export class ViTPooler extends Module {
  dense: Linear;
  readonly activation: (x: Tensor) => Tensor;

  constructor(config: ViTConfig) {
    super();
    this.dense = new Linear(config.hiddenSize, config.poolerOutputSize ?? config.hiddenSize);
    this.activation = activation(config.poolerAct);
  }

  forward(hidden: Tensor): Tensor {
    return this.activation(this.dense.forward(hidden.select(1, 0)));
  }
}

// ---- the models --------------------------------------------------------------------------------

export interface ViTModelOutput {
  /** The final layer-normed sequence, [batch, patches + 1, hidden]; index 0 is the [CLS] token. */
  lastHiddenState: Tensor;
  /** The pooler's output, [batch, poolerOutputSize], when the model has a pooler. */
  pooledOutput?: Tensor;
}

export interface ViTInput {
  /** Images, [batch, numChannels, height, width], normalised as the checkpoint expects. */
  pixelValues: Tensor;
}

/** The bare encoder (transformers' ViTModel): embeddings, transformer blocks, final layer norm, optional pooler. */
export class ViTModel extends Module {
  /** forward takes { pixelValues } (see BatchInput). */
  static readonly batchInput: BatchInput = 'inputs';
  config: ViTConfig;
  embeddings: ViTEmbeddings;
  encoder: ViTEncoder;
  layernorm: LayerNorm;
  pooler: ViTPooler | null;

  /** `addPoolingLayer` defaults to true, as in transformers (ViTForImageClassification builds it without). */
  constructor(config: Partial<ViTConfig> = {}, options: { addPoolingLayer?: boolean } = {}) {
    super();
    this.config = vitConfig(config);
    checkConfig(this.config);
    this.embeddings = new ViTEmbeddings(this.config);
    this.encoder = new ViTEncoder(this.config);
    this.layernorm = new LayerNorm(this.config.hiddenSize, this.config.layerNormEps);
    this.pooler = options.addPoolingLayer ?? true ? new ViTPooler(this.config) : null;
    this.apply((module) => initWeights(module, this.config.initializerRange));
  }

  forward({ pixelValues }: ViTInput): ViTModelOutput {
    const weight = this.embeddings.patch_embeddings.projection.weight;
    const pixels = pixelValues.dtype === weight.dtype ? pixelValues : pixelValues.to(weight.dtype);
    const lastHiddenState = this.layernorm.forward(this.encoder.forward(this.embeddings.forward(pixels)));
    return this.pooler ? { lastHiddenState, pooledOutput: this.pooler.forward(lastHiddenState) } : { lastHiddenState };
  }
}

export interface ViTClassifierInput extends ViTInput {
  /** Class indices [batch] (int64) for single-label, floats [batch, numLabels] for multi-label or regression. */
  labels?: Tensor;
}

export interface ViTClassifierOutput {
  logits: Tensor;
  /** Present when labels were given. */
  loss?: Tensor;
}

/** ViTModel (no pooler) + a linear classifier on the final [CLS] token (transformers' ViTForImageClassification). */
export class ViTForImageClassification extends Module {
  /** forward takes { pixelValues, labels? } (see BatchInput). */
  static readonly batchInput: BatchInput = 'inputs';
  config: ViTConfig;
  vit: ViTModel;
  classifier: Linear | Identity;

  constructor(config: Partial<ViTConfig> = {}) {
    super();
    this.config = vitConfig(config);
    this.vit = new ViTModel(this.config, { addPoolingLayer: false });
    this.vit.config = this.config;
    this.classifier = newClassifier(this.config);
  }

  forward({ pixelValues, labels }: ViTClassifierInput): ViTClassifierOutput {
    const { lastHiddenState } = this.vit.forward({ pixelValues });
    const logits = this.classifier.forward(lastHiddenState.select(1, 0));
    return labels ? { logits, loss: classificationLoss(logits, labels, this.config.numLabels, this.config.problemType) } : { logits };
  }

  /**
   * A new, freshly initialised classifier for `numLabels` classes (0: none), keeping the backbone:
   * the usual first step of fine-tuning on a new label set. The new head has the backbone's dtype and
   * device; the old head's tensors are freed.
   */
  resetClassifier(numLabels: number, labels: { id2label?: Record<number, string>; label2id?: Record<string, number> } = {}): this {
    if (!Number.isInteger(numLabels) || numLabels < 0) throw new RangeError(`resetClassifier: numLabels must be a non-negative integer, got ${numLabels}`);
    const config = vitConfig({ ...this.config, numLabels, id2label: labels.id2label, label2id: labels.label2id });
    checkConfig(config);
    const fresh = newClassifier(config);
    const { dtype, device } = this.vit.embeddings.patch_embeddings.projection.weight;
    fresh.to({ dtype, device: device as Device }); // on the backbone's device, in its dtype
    this.classifier.dispose();
    this.classifier = fresh;
    this.config = config;
    this.vit.config = config;
    return this;
  }
}

function newClassifier(config: ViTConfig): Linear | Identity {
  if (config.numLabels === 0) return new Identity();
  const classifier = new Linear(config.hiddenSize, config.numLabels);
  initWeights(classifier, config.initializerRange);
  return classifier;
}

// ---- initialisation ----------------------------------------------------------------------------

/**
 * transformers' ViT _init_weights: linear and convolution weights ~ truncated N(0, std²) (cut at ±2), biases 0,
 * layer norms 1 and 0, [CLS] token and position embeddings ~ truncated N(0, std²).
 */
function initWeights(module: Module, std: number): void {
  if (module instanceof Linear || module instanceof Conv2d) {
    init.truncNormal_(module.weight, 0, std);
    if (module.bias) init.zeros_(module.bias);
  } else if (module instanceof LayerNorm) {
    if (module.weight) init.ones_(module.weight);
    if (module.bias) init.zeros_(module.bias);
  } else if (module instanceof ViTEmbeddings) {
    init.truncNormal_(module.position_embeddings, 0, std);
    init.truncNormal_(module.cls_token, 0, std);
  }
}

// ---- presets and config.json -------------------------------------------------------------------

const vitBase = (overrides: Partial<ViTConfig> = {}) => Object.freeze(vitConfig({ numLabels: 1000, ...overrides }));
/** torchvision's ViTs: layer norm eps 1e-6, exact GELU, 1000 ImageNet classes. */
const torchvisionVit = (overrides: Partial<ViTConfig>) => vitBase({ layerNormEps: 1e-6, ...overrides });

/**
 * Named configurations. 'vit-base-patch16-224' is google/vit-base-patch16-224; 'vit-tiny' and 'vit-small'
 * are the DeiT-Ti/-S shapes (patch 16, 224 px); 'vit_b_16' … 'vit_h_14' are torchvision's builders, for
 * vitStateDictFromTorchvision. All have 1000 labels: use resetClassifier for another label set.
 */
export const vitPresets: Readonly<Record<string, Readonly<ViTConfig>>> = {
  'vit-base-patch16-224': vitBase(),
  'vit-tiny': vitBase({ hiddenSize: 192, numAttentionHeads: 3, intermediateSize: 768 }),
  'vit-small': vitBase({ hiddenSize: 384, numAttentionHeads: 6, intermediateSize: 1536 }),
  vit_b_16: torchvisionVit({}),
  vit_b_32: torchvisionVit({ patchSize: 32 }),
  vit_l_16: torchvisionVit({ hiddenSize: 1024, numHiddenLayers: 24, numAttentionHeads: 16, intermediateSize: 4096 }),
  vit_l_32: torchvisionVit({ hiddenSize: 1024, numHiddenLayers: 24, numAttentionHeads: 16, intermediateSize: 4096, patchSize: 32 }),
  vit_h_14: torchvisionVit({ hiddenSize: 1280, numHiddenLayers: 32, numAttentionHeads: 16, intermediateSize: 5120, patchSize: 14 }),
};

/**
 * ViT's parameters by part, from the config alone (see ModelFamily.sizeParts): patch projection,
 * [CLS] token and positions, the encoder layers, the final LayerNorm with ViTModel's pooler, and
 * the classifier — the sum bounds each architecture's count from above.
 */
export function vitSizeParts(c: ViTConfig): ModelSizePart[] {
  const h = c.hiddenSize;
  const i = c.intermediateSize;
  const [imageHeight, imageWidth] = pair(c.imageSize);
  const [patchHeight, patchWidth] = pair(c.patchSize);
  const patches = Math.floor(imageHeight / patchHeight) * Math.floor(imageWidth / patchWidth);
  const pooled = c.poolerOutputSize ?? h;
  return [
    { part: 'patch projection', parameters: (c.numChannels * patchHeight * patchWidth + 1) * h, fields: { num_channels: c.numChannels, patch_size: c.patchSize, hidden_size: h } },
    { part: 'position embeddings', parameters: (patches + 2) * h, fields: { image_size: c.imageSize, patch_size: c.patchSize, hidden_size: h } },
    // Per layer: query, key, value and the attention output (4·(h² + h)), two LayerNorms (4h), the MLP (2hi + i + h).
    { part: 'encoder layers', parameters: c.numHiddenLayers * (4 * h * h + 2 * h * i + 9 * h + i), fields: { num_hidden_layers: c.numHiddenLayers, hidden_size: h, intermediate_size: i } },
    { part: 'final LayerNorm and pooler', parameters: 2 * h + (h + 1) * pooled, fields: { hidden_size: h, pooler_output_size: pooled } },
    { part: 'classifier', parameters: c.numLabels * (h + 1), fields: { num_labels: c.numLabels, hidden_size: h } },
  ];
}

export const VIT_ARCHITECTURES = ['ViTForImageClassification', 'ViTModel'] as const;
export type ViTArchitecture = (typeof VIT_ARCHITECTURES)[number];

/** camelCase field ← snake_case config.json key, for the plain fields. */
const HF_KEYS = {
  hiddenSize: 'hidden_size',
  numHiddenLayers: 'num_hidden_layers',
  numAttentionHeads: 'num_attention_heads',
  intermediateSize: 'intermediate_size',
  hiddenAct: 'hidden_act',
  hiddenDropoutProb: 'hidden_dropout_prob',
  attentionProbsDropoutProb: 'attention_probs_dropout_prob',
  initializerRange: 'initializer_range',
  layerNormEps: 'layer_norm_eps',
  imageSize: 'image_size',
  patchSize: 'patch_size',
  numChannels: 'num_channels',
  qkvBias: 'qkv_bias',
  encoderStride: 'encoder_stride',
  poolerOutputSize: 'pooler_output_size',
  poolerAct: 'pooler_act',
} as const satisfies Partial<Record<keyof ViTConfig, string>>;

/** Reads a ViT config.json (snake_case, as transformers writes it); unknown keys are ignored, missing ones defaulted. */
export function vitConfigFromHf(json: HfConfig): ViTConfig {
  const bad = (key: string, want: string): Error =>
    new Error(`ViT config.json: '${key}' must be ${want}, got ${JSON.stringify(json[key])}`);
  const has = (key: string) => json[key] !== undefined && json[key] !== null;
  const positiveInt = (key: string, fallback: number, max = Infinity): number => {
    if (!has(key)) return fallback;
    const v = json[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) throw bad(key, max === Infinity ? 'a positive integer' : `a positive integer up to ${max}`);
    return v;
  };
  const intOrPair = (key: string, fallback: number): number | [number, number] => {
    if (!has(key)) return fallback;
    const v = json[key];
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
    if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && Number.isInteger(x) && x > 0)) {
      return [v[0] as number, v[1] as number];
    }
    throw bad(key, 'a positive integer or a [height, width] pair');
  };
  const fraction = (key: string, fallback: number): number => {
    if (!has(key)) return fallback;
    const v = json[key];
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw bad(key, 'a number in [0, 1]');
    return v;
  };
  const positive = (key: string, fallback: number): number => {
    if (!has(key)) return fallback;
    const v = json[key];
    if (typeof v !== 'number' || !(v > 0)) throw bad(key, 'a positive number');
    return v;
  };
  const act = (key: string, fallback: ViTActivation): ViTActivation => {
    if (!has(key)) return fallback;
    const v = json[key];
    if (typeof v !== 'string' || !(ACTIVATIONS as string[]).includes(v)) throw bad(key, `one of ${ACTIVATIONS.join(', ')}`);
    return v as ViTActivation;
  };

  let id2label: Record<number, string> | undefined;
  if (has('id2label')) {
    const v = json.id2label;
    if (typeof v !== 'object' || Array.isArray(v)) throw bad('id2label', 'an object of index → name');
    id2label = {};
    for (const [i, name] of Object.entries(v as Record<string, unknown>)) {
      if (!/^\d+$/.test(i) || typeof name !== 'string') throw bad('id2label', 'an object of index → name');
      id2label[Number(i)] = name;
    }
  }
  let label2id: Record<string, number> | undefined;
  if (has('label2id')) {
    const v = json.label2id;
    if (typeof v !== 'object' || Array.isArray(v)) throw bad('label2id', 'an object of name → index');
    label2id = {};
    for (const [name, i] of Object.entries(v as Record<string, unknown>)) {
      if (typeof i !== 'number' || !Number.isInteger(i)) throw bad('label2id', 'an object of name → index');
      label2id[name] = i;
    }
  }
  const numLabels = has('num_labels')
    ? (() => {
        const v = json.num_labels;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_LABELS) throw bad('num_labels', `a non-negative integer up to ${MAX_LABELS}`);
        return v;
      })()
    : id2label
      ? Object.keys(id2label).length
      : DEFAULTS.numLabels;
  let problemType: ViTProblemType | null = null;
  if (has('problem_type')) {
    const v = json.problem_type;
    if (v !== 'regression' && v !== 'single_label_classification' && v !== 'multi_label_classification') {
      throw bad('problem_type', "'regression', 'single_label_classification' or 'multi_label_classification'");
    }
    problemType = v;
  }
  if (has('qkv_bias') && typeof json.qkv_bias !== 'boolean') throw bad('qkv_bias', 'true or false');
  if (has('model_type') && json.model_type !== 'vit') throw bad('model_type', "'vit'");

  const config = vitConfig({
    hiddenSize: positiveInt('hidden_size', DEFAULTS.hiddenSize),
    numHiddenLayers: positiveInt('num_hidden_layers', DEFAULTS.numHiddenLayers, MAX_LAYERS),
    numAttentionHeads: positiveInt('num_attention_heads', DEFAULTS.numAttentionHeads),
    intermediateSize: positiveInt('intermediate_size', DEFAULTS.intermediateSize),
    hiddenAct: act('hidden_act', DEFAULTS.hiddenAct),
    hiddenDropoutProb: fraction('hidden_dropout_prob', DEFAULTS.hiddenDropoutProb),
    attentionProbsDropoutProb: fraction('attention_probs_dropout_prob', DEFAULTS.attentionProbsDropoutProb),
    initializerRange: positive('initializer_range', DEFAULTS.initializerRange),
    layerNormEps: positive('layer_norm_eps', DEFAULTS.layerNormEps),
    imageSize: intOrPair('image_size', DEFAULTS.imageSize as number),
    patchSize: intOrPair('patch_size', DEFAULTS.patchSize as number),
    numChannels: positiveInt('num_channels', DEFAULTS.numChannels),
    qkvBias: has('qkv_bias') ? (json.qkv_bias as boolean) : DEFAULTS.qkvBias,
    encoderStride: positiveInt('encoder_stride', DEFAULTS.encoderStride),
    poolerOutputSize: has('pooler_output_size') ? positiveInt('pooler_output_size', 0) : null,
    poolerAct: act('pooler_act', DEFAULTS.poolerAct),
    numLabels,
    id2label,
    label2id,
    problemType,
  });
  if (config.id2label && Object.keys(config.id2label).length !== numLabels) {
    throw new Error(`ViT config.json: num_labels is ${numLabels} but id2label has ${Object.keys(config.id2label).length} entries`);
  }
  checkConfig(config);
  return config;
}

/** Writes config.json for `architecture`, in transformers' snake_case (readable by transformers' ViTConfig). */
export function vitConfigToHf(config: ViTConfig, architecture: string = 'ViTForImageClassification'): HfConfig {
  if (!(VIT_ARCHITECTURES as readonly string[]).includes(architecture)) {
    throw new Error(`ViT: unknown architecture '${architecture}' (known: ${VIT_ARCHITECTURES.join(', ')})`);
  }
  const full = vitConfig(config);
  const json: HfConfig = { architectures: [architecture], model_type: 'vit' };
  for (const [field, key] of Object.entries(HF_KEYS)) json[key] = full[field as keyof typeof HF_KEYS];
  json.pooler_output_size = full.poolerOutputSize ?? full.hiddenSize;
  const { id2label, label2id } = vitLabels(full);
  json.id2label = Object.fromEntries(Object.entries(id2label).map(([i, name]) => [String(i), name]));
  json.label2id = label2id;
  if (full.problemType) json.problem_type = full.problemType;
  return Object.fromEntries(Object.entries(json).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

// ---- torchvision weights -----------------------------------------------------------------------

/**
 * Renames a torchvision VisionTransformer state dict (vit_b_16, vit_b_32, vit_l_16, …) to
 * ViTForImageClassification's keys; load the result into `new ViTForImageClassification(config)`
 * with the matching preset (vitPresets.vit_b_16: layer norm eps 1e-6, exact GELU):
 *
 *   class_token → vit.embeddings.cls_token         encoder.pos_embedding → vit.embeddings.position_embeddings
 *   conv_proj → vit.embeddings.patch_embeddings.projection
 *   encoder.layers.encoder_layer_N.ln_1 / ln_2 → vit.encoder.layer.N.layernorm_before / layernorm_after
 *   …self_attention.in_proj_weight / in_proj_bias → attention.attention.{query,key,value} (split in three)
 *   …self_attention.out_proj → attention.output.dense
 *   …mlp.0 / mlp.3 (or mlp.linear_1 / linear_2) → intermediate.dense / output.dense
 *   encoder.ln → vit.layernorm                     heads.head → classifier
 *
 * Renamed entries are the input's tensors and the query/key/value parts views of them (no copies).
 * Throws on keys it does not know (e.g. heads.pre_logits of a representation_size model) or on
 * shapes that do not fit `config`.
 */
export function vitStateDictFromTorchvision(sd: Map<string, Tensor>, config: ViTConfig = vitPresets.vit_b_16): StateDict {
  return tidy(() => renameTorchvision(sd, vitConfig(config))); // on error, frees the query/key/value views made so far
}

function renameTorchvision(sd: Map<string, Tensor>, c: ViTConfig): StateDict {
  const out: StateDict = new Map();
  const used = new Set<string>();
  const take = (key: string, alias?: string): Tensor => {
    const name = sd.has(key) || alias === undefined ? key : alias;
    const t = sd.get(name);
    if (!t) throw new Error(`vitStateDictFromTorchvision: missing key '${key}'`);
    used.add(name);
    return t;
  };
  const expectShape = (key: string, t: Tensor, shape: number[], field: string) => {
    if (t.shape.join() !== shape.join()) {
      throw new Error(`vitStateDictFromTorchvision: '${key}' is [${t.shape}] but the config (${field}) needs [${shape}]`);
    }
  };

  const layerIds = new Set<number>();
  for (const key of sd.keys()) {
    const m = /^encoder\.layers\.encoder_layer_(\d+)\./.exec(key);
    if (m) layerIds.add(Number(m[1]));
  }
  if (layerIds.size !== c.numHiddenLayers || [...layerIds].some((i) => i >= c.numHiddenLayers)) {
    throw new Error(`vitStateDictFromTorchvision: the state dict has ${layerIds.size} encoder layers but the config has numHiddenLayers ${c.numHiddenLayers}`);
  }
  if (sd.has('heads.pre_logits.weight')) {
    throw new Error('vitStateDictFromTorchvision: torchvision ViTs with representation_size (heads.pre_logits) have no ViTForImageClassification equivalent');
  }

  const H = c.hiddenSize;
  const cls = take('class_token');
  expectShape('class_token', cls, [1, 1, H], 'hiddenSize');
  out.set('vit.embeddings.cls_token', cls);
  out.set('vit.embeddings.position_embeddings', take('encoder.pos_embedding'));
  out.set('vit.embeddings.patch_embeddings.projection.weight', take('conv_proj.weight'));
  out.set('vit.embeddings.patch_embeddings.projection.bias', take('conv_proj.bias'));
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const from = `encoder.layers.encoder_layer_${i}.`;
    const to = `vit.encoder.layer.${i}.`;
    const inWeight = take(`${from}self_attention.in_proj_weight`);
    expectShape(`${from}self_attention.in_proj_weight`, inWeight, [3 * H, H], 'hiddenSize');
    const [qw, kw, vw] = inWeight.chunk(3, 0);
    out.set(`${to}attention.attention.query.weight`, qw);
    if (c.qkvBias) {
      const [qb, kb, vb] = take(`${from}self_attention.in_proj_bias`).chunk(3, 0);
      out.set(`${to}attention.attention.query.bias`, qb);
      out.set(`${to}attention.attention.key.weight`, kw);
      out.set(`${to}attention.attention.key.bias`, kb);
      out.set(`${to}attention.attention.value.weight`, vw);
      out.set(`${to}attention.attention.value.bias`, vb);
    } else {
      out.set(`${to}attention.attention.key.weight`, kw);
      out.set(`${to}attention.attention.value.weight`, vw);
    }
    out.set(`${to}attention.output.dense.weight`, take(`${from}self_attention.out_proj.weight`));
    out.set(`${to}attention.output.dense.bias`, take(`${from}self_attention.out_proj.bias`));
    out.set(`${to}intermediate.dense.weight`, take(`${from}mlp.0.weight`, `${from}mlp.linear_1.weight`));
    out.set(`${to}intermediate.dense.bias`, take(`${from}mlp.0.bias`, `${from}mlp.linear_1.bias`));
    out.set(`${to}output.dense.weight`, take(`${from}mlp.3.weight`, `${from}mlp.linear_2.weight`));
    out.set(`${to}output.dense.bias`, take(`${from}mlp.3.bias`, `${from}mlp.linear_2.bias`));
    out.set(`${to}layernorm_before.weight`, take(`${from}ln_1.weight`));
    out.set(`${to}layernorm_before.bias`, take(`${from}ln_1.bias`));
    out.set(`${to}layernorm_after.weight`, take(`${from}ln_2.weight`));
    out.set(`${to}layernorm_after.bias`, take(`${from}ln_2.bias`));
  }
  out.set('vit.layernorm.weight', take('encoder.ln.weight'));
  out.set('vit.layernorm.bias', take('encoder.ln.bias'));
  if (c.numLabels > 0) {
    const head = take('heads.head.weight');
    expectShape('heads.head.weight', head, [c.numLabels, H], 'numLabels, hiddenSize');
    out.set('classifier.weight', head);
    out.set('classifier.bias', take('heads.head.bias'));
  } else {
    used.add('heads.head.weight').add('heads.head.bias');
  }

  const unknown = [...sd.keys()].filter((k) => !used.has(k));
  if (unknown.length) throw new Error(`vitStateDictFromTorchvision: unexpected key(s): ${unknown.join(', ')}`);
  return out;
}

// ---- layer groups ------------------------------------------------------------------------------

/**
 * ViT's layer groups, input side first: `embeddings` (patch projection, [CLS] token, positions),
 * `encoder.layer.0` … `encoder.layer.N-1`, then `head` = the final layernorm, the pooler when
 * there is one, and the classifier. The final layernorm goes with the head: it normalises only
 * what the head reads (the encoder's blocks are pre-norm), as the ln before timm's ViT head.
 */
function vitLayerGroups(model: Module): LayerGroup[] {
  if (model instanceof ViTForImageClassification) {
    return [...vitBodyGroups(model.vit), { name: 'head', modules: [...vitTopModules(model.vit), model.classifier] }];
  }
  if (model instanceof ViTModel) return [...vitBodyGroups(model), { name: 'head', modules: vitTopModules(model) }];
  throw new Error(`vit layer groups: unknown architecture ${model.constructor.name}`);
}

function vitBodyGroups(vit: ViTModel): LayerGroup[] {
  const layers = [...vit.encoder.layer].map((layer, i) => ({ name: `encoder.layer.${i}`, modules: [layer] }));
  return [{ name: 'embeddings', modules: [vit.embeddings] }, ...layers];
}

/** The backbone's modules after the encoder: the final layernorm and the pooler, if any. */
function vitTopModules(vit: ViTModel): Module[] {
  return vit.pooler ? [vit.layernorm, vit.pooler] : [vit.layernorm];
}

// ---- registration ------------------------------------------------------------------------------

registerModelFamily<ViTConfig>({
  modelType: 'vit',
  architectures: {
    ViTForImageClassification: (config) => new ViTForImageClassification(config),
    ViTModel: (config) => new ViTModel(config),
  },
  configFromHf: vitConfigFromHf,
  sizeParts: vitSizeParts,
  configToHf: vitConfigToHf,
  presets: vitPresets,
  baseModelPrefix: 'vit',
  withNumLabels: vitWithNumLabels,
  layerGroups: vitLayerGroups,
});

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
 * The config, config.json and presets are in vit-config.ts (re-exported here). Reads top to bottom:
 * patch embeddings → attention → MLP → block → encoder → ViTModel → classifier → initialisation →
 * torchvision weights → registration.
 */
import { cat, functional as F, tidy, zeros, type Device, type Tensor } from '../tensor/index.js';
import {
  ACT2FN,
  Conv2d,
  Dropout,
  Identity,
  init,
  LayerNorm,
  Linear,
  GradientCheckpointingLayer,
  Module,
  ModuleList,
  parameter,
  type StateDict,
} from '../nn/index.js';
import { classificationLoss } from './classification-loss.js';
import { PretrainedModel } from './pretrained-model.js';
import type { BatchInput } from './batch-input.js';
import { registerModelFamily, type LayerGroup } from './registry.js';
import type { FrozenPrefixSplit, PrefixFeatures } from './frozen-prefix.js';
import {
  VIT_PRESETS,
  heightWidth,
  vitConfig,
  vitConfigFromHf,
  vitConfigToHf,
  vitSizeParts,
  vitWithNumLabels,
  type ViTConfig,
} from './vit-config.js';

export * from './vit-config.js';

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
    this.imageSize = heightWidth(config.imageSize);
    this.patchSize = heightWidth(config.patchSize);
    this.numChannels = config.numChannels;
    this.numPatches =
      Math.floor(this.imageSize[0] / this.patchSize[0]) * Math.floor(this.imageSize[1] / this.patchSize[1]);
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
    const {
      imageSize: [height, width],
      numChannels,
    } = this.patch_embeddings;
    const shape = pixelValues.shape;
    if (shape.length !== 4)
      throw new Error(`ViT: pixelValues must be [batch, channels, height, width], got shape [${shape}]`);
    if (shape[1] !== numChannels)
      throw new Error(
        `ViT: expected ${numChannels} channels (config numChannels), got ${shape[1]} (pixelValues shape [${shape}])`,
      );
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
    const context = F.scaledDotProductAttention(
      heads(this.query.forward(hidden)),
      heads(this.key.forward(hidden)),
      heads(this.value.forward(hidden)),
      {
        dropoutP: this.training ? this.dropoutProb : 0,
      },
    );
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
    this.act = ACT2FN[config.hiddenAct];
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
export class ViTLayer extends GradientCheckpointingLayer {
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
    return this.checkpointed(
      (input: Tensor) =>
        // One scope per block, as PyTorch's reference counting frees them: the block's intermediates
        // are released when it returns (autograd keeps what backward needs), so the next blocks reuse
        // their memory instead of the process faulting in fresh pages until the caller's scope ends.
        tidy(() => {
          const h = this.attention.forward(this.layernorm_before.forward(input)).add(input);
          return this.output.forward(this.intermediate.forward(this.layernorm_after.forward(h)), h);
        }),
      x,
    );
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
    this.activation = ACT2FN[config.poolerAct];
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
export class ViTModel extends PretrainedModel<ViTConfig> {
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
    this.embeddings = new ViTEmbeddings(this.config);
    this.encoder = new ViTEncoder(this.config);
    this.layernorm = new LayerNorm(this.config.hiddenSize, this.config.layerNormEps);
    this.pooler = (options.addPoolingLayer ?? true) ? new ViTPooler(this.config) : null;
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
export class ViTForImageClassification extends PretrainedModel<ViTConfig> {
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
    return labels
      ? { logits, loss: classificationLoss(logits, labels, this.config.numLabels, this.config.problemType) }
      : { logits };
  }

  /**
   * A new, freshly initialised classifier for `numLabels` classes (0: none), keeping the backbone:
   * the usual first step of fine-tuning on a new label set. The new head has the backbone's dtype and
   * device; the old head's tensors are freed.
   */
  resetClassifier(
    numLabels: number,
    labels: { id2label?: Record<number, string>; label2id?: Record<string, number> } = {},
  ): this {
    if (!Number.isInteger(numLabels) || numLabels < 0)
      throw new RangeError(`resetClassifier: numLabels must be a non-negative integer, got ${numLabels}`);
    const config = vitConfig({ ...this.config, numLabels, id2label: labels.id2label, label2id: labels.label2id });
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

// ---- torchvision weights -----------------------------------------------------------------------

/**
 * Renames a torchvision VisionTransformer state dict (vit_b_16, vit_b_32, vit_l_16, …) to
 * ViTForImageClassification's keys; load the result into `new ViTForImageClassification(config)`
 * with the matching preset (VIT_PRESETS.vit_b_16: layer norm eps 1e-6, exact GELU):
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
export function vitStateDictFromTorchvision(
  sd: Map<string, Tensor>,
  config: ViTConfig = VIT_PRESETS.vit_b_16,
): StateDict {
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
      throw new Error(
        `vitStateDictFromTorchvision: '${key}' is [${t.shape}] but the config (${field}) needs [${shape}]`,
      );
    }
  };

  const layerIds = new Set<number>();
  for (const key of sd.keys()) {
    const m = /^encoder\.layers\.encoder_layer_(\d+)\./.exec(key);
    if (m) layerIds.add(Number(m[1]));
  }
  if (layerIds.size !== c.numHiddenLayers || [...layerIds].some((i) => i >= c.numHiddenLayers)) {
    throw new Error(
      `vitStateDictFromTorchvision: the state dict has ${layerIds.size} encoder layers but the config has numHiddenLayers ${c.numHiddenLayers}`,
    );
  }
  if (sd.has('heads.pre_logits.weight')) {
    throw new Error(
      'vitStateDictFromTorchvision: torchvision ViTs with representation_size (heads.pre_logits) have no ViTForImageClassification equivalent',
    );
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

// ---- frozen prefix (cached features) -------------------------------------------------------------

/**
 * Image classification split at ViT's layer groups (frozen-prefix.ts): the embeddings and the first
 * blocks run once per image. With the whole body frozen only the [CLS] token is kept: the head's
 * layernorm is per token and the classifier reads [CLS] alone.
 */
const vitFrozenPrefix: FrozenPrefixSplit = {
  supports: (model) => model instanceof ViTForImageClassification,
  forwardFrozenPrefix(model, inputs, groups): PrefixFeatures {
    const { vit } = model as ViTForImageClassification;
    const { pixelValues } = inputs as ViTInput;
    const weight = vit.embeddings.patch_embeddings.projection.weight;
    let hidden = vit.embeddings.forward(
      pixelValues.dtype === weight.dtype ? pixelValues : pixelValues.to(weight.dtype),
    );
    const layers = [...vit.encoder.layer];
    for (const layer of layers.slice(0, groups - 1)) hidden = layer.forward(hidden);
    return groups - 1 === layers.length ? { cls: hidden.select(1, 0) } : { hiddenStates: hidden };
  },
  forwardFromCache(model, features, groups) {
    const { vit, classifier } = model as ViTForImageClassification;
    let cls = features.cls;
    if (!cls) {
      let hidden = features.hiddenStates;
      for (const layer of [...vit.encoder.layer].slice(groups - 1)) hidden = layer.forward(hidden);
      cls = hidden.select(1, 0);
    }
    return classifier.forward(vit.layernorm.forward(cls));
  },
};

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
  presets: VIT_PRESETS,
  baseModelPrefix: 'vit',
  withNumLabels: vitWithNumLabels,
  layerGroups: vitLayerGroups,
  frozenPrefix: vitFrozenPrefix,
});

/**
 * BERT (Devlin et al., 2018), after Hugging Face transformers' modeling_bert.py (5.x).
 *
 * Every attribute name is the checkpoint key, so a transformers checkpoint loads as is:
 * `bert.encoder.layer.0.attention.self.query.weight`, `cls.predictions.transform.LayerNorm.bias`.
 * The config, config.json and presets are in bert-config.ts (re-exported here). Read top to
 * bottom: initialisation, the embeddings, one transformer layer in its parts, the encoder, the
 * pooler, the bare BertModel, then the sequence-classification and masked-LM heads, checkpoint key
 * adaptation, and registration.
 *
 *   const config = bertConfigFromHf(JSON.parse(readFileSync('config.json', 'utf8')));
 *   const model = new BertForSequenceClassification(config);
 *   const { tensors } = await loadSafetensors('model.safetensors');
 *   model.loadStateDict(tensors);
 *   const { logits, loss } = model.forward({ inputIds, attentionMask, tokenTypeIds, labels });
 */
import { arange, functional as F, ones, tidy, zeros, type Device, type DType, type Tensor } from '../tensor/index.js';
import {
  ACT2FN,
  Dropout,
  Embedding,
  LayerNorm,
  Linear,
  GradientCheckpointingLayer,
  Module,
  ModuleList,
  Tanh,
  init,
  parameter,
  type StateDict,
} from '../nn/index.js';
import { registerModelFamily, type LayerGroup } from './registry.js';
import { alignCheckpointKeys } from './checkpoint-keys.js';
import type { FrozenPrefixSplit, PrefixFeatures } from './frozen-prefix.js';
import { classificationLoss } from './classification-loss.js';
import {
  BERT_PRESETS,
  bertConfig,
  bertConfigFromHf,
  bertConfigToHf,
  bertSizeParts,
  type BertActivation,
  type BertConfig,
  type BertProblemType,
} from './bert-config.js';
import { PretrainedModel } from './pretrained-model.js';
import type { BatchInput } from './batch-input.js';
import { PackedTokens } from './packed-tokens.js';

export * from './bert-config.js';

// ---- initialisation -----------------------------------------------------------------

/**
 * transformers' `_init_weights` for BERT, on `module` and everything under it: Linear and
 * Embedding weights N(0, initializerRange²), Linear biases 0, the padding row 0, LayerNorm 1/0,
 * the MLM head's bias 0.
 */
export function initBertWeights(module: Module, config: BertConfig): void {
  const std = config.initializerRange || 0.02;
  for (const m of module.modules()) {
    if (m instanceof Linear) {
      init.normal_(m.weight, 0, std);
      if (m.bias) init.zeros_(m.bias);
    } else if (m instanceof Embedding) {
      init.normal_(m.weight, 0, std);
      const padding = m.paddingIdx;
      if (padding !== null) init.zeroRow_(m.weight, padding);
    } else if (m instanceof LayerNorm) {
      if (m.weight) init.ones_(m.weight);
      if (m.bias) init.zeros_(m.bias);
    } else if (m instanceof BertLMPredictionHead) {
      init.zeros_(m.bias);
    }
  }
}

// ---- embeddings ---------------------------------------------------------------------

/** Word + token type + position embeddings, then LayerNorm and dropout. */
export class BertEmbeddings extends Module {
  word_embeddings: Embedding;
  position_embeddings: Embedding;
  token_type_embeddings: Embedding;
  LayerNorm: LayerNorm;
  dropout: Dropout;
  /** [1, maxPositionEmbeddings] int64 0, 1, …; not saved (non-persistent, as in transformers ≥ 4.31). */
  declare position_ids: Tensor;
  /** [1, maxPositionEmbeddings] int64 zeros: the token types when none are given; not saved. */
  declare token_type_ids: Tensor;

  constructor(config: BertConfig) {
    super();
    this.word_embeddings = new Embedding(config.vocabSize, config.hiddenSize, config.padTokenId);
    this.position_embeddings = new Embedding(config.maxPositionEmbeddings, config.hiddenSize);
    this.token_type_embeddings = new Embedding(config.typeVocabSize, config.hiddenSize);
    this.LayerNorm = new LayerNorm(config.hiddenSize, config.layerNormEps);
    this.dropout = new Dropout(config.hiddenDropoutProb);
    this.registerBuffer(
      'position_ids',
      tidy(() => arange(config.maxPositionEmbeddings).unsqueeze(0)),
      false,
    );
    this.registerBuffer('token_type_ids', zeros([1, config.maxPositionEmbeddings], { dtype: 'int64' }), false);
  }

  /**
   * [batch, length] ids (or [batch, length, hidden] embeddings) → [batch, length, hidden], or with
   * `packing` the real tokens' embeddings, [tokens, hidden] (see PackedTokens).
   */
  forward(
    inputIds: Tensor | null,
    tokenTypeIds?: Tensor | null,
    positionIds?: Tensor | null,
    inputsEmbeds?: Tensor | null,
    packing: PackedTokens | null = null,
  ): Tensor {
    const source = inputIds ?? inputsEmbeds;
    if (!source) throw new Error('BertEmbeddings: give inputIds or inputsEmbeds');
    const [batch, length] = source.shape;
    const maxLength = this.position_ids.shape[1];
    if (!positionIds && length > maxLength) {
      throw new Error(`BERT: sequence length ${length} exceeds maxPositionEmbeddings (${maxLength})`);
    }
    const positions = positionIds ?? this.position_ids.slice(1, 0, length);
    const types = tokenTypeIds ?? this.token_type_ids.slice(1, 0, length).expand([batch, length]);
    const perToken = (ids: Tensor) => (packing ? packing.pack(ids.expand([batch, length])) : ids);
    const words = inputsEmbeds
      ? packing
        ? packing.pack(inputsEmbeds)
        : inputsEmbeds
      : this.word_embeddings.forward(perToken(inputIds!));
    let embeddings = words.add(this.token_type_embeddings.forward(perToken(types)));
    embeddings = embeddings.add(this.position_embeddings.forward(perToken(positions)));
    return this.dropout.forward(this.LayerNorm.forward(embeddings));
  }
}

// ---- one transformer layer ----------------------------------------------------------

/** Multi-head self-attention on libtorch's scaled-dot-product attention. */
export class BertSelfAttention extends Module {
  query: Linear;
  key: Linear;
  value: Linear;
  dropout: Dropout;
  readonly numAttentionHeads: number;
  readonly attentionHeadSize: number;

  constructor(config: BertConfig) {
    super();
    this.numAttentionHeads = config.numAttentionHeads;
    this.attentionHeadSize = config.hiddenSize / config.numAttentionHeads;
    this.query = new Linear(config.hiddenSize, config.hiddenSize);
    this.key = new Linear(config.hiddenSize, config.hiddenSize);
    this.value = new Linear(config.hiddenSize, config.hiddenSize);
    this.dropout = new Dropout(config.attentionProbsDropoutProb);
  }

  /**
   * `mask`: boolean (true = attend) or additive, broadcastable to [batch, heads, length, length]. With
   * `packing`, hiddenStates are the real tokens' [tokens, hidden]: the projections run on them and only
   * attention on the padded layout.
   */
  forward(hiddenStates: Tensor, mask: Tensor | null, packing: PackedTokens | null = null): Tensor {
    const [batch, length] = packing ? [packing.batch, packing.length] : hiddenStates.shape;
    const hidden = hiddenStates.shape[hiddenStates.ndim - 1];
    // [batch, length, hidden] (or [tokens, hidden]) → [batch, heads, length, headSize]
    const heads = (x: Tensor) =>
      (packing ? packing.unpack(x) : x)
        .view([batch, length, this.numAttentionHeads, this.attentionHeadSize])
        .transpose(1, 2);
    const query = heads(this.query.forward(hiddenStates));
    const key = heads(this.key.forward(hiddenStates));
    const value = heads(this.value.forward(hiddenStates));
    const attended = F.scaledDotProductAttention(query, key, value, {
      attnMask: mask,
      dropoutP: this.training ? this.dropout.p : 0,
    });
    const output = attended.transpose(1, 2).reshape([batch, length, hidden]);
    return packing ? packing.pack(output) : output;
  }
}

/** Projection after attention, dropout, residual, LayerNorm. */
export class BertSelfOutput extends Module {
  dense: Linear;
  LayerNorm: LayerNorm;
  dropout: Dropout;

  constructor(config: BertConfig) {
    super();
    this.dense = new Linear(config.hiddenSize, config.hiddenSize);
    this.LayerNorm = new LayerNorm(config.hiddenSize, config.layerNormEps);
    this.dropout = new Dropout(config.hiddenDropoutProb);
  }

  forward(hiddenStates: Tensor, inputTensor: Tensor): Tensor {
    return this.LayerNorm.forward(this.dropout.forward(this.dense.forward(hiddenStates)).add(inputTensor));
  }
}

export class BertAttention extends Module {
  self: BertSelfAttention;
  output: BertSelfOutput;

  constructor(config: BertConfig) {
    super();
    this.self = new BertSelfAttention(config);
    this.output = new BertSelfOutput(config);
  }

  forward(hiddenStates: Tensor, mask: Tensor | null, packing: PackedTokens | null = null): Tensor {
    return this.output.forward(this.self.forward(hiddenStates, mask, packing), hiddenStates);
  }
}

/** The feed-forward expansion: hidden → intermediate, activation. */
export class BertIntermediate extends Module {
  dense: Linear;
  readonly activation: BertActivation;

  constructor(config: BertConfig) {
    super();
    this.dense = new Linear(config.hiddenSize, config.intermediateSize);
    this.activation = config.hiddenAct;
  }

  forward(hiddenStates: Tensor): Tensor {
    return ACT2FN[this.activation](this.dense.forward(hiddenStates));
  }

  override extraRepr(): string {
    return `activation=${this.activation}`;
  }
}

// transformers' BertOutput repeats BertSelfOutput with its own sizes (scripts/lint.sh)
// jscpd:ignore-start
/** The feed-forward contraction: intermediate → hidden, dropout, residual, LayerNorm. */
export class BertOutput extends Module {
  dense: Linear;
  LayerNorm: LayerNorm;
  dropout: Dropout;

  constructor(config: BertConfig) {
    super();
    this.dense = new Linear(config.intermediateSize, config.hiddenSize);
    this.LayerNorm = new LayerNorm(config.hiddenSize, config.layerNormEps);
    this.dropout = new Dropout(config.hiddenDropoutProb);
  }

  forward(hiddenStates: Tensor, inputTensor: Tensor): Tensor {
    return this.LayerNorm.forward(this.dropout.forward(this.dense.forward(hiddenStates)).add(inputTensor));
  }
}
// jscpd:ignore-end

/** Post-LayerNorm transformer layer: attention, then feed-forward. */
export class BertLayer extends GradientCheckpointingLayer {
  attention: BertAttention;
  intermediate: BertIntermediate;
  output: BertOutput;

  constructor(config: BertConfig) {
    super();
    this.attention = new BertAttention(config);
    this.intermediate = new BertIntermediate(config);
    this.output = new BertOutput(config);
  }

  /** hiddenStates: [batch, length, hidden], or the real tokens' [tokens, hidden] with `packing`. */
  forward(hiddenStates: Tensor, mask: Tensor | null, packing: PackedTokens | null = null): Tensor {
    return this.checkpointed(
      (hidden: Tensor, attentionMask: Tensor | null, tokens: PackedTokens | null) =>
        // One scope per layer, as PyTorch's reference counting frees them: the layer's intermediates
        // are released when it returns (autograd keeps what backward needs), so the next layers reuse
        // their memory instead of the process faulting in fresh pages until the caller's scope ends.
        tidy(() => {
          const attentionOutput = this.attention.forward(hidden, attentionMask, tokens);
          return this.output.forward(this.intermediate.forward(attentionOutput), attentionOutput);
        }),
      hiddenStates,
      mask,
      packing,
    );
  }
}

// ---- encoder, pooler, BertModel -----------------------------------------------------

export class BertEncoder extends Module {
  layer: ModuleList<BertLayer>;

  constructor(config: BertConfig) {
    super();
    this.layer = new ModuleList(Array.from({ length: config.numHiddenLayers }, () => new BertLayer(config)));
  }

  forward(hiddenStates: Tensor, mask: Tensor | null, packing: PackedTokens | null = null): Tensor {
    for (const layer of this.layer) hiddenStates = layer.forward(hiddenStates, mask, packing);
    return hiddenStates;
  }
}

/** tanh(dense(h[:, 0])): the [CLS] token's hidden state, projected. */
export class BertPooler extends Module {
  dense: Linear;
  activation: Tanh;

  constructor(config: BertConfig) {
    super();
    this.dense = new Linear(config.hiddenSize, config.hiddenSize);
    this.activation = new Tanh();
  }

  forward(hiddenStates: Tensor): Tensor {
    return this.activation.forward(this.dense.forward(hiddenStates.select(1, 0)));
  }
}

export interface BertInputs {
  /** [batch, length] int64 token ids (or give inputsEmbeds). */
  inputIds?: Tensor | null;
  /**
   * As transformers takes it: [batch, length] (1 or true = attend, 0 = padding), or [batch, length, length]
   * (query × key, 1 = attend), or a ready 4-d mask [batch, 1 or heads, length, length] — boolean
   * (true = attend) or floating-point and additive (0 = attend, a large negative number = masked).
   * Default: attend everywhere.
   */
  attentionMask?: Tensor | null;
  /** [batch, length] segment ids (0 = sentence A, 1 = sentence B). Default: zeros. */
  tokenTypeIds?: Tensor | null;
  /** [batch, length] or [1, length] positions. Default: 0 … length-1. */
  positionIds?: Tensor | null;
  /** [batch, length, hidden] word embeddings used instead of looking up inputIds. */
  inputsEmbeds?: Tensor | null;
}

export interface BertModelOutput {
  /** [batch, length, hidden]. */
  lastHiddenState: Tensor;
  /** [batch, hidden]; absent when the model has no pooler. */
  pooledOutput?: Tensor;
}

/**
 * A transformers attention mask as the mask SDPA takes, broadcastable to [batch, heads, length, length]:
 * a 2-d padding mask becomes the boolean key mask [batch, 1, 1, length] (every query attends to the same,
 * unpadded, keys), a 3-d one [batch, 1, length, length] (true = attend), and a 4-d one is used as given —
 * boolean, or floating-point and added to the attention scores in the model's dtype (transformers'
 * get_extended_attention_mask and its custom 4-d masks).
 */
export function bertAttentionMask(
  attentionMask: Tensor,
  batch: number,
  length: number,
  dtype: DType = 'float32',
): Tensor {
  const shape = attentionMask.shape;
  const fail = (expected: string): never => {
    throw new Error(
      `BERT: attentionMask must be ${expected} for ${batch} sequences of ${length} tokens, got shape [${shape}]`,
    );
  };
  const allowed = () => (attentionMask.dtype === 'bool' ? attentionMask : attentionMask.ne(0));
  switch (attentionMask.ndim) {
    case 2:
      if (shape[0] !== batch || shape[1] !== length) fail('[batch, length]');
      return allowed().unsqueeze(1).unsqueeze(1);
    case 3:
      if (shape[0] !== batch || shape[1] !== length || shape[2] !== length) fail('[batch, length, length]');
      return allowed().unsqueeze(1);
    case 4:
      if ((shape[0] !== batch && shape[0] !== 1) || shape[2] !== length || shape[3] !== length)
        fail('[batch, 1 or heads, length, length]');
      return attentionMask.isFloatingPoint() ? attentionMask.to({ dtype }) : allowed();
    default:
      return fail('[batch, length], [batch, length, length] or [batch, 1 or heads, length, length]');
  }
}

/** The bare encoder: embeddings, layers, and (unless addPoolingLayer is false) the pooler. */
export class BertModel extends PretrainedModel<BertConfig> {
  /** forward takes { inputIds, attentionMask?, tokenTypeIds?, labels? } (see BatchInput). */
  static readonly batchInput: BatchInput = 'inputs';
  readonly config: BertConfig;
  embeddings: BertEmbeddings;
  encoder: BertEncoder;
  pooler: BertPooler | null;
  /**
   * Padding-free execution (PackedTokens): with a [batch, length] attentionMask that pads some rows on the
   * right, the layers' per-token work runs on the real tokens only. Real tokens' outputs are the same
   * (dropout draws its masks over fewer elements); lastHiddenState is zero at the padding, where
   * transformers computes values nothing should read. Off by default; the Trainer turns it on
   * (TrainingArguments.paddingFree).
   */
  paddingFree = false;

  constructor(config: Partial<BertConfig> = {}, options: { addPoolingLayer?: boolean } = {}) {
    super();
    this.config = bertConfig(config);
    this.embeddings = new BertEmbeddings(this.config);
    this.encoder = new BertEncoder(this.config);
    this.pooler = options.addPoolingLayer === false ? null : new BertPooler(this.config);
    initBertWeights(this, this.config);
  }

  forward(inputs: BertInputs): BertModelOutput {
    const { inputIds = null, attentionMask, tokenTypeIds, positionIds, inputsEmbeds } = inputs;
    if ((inputIds === null) === !inputsEmbeds)
      throw new Error('BertModel: give exactly one of inputIds and inputsEmbeds');
    const packing = this.paddingFree && attentionMask ? PackedTokens.fromMask(attentionMask) : null;
    const embeddings = this.embeddings.forward(inputIds, tokenTypeIds, positionIds, inputsEmbeds, packing);
    const [batch, length] = packing ? [packing.batch, packing.length] : embeddings.shape;
    const mask = attentionMask ? bertAttentionMask(attentionMask, batch, length, embeddings.dtype) : null;
    const encoded = this.encoder.forward(embeddings, mask, packing);
    const lastHiddenState = packing ? packing.unpack(encoded) : encoded;
    return this.pooler ? { lastHiddenState, pooledOutput: this.pooler.forward(lastHiddenState) } : { lastHiddenState };
  }
}

// ---- sequence classification --------------------------------------------------------

export interface BertLabeledInputs extends BertInputs {
  /**
   * Sequence classification: [batch] int64 class ids (single-label), [batch, numLabels] floats
   * (multi-label) or [batch] / [batch, numLabels] floats (regression). Masked LM: [batch, length]
   * token ids, -100 where no loss is taken.
   */
  labels?: Tensor | null;
}

export interface BertHeadOutput {
  logits: Tensor;
  /** Present when labels were given. */
  loss?: Tensor;
}

/** The loss transformers' BertForSequenceClassification computes (see classificationLoss). */
export const bertClassificationLoss = classificationLoss;

/** BertModel + dropout + a linear classifier on the pooled [CLS] state. */
export class BertForSequenceClassification extends PretrainedModel<BertConfig> {
  /** forward takes { inputIds, attentionMask?, tokenTypeIds?, labels? } (see BatchInput). */
  static readonly batchInput: BatchInput = 'inputs';
  readonly config: BertConfig;
  bert: BertModel;
  dropout: Dropout;
  classifier: Linear;

  constructor(config: Partial<BertConfig> = {}) {
    super();
    this.config = bertConfig(config);
    this.bert = new BertModel(this.config);
    this.dropout = new Dropout(this.config.classifierDropout ?? this.config.hiddenDropoutProb);
    this.classifier = new Linear(this.config.hiddenSize, this.config.numLabels);
    initBertWeights(this.classifier, this.config);
  }

  forward(inputs: BertLabeledInputs): BertHeadOutput {
    const { pooledOutput } = this.bert.forward(inputs);
    const logits = this.classifier.forward(this.dropout.forward(pooledOutput!));
    if (!inputs.labels) return { logits };
    return {
      logits,
      loss: bertClassificationLoss(logits, inputs.labels, this.config.numLabels, this.config.problemType),
    };
  }

  /**
   * Replaces the classifier with a fresh one (transformers' init) for `numLabels` outputs,
   * keeping the backbone: fine-tuning a checkpoint for a new label set. The old classifier is
   * disposed; config.numLabels, id2label/label2id (LABEL_i unless given) and problemType
   * (null unless given) follow. Returns the new classifier.
   */
  resetClassifier(
    numLabels: number,
    options: { id2label?: Record<number, string>; problemType?: BertProblemType | null } = {},
  ): Linear {
    const updated = bertConfig({
      ...this.config,
      numLabels,
      id2label: options.id2label,
      label2id: undefined,
      problemType: options.problemType ?? null,
    });
    const classifier = new Linear(this.config.hiddenSize, updated.numLabels);
    initBertWeights(classifier, updated);
    const device = this.classifier.weight.device;
    const dtype = this.classifier.weight.dtype;
    if (device !== 'cpu' || dtype !== 'float32') classifier.to({ device: device as Device, dtype });
    this.classifier.dispose();
    this.classifier = classifier;
    const labels = {
      numLabels: updated.numLabels,
      id2label: updated.id2label,
      label2id: updated.label2id,
      problemType: updated.problemType,
    };
    Object.assign(this.config, labels);
    Object.assign(this.bert.config, structuredClone(labels));
    return classifier;
  }
}

// ---- masked language modelling ------------------------------------------------------

/** dense → activation → LayerNorm, before the vocabulary projection. */
export class BertPredictionHeadTransform extends Module {
  dense: Linear;
  LayerNorm: LayerNorm;
  readonly activation: BertActivation;

  constructor(config: BertConfig) {
    super();
    this.dense = new Linear(config.hiddenSize, config.hiddenSize);
    this.activation = config.hiddenAct;
    this.LayerNorm = new LayerNorm(config.hiddenSize, config.layerNormEps);
  }

  forward(hiddenStates: Tensor): Tensor {
    return this.LayerNorm.forward(ACT2FN[this.activation](this.dense.forward(hiddenStates)));
  }
}

/**
 * The vocabulary projection when tied: x·Eᵀ + b with E the word embedding matrix and b the
 * prediction head's bias. Its `weight` and `bias` are those tensors, read through getters, not
 * parameters of its own — so, like transformers' model.safetensors, the state dict has no
 * `cls.predictions.decoder.*` keys, and the shared tensors are counted, trained and saved once.
 */
export class BertTiedDecoder extends Module {
  readonly #weight: () => Tensor;
  readonly #bias: () => Tensor;

  constructor(weight: () => Tensor, bias: () => Tensor) {
    super();
    this.#weight = weight;
    this.#bias = bias;
  }

  get weight(): Tensor {
    return this.#weight();
  }

  get bias(): Tensor {
    return this.#bias();
  }

  forward(hiddenStates: Tensor): Tensor {
    return F.linear(hiddenStates, this.weight, this.bias);
  }

  override extraRepr(): string {
    return `tied, outFeatures=${this.weight.shape[0]}`;
  }
}

/**
 * transform → decoder. Tied (tieWordEmbeddings, the default): the decoder is the word
 * embeddings with `bias` added. Untied: the decoder is its own Linear (with its own bias) and
 * `bias` is unused, exactly as transformers leaves it.
 */
export class BertLMPredictionHead extends Module {
  bias: Tensor;
  transform: BertPredictionHeadTransform;
  decoder: Linear | BertTiedDecoder;

  constructor(config: BertConfig, wordEmbeddings: () => Tensor) {
    super();
    this.bias = parameter(zeros([config.vocabSize]));
    this.transform = new BertPredictionHeadTransform(config);
    this.decoder = config.tieWordEmbeddings
      ? new BertTiedDecoder(wordEmbeddings, () => this.bias)
      : new Linear(config.hiddenSize, config.vocabSize);
  }

  forward(hiddenStates: Tensor): Tensor {
    return this.decoder.forward(this.transform.forward(hiddenStates));
  }
}

export class BertOnlyMLMHead extends Module {
  predictions: BertLMPredictionHead;

  constructor(config: BertConfig, wordEmbeddings: () => Tensor) {
    super();
    this.predictions = new BertLMPredictionHead(config, wordEmbeddings);
  }

  forward(sequenceOutput: Tensor): Tensor {
    return this.predictions.forward(sequenceOutput);
  }
}

/** BertModel without pooler + the MLM head; logits [batch, length, vocab]. */
export class BertForMaskedLM extends PretrainedModel<BertConfig> {
  /** forward takes { inputIds, attentionMask?, tokenTypeIds?, labels? } (see BatchInput). */
  static readonly batchInput: BatchInput = 'inputs';
  readonly config: BertConfig;
  bert: BertModel;
  cls: BertOnlyMLMHead;

  constructor(config: Partial<BertConfig> = {}) {
    super();
    this.config = bertConfig(config);
    this.bert = new BertModel(this.config, { addPoolingLayer: false });
    // Read at every call, so the tie survives to() and a replaced embedding module.
    this.cls = new BertOnlyMLMHead(this.config, () => this.bert.embeddings.word_embeddings.weight);
    initBertWeights(this.cls, this.config);
  }

  forward(inputs: BertLabeledInputs): BertHeadOutput {
    const logits = this.cls.forward(this.bert.forward(inputs).lastHiddenState);
    if (!inputs.labels) return { logits };
    // Cross entropy over tokens, ignoring label -100
    const labels = inputs.labels.dtype === 'int64' ? inputs.labels : inputs.labels.to('int64');
    return { logits, loss: F.crossEntropy(logits.view([-1, this.config.vocabSize]), labels.view([-1])) };
  }
}

// ---- checkpoints --------------------------------------------------------------------

/**
 * Maps a transformers BERT state dict onto `model`'s keys, as transformers' loader does, so
 * older and differently-headed checkpoints load with loadStateDict: legacy `LayerNorm.gamma` /
 * `.beta` names; the `bert.` prefix added (a BertModel checkpoint into a head model) or
 * stripped (a head checkpoint into BertModel); the tied `cls.predictions.decoder.weight` /
 * `.bias` and old persisted `embeddings.position_ids` / `token_type_ids` buffers dropped when
 * the model has no such key. Other keys pass through (loadStateDict reports them). The
 * tensors are shared, not copied.
 */
export function adaptBertStateDict(state: StateDict | Record<string, Tensor>, model: Module): StateDict {
  const own = new Set(model.stateDict().keys());
  const aligned = alignCheckpointKeys(state, own, 'bert');
  const out: StateDict = new Map();
  for (const [original, tensor] of aligned) {
    let key = original;
    if (!own.has(key)) {
      if (
        key === 'cls.predictions.decoder.bias' &&
        own.has('cls.predictions.bias') &&
        !aligned.has('cls.predictions.bias')
      ) {
        key = 'cls.predictions.bias';
      } else if (
        /^cls\.predictions\.decoder\.(weight|bias)$|(^|\.)embeddings\.(position_ids|token_type_ids)$/.test(key)
      ) {
        continue;
      }
    }
    out.set(key, tensor);
  }
  return out;
}

// ---- layer groups --------------------------------------------------------------------

/**
 * BERT's layer groups, input side first: `embeddings`, `encoder.layer.0` … `encoder.layer.N-1`,
 * then the head — `head` = pooler + classifier for sequence classification (the pooler only ever
 * feeds the classifier), `head` = cls for masked LM, and `pooler` for a BertModel that has one (a
 * BertModel without pooler ends at its last layer). The MLM decoder's tied weight is the word
 * embedding matrix, a parameter of `embeddings` (cls only reads it), so it trains with the
 * embeddings: freezing the body freezes the decoder matrix, as in transformers, where they are
 * one tensor. `cls.predictions.bias` is the head's own.
 */
function bertLayerGroups(model: Module): LayerGroup[] {
  if (model instanceof BertForSequenceClassification) {
    const { pooler } = model.bert;
    const head: Module[] = pooler ? [pooler, model.dropout, model.classifier] : [model.dropout, model.classifier];
    return [...bertBodyGroups(model.bert), { name: 'head', modules: head }];
  }
  if (model instanceof BertForMaskedLM) return [...bertBodyGroups(model.bert), { name: 'head', modules: [model.cls] }];
  if (model instanceof BertModel) {
    return [...bertBodyGroups(model), ...(model.pooler ? [{ name: 'pooler', modules: [model.pooler] }] : [])];
  }
  throw new Error(`bert layer groups: unknown architecture ${model.constructor.name}`);
}

function bertBodyGroups(bert: BertModel): LayerGroup[] {
  const layers = [...bert.encoder.layer].map((layer, i) => ({ name: `encoder.layer.${i}`, modules: [layer] }));
  return [{ name: 'embeddings', modules: [bert.embeddings] }, ...layers];
}

// ---- frozen prefix (cached features) -------------------------------------------------

/**
 * Sequence classification split at BERT's layer groups (frozen-prefix.ts): the embeddings and the
 * first layers run once per example. With the whole body frozen only the [CLS] state is kept (the
 * pooler reads nothing else); otherwise the hidden states and the [batch, length] attention mask.
 */
const bertFrozenPrefix: FrozenPrefixSplit = {
  supports: (model) => model instanceof BertForSequenceClassification,
  forwardFrozenPrefix(model, inputs, groups): PrefixFeatures {
    const { bert } = model as BertForSequenceClassification;
    const { inputIds = null, attentionMask, tokenTypeIds, positionIds, inputsEmbeds } = inputs as BertInputs;
    if (attentionMask && attentionMask.ndim !== 2)
      throw new Error(`BERT: cached features take a [batch, length] attentionMask, got shape [${attentionMask.shape}]`);
    const packing = bert.paddingFree && attentionMask ? PackedTokens.fromMask(attentionMask) : null;
    let hidden = bert.embeddings.forward(inputIds, tokenTypeIds, positionIds, inputsEmbeds, packing);
    const [batch, length] = packing ? [packing.batch, packing.length] : hidden.shape;
    const mask = attentionMask ? bertAttentionMask(attentionMask, batch, length, hidden.dtype) : null;
    const layers = [...bert.encoder.layer];
    for (const layer of layers.slice(0, groups - 1)) hidden = layer.forward(hidden, mask, packing);
    if (packing) hidden = packing.unpack(hidden);
    if (groups - 1 === layers.length) return { cls: hidden.select(1, 0) };
    return { hiddenStates: hidden, attentionMask: attentionMask ?? ones([batch, length], { dtype: 'int64' }) };
  },
  forwardFromCache(model, features, groups) {
    const { bert, dropout, classifier } = model as BertForSequenceClassification;
    let hidden: Tensor;
    if (features.cls) hidden = features.cls.unsqueeze(1);
    else {
      const [batch, length] = features.hiddenStates.shape;
      const mask = bertAttentionMask(features.attentionMask, batch, length, features.hiddenStates.dtype);
      // the layers above run as they do in BertModel.forward, padding-free or not
      const packing = bert.paddingFree ? PackedTokens.fromMask(features.attentionMask) : null;
      hidden = packing ? packing.pack(features.hiddenStates) : features.hiddenStates;
      for (const layer of [...bert.encoder.layer].slice(groups - 1)) hidden = layer.forward(hidden, mask, packing);
      if (packing) hidden = packing.unpack(hidden);
    }
    return classifier.forward(dropout.forward(bert.pooler!.forward(hidden)));
  },
};

// ---- registration -------------------------------------------------------------------

registerModelFamily<BertConfig>({
  modelType: 'bert',
  architectures: {
    BertModel: (config) => new BertModel(config),
    BertForSequenceClassification: (config) => new BertForSequenceClassification(config),
    BertForMaskedLM: (config) => new BertForMaskedLM(config),
  },
  configFromHf: bertConfigFromHf,
  configToHf: bertConfigToHf,
  sizeParts: bertSizeParts,
  presets: BERT_PRESETS,
  baseModelPrefix: 'bert',
  withNumLabels: (config, numLabels) =>
    numLabels === config.numLabels
      ? config
      : bertConfig({ ...config, numLabels, id2label: undefined, label2id: undefined }),
  adaptStateDict: adaptBertStateDict,
  layerGroups: bertLayerGroups,
  frozenPrefix: bertFrozenPrefix,
});

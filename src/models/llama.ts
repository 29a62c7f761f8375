/**
 * The Llama family (Touvron et al., 2023), after Hugging Face transformers' modeling_llama.py (5.x):
 * a pre-norm decoder with RMSNorm, rotary position embeddings, grouped-query attention and a SwiGLU
 * MLP. Qwen2 and Mistral checkpoints are the same network (modeling_qwen2.py, modeling_mistral.py)
 * and load into the Qwen2* / Mistral* classes, which differ only in the config's model type (their
 * biases, Mistral's sliding window). SmolLM and TinyLlama checkpoints are model_type 'llama'.
 *
 * Every attribute name is the checkpoint key (`model.layers.0.self_attn.q_proj.weight`,
 * `model.norm.weight`, `lm_head.weight`), so a transformers checkpoint loads as is. The config,
 * config.json and presets are in llama-config.ts, the rotary embeddings and their rope types in
 * llama-rope.ts (both re-exported here).
 *
 *   const model = new LlamaForCausalLM(llamaConfigFromHf(JSON.parse(readFileSync('config.json', 'utf8'))));
 *   model.loadStateDict(adaptLlamaStateDict((await loadSafetensors('model.safetensors')).tensors, model));
 *   const { logits, loss } = model.forward({ inputIds, attentionMask, labels });
 *
 * Generation feeds the decoder a KeyValueCache (kv-cache.ts): `forward({ inputIds, pastKeyValues:
 * cache, useCache: true })` appends each layer's keys and values and attends over all of them.
 */
import { arange, cat, functional as F, ones, tidy, type Device, type Tensor } from '../tensor/index.js';
import {
  ACT2FN,
  Embedding,
  GradientCheckpointingLayer,
  init,
  Linear,
  Module,
  ModuleList,
  parameter,
  type StateDict,
} from '../nn/index.js';
import { registerModelFamily, type LayerGroup } from './registry.js';
import { alignCheckpointKeys } from './checkpoint-keys.js';
import { classificationLoss } from './classification-loss.js';
import type { KeyValueCache } from './kv-cache.js';
import { PretrainedCausalLM, TiedLmHead, causalLmOutput, type CausalLMOutput } from './causal-lm-head.js';
import { PretrainedModel } from './pretrained-model.js';
import type { BatchInput } from './batch-input.js';
import {
  LLAMA_MODEL_TYPES,
  LLAMA_PRESETS,
  llamaArchitectures,
  llamaBiases,
  llamaConfig,
  llamaConfigFromHf,
  llamaConfigToHf,
  llamaSizeParts,
  type LlamaConfig,
  type LlamaModelType,
} from './llama-config.js';

import { LlamaRotaryEmbedding } from './llama-rope.js';

export * from './llama-config.js';
export * from './llama-rope.js';

// ---- initialisation -----------------------------------------------------------------

/** transformers' `_init_weights` for Llama: Linear and Embedding weights N(0, initializerRange²), biases 0, the padding row 0, norms 1. */
export function initLlamaWeights(module: Module, config: LlamaConfig): void {
  const std = config.initializerRange;
  for (const m of module.modules()) {
    if (m instanceof Linear || m instanceof Embedding) init.normal_(m.weight, 0, std);
    if (m instanceof Linear && m.bias) init.zeros_(m.bias);
    if (m instanceof Embedding && m.paddingIdx !== null) init.zeroRow_(m.weight, m.paddingIdx);
    if (m instanceof LlamaRMSNorm) init.ones_(m.weight);
  }
}

// ---- building blocks ----------------------------------------------------------------

/** Root-mean-square norm (transformers' LlamaRMSNorm): computed in float32, scaled in the input's dtype. */
export class LlamaRMSNorm extends Module {
  weight: Tensor;

  constructor(
    readonly hiddenSize: number,
    readonly eps: number,
  ) {
    super();
    this.weight = parameter(ones([hiddenSize]));
  }

  forward(hiddenStates: Tensor): Tensor {
    const dtype = hiddenStates.dtype;
    const x = hiddenStates.to('float32');
    const normalized = x.mul(x.square().mean(-1, true).add(this.eps).rsqrt());
    return this.weight.mul(normalized.to(dtype));
  }

  override extraRepr(): string {
    return `${this.hiddenSize}, eps=${this.eps}`;
  }
}

/** [x1, x2] → [-x2, x1] over the last dimension's halves. */
function rotateHalf(x: Tensor): Tensor {
  const half = x.shape[x.ndim - 1] / 2;
  return cat([x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)], -1);
}

/** x [batch, heads, tokens, headDim] rotated by the cos/sin [batch, tokens, headDim] of its positions. */
function applyRotary(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  return x.mul(cos.unsqueeze(1)).add(rotateHalf(x).mul(sin.unsqueeze(1)));
}

/** [batch, kvHeads, tokens, headDim] → [batch, kvHeads·groups, tokens, headDim], each key/value head repeated for its query heads (repeat_kv). */
function repeatKv(x: Tensor, groups: number): Tensor {
  if (groups === 1) return x;
  const [batch, heads, tokens, dim] = x.shape;
  return x
    .unsqueeze(2)
    .expand([batch, heads, groups, tokens, dim])
    .reshape([batch, heads * groups, tokens, dim]);
}

/** Multi-head attention with grouped key/value heads, rotary positions and an optional cache. */
export class LlamaAttention extends Module {
  q_proj: Linear;
  k_proj: Linear;
  v_proj: Linear;
  o_proj: Linear;
  readonly headDim: number;
  readonly numHeads: number;
  readonly numKeyValueHeads: number;
  readonly attentionDropout: number;

  constructor(
    config: LlamaConfig,
    readonly layerIndex: number,
  ) {
    super();
    const bias = llamaBiases(config);
    this.headDim = config.headDim;
    this.numHeads = config.numAttentionHeads;
    this.numKeyValueHeads = config.numKeyValueHeads;
    this.attentionDropout = config.attentionDropout;
    const h = config.hiddenSize;
    this.q_proj = new Linear(h, this.numHeads * this.headDim, { bias: bias.qkv });
    this.k_proj = new Linear(h, this.numKeyValueHeads * this.headDim, { bias: bias.qkv });
    this.v_proj = new Linear(h, this.numKeyValueHeads * this.headDim, { bias: bias.qkv });
    this.o_proj = new Linear(this.numHeads * this.headDim, h, { bias: bias.o });
  }

  /**
   * hiddenStates [batch, tokens, hidden]; `mask` (llamaAttentionMask's) or null for plain causal
   * attention over this call's tokens.
   */
  forward(
    hiddenStates: Tensor,
    mask: LlamaAttentionMask | null,
    cos: Tensor,
    sin: Tensor,
    cache?: KeyValueCache,
  ): Tensor {
    const [batch, tokens] = hiddenStates.shape;
    const heads = (x: Tensor, n: number) => x.view([batch, tokens, n, this.headDim]).transpose(1, 2);
    const query = applyRotary(heads(this.q_proj.forward(hiddenStates), this.numHeads), cos, sin);
    let key = applyRotary(heads(this.k_proj.forward(hiddenStates), this.numKeyValueHeads), cos, sin);
    let value = heads(this.v_proj.forward(hiddenStates), this.numKeyValueHeads);
    if (cache) [key, value] = cache.update(this.layerIndex, key, value);
    const groups = this.numHeads / this.numKeyValueHeads;
    let attended = F.scaledDotProductAttention(query, repeatKv(key, groups), repeatKv(value, groups), {
      attnMask: mask?.allowed ?? null,
      isCausal: mask === null && tokens > 1,
      dropoutP: this.training ? this.attentionDropout : 0,
    });
    if (mask) attended = attended.maskedFill(mask.blind, 0);
    return this.o_proj.forward(attended.transpose(1, 2).reshape([batch, tokens, this.numHeads * this.headDim]));
  }
}

/** SwiGLU: down(act(gate(x)) · up(x)). */
export class LlamaMLP extends Module {
  gate_proj: Linear;
  up_proj: Linear;
  down_proj: Linear;
  readonly activation: LlamaConfig['hiddenAct'];

  constructor(config: LlamaConfig) {
    super();
    const bias = llamaBiases(config).mlp;
    this.gate_proj = new Linear(config.hiddenSize, config.intermediateSize, { bias });
    this.up_proj = new Linear(config.hiddenSize, config.intermediateSize, { bias });
    this.down_proj = new Linear(config.intermediateSize, config.hiddenSize, { bias });
    this.activation = config.hiddenAct;
  }

  forward(x: Tensor): Tensor {
    return this.down_proj.forward(ACT2FN[this.activation](this.gate_proj.forward(x)).mul(this.up_proj.forward(x)));
  }
}

/** Pre-norm decoder layer: x + attention(norm(x)), then x + mlp(norm(x)). */
export class LlamaDecoderLayer extends GradientCheckpointingLayer {
  self_attn: LlamaAttention;
  mlp: LlamaMLP;
  input_layernorm: LlamaRMSNorm;
  post_attention_layernorm: LlamaRMSNorm;

  constructor(config: LlamaConfig, layerIndex: number) {
    super();
    this.self_attn = new LlamaAttention(config, layerIndex);
    this.mlp = new LlamaMLP(config);
    this.input_layernorm = new LlamaRMSNorm(config.hiddenSize, config.rmsNormEps);
    this.post_attention_layernorm = new LlamaRMSNorm(config.hiddenSize, config.rmsNormEps);
  }

  forward(
    hiddenStates: Tensor,
    mask: LlamaAttentionMask | null,
    cos: Tensor,
    sin: Tensor,
    cache?: KeyValueCache,
  ): Tensor {
    const body = (hidden: Tensor, attentionMask: LlamaAttentionMask | null, c: Tensor, s: Tensor) =>
      // One scope per layer (see BertLayer): the layer's intermediates are freed when it returns.
      tidy(() => {
        const attended = hidden.add(
          this.self_attn.forward(this.input_layernorm.forward(hidden), attentionMask, c, s, cache),
        );
        return attended.add(this.mlp.forward(this.post_attention_layernorm.forward(attended)));
      });
    // A recomputation would append to the cache twice: with a cache (generation) the layer runs as is.
    return cache ? body(hiddenStates, mask, cos, sin) : this.checkpointed(body, hiddenStates, mask, cos, sin);
  }
}

// ---- LlamaModel ---------------------------------------------------------------------

/** The decoder's forward input, the shared contract of the decoder families. */
export interface LlamaInputs {
  /** [batch, tokens] int64 token ids (or give inputsEmbeds). */
  inputIds?: Tensor | null;
  /** [batch, tokens, hidden] embeddings used instead of looking up inputIds (prompt tuning). */
  inputsEmbeds?: Tensor | null;
  /** [batch, pastTokens + tokens]: 1 = a real token, 0 = padding (left or right). Default: all real. */
  attentionMask?: Tensor | null;
  /**
   * [batch, tokens] or [1, tokens] positions. Default: pastTokens, pastTokens + 1, … whatever the
   * attention mask, as transformers' LlamaModel.forward. generate() passes a left-padded row the
   * positions it has unpadded (the mask's cumulative sum − 1), as transformers' generate does.
   */
  positionIds?: Tensor | null;
  /** The keys and values of the tokens before these; updated in place. */
  pastKeyValues?: KeyValueCache | null;
  /** Return pastKeyValues (the cache given). */
  useCache?: boolean;
}

export interface LlamaModelOutput {
  /** [batch, tokens, hidden], after the final norm. */
  lastHiddenState: Tensor;
  pastKeyValues?: KeyValueCache;
}

/** Which keys each query attends to, as SDPA takes it. */
export interface LlamaAttentionMask {
  /**
   * Boolean [batch, 1, tokens, pastTokens + tokens], true = attend: causal, within the sliding window
   * when there is one, and only to real tokens; a query with no such key (a left-padding position)
   * attends to all of them, so that SDPA computes no NaN for it.
   */
  allowed: Tensor;
  /** Boolean [batch, 1, tokens, 1]: the queries with no key to attend to, whose attention output is 0 (as PyTorch's SDPA gives transformers). */
  blind: Tensor;
}

/**
 * The attention mask of a call (see LlamaAttentionMask); null when plain causal attention over this
 * call's tokens does (no padding, no window reached, and no cache or one new token).
 */
export function llamaAttentionMask(
  attentionMask: Tensor | null,
  batch: number,
  pastTokens: number,
  tokens: number,
  slidingWindow: number | null,
): LlamaAttentionMask | null {
  const keys = pastTokens + tokens;
  if (
    attentionMask &&
    (attentionMask.ndim !== 2 || attentionMask.shape[0] !== batch || attentionMask.shape[1] !== keys)
  )
    throw new Error(
      `Llama: attentionMask must be [batch, pastTokens + tokens] = [${batch}, ${keys}], got shape [${attentionMask.shape}]`,
    );
  const windowed = slidingWindow !== null && keys > slidingWindow;
  // As transformers (_ignore_causal_mask_sdpa): a mask without padding is dropped, so SDPA runs its causal kernels.
  const padded = attentionMask !== null && !(attentionMask.all().toArray() as boolean);
  if (!padded && !windowed && (pastTokens === 0 || tokens === 1)) return null;
  const device = attentionMask?.device as Device | undefined;
  const queryPositions = arange(pastTokens, keys, 1, { dtype: 'int64', device }).unsqueeze(1);
  const keyPositions = arange(0, keys, 1, { dtype: 'int64', device }).unsqueeze(0);
  let allowed = keyPositions.le(queryPositions);
  if (windowed) allowed = allowed.logicalAnd(queryPositions.sub(keyPositions).lt(slidingWindow));
  let mask = allowed.unsqueeze(0).unsqueeze(0).expand([batch, 1, tokens, keys]);
  if (padded) mask = mask.logicalAnd(attentionMask.ne(0).unsqueeze(1).unsqueeze(1));
  const blind = mask.any(-1, true).logicalNot();
  return { allowed: mask.logicalOr(blind), blind };
}

/** The bare decoder: embed_tokens, the layers, the final norm (and the rotary embeddings they share). */
export class LlamaModel extends PretrainedModel<LlamaConfig> {
  static readonly batchInput: BatchInput = 'inputs';
  /** The model type this class is (Qwen2Model: 'qwen2'). */
  static readonly modelType: LlamaModelType = 'llama';
  readonly config: LlamaConfig;
  embed_tokens: Embedding;
  layers: ModuleList<LlamaDecoderLayer>;
  norm: LlamaRMSNorm;
  rotary_emb: LlamaRotaryEmbedding;

  constructor(config: Partial<LlamaConfig> = {}) {
    super();
    this.config = classConfig(this, config);
    const c = this.config;
    this.embed_tokens = new Embedding(c.vocabSize, c.hiddenSize, c.padTokenId);
    this.layers = new ModuleList(Array.from({ length: c.numHiddenLayers }, (_, i) => new LlamaDecoderLayer(c, i)));
    this.norm = new LlamaRMSNorm(c.hiddenSize, c.rmsNormEps);
    this.rotary_emb = new LlamaRotaryEmbedding(c);
    initLlamaWeights(this, c);
  }

  forward(inputs: LlamaInputs): LlamaModelOutput {
    const { inputIds = null, inputsEmbeds = null, attentionMask = null, positionIds = null } = inputs;
    const cache = inputs.pastKeyValues ?? undefined;
    if ((inputIds === null) === (inputsEmbeds === null))
      throw new Error(`${this.constructor.name}: give exactly one of inputIds and inputsEmbeds`);
    const hidden0 = inputsEmbeds ?? this.embed_tokens.forward(inputIds!);
    const [batch, tokens] = hidden0.shape;
    const pastTokens = cache?.length ?? 0;
    const mask = llamaAttentionMask(attentionMask, batch, pastTokens, tokens, this.config.slidingWindow);
    const device = hidden0.device as Device;
    const positions =
      positionIds ?? arange(pastTokens, pastTokens + tokens, 1, { dtype: 'int64', device }).unsqueeze(0);
    const [cos, sin] = this.rotary_emb.forward(positions, hidden0.dtype);
    let hidden = hidden0;
    for (const layer of this.layers) hidden = layer.forward(hidden, mask, cos, sin, cache);
    const lastHiddenState = this.norm.forward(hidden);
    return inputs.useCache && cache ? { lastHiddenState, pastKeyValues: cache } : { lastHiddenState };
  }
}

/** The model's config: `config` with the class's model type (a Qwen2 config into a Llama class is refused). */
function classConfig(model: Module, config: Partial<LlamaConfig>): LlamaConfig {
  const modelType = (model.constructor as unknown as { modelType: LlamaModelType }).modelType;
  if (config.modelType !== undefined && config.modelType !== modelType) {
    const suffix = model.constructor.name.replace(/^(Llama|Qwen2|Mistral)/, '');
    const classFor = llamaArchitectures(config.modelType).find((name) => name.endsWith(suffix));
    throw new Error(
      `${model.constructor.name}: the config's modelType is '${config.modelType}'; build ${classFor ?? 'that family’s class'} for it`,
    );
  }
  return llamaConfig({ ...config, modelType });
}

// ---- causal LM ----------------------------------------------------------------------

export interface LlamaLabeledInputs extends LlamaInputs {
  /**
   * Causal LM: [batch, tokens] token ids, usually the input ids (shifted inside), -100 where no loss is
   * taken. Sequence classification: [batch] class ids or [batch, numLabels] floats.
   */
  labels?: Tensor | null;
  /** Causal LM: compute the logits of only the last N tokens (generation needs the last one's). */
  logitsToKeep?: number;
}

/** LlamaModel + lm_head (tied to embed_tokens when tieWordEmbeddings): next-token logits. */
export class LlamaForCausalLM extends PretrainedCausalLM<LlamaConfig> {
  static readonly batchInput: BatchInput = 'inputs';
  static readonly modelType: LlamaModelType = 'llama';
  readonly config: LlamaConfig;
  model: LlamaModel;
  lm_head: Linear | TiedLmHead;

  constructor(config: Partial<LlamaConfig> = {}) {
    super();
    this.config = classConfig(this, config);
    this.model = new (baseClassOf(this))(this.config);
    this.lm_head = this.config.tieWordEmbeddings
      ? new TiedLmHead(() => this.model.embed_tokens.weight, 'model.embed_tokens')
      : new Linear(this.config.hiddenSize, this.config.vocabSize, { bias: false });
    initLlamaWeights(this.lm_head, this.config);
  }

  forward(inputs: LlamaLabeledInputs): CausalLMOutput {
    const { lastHiddenState, pastKeyValues } = this.model.forward(inputs);
    return causalLmOutput(this.lm_head, lastHiddenState, inputs, pastKeyValues);
  }
}

// ---- sequence classification --------------------------------------------------------

export interface LlamaSequenceClassifierOutput {
  /** [batch, numLabels]: the score of each sequence's last token that is not padding. */
  logits: Tensor;
  loss?: Tensor;
}

/** LlamaModel + `score` (no bias) read at each sequence's last non-padding token. */
export class LlamaForSequenceClassification extends PretrainedModel<LlamaConfig> {
  static readonly batchInput: BatchInput = 'inputs';
  static readonly modelType: LlamaModelType = 'llama';
  readonly config: LlamaConfig;
  model: LlamaModel;
  score: Linear;

  constructor(config: Partial<LlamaConfig> = {}) {
    super();
    this.config = classConfig(this, config);
    this.model = new (baseClassOf(this))(this.config);
    this.score = new Linear(this.config.hiddenSize, this.config.numLabels, { bias: false });
    initLlamaWeights(this.score, this.config);
  }

  forward(inputs: LlamaLabeledInputs): LlamaSequenceClassifierOutput {
    const scores = this.score.forward(this.model.forward(inputs).lastHiddenState);
    const [batch, tokens] = scores.shape;
    const last = this.lastTokenIndices(inputs.inputIds ?? null, batch, tokens);
    const logits = scores.index([arange(batch, undefined, 1, { device: scores.device as Device }), last]);
    if (!inputs.labels) return { logits };
    return {
      logits,
      loss: classificationLoss(logits, inputs.labels, this.config.numLabels, this.config.problemType),
    };
  }

  /** transformers' choice: the rightmost token that is not padTokenId (the last one without a pad token, for one sequence). */
  private lastTokenIndices(inputIds: Tensor | null, batch: number, tokens: number): Tensor {
    const pad = this.config.padTokenId;
    if (pad === null || inputIds === null) {
      if (batch !== 1)
        throw new Error(
          `${this.constructor.name}: a batch of ${batch} needs padTokenId in the config (pad_token_id) and inputIds, to find each sequence's last token`,
        );
      return arange(tokens - 1, tokens, 1, { dtype: 'int64', device: inputIds?.device as Device | undefined });
    }
    const indices = arange(0, tokens, 1, { dtype: 'int64', device: inputIds.device as Device });
    return indices.mul(inputIds.ne(pad).to('int64')).argmax(-1);
  }
}

// ---- the same network under other model types -----------------------------------------

/** Qwen2 (model_type 'qwen2'): q/k/v_proj with biases, o_proj and the MLP without. */
export class Qwen2Model extends LlamaModel {
  static override readonly modelType: LlamaModelType = 'qwen2';
}
export class Qwen2ForCausalLM extends LlamaForCausalLM {
  static override readonly modelType: LlamaModelType = 'qwen2';
}
export class Qwen2ForSequenceClassification extends LlamaForSequenceClassification {
  static override readonly modelType: LlamaModelType = 'qwen2';
}

/** Mistral (model_type 'mistral'): no biases, attention within slidingWindow tokens when set. */
export class MistralModel extends LlamaModel {
  static override readonly modelType: LlamaModelType = 'mistral';
}
export class MistralForCausalLM extends LlamaForCausalLM {
  static override readonly modelType: LlamaModelType = 'mistral';
}
export class MistralForSequenceClassification extends LlamaForSequenceClassification {
  static override readonly modelType: LlamaModelType = 'mistral';
}

const BASE_CLASS: Readonly<Record<LlamaModelType, typeof LlamaModel>> = {
  llama: LlamaModel,
  qwen2: Qwen2Model,
  mistral: MistralModel,
};

/** The bare model class a head model of this model type holds (transformers' Qwen2ForCausalLM.model is a Qwen2Model). */
function baseClassOf(model: Module): typeof LlamaModel {
  return BASE_CLASS[(model.constructor as unknown as { modelType: LlamaModelType }).modelType];
}

// ---- checkpoints --------------------------------------------------------------------

/**
 * Maps a transformers checkpoint onto `model`'s keys: the `model.` prefix added (a bare-model
 * checkpoint into a head model) or stripped, a tied `lm_head.weight` dropped where the model reads
 * embed_tokens instead, and the `rotary_emb.inv_freq` buffer older checkpoints persisted dropped.
 */
export function adaptLlamaStateDict(state: StateDict | Record<string, Tensor>, model: Module): StateDict {
  const own = new Set(model.stateDict().keys());
  const aligned = alignCheckpointKeys(state, own, 'model');
  const tiedHead = model instanceof LlamaForCausalLM && model.lm_head instanceof TiedLmHead;
  const out: StateDict = new Map();
  for (const [key, tensor] of aligned) {
    if ((tiedHead && key === 'lm_head.weight') || (!own.has(key) && /(^|\.)rotary_emb\.inv_freq$/.test(key))) continue;
    out.set(key, tensor);
  }
  return out;
}

// ---- layer groups --------------------------------------------------------------------

/**
 * Input side first: `embed_tokens`, `layers.0` … `layers.N-1`, then `head` = the final norm with
 * lm_head or score (a bare model ends with `norm`). A tied lm_head is embed_tokens' matrix, which
 * trains with `embed_tokens`, as in transformers where they are one tensor.
 */
function llamaLayerGroups(model: Module): LayerGroup[] {
  if (model instanceof LlamaForCausalLM)
    return [...bodyGroups(model.model), { name: 'head', modules: [model.model.norm, model.lm_head] }];
  if (model instanceof LlamaForSequenceClassification)
    return [...bodyGroups(model.model), { name: 'head', modules: [model.model.norm, model.score] }];
  if (model instanceof LlamaModel) return [...bodyGroups(model), { name: 'norm', modules: [model.norm] }];
  throw new Error(`llama layer groups: unknown architecture ${model.constructor.name}`);
}

function bodyGroups(model: LlamaModel): LayerGroup[] {
  const layers = [...model.layers].map((layer, i) => ({ name: `layers.${i}`, modules: [layer] }));
  return [{ name: 'embed_tokens', modules: [model.embed_tokens] }, ...layers];
}

// ---- registration -------------------------------------------------------------------

const CLASSES: Readonly<
  Record<LlamaModelType, [typeof LlamaForCausalLM, typeof LlamaModel, typeof LlamaForSequenceClassification]>
> = {
  llama: [LlamaForCausalLM, LlamaModel, LlamaForSequenceClassification],
  qwen2: [Qwen2ForCausalLM, Qwen2Model, Qwen2ForSequenceClassification],
  mistral: [MistralForCausalLM, MistralModel, MistralForSequenceClassification],
};

for (const modelType of LLAMA_MODEL_TYPES) {
  const classes = CLASSES[modelType];
  registerModelFamily<LlamaConfig>({
    modelType,
    architectures: Object.fromEntries(
      llamaArchitectures(modelType).map((name, i) => [name, (config: LlamaConfig) => new classes[i](config)]),
    ),
    configFromHf: (json) => {
      const config = llamaConfigFromHf({ model_type: modelType, ...json });
      if (config.modelType !== modelType)
        throw new Error(`${modelType} config.json: 'model_type' must be '${modelType}', got '${config.modelType}'`);
      return config;
    },
    configToHf: llamaConfigToHf,
    sizeParts: llamaSizeParts,
    presets: Object.fromEntries(Object.entries(LLAMA_PRESETS).filter(([, config]) => config.modelType === modelType)),
    baseModelPrefix: 'model',
    withNumLabels: (config, numLabels) =>
      numLabels === config.numLabels
        ? config
        : llamaConfig({ ...config, numLabels, id2label: undefined, label2id: undefined }),
    adaptStateDict: adaptLlamaStateDict,
    layerGroups: llamaLayerGroups,
  });
}

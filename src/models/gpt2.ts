/**
 * GPT-2 (Radford et al., 2019), after Hugging Face transformers' modeling_gpt2.py (5.17).
 *
 * Attribute names are the checkpoint keys (`transformer.h.0.attn.c_attn.weight`), and the
 * projections are Conv1D (weights [in, out]), so transformers checkpoints load as they are. The
 * config, config.json and presets are in gpt2-config.ts (re-exported here). Read top to bottom:
 * initialisation, attention, MLP, the block, the causal mask, GPT2Model, the LM and
 * sequence-classification heads, checkpoint keys, layer groups and registration.
 *
 *   const model = new GPT2LMHeadModel(gpt2ConfigFromHf(JSON.parse(readFileSync('config.json', 'utf8'))));
 *   model.loadStateDict(adaptGPT2StateDict((await loadSafetensors('model.safetensors')).tensors, model));
 *   const { logits, loss } = model.forward({ inputIds, attentionMask, labels });
 *   const tokens = model.generate(promptIds, { maxNewTokens: 20 });
 */
import { arange, functional as F, tidy, type Tensor } from '../tensor/index.js';
import {
  ACT2FN,
  Conv1D,
  Dropout,
  Embedding,
  GradientCheckpointingLayer,
  LayerNorm,
  Linear,
  Module,
  ModuleList,
  init,
  type StateDict,
} from '../nn/index.js';
import { registerModelFamily, type LayerGroup } from './registry.js';
import { alignCheckpointKeys } from './checkpoint-keys.js';
import { classificationLoss } from './classification-loss.js';
import { KeyValueCache } from './kv-cache.js';
import { PretrainedCausalLM, TiedLmHead, causalLmOutput, type CausalLMOutput } from './causal-lm-head.js';
import {
  GPT2_PRESETS,
  gpt2Config,
  gpt2ConfigFromHf,
  gpt2ConfigToHf,
  gpt2SizeParts,
  type GPT2Config,
} from './gpt2-config.js';
import { PretrainedModel } from './pretrained-model.js';
import type { BatchInput } from './batch-input.js';

export * from './gpt2-config.js';

// ---- initialisation -----------------------------------------------------------------

/**
 * transformers' `_init_weights` for GPT-2: Linear, Conv1D and Embedding weights N(0, 0.02²)
 * (initializerRange), biases 0, LayerNorm 1/0, and the residual projections (attn.c_proj,
 * mlp.c_proj) N(0, (0.02/√(2·nLayer))²), the GPT-2 paper's scaled init.
 */
export function initGPT2Weights(module: Module, config: GPT2Config): void {
  const std = config.initializerRange;
  for (const m of module.modules()) {
    if (m instanceof Linear || m instanceof Conv1D || m instanceof Embedding) init.normal_(m.weight, 0, std);
    if (m instanceof LayerNorm && m.weight) init.ones_(m.weight);
    if ((m instanceof Linear || m instanceof Conv1D || m instanceof LayerNorm) && m.bias) init.zeros_(m.bias);
    if (m instanceof GPT2Attention || m instanceof GPT2MLP)
      init.normal_(m.c_proj.weight, 0, std / Math.sqrt(2 * config.nLayer));
  }
}

// ---- attention, MLP, block ----------------------------------------------------------

/**
 * How a forward attends, shared by every layer: `mask` is the boolean [batch, 1, tokens, keys]
 * mask (true = attend) or null, with `isCausal` when SDPA's own causal mask is exact (no padding, no past).
 */
interface AttentionMask {
  mask: Tensor | null;
  isCausal: boolean;
}

/** Causal multi-head self-attention: c_attn makes q, k, v in one Conv1D; SDPA attends. */
export class GPT2Attention extends Module {
  c_attn: Conv1D;
  c_proj: Conv1D;
  attn_dropout: Dropout;
  resid_dropout: Dropout;
  readonly numHeads: number;
  readonly headDim: number;
  readonly scaling: number;

  constructor(
    config: GPT2Config,
    readonly layerIndex: number,
  ) {
    super();
    this.numHeads = config.nHead;
    this.headDim = config.nEmbd / config.nHead;
    let scaling = config.scaleAttnWeights ? this.headDim ** -0.5 : 1;
    if (config.scaleAttnByInverseLayerIdx) scaling /= layerIndex + 1;
    this.scaling = scaling;
    this.c_attn = new Conv1D(3 * config.nEmbd, config.nEmbd);
    this.c_proj = new Conv1D(config.nEmbd, config.nEmbd);
    this.attn_dropout = new Dropout(config.attnPdrop);
    this.resid_dropout = new Dropout(config.residPdrop);
  }

  /** With `cache`, this step's keys and values are appended to it and attention covers all of them. */
  forward(hiddenStates: Tensor, attention: AttentionMask, cache?: KeyValueCache): Tensor {
    const [batch, tokens, hidden] = hiddenStates.shape;
    const heads = (x: Tensor) => x.view([batch, tokens, this.numHeads, this.headDim]).transpose(1, 2);
    const [query, newKey, newValue] = this.c_attn.forward(hiddenStates).split(hidden, 2).map(heads);
    const [key, value] = cache ? cache.update(this.layerIndex, newKey, newValue) : [newKey, newValue];
    const attended = F.scaledDotProductAttention(query, key, value, {
      attnMask: attention.mask,
      isCausal: attention.isCausal,
      dropoutP: this.training ? this.attn_dropout.p : 0,
      scale: this.scaling,
    });
    const merged = attended.transpose(1, 2).reshape([batch, tokens, hidden]);
    return this.resid_dropout.forward(this.c_proj.forward(merged));
  }
}

/** c_fc → activation → c_proj → dropout. */
export class GPT2MLP extends Module {
  c_fc: Conv1D;
  c_proj: Conv1D;
  dropout: Dropout;
  readonly act: GPT2Config['activationFunction'];

  constructor(config: GPT2Config) {
    super();
    const inner = config.nInner ?? 4 * config.nEmbd;
    this.c_fc = new Conv1D(inner, config.nEmbd);
    this.c_proj = new Conv1D(config.nEmbd, inner);
    this.act = config.activationFunction;
    this.dropout = new Dropout(config.residPdrop);
  }

  forward(hiddenStates: Tensor): Tensor {
    return this.dropout.forward(this.c_proj.forward(ACT2FN[this.act](this.c_fc.forward(hiddenStates))));
  }

  override extraRepr(): string {
    return `act=${this.act}`;
  }
}

/** Pre-LayerNorm block: x + attn(ln_1(x)), then + mlp(ln_2(·)). */
export class GPT2Block extends GradientCheckpointingLayer {
  ln_1: LayerNorm;
  attn: GPT2Attention;
  ln_2: LayerNorm;
  mlp: GPT2MLP;

  constructor(config: GPT2Config, layerIndex: number) {
    super();
    this.ln_1 = new LayerNorm(config.nEmbd, config.layerNormEpsilon);
    this.attn = new GPT2Attention(config, layerIndex);
    this.ln_2 = new LayerNorm(config.nEmbd, config.layerNormEpsilon);
    this.mlp = new GPT2MLP(config);
  }

  forward(hiddenStates: Tensor, attention: AttentionMask, cache?: KeyValueCache): Tensor {
    // One scope per block, as BertLayer: its intermediates are freed when it returns.
    const body = (hidden: Tensor) =>
      tidy(() => {
        const afterAttention = hidden.add(this.attn.forward(this.ln_1.forward(hidden), attention, cache));
        return afterAttention.add(this.mlp.forward(this.ln_2.forward(afterAttention)));
      });
    // A recomputation would append to the cache twice; transformers also drops the cache when checkpointing.
    return cache ? body(hiddenStates) : this.checkpointed(body, hiddenStates);
  }
}

// ---- the causal mask ------------------------------------------------------------------

/**
 * transformers' create_causal_mask for SDPA: query i (at position past + i) sees keys 0 … past + i
 * that the [batch, past + tokens] attention mask marks real. Without padding, SDPA's is_causal (no
 * past) or no mask at all (one new token) is exact and faster, as transformers' skip. Rows whose keys
 * are all padding attend to nothing (SDPA returns zeros), as in transformers.
 */
export function gpt2CausalMask(
  attentionMask: Tensor | null | undefined,
  batch: number,
  tokens: number,
  past: number,
): AttentionMask {
  const keys = past + tokens;
  if (attentionMask) {
    const shape = attentionMask.shape;
    if (attentionMask.ndim !== 2 || shape[0] !== batch || shape[1] !== keys)
      throw new Error(
        `GPT-2: attentionMask must be [batch, past + new tokens] = [${batch}, ${keys}], got [${shape.join(', ')}]`,
      );
  }
  const real = attentionMask ? (attentionMask.dtype === 'bool' ? attentionMask : attentionMask.ne(0)) : null;
  const padded = real !== null && !real.all().item();
  if (!padded && (tokens === keys || tokens === 1)) return { mask: null, isCausal: tokens > 1 };
  const causal = arange(keys).unsqueeze(0).le(arange(past, keys).unsqueeze(1));
  const mask = real ? causal.unsqueeze(0).logicalAnd(real.unsqueeze(1)) : causal.unsqueeze(0).expand([batch, -1, -1]);
  return { mask: mask.unsqueeze(1), isCausal: false };
}

// ---- GPT2Model ------------------------------------------------------------------------

/** The decoder forward's input (the shared decoder contract). */
export interface GPT2Inputs {
  /** [batch, tokens] int64 (or give inputsEmbeds). */
  inputIds?: Tensor | null;
  /** [batch, past + tokens]: 1 = real token, 0 = padding. Default: every token real. */
  attentionMask?: Tensor | null;
  /** [batch, tokens] or [1, tokens]. Default: past … past + tokens − 1, past being the cache's length. */
  positionIds?: Tensor | null;
  /** [batch, tokens] ids whose token embeddings (wte) are added, as transformers does. */
  tokenTypeIds?: Tensor | null;
  /** [batch, tokens, nEmbd] used instead of looking up inputIds. */
  inputsEmbeds?: Tensor | null;
  /** The keys and values of the tokens before these; updated in place. */
  pastKeyValues?: KeyValueCache;
  /** Return the cache (a new one when pastKeyValues is not given). */
  useCache?: boolean;
}

export interface GPT2ModelOutput {
  /** [batch, tokens, nEmbd], after ln_f. */
  lastHiddenState: Tensor;
  pastKeyValues?: KeyValueCache;
}

/** Token and position embeddings, the blocks, and the final LayerNorm. */
export class GPT2Model extends PretrainedModel<GPT2Config> {
  static readonly batchInput: BatchInput = 'inputs';
  readonly config: GPT2Config;
  wte: Embedding;
  wpe: Embedding;
  drop: Dropout;
  h: ModuleList<GPT2Block>;
  ln_f: LayerNorm;

  constructor(config: Partial<GPT2Config> = {}) {
    super();
    this.config = gpt2Config(config);
    const c = this.config;
    this.wte = new Embedding(c.vocabSize, c.nEmbd);
    this.wpe = new Embedding(c.nPositions, c.nEmbd);
    this.drop = new Dropout(c.embdPdrop);
    this.h = new ModuleList(Array.from({ length: c.nLayer }, (_, i) => new GPT2Block(c, i)));
    this.ln_f = new LayerNorm(c.nEmbd, c.layerNormEpsilon);
    initGPT2Weights(this, c);
  }

  forward(inputs: GPT2Inputs): GPT2ModelOutput {
    const { inputIds = null, inputsEmbeds, attentionMask, positionIds, tokenTypeIds, useCache } = inputs;
    if ((inputIds === null) === !inputsEmbeds)
      throw new Error('GPT2Model: give exactly one of inputIds and inputsEmbeds');
    const cache = inputs.pastKeyValues ?? (useCache ? new KeyValueCache() : undefined);
    const embeds = inputsEmbeds ?? this.wte.forward(inputIds!);
    const [batch, tokens] = embeds.shape;
    const past = cache?.length ?? 0;
    if (!positionIds && past + tokens > this.config.nPositions)
      throw new Error(
        `GPT-2: ${past + tokens} tokens (${past} cached + ${tokens} new) exceed n_positions (${this.config.nPositions})`,
      );
    const positions = positionIds ?? arange(past, past + tokens).unsqueeze(0);
    let hidden = embeds.add(this.wpe.forward(positions));
    if (tokenTypeIds) hidden = hidden.add(this.wte.forward(tokenTypeIds));
    hidden = this.drop.forward(hidden);
    const attention = gpt2CausalMask(attentionMask, batch, tokens, past);
    for (const block of this.h) hidden = block.forward(hidden, attention, cache);
    const lastHiddenState = this.ln_f.forward(hidden);
    return useCache || inputs.pastKeyValues ? { lastHiddenState, pastKeyValues: cache } : { lastHiddenState };
  }
}

// ---- language-model head ----------------------------------------------------------------

export interface GPT2LMInputs extends GPT2Inputs {
  /** [batch, tokens] int64: the next-token targets before the shift (usually the input ids), −100 ignored. */
  labels?: Tensor | null;
  /** Compute logits for the last this-many tokens only (0: all), as transformers' logits_to_keep; generation uses 1. */
  logitsToKeep?: number;
}

/** GPT2Model + lm_head (tied to wte unless tieWordEmbeddings is false); logits [batch, tokens, vocab]. */
export class GPT2LMHeadModel extends PretrainedCausalLM<GPT2Config> {
  static readonly batchInput: BatchInput = 'inputs';
  readonly config: GPT2Config;
  transformer: GPT2Model;
  lm_head: Linear | TiedLmHead;

  constructor(config: Partial<GPT2Config> = {}) {
    super();
    this.config = gpt2Config(config);
    this.transformer = new GPT2Model(this.config);
    if (this.config.tieWordEmbeddings) {
      // Read at every call, so the tie survives to() and a replaced (e.g. LoRA-wrapped) embedding.
      this.lm_head = new TiedLmHead(() => this.transformer.wte.weight, 'transformer.wte');
    } else {
      this.lm_head = new Linear(this.config.nEmbd, this.config.vocabSize, { bias: false });
      initGPT2Weights(this.lm_head, this.config);
    }
  }

  forward(inputs: GPT2LMInputs): CausalLMOutput {
    const { lastHiddenState, pastKeyValues } = this.transformer.forward(inputs);
    return causalLmOutput(this.lm_head, lastHiddenState, inputs, pastKeyValues);
  }
}

// ---- sequence classification ------------------------------------------------------------

export interface GPT2LabeledInputs extends GPT2Inputs {
  /** [batch] class ids, or floats for regression / multi-label (see classificationLoss). */
  labels?: Tensor | null;
}

/**
 * GPT2Model + `score` (a bias-free Linear) read at each sequence's last non-padding token (the
 * rightmost token that is not padTokenId), as transformers; without a padTokenId only batches of one.
 */
export class GPT2ForSequenceClassification extends PretrainedModel<GPT2Config> {
  static readonly batchInput: BatchInput = 'inputs';
  readonly config: GPT2Config;
  transformer: GPT2Model;
  score: Linear;

  constructor(config: Partial<GPT2Config> = {}) {
    super();
    this.config = gpt2Config(config);
    this.transformer = new GPT2Model(this.config);
    this.score = new Linear(this.config.nEmbd, this.config.numLabels, { bias: false });
    initGPT2Weights(this.score, this.config);
  }

  forward(inputs: GPT2LabeledInputs): { logits: Tensor; loss?: Tensor } {
    const { lastHiddenState } = this.transformer.forward(inputs);
    const logits = this.score.forward(lastHiddenState);
    const [batch, tokens] = logits.shape;
    const pad = this.config.padTokenId;
    if (pad === null && batch !== 1)
      throw new Error('GPT2ForSequenceClassification: batches of more than one sequence need a padTokenId');
    const last =
      pad === null || !inputs.inputIds
        ? arange(batch)
            .mul(0)
            .add(tokens - 1)
        : arange(tokens).unsqueeze(0).mul(inputs.inputIds.ne(pad).to('int64')).argmax(-1);
    const pooled = logits.index([arange(batch), last]);
    if (!inputs.labels) return { logits: pooled };
    return {
      logits: pooled,
      loss: classificationLoss(pooled, inputs.labels, this.config.numLabels, this.config.problemType),
    };
  }
}

// ---- checkpoints --------------------------------------------------------------------

/**
 * Maps a transformers GPT-2 state dict onto `model`'s keys: the `transformer.` prefix added or
 * stripped (openai-community/gpt2's own file has none), and dropped when the model has no such key:
 * `lm_head.weight` of a tied model (some checkpoints store the tied copy) and the old causal-mask
 * buffers `attn.bias` / `attn.masked_bias` (transformers' _keys_to_ignore_on_load_unexpected).
 */
export function adaptGPT2StateDict(state: StateDict | Record<string, Tensor>, model: Module): StateDict {
  const own = new Set(model.stateDict().keys());
  const entries = state instanceof Map ? [...state] : Object.entries(state);
  // The head sits beside the backbone: only the other keys take or lose the `transformer.` prefix.
  const isHead = ([key]: [string, Tensor]) => key === 'lm_head.weight';
  const out: StateDict = new Map();
  for (const [key, tensor] of alignCheckpointKeys(new Map(entries.filter((e) => !isHead(e))), own, 'transformer')) {
    if (!own.has(key) && /\.attn\.(bias|masked_bias)$/.test(key)) continue;
    out.set(key, tensor);
  }
  for (const [key, tensor] of entries.filter(isHead)) if (own.has(key)) out.set(key, tensor);
  return out;
}

// ---- layer groups --------------------------------------------------------------------

/**
 * GPT-2's layer groups, input side first: `embeddings` (wte, wpe), `h.0` … `h.N-1`, then `head`
 * (ln_f with lm_head or score; GPT2Model's last group is `ln_f`). A tied lm_head owns no parameter:
 * its matrix is wte's and trains with the embeddings, as in transformers where they are one tensor.
 */
function gpt2LayerGroups(model: Module): LayerGroup[] {
  const body = (gpt2: GPT2Model): LayerGroup[] => [
    { name: 'embeddings', modules: [gpt2.wte, gpt2.wpe] },
    ...[...gpt2.h].map((block, i) => ({ name: `h.${i}`, modules: [block] })),
  ];
  if (model instanceof GPT2LMHeadModel)
    return [...body(model.transformer), { name: 'head', modules: [model.transformer.ln_f, model.lm_head] }];
  if (model instanceof GPT2ForSequenceClassification)
    return [...body(model.transformer), { name: 'head', modules: [model.transformer.ln_f, model.score] }];
  if (model instanceof GPT2Model) return [...body(model), { name: 'ln_f', modules: [model.ln_f] }];
  throw new Error(`gpt2 layer groups: unknown architecture ${model.constructor.name}`);
}

// ---- registration -------------------------------------------------------------------

registerModelFamily<GPT2Config>({
  modelType: 'gpt2',
  architectures: {
    GPT2LMHeadModel: (config) => new GPT2LMHeadModel(config),
    GPT2Model: (config) => new GPT2Model(config),
    GPT2ForSequenceClassification: (config) => new GPT2ForSequenceClassification(config),
  },
  configFromHf: gpt2ConfigFromHf,
  configToHf: gpt2ConfigToHf,
  sizeParts: gpt2SizeParts,
  presets: GPT2_PRESETS,
  baseModelPrefix: 'transformer',
  withNumLabels: (config, numLabels) =>
    numLabels === config.numLabels
      ? config
      : gpt2Config({ ...config, numLabels, id2label: undefined, label2id: undefined }),
  adaptStateDict: adaptGPT2StateDict,
  layerGroups: gpt2LayerGroups,
});

/**
 * What the decoder language models' heads share: the output projection tied to the input embeddings,
 * the logits and loss of a *ForCausalLM, and generate() with the config's end and padding tokens.
 */
import { Module } from '../nn/index.js';
import { functional as F, type Tensor } from '../tensor/index.js';
import { causalLmLoss } from './causal-lm-loss.js';
import { generate, type CausalLanguageModel, type GenerateOptions } from './generation.js';
import { generationConfigFromModelConfig, withGenerationDefaults, type GenerationConfig } from './generation-config.js';
import type { KeyValueCache } from './kv-cache.js';
import { PretrainedModel } from './pretrained-model.js';

/** What a *ForCausalLM's forward returns. */
export interface CausalLMOutput {
  /** [batch, tokens, vocab]. */
  logits: Tensor;
  /** Present when labels were given: causalLmLoss(logits, labels), the mean next-token cross entropy. */
  loss?: Tensor;
  pastKeyValues?: KeyValueCache;
}

/**
 * The output projection when tied: x·Eᵀ with E the token embedding matrix, read through a getter at each
 * call, so the model holds one tensor (trained once, saved once under the embeddings' key, as
 * transformers saves it) and lm_head has no parameter or state-dict key of its own.
 */
export class TiedLmHead extends Module {
  readonly #weight: () => Tensor;

  /** `tiedTo`: the embeddings' key, for the module's description ('transformer.wte', 'model.embed_tokens'). */
  constructor(
    weight: () => Tensor,
    readonly tiedTo: string,
  ) {
    super();
    this.#weight = weight;
  }

  get weight(): Tensor {
    return this.#weight();
  }

  forward(hiddenStates: Tensor): Tensor {
    return F.linear(hiddenStates, this.weight);
  }

  override extraRepr(): string {
    return `tied to ${this.tiedTo}, vocab=${this.weight.shape[0]}`;
  }
}

/**
 * A *ForCausalLM's output from its decoder's last hidden state: the head's logits (of the last
 * `logitsToKeep` tokens only when given, as generation needs), and the loss when labels are given.
 */
export function causalLmOutput(
  head: Module & { forward(hidden: Tensor): Tensor },
  lastHiddenState: Tensor,
  inputs: { labels?: Tensor | null; logitsToKeep?: number },
  pastKeyValues?: KeyValueCache,
): CausalLMOutput {
  const keep = inputs.logitsToKeep ?? 0;
  const tokens = lastHiddenState.shape[1];
  const hidden = keep > 0 && keep < tokens ? lastHiddenState.narrow(1, tokens - keep, keep) : lastHiddenState;
  const logits = head.forward(hidden);
  const loss = inputs.labels ? causalLmLoss(logits, inputs.labels) : undefined;
  return { logits, ...(loss ? { loss } : {}), ...(pastKeyValues ? { pastKeyValues } : {}) };
}

/** The token ids a decoder's config has, the generation defaults of a model without generation_config.json. */
interface GenerationTokens {
  bosTokenId?: number | null;
  eosTokenId: number | number[] | null;
  padTokenId: number | null;
}

/**
 * A *ForCausalLM: forward gives next-token logits (and the loss with labels), and generate() continues
 * prompts from generationConfig's defaults, as transformers' GenerationMixin.
 */
export abstract class PretrainedCausalLM<Config extends GenerationTokens> extends PretrainedModel<Config> {
  private generationDefaults?: GenerationConfig;

  abstract forward(inputs: Parameters<CausalLanguageModel['forward']>[0]): CausalLMOutput;

  /**
   * What generate() starts from (transformers' model.generation_config): the checkpoint's
   * generation_config.json where fromPretrained found one, else config.json's token ids. savePretrained
   * writes it.
   */
  get generationConfig(): GenerationConfig {
    // Not kept: derived each time, it follows later changes to the config's token ids.
    return this.generationDefaults ?? generationConfigFromModelConfig(this.config);
  }

  set generationConfig(config: GenerationConfig) {
    this.generationDefaults = config;
  }

  /** Continues `inputIds` ([batch, tokens], left-padded with an attentionMask): see generate(); `options` override generationConfig. */
  generate(inputIds: Tensor, options: GenerateOptions = {}): Tensor {
    return generate(this, inputIds, withGenerationDefaults(this.generationConfig, options));
  }
}

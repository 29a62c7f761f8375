/** What decoder language models share: their output, and the output projection tied to the input embeddings. */
import { Module } from '../nn/index.js';
import { functional as F, type Tensor } from '../tensor/index.js';
import type { KeyValueCache } from './kv-cache.js';

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

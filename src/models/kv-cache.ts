/**
 * The keys and values a decoder's attention layers computed for the tokens seen so far, so that
 * generation feeds only the new tokens at each step (transformers' DynamicCache).
 *
 *   const cache = new KeyValueCache();
 *   let { logits } = model.forward({ inputIds: prompt, pastKeyValues: cache, useCache: true });
 *   // …pick the next token, then feed only it:
 *   ({ logits } = model.forward({ inputIds: next, pastKeyValues: cache, useCache: true }));
 *   cache.dispose();
 *
 * Each layer's tensors are [batch, keyValueHeads, tokens, headDim]. The cache holds them outside every
 * tidy scope (a generation step's scope ends before the next step reads them) until the next update
 * or dispose().
 */
import { cat, keep, type Tensor } from '../tensor/index.js';

export class KeyValueCache {
  readonly #keys: (Tensor | undefined)[] = [];
  readonly #values: (Tensor | undefined)[] = [];

  /**
   * Appends layer `layer`'s keys and values for the new tokens ([batch, keyValueHeads, newTokens,
   * headDim]) and returns that layer's keys and values for every token so far.
   */
  update(layer: number, key: Tensor, value: Tensor): [Tensor, Tensor] {
    const pastKey = this.#keys[layer];
    const pastValue = this.#values[layer];
    const allKeys = keep(pastKey ? cat([pastKey, key], 2) : key.clone());
    const allValues = keep(pastValue ? cat([pastValue, value], 2) : value.clone());
    pastKey?.dispose();
    pastValue?.dispose();
    this.#keys[layer] = allKeys;
    this.#values[layer] = allValues;
    return [allKeys, allValues];
  }

  /** How many tokens are cached (layer 0's; 0 before the first update). */
  get length(): number {
    return this.#keys[0]?.shape[2] ?? 0;
  }

  /** Frees every cached tensor; the cache is empty afterwards. */
  dispose(): void {
    for (const tensor of [...this.#keys, ...this.#values]) tensor?.dispose();
    this.#keys.length = 0;
    this.#values.length = 0;
  }
}

/**
 * Padding-free execution: the real tokens of a padded [batch, length] batch, gathered so that a
 * transformer's per-token work (every Linear, LayerNorm, activation and dropout) runs on them alone;
 * only attention sees the padded layout. On sentence data most of a padded batch is padding (a third
 * of SST-2's tokens are real in random batches of 32), so this does a fraction of the work for the
 * same results: a real token's output does not depend on the padding, since attention masks it.
 *
 *   const packing = PackedTokens.fromMask(attentionMask);   // null when nothing is padded
 *   const hidden = packing.pack(embeddings);                 // [batch, length, hidden] → [tokens, hidden]
 *   const padded = packing.unpack(hidden);                   // and back, zeros where the padding was
 */
import { aten, zeros, type Device, type Tensor } from '../tensor/index.js';
import type { Module } from '../nn/index.js';

export class PackedTokens {
  /** [tokens] int64: each real token's position in the flattened [batch × length] batch, in order. */
  readonly indices: Tensor;

  private constructor(
    indices: Tensor,
    readonly batch: number,
    readonly length: number,
  ) {
    this.indices = indices;
  }

  /**
   * The real tokens of a [batch, length] attention mask (nonzero = real), or null when the batch has
   * no padding (packing would only copy) or a row's first token is padding (left padding: heads read
   * position 0, which padding-free execution leaves at zero).
   */
  static fromMask(attentionMask: Tensor): PackedTokens | null {
    if (attentionMask.ndim !== 2) return null;
    const real = attentionMask.ne(0);
    if (real.all().item<boolean>() || !real.select(1, 0).all().item<boolean>()) return null;
    const [batch, length] = attentionMask.shape;
    return new PackedTokens(aten.nonzero(real.reshape([-1])).reshape([-1]), batch, length);
  }

  /** How many tokens are real. */
  get count(): number {
    return this.indices.shape[0];
  }

  /** [batch, length, …] → [tokens, …]: the real tokens' rows, in order. */
  pack(x: Tensor): Tensor {
    return x.reshape([this.batch * this.length, ...x.shape.slice(2)]).indexSelect(0, this.indices);
  }

  /** [tokens, …] → [batch, length, …]: each row back at its position, zeros at the padding. */
  unpack(x: Tensor): Tensor {
    const rest = x.shape.slice(1);
    const padded = zeros([this.batch * this.length, ...rest], { dtype: x.dtype, device: x.device as Device });
    return aten.index_copy(padded, 0, this.indices, x).reshape([this.batch, this.length, ...rest]);
  }
}

/** A model part that can run padding-free (BertModel). */
interface PaddingFreeCapable {
  paddingFree: boolean;
}

function isPaddingFreeCapable(module: Module): module is Module & PaddingFreeCapable {
  return typeof (module as Partial<PaddingFreeCapable>).paddingFree === 'boolean';
}

/**
 * Turns padding-free execution on or off for every part of `model` that has it (a model, a PeftModel,
 * any Module) and returns how many it set; 0 means the model has none (images, no padding).
 */
export function setPaddingFree(model: Module, enabled: boolean): number {
  const capable = model.modules().filter(isPaddingFreeCapable);
  for (const module of capable) module.paddingFree = enabled;
  return capable.length;
}

/** Whether any part of `model` runs padding-free. */
export function isPaddingFree(model: Module): boolean {
  return model.modules().some((module) => isPaddingFreeCapable(module) && module.paddingFree);
}

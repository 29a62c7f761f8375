/** Activations and MultiheadAttention (torch/nn/modules/activation.py). */
import { aten, empty, functional as F, zeros, type Tensor } from '../../tensor/index.js';
import { constant_, xavierUniform_ } from '../init.js';
import { Module } from '../module.js';
import { parameter } from '../parameter.js';
import { Linear } from './linear.js';

/** max(x, 0); `inplace` rectifies the input itself, like PyTorch's ReLU(inplace=True), saving an activation. */
export class ReLU extends Module {
  constructor(readonly inplace = false) {
    super();
  }

  forward(input: Tensor): Tensor {
    return this.inplace ? aten.relu_(input) : F.relu(input);
  }

  override extraRepr(): string {
    return this.inplace ? 'inplace=true' : '';
  }
}

export class GELU extends Module {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') {
    super();
  }

  forward(input: Tensor): Tensor {
    return F.gelu(input, this.approximate);
  }

  override extraRepr(): string {
    return this.approximate === 'none' ? '' : `approximate='${this.approximate}'`;
  }
}

export class Tanh extends Module {
  forward(input: Tensor): Tensor {
    return input.tanh();
  }
}

export class SiLU extends Module {
  forward(input: Tensor): Tensor {
    return F.silu(input);
  }
}

export class Sigmoid extends Module {
  forward(input: Tensor): Tensor {
    return input.sigmoid();
  }
}

export interface MultiheadAttentionOptions {
  dropout?: number;
  bias?: boolean;
  /** Inputs are [batch, sequence, embed] (true) or [sequence, batch, embed] (false, PyTorch's default). */
  batchFirst?: boolean;
}

export interface AttentionCall {
  /** true marks positions to ignore, shape [batch, sourceLength] (PyTorch's key_padding_mask). */
  keyPaddingMask?: Tensor | null;
  /** Boolean (true = not allowed) or additive float mask, [targetLength, sourceLength]. */
  attnMask?: Tensor | null;
  isCausal?: boolean;
}

/**
 * Multi-head attention with PyTorch's parameter layout (in_proj_weight [3E, E],
 * in_proj_bias [3E], out_proj), as torchvision's ViT stores it. Runs on libtorch's fused
 * scaled-dot-product attention; returns the output only (need_weights=False).
 */
export class MultiheadAttention extends Module {
  in_proj_weight: Tensor;
  in_proj_bias: Tensor | null;
  out_proj: Linear;
  readonly dropout: number;
  readonly batchFirst: boolean;
  readonly headDim: number;

  constructor(
    readonly embedDim: number,
    readonly numHeads: number,
    options: MultiheadAttentionOptions = {},
  ) {
    super();
    if (embedDim % numHeads)
      throw new Error(`MultiheadAttention: embedDim (${embedDim}) must be divisible by numHeads (${numHeads})`);
    this.headDim = embedDim / numHeads;
    this.dropout = options.dropout ?? 0;
    this.batchFirst = options.batchFirst ?? false;
    const bias = options.bias ?? true;
    this.in_proj_weight = parameter(xavierUniform_(empty([3 * embedDim, embedDim])));
    this.in_proj_bias = bias ? parameter(zeros([3 * embedDim])) : null;
    this.out_proj = new Linear(embedDim, embedDim, { bias });
    if (this.out_proj.bias) constant_(this.out_proj.bias, 0);
  }

  forward(query: Tensor, key: Tensor, value: Tensor, options: AttentionCall = {}): Tensor {
    const [q, k, v] = this.project(query, key, value);
    const mask = this.combinedMask(options, q.shape[2], k.shape[2]);
    const attended = F.scaledDotProductAttention(q, k, v, {
      attnMask: mask,
      dropoutP: this.training ? this.dropout : 0,
      isCausal: options.isCausal && !mask,
    });
    // [batch, heads, target, headDim] → [batch, target, embed]
    const merged = attended.transpose(1, 2).reshape([attended.shape[0], attended.shape[2], this.embedDim]);
    const out = this.out_proj.forward(merged);
    return this.batchFirst ? out : out.transpose(0, 1);
  }

  /** Projects inputs to per-head queries, keys and values, [batch, heads, length, headDim]. */
  private project(query: Tensor, key: Tensor, value: Tensor): [Tensor, Tensor, Tensor] {
    const toBatchFirst = (t: Tensor) => (this.batchFirst ? t : t.transpose(0, 1));
    const split = (t: Tensor) => t.reshape([t.shape[0], t.shape[1], this.numHeads, this.headDim]).transpose(1, 2);
    if (query === key && key === value) {
      const [q, k, v] = F.linear(toBatchFirst(query), this.in_proj_weight, this.in_proj_bias).chunk(3, -1);
      return [split(q), split(k), split(v)];
    }
    const [wq, wk, wv] = this.in_proj_weight.chunk(3);
    const [bq, bk, bv] = this.in_proj_bias ? this.in_proj_bias.chunk(3) : [null, null, null];
    return [
      split(F.linear(toBatchFirst(query), wq, bq)),
      split(F.linear(toBatchFirst(key), wk, bk)),
      split(F.linear(toBatchFirst(value), wv, bv)),
    ];
  }

  /** Merges key padding and attention masks into one boolean "may attend" mask for SDPA. */
  private combinedMask(options: AttentionCall, targetLength: number, sourceLength: number): Tensor | null {
    let allowed: Tensor | null = null;
    if (options.attnMask) {
      const m = options.attnMask;
      allowed = m.dtype === 'bool' ? m.logicalNot() : m; // float masks are additive and pass through
      if (allowed.shape.length !== 2 || allowed.shape[0] !== targetLength || allowed.shape[1] !== sourceLength) {
        throw new Error(`attnMask must be [${targetLength}, ${sourceLength}], got [${allowed.shape}]`);
      }
    }
    if (options.keyPaddingMask) {
      const keep = options.keyPaddingMask.logicalNot().unsqueeze(1).unsqueeze(1); // [batch, 1, 1, source]
      if (!allowed) return keep;
      if (allowed.dtype === 'bool') return allowed.logicalAnd(keep);
      return allowed.maskedFill(keep.logicalNot(), -Infinity);
    }
    return allowed;
  }

  override extraRepr(): string {
    return `embedDim=${this.embedDim}, numHeads=${this.numHeads}${this.batchFirst ? ', batchFirst=true' : ''}`;
  }
}

/** Embedding (torch/nn/modules/sparse.py). */
import { empty, functional as F, type Tensor } from '../../tensor/index.js';
import { normal_, zeroRow_ } from '../init.js';
import { Module } from '../module.js';
import { parameter } from '../parameter.js';

/** A lookup table of `numEmbeddings` vectors of size `embeddingDim`; N(0, 1) init, padding row zeroed. */
export class Embedding extends Module {
  weight: Tensor;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    readonly paddingIdx: number | null = null,
  ) {
    super();
    if (paddingIdx !== null && (paddingIdx < -numEmbeddings || paddingIdx >= numEmbeddings)) {
      throw new RangeError(`Embedding: paddingIdx ${paddingIdx} out of range for ${numEmbeddings} embeddings`);
    }
    if (paddingIdx !== null && paddingIdx < 0) this.paddingIdx = numEmbeddings + paddingIdx;
    this.weight = parameter(empty([numEmbeddings, embeddingDim]));
    this.resetParameters();
  }

  resetParameters(): void {
    normal_(this.weight);
    if (this.paddingIdx !== null) zeroRow_(this.weight, this.paddingIdx);
  }

  forward(input: Tensor): Tensor {
    return F.embedding(input, this.weight, this.paddingIdx ?? undefined);
  }

  override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}${this.paddingIdx !== null ? `, paddingIdx=${this.paddingIdx}` : ''}`;
  }
}

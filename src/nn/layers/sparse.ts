/** Embedding (torch/nn/modules/sparse.py). */
import { empty, functional as F, noGrad, tidy, type Tensor } from '../../tensor/index.js';
import { normal_ } from '../init.js';
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
    const paddingIdx = this.paddingIdx;
    if (paddingIdx !== null) {
      tidy(() => {
        noGrad(() => this.weight.select(0, paddingIdx).zero_());
      });
    }
  }

  forward(input: Tensor): Tensor {
    return F.embedding(input, this.weight, this.paddingIdx ?? undefined);
  }

  override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}${this.paddingIdx !== null ? `, paddingIdx=${this.paddingIdx}` : ''}`;
  }
}

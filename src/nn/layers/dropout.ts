/** Dropout (torch/nn/modules/dropout.py). */
import { functional as F, type Tensor } from '../../tensor/index.js';
import { Module } from '../module.js';

/** Zeroes elements with probability p while training, scaling the rest by 1/(1−p); identity in eval. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (p < 0 || p > 1) throw new RangeError(`Dropout probability must be in [0, 1], got ${p}`);
  }

  forward(input: Tensor): Tensor {
    return this.training && this.p > 0 ? F.dropout(input, this.p, true) : input;
  }

  override extraRepr(): string {
    return `p=${this.p}`;
  }
}

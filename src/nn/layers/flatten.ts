/** Flatten (torch/nn/modules/flatten.py). */
import type { Tensor } from '../../tensor/index.js';
import { Module } from '../module.js';

/** Flattens dimensions startDim … endDim (by default all but the batch dimension). */
export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }

  forward(input: Tensor): Tensor {
    return input.flatten(this.startDim, this.endDim);
  }
}

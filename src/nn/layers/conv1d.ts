/**
 * Conv1D as transformers' pytorch_utils.Conv1D (GPT-2's projections): despite the name a linear map,
 * y = x·W + b, with W stored [inFeatures, outFeatures] — the transpose of Linear's — so GPT-2
 * checkpoints load as they are. PEFT wraps it with fan_in_fan_out.
 */
import { aten, empty, type Tensor } from '../../tensor/index.js';
import { normal_, zeros_ } from '../init.js';
import { Module } from '../module.js';
import { parameter } from '../parameter.js';

export class Conv1D extends Module {
  /** [inFeatures, outFeatures]. */
  weight: Tensor;
  bias: Tensor;

  /** transformers' argument order: Conv1D(nf = outFeatures, nx = inFeatures). */
  constructor(
    readonly outFeatures: number,
    readonly inFeatures: number,
  ) {
    super();
    this.weight = parameter(empty([inFeatures, outFeatures]));
    this.bias = parameter(empty([outFeatures]));
    this.resetParameters();
  }

  /** transformers' init: W ~ N(0, 0.02²), b = 0. */
  resetParameters(): void {
    normal_(this.weight, 0, 0.02);
    zeros_(this.bias);
  }

  /** [..., inFeatures] → [..., outFeatures], as transformers: addmm over the flattened leading dims. */
  forward(input: Tensor): Tensor {
    const leading = input.shape.slice(0, -1);
    const flat = aten.addmm(this.bias, input.reshape([-1, this.inFeatures]), this.weight);
    return flat.view([...leading, this.outFeatures]);
  }

  override extraRepr(): string {
    return `nf=${this.outFeatures}, nx=${this.inFeatures}`;
  }
}

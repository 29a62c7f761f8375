/** Linear maps: Linear and Identity (torch/nn/modules/linear.py). */
import { empty, functional as F, type Tensor } from '../../tensor/index.js';
import { defaultLayerInit_ } from '../init.js';
import { Module } from '../module.js';
import { parameter } from '../parameter.js';

/** y = x·Wᵀ + b, with W [outFeatures, inFeatures]. */
export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: { bias?: boolean } = {},
  ) {
    super();
    this.weight = parameter(empty([outFeatures, inFeatures]));
    this.bias = options.bias === false ? null : parameter(empty([outFeatures]));
    this.resetParameters();
  }

  /** PyTorch's default: kaiming_uniform(a=√5) for W, U(±1/√fan_in) for b. */
  resetParameters(): void {
    defaultLayerInit_(this.weight, this.bias);
  }

  forward(input: Tensor): Tensor {
    return F.linear(input, this.weight, this.bias);
  }

  override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}

/** Returns its input unchanged; a placeholder where a layer is removed. */
export class Identity extends Module {
  forward(input: Tensor): Tensor {
    return input;
  }
}

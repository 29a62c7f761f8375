/** Pooling (torch/nn/modules/pooling.py). */
import { functional as F, type Tensor } from '../../tensor/index.js';
import { Module } from '../module.js';

type Pair = number | [number, number];

/** 2-d max pooling; stride defaults to the kernel size. */
export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly stride: Pair | null = null,
    readonly padding: Pair = 0,
    readonly dilation: Pair = 1,
    readonly ceilMode = false,
  ) {
    super();
  }

  forward(input: Tensor): Tensor {
    return F.maxPool2d(
      input,
      this.kernelSize,
      this.stride ?? this.kernelSize,
      this.padding,
      this.dilation,
      this.ceilMode,
    );
  }

  override extraRepr(): string {
    return `kernelSize=${this.kernelSize}, stride=${this.stride ?? this.kernelSize}, padding=${this.padding}`;
  }
}

/** Average pooling to a fixed output size, whatever the input size. */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: Pair) {
    super();
  }

  forward(input: Tensor): Tensor {
    return F.adaptiveAvgPool2d(input, this.outputSize);
  }

  override extraRepr(): string {
    return `outputSize=${this.outputSize}`;
  }
}

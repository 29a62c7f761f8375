/** Convolution (torch/nn/modules/conv.py). */
import { empty, functional as F, type Tensor } from '../../tensor/index.js';
import { defaultLayerInit_ } from '../init.js';
import { Module } from '../module.js';
import { parameter } from '../parameter.js';

type Pair = number | [number, number];

function pair(value: Pair): [number, number] {
  return typeof value === 'number' ? [value, value] : value;
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair | 'same' | 'valid';
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

/** 2-d convolution; weight [outChannels, inChannels/groups, kh, kw]. */
export class Conv2d extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number] | 'same' | 'valid';
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    options: Conv2dOptions = {},
  ) {
    super();
    this.kernelSize = pair(kernelSize);
    this.stride = pair(options.stride ?? 1);
    this.padding = typeof options.padding === 'string' ? options.padding : pair(options.padding ?? 0);
    this.dilation = pair(options.dilation ?? 1);
    this.groups = options.groups ?? 1;
    if (inChannels % this.groups || outChannels % this.groups) {
      throw new Error(
        `Conv2d: inChannels (${inChannels}) and outChannels (${outChannels}) must be divisible by groups (${this.groups})`,
      );
    }
    this.weight = parameter(empty([outChannels, inChannels / this.groups, ...this.kernelSize]));
    this.bias = options.bias === false ? null : parameter(empty([outChannels]));
    this.resetParameters();
  }

  resetParameters(): void {
    defaultLayerInit_(this.weight, this.bias);
  }

  forward(input: Tensor): Tensor {
    return F.conv2d(input, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }

  override extraRepr(): string {
    return (
      `${this.inChannels}, ${this.outChannels}, kernelSize=[${this.kernelSize}], stride=[${this.stride}]` +
      (this.padding !== 'valid' && String(this.padding) !== '0,0' ? `, padding=${JSON.stringify(this.padding)}` : '') +
      (this.groups !== 1 ? `, groups=${this.groups}` : '') +
      (this.bias ? '' : ', bias=false')
    );
  }
}

/**
 * Neural-network functions on tensors, with torch.nn.functional's names and defaults.
 * The nn layer's modules call these.
 */
import { aten } from './aten.js';
import type { Tensor } from './tensor.js';

export type Reduction = 'none' | 'mean' | 'sum';

const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };

function reductionCode(reduction: Reduction | undefined): number {
  const code = REDUCTION[reduction ?? 'mean'];
  if (code === undefined) throw new Error(`reduction must be 'none', 'mean' or 'sum', got '${reduction}'`);
  return code;
}

type Pair = number | [number, number];

/** y = x·Wᵀ + b. */
export function linear(input: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return aten.linear(input, weight, bias ?? null);
}

export interface Conv2dOptions {
  stride?: Pair;
  /** Zero padding per side, or 'same' / 'valid'. */
  padding?: Pair | 'same' | 'valid';
  dilation?: Pair;
  groups?: number;
}

/** 2-d convolution over N×C×H×W input. */
export function conv2d(input: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv2dOptions = {}): Tensor {
  const { stride = 1, padding = 0, dilation = 1, groups = 1 } = options;
  return typeof padding === 'string'
    ? aten.conv2d_padding(input, weight, bias ?? null, stride, padding, dilation, groups)
    : aten.conv2d(input, weight, bias ?? null, stride, padding, dilation, groups);
}

/** Normalises over the trailing `normalizedShape` dimensions. */
export function layerNorm(
  input: Tensor,
  normalizedShape: number[],
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  return aten.layer_norm(input, normalizedShape, weight ?? null, bias ?? null, eps);
}

export interface BatchNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** Use batch statistics and update the running ones (training), or use the running ones (eval). */
  training?: boolean;
  momentum?: number;
  eps?: number;
}

/** Batch normalisation over dimension 1, updating runningMean/runningVar in place when training. */
export function batchNorm(
  input: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  options: BatchNormOptions = {},
): Tensor {
  const { weight = null, bias = null, training = false, momentum = 0.1, eps = 1e-5 } = options;
  return aten.batch_norm(input, weight, bias, runningMean, runningVar, training, momentum, eps, true);
}

/** Group normalisation over N×C×… input. */
export function groupNorm(
  input: Tensor,
  numGroups: number,
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  return aten.group_norm(input, numGroups, weight ?? null, bias ?? null, eps);
}

/** Looks up rows of `weight` by integer ids; rows at `paddingIdx` get no gradient. */
export function embedding(input: Tensor, weight: Tensor, paddingIdx?: number): Tensor {
  return aten.embedding(weight, input, paddingIdx ?? -1);
}

/** Zeroes elements with probability p and scales the rest by 1/(1−p) while training. */
export function dropout(input: Tensor, p = 0.5, training = true): Tensor {
  if (p < 0 || p > 1) throw new RangeError(`dropout probability must be in [0, 1], got ${p}`);
  return aten.dropout(input, p, training);
}

/** Gaussian error linear unit; approximate 'tanh' gives the tanh approximation. */
export function gelu(input: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  return aten.gelu(input, { approximate });
}

/** max(x, 0). */
export function relu(input: Tensor): Tensor {
  return aten.relu(input);
}
/** x·σ(x). */
export function silu(input: Tensor): Tensor {
  return aten.silu(input);
}

/** Softmax along `dim`. */
export function softmax(input: Tensor, dim: number): Tensor {
  return aten.softmax_int(input, dim);
}

/** log(softmax(x)) along `dim`, computed stably. */
export function logSoftmax(input: Tensor, dim: number): Tensor {
  return aten.log_softmax_int(input, dim);
}

export interface CrossEntropyOptions {
  weight?: Tensor | null;
  reduction?: Reduction;
  ignoreIndex?: number;
  labelSmoothing?: number;
}

/** Cross entropy of logits against class indices (int64) or class probabilities. */
export function crossEntropy(input: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  return aten.cross_entropy_loss(
    input,
    target,
    options.weight ?? null,
    reductionCode(options.reduction),
    options.ignoreIndex ?? -100,
    options.labelSmoothing ?? 0,
  );
}

/** Negative log-likelihood of log-probabilities against class indices. */
export function nllLoss(
  input: Tensor,
  target: Tensor,
  options: Omit<CrossEntropyOptions, 'labelSmoothing'> = {},
): Tensor {
  return aten.nll_loss(
    input,
    target,
    options.weight ?? null,
    reductionCode(options.reduction),
    options.ignoreIndex ?? -100,
  );
}

/** Mean squared error. */
export function mseLoss(input: Tensor, target: Tensor, reduction?: Reduction): Tensor {
  return aten.mse_loss(input, target, reductionCode(reduction));
}

/** Mean absolute error. */
export function l1Loss(input: Tensor, target: Tensor, reduction?: Reduction): Tensor {
  return aten.l1_loss(input, target, reductionCode(reduction));
}

/** Binary cross entropy on logits, stable for large |x|. */
export function binaryCrossEntropyWithLogits(
  input: Tensor,
  target: Tensor,
  options: { weight?: Tensor | null; posWeight?: Tensor | null; reduction?: Reduction } = {},
): Tensor {
  return aten.binary_cross_entropy_with_logits(
    input,
    target,
    options.weight ?? null,
    options.posWeight ?? null,
    reductionCode(options.reduction),
  );
}

export interface AttentionOptions {
  /** Boolean mask (true = attend) or additive float mask, broadcastable to N×heads×L×S. */
  attnMask?: Tensor | null;
  dropoutP?: number;
  isCausal?: boolean;
  /** Defaults to 1/√(head dim). */
  scale?: number | null;
}

/** softmax(Q·Kᵀ·scale + mask)·V, with libtorch's fused kernels. */
export function scaledDotProductAttention(
  query: Tensor,
  key: Tensor,
  value: Tensor,
  options: AttentionOptions = {},
): Tensor {
  return aten.scaled_dot_product_attention(
    query,
    key,
    value,
    options.attnMask ?? null,
    options.dropoutP ?? 0,
    options.isCausal ?? false,
    {
      scale: options.scale ?? null,
    },
  );
}

/** 2-d max pooling; stride defaults to the kernel size. */
export function maxPool2d(
  input: Tensor,
  kernelSize: Pair,
  stride?: Pair,
  padding: Pair = 0,
  dilation: Pair = 1,
  ceilMode = false,
): Tensor {
  return aten.max_pool2d(input, kernelSize, stride ?? kernelSize, padding, dilation, ceilMode);
}

/** 2-d average pooling; stride defaults to the kernel size. */
export function avgPool2d(input: Tensor, kernelSize: Pair, stride?: Pair, padding: Pair = 0): Tensor {
  return aten.avg_pool2d(input, kernelSize, stride ?? kernelSize, padding);
}

/** Average pooling to a fixed output size. */
export function adaptiveAvgPool2d(input: Tensor, outputSize: Pair): Tensor {
  return aten.adaptive_avg_pool2d(input, outputSize);
}

/** Pads the last dimensions: [left, right, top, bottom, …] as in torch.nn.functional.pad. */
export function pad(
  input: Tensor,
  padding: number[],
  mode: 'constant' | 'reflect' | 'replicate' | 'circular' = 'constant',
  value = 0,
): Tensor {
  return aten.pad(input, padding, mode, mode === 'constant' ? value : null);
}

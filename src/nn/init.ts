/**
 * Parameter initialisation, with torch.nn.init's names and formulas. Each fills a tensor
 * in place without recording gradients and returns it — or, inside deferInitialization(), records
 * the fill for later, so that loading a checkpoint draws only the weights the checkpoint lacks.
 */
import { aten, noGrad, tidy, type Tensor } from '../tensor/index.js';

/** While deferInitialization's build runs: every fill asked for, in order, with its tensor. */
let deferred: { tensor: Tensor; fill: () => void }[] | null = null;

/**
 * Fills `t` in place with `fill(t)` without recording gradients — or records the fill while
 * deferInitialization runs. Every initialisation of a layer or model goes through here, so that a
 * deferred tensor gets exactly the fills, in the same order, that building it eagerly would give.
 */
export function initWith_(t: Tensor, fill: (t: Tensor) => void): Tensor {
  if (deferred) deferred.push({ tensor: t, fill: () => fill(t) });
  else noGrad(() => fill(t));
  return t;
}

/**
 * Builds a module with its initialisation deferred (as transformers builds a model before loading a
 * checkpoint into it, on the meta device): `build()`'s parameters are allocated but not drawn, and
 * `initialize(tensors)` then runs the recorded fills of those tensors alone, in the order the build
 * asked for them — the weights the checkpoint did not provide. Initialising every parameter gives
 * the eager build's values under the same seed. Tensors given values some other way than through
 * this module's functions (ones() / zeros() at creation) keep those values.
 *
 *   const { result: model, initialize } = deferInitialization(() => new GPT2LMHeadModel(config));
 *   initialize(missingTensors); // then load the rest
 */
export function deferInitialization<T>(build: () => T): { result: T; initialize(tensors: Iterable<Tensor>): void } {
  if (deferred) throw new Error('deferInitialization: already deferring (builds do not nest)');
  const fills: { tensor: Tensor; fill: () => void }[] = [];
  deferred = fills;
  let result: T;
  try {
    result = build();
  } finally {
    deferred = null;
  }
  return {
    result,
    initialize(tensors: Iterable<Tensor>): void {
      const chosen = new Set(tensors);
      if (chosen.size) noGrad(() => fills.forEach(({ tensor, fill }) => chosen.has(tensor) && fill()));
      fills.length = 0;
    },
  };
}

/** fan_in and fan_out of a weight: [out, in, ...kernel] → in·k, out·k. */
export function fans(weight: Tensor): { fanIn: number; fanOut: number } {
  const shape = weight.shape;
  if (shape.length < 2) throw new Error(`fan in/out need a weight with at least 2 dimensions, got shape [${shape}]`);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

/** U(low, high). */
export function uniform_(t: Tensor, low = 0, high = 1): Tensor {
  return initWith_(t, (x) => x.uniform_(low, high));
}

/** N(mean, std²). */
export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  return initWith_(t, (x) => x.normal_(mean, std));
}

/** N(mean, std²) redrawn outside [a, b] (torch.nn.init.trunc_normal_). */
export function truncNormal_(t: Tensor, mean = 0, std = 1, a = -2, b = 2): Tensor {
  return initWith_(t, (x) => {
    // Inverse-CDF sampling, the same method as PyTorch
    const cdf = (v: number) => (1 + erf(v / Math.SQRT2)) / 2;
    const low = cdf((a - mean) / std);
    const high = cdf((b - mean) / std);
    x.uniform_(2 * low - 1, 2 * high - 1);
    aten.erfinv_(x);
    x.mul_(std * Math.SQRT2)
      .add_(mean)
      .clamp_(a, b);
  });
}

/** Fills with a constant. */
export function constant_(t: Tensor, value: number): Tensor {
  return initWith_(t, (x) => x.fill_(value));
}

/** Zeroes row `index` of an embedding matrix (its padding token's), as Embedding's padding_idx. */
export function zeroRow_(t: Tensor, index: number): Tensor {
  return initWith_(t, (x) => tidy(() => void x.select(0, index).zero_()));
}

export function zeros_(t: Tensor): Tensor {
  return constant_(t, 0);
}

export function ones_(t: Tensor): Tensor {
  return constant_(t, 1);
}

/** He uniform init: U(±gain·√(3/fan)), gain = √(2/(1+a²)) for leaky ReLU slope a. */
export function kaimingUniform_(t: Tensor, a = 0, mode: 'fanIn' | 'fanOut' = 'fanIn'): Tensor {
  const fan = fans(t)[mode];
  const bound = Math.sqrt(2 / (1 + a * a)) * Math.sqrt(3 / fan);
  return uniform_(t, -bound, bound);
}

/** He normal init: N(0, gain²/fan). */
export function kaimingNormal_(t: Tensor, a = 0, mode: 'fanIn' | 'fanOut' = 'fanIn'): Tensor {
  const fan = fans(t)[mode];
  return normal_(t, 0, Math.sqrt(2 / (1 + a * a)) / Math.sqrt(fan));
}

/** PyTorch's default for Linear and Conv layers: kaiming_uniform(a=√5) weights, U(±1/√fan_in) biases. */
export function defaultLayerInit_(weight: Tensor, bias: Tensor | null): void {
  kaimingUniform_(weight, Math.sqrt(5));
  if (bias) {
    const bound = 1 / Math.sqrt(fans(weight).fanIn);
    uniform_(bias, -bound, bound);
  }
}

/** Glorot uniform init: U(±gain·√(6/(fan_in + fan_out))). */
export function xavierUniform_(t: Tensor, gain = 1): Tensor {
  const { fanIn, fanOut } = fans(t);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -bound, bound);
}

/** Glorot normal init. */
export function xavierNormal_(t: Tensor, gain = 1): Tensor {
  const { fanIn, fanOut } = fans(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)));
}

// Abramowitz–Stegun 7.1.26, accurate to 1.5e-7: enough for truncation bounds.
function erf(x: number): number {
  const sign = Math.sign(x);
  const z = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * z);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return sign * y;
}

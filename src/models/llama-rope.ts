/**
 * Rotary position embeddings of the Llama family with transformers' rope types (modeling_rope_utils.py,
 * ROPE_INIT_FUNCTIONS): 'default', 'linear' (positions divided by factor), 'dynamic' (NTK: the base
 * grows with the sequence length at run time), 'llama3' (Llama 3.1/3.2: low frequencies divided by
 * factor, a smooth ramp to the high ones) and 'yarn' (Qwen2.5 long context: the same ramp between
 * correction dimensions, and cos/sin scaled by an attention factor). Other types ('longrope',
 * 'proportional') are refused when config.json is read, naming the key.
 *
 * config.json holds the settings in transformers 5's `rope_parameters` or in the older `rope_scaling`
 * (with `type` or `rope_type`) beside `rope_theta`; both read into LlamaConfig.ropeScaling.
 */
import { arange, aten, cat, tensor, tidy, type Device, type Tensor } from '../tensor/index.js';
import { Module } from '../nn/index.js';
import type { ConfigJsonReader } from './pretrained-config.js';
import type { HfConfig } from './registry.js';
import type { LlamaConfig } from './llama-config.js';

/** The rope types implemented besides 'default'. */
export const LLAMA_ROPE_TYPES = ['linear', 'dynamic', 'llama3', 'yarn'] as const;

/** A rope type's settings (rope_parameters without rope_theta), camelCase; null in LlamaConfig for 'default'. */
export type LlamaRopeScaling =
  | { ropeType: 'linear'; factor: number }
  | { ropeType: 'dynamic'; factor: number }
  | {
      ropeType: 'llama3';
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    }
  | {
      ropeType: 'yarn';
      factor: number;
      originalMaxPositionEmbeddings: number;
      /** null: from factor (and mscale, mscaleAllDim when both are set), as transformers infers it. */
      attentionFactor: number | null;
      /** null: 32 and 1, transformers' defaults (kept null so that config.json is written as read). */
      betaFast: number | null;
      betaSlow: number | null;
      mscale: number | null;
      mscaleAllDim: number | null;
      /** null: true. */
      truncate: boolean | null;
    };

/** Each type's numeric keys in config.json beside rope_type and rope_theta: required, then optional. */
const KEYS: Readonly<Record<(typeof LLAMA_ROPE_TYPES)[number], { required: string[]; optional: string[] }>> = {
  linear: { required: ['factor'], optional: [] },
  dynamic: { required: ['factor'], optional: [] },
  llama3: {
    required: ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'],
    optional: [],
  },
  yarn: {
    required: ['factor', 'original_max_position_embeddings'],
    optional: ['attention_factor', 'beta_fast', 'beta_slow', 'mscale', 'mscale_all_dim'],
  },
};

const camel = (key: string) => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * rope_theta and the rope type's settings of a config.json, as transformers' convert_rope_params_to_dict
 * reads them: `rope_scaling` when set, else `rope_parameters`; rope_theta from there, else the top-level
 * key. A type not implemented, a missing or bad setting and a partial_rotary_factor other than 1
 * throw, naming the key.
 */
export function ropeFromHf(
  reader: ConfigJsonReader,
  maxPositionEmbeddings: number,
): { ropeTheta?: number; ropeScaling: LlamaRopeScaling | null } {
  const json = reader.json;
  const key = ['rope_scaling', 'rope_parameters'].find((k) => json[k] !== undefined && json[k] !== null);
  if (key === undefined) return { ropeScaling: null };
  const value = json[key];
  if (typeof value !== 'object' || Array.isArray(value)) throw reader.error(key, 'must be an object');
  const settings = value as Record<string, unknown>;
  const number = (name: string, check: (x: number) => boolean, words: string): number | undefined => {
    const x = settings[name];
    if (x === undefined || x === null) return undefined;
    if (typeof x !== 'number' || !check(x)) throw reader.error(`${key}.${name}`, `must be ${words}`);
    return x;
  };
  const ropeTheta = number('rope_theta', (x) => x > 0, 'a positive number');
  const type = settings.rope_type ?? settings.type ?? 'default';
  if (type === 'default') return { ropeTheta, ropeScaling: null };
  if (!(LLAMA_ROPE_TYPES as readonly unknown[]).includes(type))
    throw reader.error(
      key,
      `has rope type ${JSON.stringify(type)}, which is not supported (supported: 'default', ${LLAMA_ROPE_TYPES.map((t) => `'${t}'`).join(', ')})`,
    );
  const ropeType = type as (typeof LLAMA_ROPE_TYPES)[number];
  const partial = number('partial_rotary_factor', (x) => x > 0 && x <= 1, 'in (0, 1]');
  if (partial !== undefined && partial !== 1)
    throw reader.error(`${key}.partial_rotary_factor`, 'is not supported (rotary embeddings over the whole head only)');
  const given: Record<string, number | undefined> = {};
  const { required, optional } = KEYS[ropeType];
  for (const name of [...required, ...optional]) {
    const integer = name === 'original_max_position_embeddings';
    given[name] = number(
      name,
      (v) => (integer ? Number.isInteger(v) && v > 0 : Number.isFinite(v) && (name !== 'factor' || v >= 1)),
      integer ? 'a positive integer' : name === 'factor' ? 'a number ≥ 1' : 'a number',
    );
  }
  // transformers' standardize_rope_params: a top-level original_max_position_embeddings wins, else max_position_embeddings fills in.
  if ('original_max_position_embeddings' in given) {
    const topLevel = json.original_max_position_embeddings;
    if (Number.isInteger(topLevel) && (topLevel as number) > 0)
      given.original_max_position_embeddings = topLevel as number;
    given.original_max_position_embeddings ??= maxPositionEmbeddings;
  }
  // YaRN without a factor: the ratio of the context lengths, as transformers infers it.
  if (ropeType === 'yarn' && given.factor === undefined)
    given.factor = maxPositionEmbeddings / given.original_max_position_embeddings!;
  for (const name of required)
    if (given[name] === undefined) throw reader.error(`${key}.${name}`, `is required by rope type '${ropeType}'`);
  const scaling: Record<string, unknown> = { ropeType };
  for (const name of [...required, ...optional]) scaling[camel(name)] = given[name] ?? null;
  if (ropeType === 'yarn') {
    const truncate = settings.truncate;
    if (truncate !== undefined && truncate !== null && typeof truncate !== 'boolean')
      throw reader.error(`${key}.truncate`, 'must be a boolean');
    scaling.truncate = truncate ?? null;
  }
  return { ropeTheta, ropeScaling: scaling as LlamaRopeScaling };
}

/** config.json's rope_parameters, as transformers 5.17 writes them (the optional YaRN settings only when set). */
export function ropeToHf(ropeTheta: number, scaling: LlamaRopeScaling | null): HfConfig {
  const settings = Object.entries(scaling ?? {}).filter(([name, value]) => name !== 'ropeType' && value !== null);
  return {
    rope_theta: ropeTheta,
    rope_type: scaling?.ropeType ?? 'default',
    ...Object.fromEntries(settings.map(([name, value]) => [snake(name), value as unknown])),
  };
}

/** What is wrong with a LlamaConfig's ropeScaling, or undefined. */
export function ropeScalingProblem(scaling: LlamaRopeScaling | null): string | undefined {
  if (scaling === null) return undefined;
  if (!(LLAMA_ROPE_TYPES as readonly string[]).includes(scaling.ropeType))
    return `ropeScaling.ropeType must be one of ${LLAMA_ROPE_TYPES.join(', ')}, got ${JSON.stringify(scaling.ropeType)}`;
  if (!(scaling.factor >= 1)) return `ropeScaling.factor must be ≥ 1, got ${scaling.factor}`;
  if (scaling.ropeType === 'llama3' && !(scaling.highFreqFactor > scaling.lowFreqFactor))
    return `ropeScaling.highFreqFactor (${scaling.highFreqFactor}) must be above lowFreqFactor (${scaling.lowFreqFactor})`;
  return undefined;
}

// ---- inverse frequencies ----------------------------------------------------------

/** [headDim / 2] float32 1 / θ^(2i / headDim), computed as transformers does (float32 exponents). */
function defaultInverseFrequencies(theta: number, dim: number, device?: Device): Tensor {
  return tidy(() =>
    aten.pow_Scalar(theta, arange(0, dim, 2, { dtype: 'int64', device }).to('float32').div(dim)).reciprocal(),
  );
}

/**
 * The inverse frequencies and the cos/sin scale of a config (transformers' rope init function of its
 * type); `seqLen` is the dynamic type's sequence length (its base grows past maxPositionEmbeddings).
 */
export function ropeInverseFrequencies(
  config: LlamaConfig,
  device?: Device,
  seqLen?: number,
): { inverseFrequencies: Tensor; attentionScaling: number } {
  const dim = config.headDim;
  const scaling = config.ropeScaling;
  const base = config.ropeTheta;
  if (scaling?.ropeType === 'dynamic') {
    const maxPositions = config.maxPositionEmbeddings;
    const length = Math.max(seqLen ?? maxPositions, maxPositions);
    const grown = base * ((scaling.factor * length) / maxPositions - (scaling.factor - 1)) ** (dim / (dim - 2));
    return { inverseFrequencies: defaultInverseFrequencies(grown, dim, device), attentionScaling: 1 };
  }
  const plain = defaultInverseFrequencies(base, dim, device);
  if (scaling === null) return { inverseFrequencies: plain, attentionScaling: 1 };
  if (scaling.ropeType === 'linear')
    return { inverseFrequencies: tidy(() => plain.div(scaling.factor)), attentionScaling: 1 };
  const frequencies = Array.from(plain.toArray() as number[]);
  plain.dispose();
  const scaled =
    scaling.ropeType === 'llama3' ? llama3Frequencies(frequencies, scaling) : yarnFrequencies(base, dim, scaling);
  return {
    inverseFrequencies: tensor(scaled.frequencies, { dtype: 'float32' }).to({ device }),
    attentionScaling: scaled.attentionScaling,
  };
}

type Scaling<T extends LlamaRopeScaling['ropeType']> = Extract<LlamaRopeScaling, { ropeType: T }>;

/** _compute_llama3_parameters: wavelengths above original/lowFreqFactor divided by factor, a ramp to those below original/highFreqFactor. */
function llama3Frequencies(
  frequencies: number[],
  s: Scaling<'llama3'>,
): { frequencies: number[]; attentionScaling: number } {
  const original = s.originalMaxPositionEmbeddings;
  const lowFreqWavelength = original / s.lowFreqFactor;
  const highFreqWavelength = original / s.highFreqFactor;
  const scaled = frequencies.map((frequency) => {
    const wavelength = (2 * Math.PI) / frequency;
    if (wavelength < highFreqWavelength) return frequency;
    if (wavelength > lowFreqWavelength) return frequency / s.factor;
    const smooth = (original / wavelength - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return ((1 - smooth) * frequency) / s.factor + smooth * frequency;
  });
  return { frequencies: scaled, attentionScaling: 1 };
}

/** _compute_yarn_parameters: interpolated frequencies below the correction range, extrapolated above, a linear ramp between. */
function yarnFrequencies(
  base: number,
  dim: number,
  s: Scaling<'yarn'>,
): { frequencies: number[]; attentionScaling: number } {
  const mscale = (scale: number, m = 1) => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);
  const attentionScaling =
    s.attentionFactor ??
    (s.mscale && s.mscaleAllDim ? mscale(s.factor, s.mscale) / mscale(s.factor, s.mscaleAllDim) : mscale(s.factor));
  const correctionDim = (rotations: number) =>
    (dim * Math.log(s.originalMaxPositionEmbeddings / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
  const truncate = s.truncate ?? true;
  let low = correctionDim(s.betaFast || 32);
  let high = correctionDim(s.betaSlow || 1);
  if (truncate) [low, high] = [Math.floor(low), Math.ceil(high)];
  [low, high] = [Math.max(low, 0), Math.min(high, dim - 1)];
  if (low === high) high += 0.001; // as transformers: no division by zero
  const frequencies = Array.from({ length: dim / 2 }, (_, i) => {
    const extrapolated = 1 / Math.fround(base ** Math.fround((2 * i) / dim));
    const interpolated = extrapolated / s.factor;
    const extrapolation = 1 - Math.min(Math.max((i - low) / (high - low), 0), 1);
    return interpolated * (1 - extrapolation) + extrapolated * extrapolation;
  });
  return { frequencies, attentionScaling };
}

// ---- the module ----------------------------------------------------------------------

/**
 * Rotary position embeddings: cos and sin of position × inverse frequency for each pair of head
 * dimensions, in float32 (times the YaRN attention factor), then in the activations' dtype. The
 * dynamic type recomputes its frequencies as transformers' dynamic_rope_update does: when a call's
 * largest position reaches past the longest seen so far, and back to the original ones when a call is
 * shorter than maxPositionEmbeddings again (so results depend on the calls before, as there).
 */
export class LlamaRotaryEmbedding extends Module {
  /** [headDim / 2] float32 inverse frequencies; not saved (non-persistent, as in transformers). */
  declare inv_freq: Tensor;
  readonly attentionScaling: number;
  /** The dynamic type: the sequence length the current frequencies are for. */
  private longestSeen: number;

  constructor(readonly config: LlamaConfig) {
    super();
    const { inverseFrequencies, attentionScaling } = ropeInverseFrequencies(config);
    this.registerBuffer('inv_freq', inverseFrequencies, false);
    this.attentionScaling = attentionScaling;
    this.longestSeen = config.maxPositionEmbeddings;
  }

  /** positionIds [batch, tokens] → cos, sin [batch, tokens, headDim] in `dtype`. */
  forward(positionIds: Tensor, dtype: Tensor['dtype']): [Tensor, Tensor] {
    if (this.config.ropeScaling?.ropeType === 'dynamic') this.updateDynamic(positionIds);
    const freqs = positionIds.to('float32').unsqueeze(-1).mul(this.inv_freq);
    const angles = cat([freqs, freqs], -1);
    const [cos, sin] = [angles.cos(), angles.sin()];
    if (this.attentionScaling === 1) return [cos.to(dtype), sin.to(dtype)];
    return [cos.mul(this.attentionScaling).to(dtype), sin.mul(this.attentionScaling).to(dtype)];
  }

  private updateDynamic(positionIds: Tensor): void {
    const seqLen = Number(positionIds.max().item()) + 1;
    const original = this.config.maxPositionEmbeddings;
    const device = this.inv_freq.device as Device;
    let length: number | null = null;
    if (seqLen > this.longestSeen) length = seqLen;
    else if (seqLen < original && this.longestSeen > original) length = original;
    if (length === null) return;
    this.inv_freq.dispose();
    this.registerBuffer('inv_freq', ropeInverseFrequencies(this.config, device, length).inverseFrequencies, false);
    this.longestSeen = length;
  }
}

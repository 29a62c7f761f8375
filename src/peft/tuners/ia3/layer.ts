/**
 * (IA)³ layers (PEFT's tuners/ia3/layer.py): a learned vector `ia3_l.<adapter>` per wrapped
 * layer. A feedforward layer scales its input, y = base(x ⊙ l) with l [1, in]; any other layer
 * its output, y = base(x) ⊙ l with l [out, 1] (so the bias is scaled too). Several active
 * adapters multiply their vectors. Merging multiplies the weight's columns (feedforward) or rows
 * and bias (otherwise) by l; unmerging divides by l + 1e-8, as PEFT does, so it is exact only up
 * to rounding.
 */
import { keep, noGrad, ones, randn, type Device, type Tensor } from '../../../tensor/index.js';
import { Conv1D, Conv2d, Linear, Module, ParameterDict } from '../../../nn/index.js';
import { forwardsBaseOnly, mergeAdapters, unmergeAdapters, type TunerLayer } from '../tuner-utils.js';

/** One adapter's settings in a layer, from the config. */
export interface IA3AdapterSettings {
  /** true: start at 1 (the layer's outputs unchanged); false: N(0, 1). */
  initIa3Weights: boolean;
}

type WrappedLayer = Linear | Conv1D | Conv2d;

/** What Linear and Conv2d (IA)³ share: vectors by adapter name, forward, merge bookkeeping, switching. */
export abstract class IA3Layer<Base extends WrappedLayer = WrappedLayer> extends Module implements TunerLayer {
  readonly base_layer: Base;
  /** The learned vectors, one per adapter (PEFT's `ia3_l`, so file keys read `….ia3_l`). */
  readonly ia3_l: ParameterDict;
  /** Scales the input (feedforward) rather than the output; fixed when the layer is first wrapped. */
  readonly is_feedforward: boolean;
  readonly inFeatures: number;
  readonly outFeatures: number;
  activeAdapters: string[] = [];
  disabled = false;
  readonly mergedAdapters: string[] = [];

  constructor(baseLayer: Base, isFeedforward: boolean) {
    super();
    // Assigned in this order so the parameters list base_layer's before ia3_l's, as in PEFT.
    this.base_layer = baseLayer;
    this.ia3_l = new ParameterDict();
    this.is_feedforward = isFeedforward;
    [this.inFeatures, this.outFeatures] =
      baseLayer instanceof Linear || baseLayer instanceof Conv1D
        ? [baseLayer.inFeatures, baseLayer.outFeatures]
        : [baseLayer.inChannels, baseLayer.outChannels];
  }

  adapterNames(): string[] {
    return this.ia3_l.keys();
  }

  /** The shape of one adapter's vector, broadcasting against the scaled activation. */
  protected abstract vectorShape(): number[];
  /** The product of the active adapters' vectors, shaped to broadcast against the input / output. */
  protected abstract activationScaling(vectors: Tensor[]): Tensor;
  /** Adapter `name`'s vector shaped to broadcast against the base weight. */
  protected abstract weightScaling(name: string): Tensor;

  /** Adds (or replaces) adapter `name`, on the base weight's device and in its dtype. */
  updateLayer(name: string, settings: IA3AdapterSettings): void {
    const weight = this.base_layer.weight;
    const options = { dtype: weight.dtype, device: weight.device as Device };
    if (this.ia3_l.keys().includes(name)) this.ia3_l.delete(name);
    this.ia3_l.set(
      name,
      keep(settings.initIa3Weights ? ones(this.vectorShape(), options) : randn(this.vectorShape(), options)),
    );
    if (!this.activeAdapters.includes(name) && this.activeAdapters.length === 0) this.activeAdapters = [name];
  }

  /** Sets adapter `name`'s vector back to ones (PEFT's reset_ia3_parameters). */
  resetIa3Parameters(name: string): void {
    if (this.ia3_l.keys().includes(name)) noGrad(() => this.ia3_l.get(name).fill_(1));
  }

  forward(x: Tensor): Tensor {
    if (forwardsBaseOnly(this)) return this.base_layer.forward(x);
    const names = this.adapterNames();
    const vectors = this.activeAdapters.filter((n) => names.includes(n)).map((n) => this.ia3_l.get(n));
    if (vectors.length === 0) return this.base_layer.forward(x);
    const scaling = this.activationScaling(vectors);
    if (this.is_feedforward) return this.base_layer.forward(x.mul(scaling));
    return this.base_layer.forward(x).mul(scaling);
  }

  merge(adapterNames: string[] = this.activeAdapters): void {
    const { weight, bias } = this.base_layer;
    mergeAdapters(
      this,
      adapterNames,
      (name) => this.adapterNames().includes(name),
      (name) => {
        weight.mul_(this.weightScaling(name));
        if (!this.is_feedforward && bias) bias.mul_(this.ia3_l.get(name).reshape(bias.shape));
      },
    );
  }

  unmerge(): void {
    const { weight, bias } = this.base_layer;
    // + 1e-8: PEFT's guard against division by zero.
    unmergeAdapters(
      this,
      (name) => this.adapterNames().includes(name),
      (name) => {
        weight.div_(this.weightScaling(name).add(1e-8));
        if (!this.is_feedforward && bias) bias.div_(this.ia3_l.get(name).reshape(bias.shape).add(1e-8));
      },
    );
  }

  deleteAdapter(name: string): void {
    if (!this.adapterNames().includes(name)) return;
    if (this.mergedAdapters.includes(name))
      throw new Error(`adapter '${name}' is merged; unmerge it before deleting it`);
    this.ia3_l.delete(name);
    this.activeAdapters = this.activeAdapters.filter((a) => a !== name);
  }

  adapterParameterNames(name: string): string[] {
    return this.adapterNames().includes(name) ? [`ia3_l.${name}`] : [];
  }

  override extraRepr(): string {
    return `is_feedforward=${this.is_feedforward}; adapters: ${this.adapterNames().join(', ')}`;
  }
}

/**
 * (IA)³ around a Linear, or a Conv1D (GPT-2's, with PEFT's fan_in_fan_out): l is [out, 1] (output scaled,
 * bias included) or [1, in] for a feedforward layer (input scaled).
 */
export class IA3Linear<Base extends Linear | Conv1D = Linear> extends IA3Layer<Base> {
  protected vectorShape(): number[] {
    return this.is_feedforward ? [1, this.inFeatures] : [this.outFeatures, 1];
  }

  protected activationScaling(vectors: Tensor[]): Tensor {
    // Flattened, the vector runs along the last dimension: the features of x or of the output.
    return vectors.map((v) => v.flatten()).reduce((a, b) => a.mul(b));
  }

  protected weightScaling(name: string): Tensor {
    // [out, 1] scales W's rows, [1, in] its columns; Conv1D stores W as [in, out], so l is transposed (fan_in_fan_out).
    const l = this.ia3_l.get(name);
    return this.base_layer instanceof Conv1D ? l.t() : l;
  }
}

/** (IA)³ around a Conv2d: l is [1, C, 1, 1] over output channels, or input channels for a feedforward layer. */
export class IA3Conv2d extends IA3Layer<Conv2d> {
  protected vectorShape(): number[] {
    return [1, this.is_feedforward ? this.inFeatures : this.outFeatures, 1, 1];
  }

  protected activationScaling(vectors: Tensor[]): Tensor {
    return vectors.reduce((a, b) => a.mul(b));
  }

  protected weightScaling(name: string): Tensor {
    const l = this.ia3_l.get(name);
    // Output channels are W's first dimension: [1, out, 1, 1] → [out, 1, 1, 1].
    if (!this.is_feedforward) return l.transpose(0, 1);
    const { groups, inChannels, outChannels } = this.base_layer;
    if (groups === 1) return l;
    // W is [out, in / groups, kh, kw]: output channel o of group g sees input channels g·(in/groups) …
    const inPerGroup = inChannels / groups;
    const outPerGroup = outChannels / groups;
    return l
      .reshape(groups, 1, inPerGroup, 1, 1)
      .expand(groups, outPerGroup, inPerGroup, 1, 1)
      .reshape(outChannels, inPerGroup, 1, 1);
  }
}

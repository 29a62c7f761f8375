/**
 * The bottleneck adapter layer: wraps a module (kept as `base_layer`) and adds, per adapter
 * name, a down projection `adapter_down.<name>` and an up projection `adapter_up.<name>`
 * applied to the module's output with an internal skip: h → h + up(act(down(h))).
 * Linear adapters act on the last dimension (outputs of Linear, LayerNorm); 1×1 Conv2d
 * adapters on dim 1 (outputs of Conv2d, BatchNorm2d, GroupNorm). Active adapters are applied
 * one after the other. Nothing can be merged: the activation sits between the projections.
 */
import { functional as F, noGrad, type Device, type Tensor } from '../../../tensor/index.js';
import {
  BatchNorm2d,
  Conv1D,
  Conv2d,
  GroupNorm,
  LayerNorm,
  Linear,
  Module,
  ModuleDict,
  init,
  type TensorModule,
} from '../../../nn/index.js';
import { deleteAdapterEntries, parameterPaths, type TunerLayer } from '../tuner-utils.js';
import type { BottleneckInit, BottleneckNonLinearity } from './config.js';

/** One adapter's settings in a layer. */
export interface BottleneckAdapterSettings {
  /** Bottleneck units. */
  size: number;
  nonLinearity: BottleneckNonLinearity;
  initWeights: BottleneckInit;
}

/** Where the features are in the wrapped module's output: last dimension (Linear adapters) or dim 1 (1×1 conv adapters). */
export type BottleneckFeatureAxis = 'last' | 'channels';

/** The feature count and axis of a module's output, or null when the module is not supported. */
export function outputFeatures(module: Module): { features: number; axis: BottleneckFeatureAxis } | null {
  if (module instanceof Linear || module instanceof Conv1D) return { features: module.outFeatures, axis: 'last' };
  if (module instanceof Conv2d) return { features: module.outChannels, axis: 'channels' };
  if (module instanceof BatchNorm2d) return { features: module.numFeatures, axis: 'channels' };
  if (module instanceof GroupNorm) return { features: module.numChannels, axis: 'channels' };
  if (module instanceof LayerNorm && module.normalizedShape.length === 1)
    return { features: module.normalizedShape[0], axis: 'last' };
  return null;
}

export const SUPPORTED_BOTTLENECK_TARGETS =
  'Linear, Conv1D (GPT-2), LayerNorm (one normalized dim), Conv2d, BatchNorm2d, GroupNorm';

const NEAR_IDENTITY_STD = 1e-2;

function activate(x: Tensor, how: BottleneckNonLinearity): Tensor {
  switch (how) {
    case 'relu':
      return F.relu(x);
    case 'gelu':
      return F.gelu(x);
    case 'swish':
    case 'silu':
      return F.silu(x);
    case 'tanh':
      return x.tanh();
  }
}

type Projection = Linear | Conv2d;

export class BottleneckLayer extends Module implements TunerLayer {
  readonly base_layer: Module;
  readonly adapter_down: ModuleDict<Projection>;
  readonly adapter_up: ModuleDict<Projection>;
  /** The wrapped module's output features (d). */
  readonly features: number;
  readonly axis: BottleneckFeatureAxis;
  /** Each adapter's settings, by name. */
  readonly settings: Record<string, BottleneckAdapterSettings> = {};
  activeAdapters: string[] = [];
  disabled = false;
  /** Always empty: bottleneck adapters can't be merged into weights. */
  readonly mergedAdapters: string[] = [];

  constructor(baseLayer: Module) {
    super();
    const out = outputFeatures(baseLayer);
    if (!out)
      throw new Error(
        `bottleneck adapters can't wrap a ${baseLayer.constructor.name}; supported: ${SUPPORTED_BOTTLENECK_TARGETS}`,
      );
    this.base_layer = baseLayer;
    this.adapter_down = new ModuleDict();
    this.adapter_up = new ModuleDict();
    this.features = out.features;
    this.axis = out.axis;
  }

  adapterNames(): string[] {
    return Object.keys(this.settings);
  }

  /** Adds (or replaces) adapter `name`, initialised as `settings.initWeights` says, on the base layer's device and dtype. */
  updateLayer(name: string, settings: BottleneckAdapterSettings): void {
    if (!Number.isInteger(settings.size) || settings.size <= 0)
      throw new Error(`bottleneck size must be a positive integer, got ${settings.size} for adapter '${name}'`);
    if (Object.hasOwn(this.settings, name)) this.deleteAdapter(name);
    const d = this.features;
    const m = settings.size;
    const down = this.axis === 'last' ? new Linear(d, m) : new Conv2d(d, m, 1);
    const up = this.axis === 'last' ? new Linear(m, d) : new Conv2d(m, d, 1);
    noGrad(() => {
      if (settings.initWeights !== false) {
        const bound = 2 * NEAR_IDENTITY_STD;
        init.truncNormal_(down.weight, 0, NEAR_IDENTITY_STD, -bound, bound);
        init.zeros_(down.bias!);
        if (settings.initWeights === 'houlsby') init.truncNormal_(up.weight, 0, NEAR_IDENTITY_STD, -bound, bound);
        else init.zeros_(up.weight);
        init.zeros_(up.bias!);
      }
    });
    const reference =
      this.base_layer.parameters()[0] ??
      this.base_layer.namedBuffers().find(([, b]) => /^(float|bfloat)/.test(b.dtype))?.[1];
    if (reference && (reference.dtype !== down.weight.dtype || reference.device !== down.weight.device)) {
      const target = { dtype: reference.dtype, device: reference.device as Device };
      down.to(target);
      up.to(target);
    }
    this.adapter_down.set(name, down);
    this.adapter_up.set(name, up);
    this.settings[name] = { ...settings };
    if (this.activeAdapters.length === 0) this.activeAdapters = [name];
  }

  forward(x: Tensor): Tensor {
    let h = (this.base_layer as TensorModule).forward(x);
    if (this.disabled) return h;
    for (const name of this.activeAdapters) {
      const settings = this.settings[name];
      if (!settings) continue;
      const z = activate(this.adapter_down.get(name).forward(h), settings.nonLinearity);
      h = h.add(this.adapter_up.get(name).forward(z));
    }
    return h;
  }

  /** Throws, unless there is nothing to merge: h + up(act(down(h))) is not a linear map of the base weights. */
  merge(adapterNames: string[] = this.activeAdapters): void {
    const names = adapterNames.filter((n) => Object.hasOwn(this.settings, n));
    if (names.length === 0) return;
    throw new Error(
      `bottleneck adapters (${names.join(', ')}) can't be merged into the base weights: they add a nonlinearity ` +
        `(h + up(act(down(h)))), so there is no equivalent weight. Keep the PeftModel for inference, or use unload() to drop them.`,
    );
  }

  /** Nothing is ever merged. */
  unmerge(): void {}

  deleteAdapter(name: string): void {
    if (!Object.hasOwn(this.settings, name)) return;
    deleteAdapterEntries([this.adapter_down, this.adapter_up], name);
    delete this.settings[name];
    this.activeAdapters = this.activeAdapters.filter((a) => a !== name);
  }

  adapterParameterNames(name: string): string[] {
    return parameterPaths(
      this,
      (path) => path.startsWith(`adapter_down.${name}.`) || path.startsWith(`adapter_up.${name}.`),
    );
  }

  override extraRepr(): string {
    return this.adapterNames()
      .map(
        (n) =>
          `${n}: ${this.features}→${this.settings[n].size}→${this.features} (${this.settings[n].nonLinearity}${this.axis === 'channels' ? ', 1×1 conv' : ''})`,
      )
      .join('; ');
  }
}

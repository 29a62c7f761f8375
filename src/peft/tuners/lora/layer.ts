/**
 * LoRA layers (PEFT's tuners/lora/layer.py): a wrapper around a Linear, Conv2d or Embedding
 * that keeps the base layer as `base_layer` and adds, per adapter name, the low-rank pair
 * (`lora_A.<name>`, `lora_B.<name>`) whose product, scaled by α/r, is added to the output.
 * Merging folds that product into the base weight (no cost at inference); unmerging takes it out.
 */
import { functional as F, keep, noGrad, tidy, zeros, type Device, type Tensor } from '../../../tensor/index.js';
import {
  Conv1D,
  Conv2d,
  Dropout,
  Embedding,
  Identity,
  Linear,
  Module,
  ModuleDict,
  ParameterDict,
  init,
} from '../../../nn/index.js';
import {
  deleteAdapterEntries,
  forwardsBaseOnly,
  mergeAdapters,
  parameterPaths,
  unmergeAdapters,
  type TunerLayer,
} from '../tuner-utils.js';
import { DoraMagnitude } from './dora.js';

/** One adapter's settings in a layer, resolved from the config (rank and α patterns applied). */
export interface LoraAdapterSettings {
  r: number;
  loraAlpha: number;
  loraDropout: number;
  useRslora: boolean;
  initLoraWeights: boolean | 'gaussian';
  useDora: boolean;
}

type WrappedLayer = Linear | Conv1D | Conv2d | Embedding;

/** What Linear, Conv2d and Embedding LoRA share: adapters by name, scaling, merge bookkeeping, switching. */
export abstract class LoraLayer<Base extends WrappedLayer = WrappedLayer> extends Module implements TunerLayer {
  readonly base_layer: Base;
  readonly scaling: Record<string, number> = {};
  readonly rank: Record<string, number> = {};
  activeAdapters: string[] = [];
  disabled = false;
  readonly mergedAdapters: string[] = [];
  /** Row norms of W + ΔW at merge time, per DoRA adapter, to undo the merge exactly. */
  readonly #doraMergedNorms = new Map<string, Tensor>();

  constructor(baseLayer: Base) {
    super();
    this.base_layer = baseLayer;
  }

  /** The dicts holding this layer's adapter modules and parameters, by adapter name (deleteAdapter empties them). */
  protected abstract adapterDicts(): (ModuleDict | ParameterDict)[];

  adapterNames(): string[] {
    return Object.keys(this.scaling);
  }

  /** Adds (or replaces) adapter `name` with `settings`, initialised as the config says. */
  updateLayer(name: string, settings: LoraAdapterSettings): void {
    if (settings.r <= 0) throw new Error(`LoRA rank must be positive, got ${settings.r} for adapter '${name}'`);
    this.rank[name] = settings.r;
    this.scaling[name] = settings.useRslora
      ? settings.loraAlpha / Math.sqrt(settings.r)
      : settings.loraAlpha / settings.r;
    this.createAdapter(name, settings);
    noGrad(() => this.initAdapter(name, settings.initLoraWeights));
    // PEFT's _move_adapter_to_device_of_base_layer: initialised on the CPU (the same values whatever the
    // device), then put beside the base weight, so that a model moved before getPeftModel keeps working.
    const device = this.base_layer.weight.device as Device;
    if (device !== 'cpu') for (const dict of this.adapterDicts()) dict.to(device);
    if (settings.useDora) this.createDoraMagnitude(name);
    if (!this.activeAdapters.includes(name) && this.activeAdapters.length === 0) this.activeAdapters = [name];
  }

  protected abstract createAdapter(name: string, settings: LoraAdapterSettings): void;
  protected abstract initAdapter(name: string, init: boolean | 'gaussian'): void;
  /** ΔW for adapter `name`, the shape of the base weight, scaling included. */
  abstract deltaWeight(name: string): Tensor;
  /** The adapters' contribution for input x, added to the base output `result`. */
  protected abstract adapterOutput(name: string, x: Tensor, result: Tensor): Tensor;

  protected createDoraMagnitude(name: string): void {
    throw new Error(
      `DoRA is not supported for ${this.base_layer.constructor.name} layers (adapter '${name}'); use it on Linear and Conv2d layers`,
    );
  }

  /** Adapter `name`'s DoRA magnitude, or null for plain LoRA (layers without DoRA have none). */
  protected doraMagnitude(_name: string): DoraMagnitude | null {
    return null;
  }

  forward(x: Tensor): Tensor {
    if (forwardsBaseOnly(this)) return this.baseForward(x);
    let result = this.baseForward(x);
    for (const name of this.activeAdapters) {
      if (!Object.hasOwn(this.scaling, name)) continue;
      result = result.add(this.adapterOutput(name, x, result));
    }
    return result;
  }

  protected baseForward(x: Tensor): Tensor {
    return this.base_layer.forward(x);
  }

  merge(adapterNames: string[] = this.activeAdapters): void {
    const weight = this.base_layer.weight;
    mergeAdapters(
      this,
      adapterNames,
      (name) => Object.hasOwn(this.scaling, name),
      (name) => {
        const delta = this.deltaWeight(name);
        const magnitude = this.doraMagnitude(name);
        if (magnitude) {
          const norm = keep(magnitude.weightNorm(weight, delta, 1));
          this.#doraMergedNorms.set(name, norm);
          weight.copy_(weight.add(delta).mul(magnitude.factor(norm, weight.dim())));
        } else weight.add_(delta);
      },
    );
  }

  unmerge(): void {
    const weight = this.base_layer.weight;
    unmergeAdapters(
      this,
      () => true,
      (name) => {
        const delta = this.deltaWeight(name);
        const magnitude = this.doraMagnitude(name);
        const norm = this.#doraMergedNorms.get(name);
        if (magnitude && norm) {
          weight.copy_(weight.div(magnitude.factor(norm, weight.dim())).sub(delta));
          norm.dispose();
          this.#doraMergedNorms.delete(name);
        } else weight.sub_(delta);
      },
    );
  }

  release(): void {
    for (const norm of this.#doraMergedNorms.values()) norm.dispose();
    this.#doraMergedNorms.clear();
  }

  deleteAdapter(name: string): void {
    if (!Object.hasOwn(this.scaling, name)) return;
    if (this.mergedAdapters.includes(name))
      throw new Error(`adapter '${name}' is merged; unmerge it before deleting it`);
    deleteAdapterEntries(this.adapterDicts(), name);
    delete this.scaling[name];
    delete this.rank[name];
    this.activeAdapters = this.activeAdapters.filter((a) => a !== name);
  }

  adapterParameterNames(name: string): string[] {
    return parameterPaths(this, (path) => path.split('.').includes(name) && !path.startsWith('base_layer.'));
  }

  override extraRepr(): string {
    return this.adapterNames()
      .map((n) => `${n}: r=${this.rank[n]}, scaling=${this.scaling[n]}`)
      .join('; ');
  }
}

/**
 * PEFT's init of A and B: A kaiming-uniform (a=√5) or N(0, 1/r) ('gaussian'), B zero, so the
 * update starts at zero; false keeps the layers' own random init (tests only).
 */
function initLowRankPair(a: Tensor, b: Tensor, rank: number, how: boolean | 'gaussian'): void {
  if (how === false) return;
  if (how === 'gaussian') init.normal_(a, 0, 1 / rank);
  else init.kaimingUniform_(a, Math.sqrt(5));
  init.zeros_(b);
}

function dropoutModule(p: number): Module {
  return p > 0 ? new Dropout(p) : new Identity();
}

/**
 * What LoRA around a Linear and around a Conv2d share: per adapter a pair A, B of the base's own
 * layer type (`lora_A`, `lora_B`), dropout on the input, and DoRA's magnitude (`lora_magnitude_vector`).
 */
abstract class LowRankPairLayer<Base extends Linear | Conv1D | Conv2d> extends LoraLayer<Base> {
  readonly lora_A = new ModuleDict<Linear | Conv2d>();
  readonly lora_B = new ModuleDict<Linear | Conv2d>();
  readonly lora_dropout = new ModuleDict();
  readonly lora_magnitude_vector = new ModuleDict<DoraMagnitude>();

  protected adapterDicts(): ModuleDict[] {
    return [this.lora_A, this.lora_B, this.lora_dropout, this.lora_magnitude_vector];
  }

  protected override doraMagnitude(name: string): DoraMagnitude | null {
    return this.lora_magnitude_vector.keys().includes(name) ? this.lora_magnitude_vector.get(name) : null;
  }

  /** The base layer's output without its bias (DoRA recomputes it on the dropped-out input). */
  protected abstract baseWithoutBias(x: Tensor): Tensor;

  protected initAdapter(name: string, how: boolean | 'gaussian'): void {
    initLowRankPair(this.lora_A.get(name).weight, this.lora_B.get(name).weight, this.rank[name], how);
  }

  /** DoRA's magnitude, started at ‖W + ΔW‖ (the layer's output unchanged). */
  protected override createDoraMagnitude(name: string): void {
    const magnitude = new DoraMagnitude();
    noGrad(() => tidy(() => magnitude.initFrom(this.base_layer.weight, this.deltaWeight(name), 1)));
    this.lora_magnitude_vector.set(name, magnitude);
  }

  /**
   * LoRA: s·B(A(dropout(x))). DoRA (PEFT's DoraLinearLayer / _DoraConvNdLayer forward): with the norm
   * n = ‖W + ΔW‖ detached and m/n shaped to the output's channels, (m/n − 1)·(base output without
   * bias) + (m/n)·s·B(A(x)); the base output is reused when dropout is off, recomputed on the dropped
   * input otherwise, as PEFT does.
   */
  protected adapterOutput(name: string, x: Tensor, result: Tensor): Tensor {
    const dropout = this.lora_dropout.get(name) as Dropout | Identity;
    const lowRank = (input: Tensor) => this.lora_B.get(name).forward(this.lora_A.get(name).forward(input));
    const magnitude = this.doraMagnitude(name);
    if (!magnitude) return lowRank(dropout.forward(x)).mul(this.scaling[name]);
    const droppedOut = dropout instanceof Dropout && this.training;
    const input = droppedOut ? dropout.forward(x) : x;
    const norm = magnitude.weightNorm(this.base_layer.weight, this.deltaWeight(name).detach(), 1).detach();
    const scale = magnitude.weight.div(norm);
    const bias = this.base_layer.bias;
    const baseResult = droppedOut ? this.baseWithoutBias(input) : bias ? result.sub(bias.view(scale.shape)) : result;
    return scale
      .sub(1)
      .mul(baseResult)
      .add(scale.mul(lowRank(input)).mul(this.scaling[name]));
  }
}

/** LoRA around a Linear or a Conv1D: A [r, in] and B [out, r] are Linear layers. */
abstract class LinearPairLayer<Base extends Linear | Conv1D> extends LowRankPairLayer<Base> {
  protected createAdapter(name: string, settings: LoraAdapterSettings): void {
    const { inFeatures, outFeatures } = this.base_layer;
    this.lora_dropout.set(name, dropoutModule(settings.loraDropout));
    this.lora_A.set(name, new Linear(inFeatures, settings.r, { bias: false }));
    this.lora_B.set(name, new Linear(settings.r, outFeatures, { bias: false }));
  }

  /** B A, [out, in]. */
  protected lowRankProduct(name: string): Tensor {
    return this.lora_B.get(name).weight.matmul(this.lora_A.get(name).weight);
  }
}

/** LoRA around a Linear: y = W x + b + s·B(A(dropout(x))). */
export class LoraLinear extends LinearPairLayer<Linear> {
  deltaWeight(name: string): Tensor {
    return this.lowRankProduct(name).mul(this.scaling[name]);
  }

  protected baseWithoutBias(x: Tensor): Tensor {
    return F.linear(x, this.base_layer.weight);
  }
}

/**
 * LoRA around transformers' Conv1D (GPT-2's projections, W stored [in, out]): PEFT's Linear LoRA layer
 * with fan_in_fan_out, y = x·W + b + s·B(A(dropout(x))) with A [r, in] and B [out, r] as for a Linear,
 * and ΔW = s·(B A)ᵀ so that it adds to W as stored. DoRA is not supported on it here.
 */
export class LoraConv1D extends LinearPairLayer<Conv1D> {
  deltaWeight(name: string): Tensor {
    return this.lowRankProduct(name).t().mul(this.scaling[name]);
  }

  protected baseWithoutBias(x: Tensor): Tensor {
    return x.matmul(this.base_layer.weight);
  }

  protected override createDoraMagnitude(name: string): void {
    throw new Error(`DoRA is not supported on Conv1D layers (GPT-2's; adapter '${name}'); use LoRA`);
  }
}

/**
 * LoRA around a Conv2d: A is a conv with the base's kernel, stride and padding into r channels
 * (not its dilation, as in PEFT), B a 1×1 conv out.
 */
export class LoraConv2d extends LowRankPairLayer<Conv2d> {
  protected createAdapter(name: string, settings: LoraAdapterSettings): void {
    const base = this.base_layer;
    if (base.groups !== 1) throw new Error(`LoRA on a grouped Conv2d (groups=${base.groups}) is not supported`);
    this.lora_dropout.set(name, dropoutModule(settings.loraDropout));
    this.lora_A.set(
      name,
      new Conv2d(base.inChannels, settings.r, base.kernelSize, {
        stride: base.stride,
        padding: base.padding,
        bias: false,
      }),
    );
    this.lora_B.set(name, new Conv2d(settings.r, base.outChannels, 1, { bias: false }));
  }

  deltaWeight(name: string): Tensor {
    const a = this.lora_A.get(name).weight;
    const b = this.lora_B.get(name).weight;
    // B ∘ A as one kernel: convolve A's kernels (as a batch over input channels) with B's 1×1 weights.
    return F.conv2d(a.permute(1, 0, 2, 3), b)
      .permute(1, 0, 2, 3)
      .mul(this.scaling[name]);
  }

  protected baseWithoutBias(x: Tensor): Tensor {
    const base = this.base_layer;
    return F.conv2d(x, base.weight, null, {
      stride: base.stride,
      padding: base.padding,
      dilation: base.dilation,
      groups: base.groups,
    });
  }
}

/** LoRA around an Embedding: a rank-r lookup (`lora_embedding_A` [r, vocab]) projected by `lora_embedding_B` [dim, r]. */
export class LoraEmbedding extends LoraLayer<Embedding> {
  readonly lora_embedding_A = new ParameterDict();
  readonly lora_embedding_B = new ParameterDict();

  protected adapterDicts(): ParameterDict[] {
    return [this.lora_embedding_A, this.lora_embedding_B];
  }

  protected createAdapter(name: string, settings: LoraAdapterSettings): void {
    // loraDropout does not apply to lookups; PEFT ignores it for embeddings too.
    const { numEmbeddings, embeddingDim } = this.base_layer;
    this.lora_embedding_A.set(name, keep(zeros([settings.r, numEmbeddings])));
    this.lora_embedding_B.set(name, keep(zeros([embeddingDim, settings.r])));
  }

  protected initAdapter(name: string, how: boolean | 'gaussian'): void {
    const a = this.lora_embedding_A.get(name);
    const b = this.lora_embedding_B.get(name);
    if (how === false) {
      init.normal_(a);
      init.normal_(b);
      return;
    }
    // The reverse of Linear's: A starts at zero, B normal, so the update is still zero at start.
    init.zeros_(a);
    init.normal_(b);
  }

  deltaWeight(name: string): Tensor {
    return this.lora_embedding_B.get(name).matmul(this.lora_embedding_A.get(name)).t().mul(this.scaling[name]);
  }

  protected adapterOutput(name: string, x: Tensor): Tensor {
    const a = this.lora_embedding_A.get(name).t();
    const b = this.lora_embedding_B.get(name).t();
    return F.embedding(x, a, this.base_layer.paddingIdx ?? undefined)
      .matmul(b)
      .mul(this.scaling[name]);
  }
}

/**
 * The optimizer base, as torch.optim.Optimizer: parameter groups (the ParamGroup shape schedules
 * and param-group builders share), per-parameter state, step(), zeroGrad(), addParamGroup() and
 * state dicts in PyTorch's layout, so a run saved here resumes bit for bit.
 *
 * Each step runs under noGrad() inside one tidy(): grads read, temporaries and per-step handles
 * are freed when it returns, and only the state tensors (kept) outlive it. Subclasses implement
 * update() for the parameters of one group that have a gradient, with libtorch's multi-tensor
 * kernels (`_fused_*` / `_foreach_*`), so a step over hundreds of tensors is a handful of native calls.
 */
import { aten, dispose, enableGrad, keep, noGrad, tidy, Tensor } from '../tensor/index.js';
import type { Device, DType } from '../tensor/index.js';
import type { GroupOptions, HasParamGroups, ParamGroup, ParamGroupSpec } from './param-group.js';

/** A parameter's state: named tensors (PyTorch's keys: step, exp_avg, exp_avg_sq, momentum_buffer, …). */
export type ParamState = Record<string, Tensor>;

/** One group of a state dict: the group's hyperparameters (PyTorch's snake_case names) and its parameters' indices. */
export interface StateDictGroup {
  params: number[];
  [key: string]: unknown;
}

/**
 * PyTorch's optimizer state dict: `state` maps a parameter's index (its position when the groups'
 * parameters are counted in order) to its state; `param_groups` holds each group's hyperparameters
 * and indices. Tensors are finetune Tensors; the rest is JSON (save tensors as safetensors, the rest
 * as JSON). `step` may be a number when a state dict comes from elsewhere (old PyTorch files).
 */
export interface OptimizerStateDict {
  state: Record<number, Record<string, Tensor | number>>;
  param_groups: StateDictGroup[];
}

/** What an optimizer takes: tensors, named tensors (`module.namedParameters()`), or parameter groups. */
export type ParamsInput = readonly Tensor[] | readonly (readonly [string, Tensor])[] | readonly ParamGroupSpec[];

/** An optimizer's defaults: what a group does not override. */
export type OptimizerDefaults = GroupOptions & { lr: number; weightDecay: number; maximize: boolean };

/** Keys of PyTorch's param groups that choose an implementation, not hyperparameters: ignored on load. */
const TORCH_IMPLEMENTATION_KEYS = new Set([
  'foreach',
  'fused',
  'capturable',
  'differentiable',
  'decoupled_weight_decay',
]);

/** Dtypes libtorch's fused optimizer kernels take (CPU and CUDA). */
const FUSED_DTYPES: ReadonlySet<DType> = new Set(['float32', 'float64', 'float16', 'bfloat16']);

export abstract class Optimizer implements HasParamGroups {
  /** The parameter groups, every hyperparameter filled in. Schedules write `lr`; anyone may read. */
  readonly paramGroups: ParamGroup[] = [];
  /** Hyperparameters for groups that do not set their own. */
  readonly defaults: Readonly<OptimizerDefaults>;
  readonly #state = new Map<Tensor, ParamState>();

  constructor(params: ParamsInput, defaults: OptimizerDefaults) {
    this.validateOptions(defaults);
    this.defaults = Object.freeze({ ...defaults });
    if (!Array.isArray(params))
      throw new TypeError(
        'params argument given to the optimizer should be an array of Tensors, [name, Tensor] pairs or parameter groups',
      );
    if (params.length === 0) throw new RangeError('optimizer got an empty parameter list');
    const first = params[0] as unknown;
    let specs: ParamGroupSpec[];
    if (Array.isArray(first)) {
      const named = params as readonly (readonly [string, Tensor])[];
      specs = [{ params: named.map((pair) => pair[1]), paramNames: named.map((pair) => pair[0]) }];
    } else if (typeof first === 'object' && first !== null && !(first instanceof Tensor))
      specs = params as ParamGroupSpec[];
    else specs = [{ params: params as Tensor[] }];
    for (const spec of specs) this.addParamGroup(spec);
  }

  /** Each parameter's state, keyed by the parameter (PyTorch's optimizer.state). Empty until a first step. */
  get state(): ReadonlyMap<Tensor, Readonly<ParamState>> {
    return this.#state;
  }

  /**
   * Adds a group, e.g. the parameters gradual unfreezing just made trainable (PyTorch's
   * add_param_group): options it leaves out come from the defaults, and `initialLr` is its lr.
   */
  addParamGroup(spec: ParamGroupSpec): ParamGroup {
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec))
      throw new TypeError(`param_group must be an object, but got ${describe(spec)}`);
    if (!Array.isArray(spec.params)) throw new TypeError('a parameter group needs params: an array of Tensors');
    const params = [...spec.params];
    for (const p of params) {
      if (!(p instanceof Tensor))
        throw new TypeError(`optimizer can only optimize Tensors, but one of the params is ${describe(p)}`);
      if (p.isDisposed) throw new Error('optimizer got a disposed tensor');
      if (!p.isLeaf) throw new RangeError("can't optimize a non-leaf Tensor");
    }
    if (spec.paramNames !== undefined && spec.paramNames.length !== params.length) {
      throw new RangeError(`paramNames has ${spec.paramNames.length} names for ${params.length} params`);
    }
    const { params: _params, ...options } = spec;
    const group = { ...this.defaults, ...stripUndefined(options), params } as ParamGroup;
    if (group.betas) group.betas = [group.betas[0], group.betas[1]];
    if (spec.paramNames) group.paramNames = [...spec.paramNames];
    group.initialLr = group.lr;
    this.validateOptions(group);
    if (new Set(params).size !== params.length) {
      process.emitWarning(
        'optimizer contains a parameter group with duplicate parameters; in future, this will cause an error; see github.com/pytorch/pytorch/issues/40967 for more information',
      );
    }
    const taken = new Set(this.paramGroups.flatMap((g) => g.params));
    if (params.some((p) => taken.has(p)))
      throw new RangeError('some parameters appear in more than one parameter group');
    this.paramGroups.push(group);
    return group;
  }

  /**
   * One optimization step over every group: parameters that have a gradient and require one are
   * updated (PyTorch skips parameters without a grad; a frozen parameter, requiresGrad false, is
   * skipped here even if it still holds a stale grad). `closure` re-evaluates the model and returns
   * the loss; it runs with gradients on, before the update, and its result is returned.
   */
  step<T = undefined>(closure?: () => T): T | undefined {
    const loss = closure ? enableGrad(closure) : undefined;
    noGrad(() =>
      tidy(() => {
        for (const group of this.paramGroups) {
          const params: Tensor[] = [];
          const grads: Tensor[] = [];
          for (const p of group.params) {
            if (!p.requiresGrad) continue;
            const grad = p.grad;
            if (grad === null) continue;
            params.push(p);
            grads.push(grad);
          }
          if (params.length > 0) this.update(group, params, grads);
        }
      }),
    );
    return loss;
  }

  /**
   * Resets the gradients of every parameter: to null (the default, PyTorch's set_to_none), or to
   * zeros in place (detached from any graph), in one multi-tensor call.
   */
  zeroGrad(setToNone = true): void {
    if (setToNone) {
      for (const group of this.paramGroups) for (const p of group.params) if (!p.isDisposed) p.grad = null;
      return;
    }
    noGrad(() =>
      tidy(() => {
        const grads: Tensor[] = [];
        for (const group of this.paramGroups) {
          for (const p of group.params) {
            const grad = p.grad;
            if (grad === null) continue;
            if (grad.requiresGrad) {
              if (grad.isLeaf) grad.requiresGrad_(false);
              else grad.detach_();
            }
            grads.push(grad);
          }
        }
        for (const bucket of byDeviceAndDtype(grads, (g) => g).values()) aten._foreach_zero_(bucket.items);
      }),
    );
  }

  /**
   * The optimizer's state in PyTorch's layout: `{ state: { index: { step, exp_avg, … } },
   * param_groups: [{ lr, betas, …, params: [indices] }] }` with PyTorch's snake_case names
   * (`weight_decay`, `initial_lr`, `param_names`). The tensors are new handles to the optimizer's
   * own memory, as PyTorch returns its own tensors: no copy, and they follow later steps (clone to
   * snapshot). They belong to the caller's scope; disposing them leaves the optimizer intact.
   */
  stateDict(): OptimizerStateDict {
    const indices = new Map<Tensor, number>();
    let start = 0;
    const paramGroups = this.paramGroups.map((group) => {
      const packed: StateDictGroup = { params: [] };
      for (const [key, value] of Object.entries(group)) {
        if (key === 'params' || value === undefined) continue;
        packed[snakeCase(key)] = copyPlain(value);
      }
      group.params.forEach((p, i) => {
        if (!indices.has(p)) indices.set(p, start + i);
      });
      packed.params = group.params.map((p) => indices.get(p)!);
      start += group.params.length;
      // PyTorch's order: hyperparameters first, params last.
      const { params, ...rest } = packed;
      return { ...rest, params } as StateDictGroup;
    });
    const state: OptimizerStateDict['state'] = {};
    for (const [p, entry] of this.#state) {
      const index = indices.get(p);
      if (index === undefined) continue;
      const out: Record<string, Tensor> = {};
      for (const [key, tensor] of Object.entries(entry)) out[key] = tensor.detach();
      state[index] = out;
    }
    return { state, param_groups: paramGroups };
  }

  /**
   * Restores a state dict (from stateDict(), possibly saved and read back, or PyTorch's): groups
   * must match in number and size; each group's hyperparameters are replaced by the saved ones
   * (the group objects stay the same), and the state is copied in — cast to each parameter's dtype
   * and device (`step` stays float32) — so the given tensors may be disposed afterwards.
   */
  loadStateDict(stateDict: OptimizerStateDict): void {
    const saved = stateDict?.param_groups;
    if (!Array.isArray(saved) || typeof stateDict.state !== 'object' || stateDict.state === null) {
      throw new TypeError('loadStateDict expects { state, param_groups }, as stateDict() returns');
    }
    if (saved.length !== this.paramGroups.length)
      throw new RangeError('loaded state dict has a different number of parameter groups');
    if (saved.some((g, i) => !Array.isArray(g.params) || g.params.length !== this.paramGroups[i].params.length)) {
      throw new RangeError(
        "loaded state dict contains a parameter group that doesn't match the size of optimizer's group",
      );
    }
    const byIndex = new Map<number, Tensor>();
    saved.forEach((g, i) => g.params.forEach((index, j) => byIndex.set(Number(index), this.paramGroups[i].params[j])));

    // Copy everything in before anything is replaced: the given state may be this optimizer's own.
    const loaded = new Map<Tensor, ParamState>();
    try {
      noGrad(() => {
        for (const [key, entry] of Object.entries(stateDict.state)) {
          const p = byIndex.get(Number(key));
          if (p === undefined)
            throw new RangeError(`loaded state dict has state for parameter ${key}, which no parameter group holds`);
          const own: ParamState = {};
          loaded.set(p, own);
          for (const [name, value] of Object.entries(entry)) own[name] = keep(this.#castState(p, name, value, key));
        }
      });
    } catch (error) {
      dispose([...loaded.values()]);
      throw error;
    }
    for (const entry of this.#state.values()) dispose(entry);
    this.#state.clear();
    for (const [p, entry] of loaded) this.#state.set(p, entry);

    saved.forEach((savedGroup, i) => {
      const group = this.paramGroups[i];
      for (const [key, value] of Object.entries(savedGroup)) {
        if (key === 'params' || TORCH_IMPLEMENTATION_KEYS.has(key)) continue;
        group[camelCase(key)] = copyPlain(value);
      }
    });
    this.stateLoaded();
  }

  /** Frees every state tensor; a later step starts from fresh state. */
  dispose(): void {
    for (const entry of this.#state.values()) dispose(entry);
    this.#state.clear();
    this.stateLoaded();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  // ---- for subclasses --------------------------------------------------------------

  /**
   * Updates one group's parameters that have gradients (same order in both arrays), under noGrad
   * inside the step's tidy(): temporaries are freed; state tensors must be created with initState.
   */
  protected abstract update(group: ParamGroup, params: Tensor[], grads: Tensor[]): void;

  /** Throws PyTorch's error for a bad hyperparameter (called with the defaults and with every group). */
  protected abstract validateOptions(options: GroupOptions): void;

  /** Called after the state was replaced (loadStateDict, dispose): subclasses drop caches of it. */
  protected stateLoaded(): void {}

  /** A parameter's state, or undefined before its first step. */
  protected stateOf(p: Tensor): ParamState | undefined {
    return this.#state.get(p);
  }

  /** Sets a parameter's state; its tensors are kept (they outlive the step's scope). */
  protected initState(p: Tensor, state: ParamState): ParamState {
    for (const tensor of Object.values(state)) keep(tensor);
    this.#state.set(p, state);
    return state;
  }

  /** Adds a tensor to a parameter's existing state (kept). */
  protected setStateTensor(p: Tensor, key: string, tensor: Tensor): Tensor {
    const entry = this.#state.get(p);
    if (!entry) throw new Error(`no state for this parameter to add ${key} to`);
    entry[key] = keep(tensor);
    return tensor;
  }

  #castState(p: Tensor, name: string, value: Tensor | number, index: string): Tensor {
    const device = p.device as Device;
    if (typeof value === 'number') {
      return aten.scalar_tensor(value, { dtype: name === 'step' ? 'float32' : p.dtype, device });
    }
    if (!(value instanceof Tensor))
      throw new TypeError(`state ${index}.${name} is ${describe(value)}, not a Tensor or number`);
    if (name === 'step') return aten._to_copy(value, { dtype: 'float32', device });
    const floating = value.isFloatingPoint();
    if (floating && value.shape.join() !== p.shape.join()) {
      throw new RangeError(
        `state ${index}.${name} has shape [${value.shape.join(', ')}], its parameter [${p.shape.join(', ')}]`,
      );
    }
    // PyTorch's rule: floating state follows the parameter's dtype; everything follows its device.
    return aten._to_copy(value, { dtype: floating && p.isFloatingPoint() ? p.dtype : value.dtype, device });
  }
}

// ---- helpers shared by the optimizers --------------------------------------------------

export interface Bucket<T> {
  dtype: DType;
  device: string;
  items: T[];
}

/** Groups items by their tensor's (device, dtype), in first-seen order, as the multi-tensor kernels need. */
export function byDeviceAndDtype<T>(items: readonly T[], tensorOf: (item: T) => Tensor): Map<string, Bucket<T>> {
  const buckets = new Map<string, Bucket<T>>();
  for (const item of items) {
    const t = tensorOf(item);
    const dtype = t.dtype;
    const device = t.device;
    const key = `${device}|${dtype}`;
    let bucket = buckets.get(key);
    if (!bucket) buckets.set(key, (bucket = { dtype, device, items: [] }));
    bucket.items.push(item);
  }
  return buckets;
}

/**
 * Whether libtorch has fused optimizer kernels for tensors of this dtype on this device: the CPU and
 * CUDA have them (elsewhere, the lazy device say, the optimizers take the multi-tensor path, as torch's
 * default does where fused kernels are missing).
 */
export function fusedSupports(dtype: DType, device = 'cpu'): boolean {
  return FUSED_DTYPES.has(dtype) && (device === 'cpu' || device.startsWith('cuda'));
}

function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

function camelCase(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** A copy of plain arrays and objects (betas, names), so groups and state dicts share nothing mutable. */
function copyPlain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copyPlain);
  if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copyPlain(v)]));
  }
  return value;
}

function stripUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}

/** PyTorch's check `not 0.0 <= value` (NaN fails too), with its message. */
export function checkNonNegative(value: unknown, message: string): void {
  if (typeof value !== 'number') throw new TypeError(`${message} (expected a number)`);
  if (!(0 <= value)) throw new RangeError(message);
}

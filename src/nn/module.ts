/**
 * Module: the base of every layer and model, like torch.nn.Module. A module's parameters,
 * buffers and submodules are its own properties, found by walking them — so attribute
 * names are the checkpoint keys: `bert.encoder.layer.0.attention.self.query.weight`.
 */
import { isDevice, keep, noGrad, tidy, Tensor, type DType, type Device } from '../tensor/index.js';
import { isParameter, parameter } from './parameter.js';

export type StateDict = Map<string, Tensor>;

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/**
 * Buffer names per module, kept outside the instance (not in #private fields) so that
 * clone() can give a copy its own entry.
 */
const bufferNames = new WeakMap<Module, { all: Set<string>; nonPersistent: Set<string> }>();

function buffersOf(module: Module): { all: Set<string>; nonPersistent: Set<string> } {
  let names = bufferNames.get(module);
  if (!names) bufferNames.set(module, (names = { all: new Set(), nonPersistent: new Set() }));
  return names;
}

export class Module {
  /** Training mode (dropout active, batch statistics used); see train() and eval(). */
  training = true;

  // ---- registration ---------------------------------------------------------------

  /** Stores a non-trainable tensor (running statistics, position ids) that moves and saves with the module. */
  registerBuffer(name: string, tensor: Tensor | null, persistent = true): void {
    if (tensor) keep(tensor);
    (this as unknown as Record<string, unknown>)[name] = tensor;
    buffersOf(this).all.add(name);
    if (!persistent) buffersOf(this).nonPersistent.add(name);
  }

  // ---- traversal ------------------------------------------------------------------

  /** Direct submodules, in the order they were assigned. */
  namedChildren(): [string, Module][] {
    return Object.entries(this).filter((entry): entry is [string, Module] => entry[1] instanceof Module);
  }

  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** This module and every descendant with its dotted path ('' for this one), each once. */
  namedModules(prefix = '', seen = new Set<Module>()): [string, Module][] {
    if (seen.has(this)) return [];
    seen.add(this);
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.namedChildren()) {
      out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name, seen));
    }
    return out;
  }

  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** Own parameters (not descendants'), skipping unset (null) ones. */
  ownParameters(): [string, Tensor][] {
    return Object.entries(this).filter((entry): entry is [string, Tensor] => isParameter(entry[1]));
  }

  /** Own buffers, skipping unset ones. */
  ownBuffers(): [string, Tensor][] {
    const self = this as unknown as Record<string, unknown>;
    return [...buffersOf(this).all]
      .filter((name) => self[name] instanceof Tensor)
      .map((name) => [name, self[name] as Tensor]);
  }

  /** Every parameter with its dotted path; a parameter shared by two modules (tied weights) is listed once. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const seen = new Set<Tensor>();
    const out: [string, Tensor][] = [];
    for (const [path, module] of this.namedModules(prefix)) {
      for (const [name, p] of module.ownParameters()) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([path ? `${path}.${name}` : name, p]);
      }
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [path, module] of this.namedModules(prefix)) {
      for (const [name, b] of module.ownBuffers()) out.push([path ? `${path}.${name}` : name, b]);
    }
    return out;
  }

  /** The submodule at a dotted path ('' is this module). */
  getSubmodule(path: string): Module {
    return (path ? path.split('.') : []).reduce<Module>((module, part) => {
      const next = (module as unknown as Record<string, unknown>)[part];
      if (!(next instanceof Module)) {
        throw new Error(`${this.constructor.name} has no submodule '${path}' ('${part}' is not a module)`);
      }
      return next;
    }, this);
  }

  /** Number of parameter elements, optionally only the trainable ones. */
  numParameters(options: { trainableOnly?: boolean } = {}): number {
    return this.parameters()
      .filter((p) => !options.trainableOnly || p.requiresGrad)
      .reduce((n, p) => n + p.numel(), 0);
  }

  // ---- state ----------------------------------------------------------------------

  /**
   * Parameters and persistent buffers by dotted path, in definition order. The tensors are
   * the module's own (not copies): read or save them, don't dispose them. Tied weights
   * appear under every path, as in PyTorch.
   */
  stateDict(prefix = '', into: StateDict = new Map()): StateDict {
    const join = (name: string) => (prefix ? `${prefix}.${name}` : name);
    for (const [name, p] of this.ownParameters()) into.set(join(name), p);
    for (const [name, b] of this.ownBuffers()) if (!buffersOf(this).nonPersistent.has(name)) into.set(join(name), b);
    for (const [name, child] of this.namedChildren()) child.stateDict(join(name), into);
    return into;
  }

  /**
   * Copies tensors into this module's parameters and buffers (converting dtype). Shape
   * mismatches always throw, listing every one; with strict (default) missing and
   * unexpected keys throw too. Returns the keys that did not match.
   *
   * `assign: true` (torch's load_state_dict(assign=True)) makes the given tensors the module's
   * parameters and buffers instead of copying them in (converted to the module's dtype and device
   * where they differ; requiresGrad and ties kept): a freshly built model takes a checkpoint's
   * tensors without touching its own memory. References held to the old tensors (an optimizer's)
   * no longer reach the module, so use it only on a model nothing else holds yet.
   */
  loadStateDict(
    state: StateDict | Record<string, Tensor>,
    options: { strict?: boolean; assign?: boolean } = {},
  ): LoadResult {
    const strict = options.strict ?? true;
    const incoming = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !incoming.has(k));
    const unexpectedKeys = [...incoming.keys()].filter((k) => !own.has(k));
    const mismatches: string[] = [];
    for (const [key, target] of own) {
      const source = incoming.get(key);
      if (source && source.shape.join() !== target.shape.join()) {
        mismatches.push(`${key}: checkpoint [${source.shape}] vs model [${target.shape}]`);
      }
    }
    const problems: string[] = [];
    if (mismatches.length)
      problems.push(`size mismatch for ${mismatches.length} key(s):\n  ${mismatches.join('\n  ')}`);
    if (strict && missingKeys.length) problems.push(`missing key(s) in state dict: ${missingKeys.join(', ')}`);
    if (strict && unexpectedKeys.length) problems.push(`unexpected key(s) in state dict: ${unexpectedKeys.join(', ')}`);
    if (problems.length)
      throw new Error(`error(s) loading state dict for ${this.constructor.name}:\n${problems.join('\n')}`);
    if (options.assign) assignTensors(this, own, incoming);
    else
      noGrad(() => {
        for (const [key, target] of own) {
          const source = incoming.get(key);
          if (source) target.copy_(source);
        }
      });
    return { missingKeys, unexpectedKeys };
  }

  // ---- modes and conversions ------------------------------------------------------

  /** Sets training mode on this module and every descendant. */
  train(mode = true): this {
    for (const module of this.modules()) module.training = mode;
    return this;
  }

  /** Evaluation mode: dropout off, running statistics used. */
  eval(): this {
    return this.train(false);
  }

  /** Turns gradient recording for every parameter on or off. */
  requiresGrad_(requiresGrad = true): this {
    for (const p of this.parameters()) p.requiresGrad_(requiresGrad);
    return this;
  }

  /** Calls `fn` on every module, children first, then this one (like PyTorch's apply). */
  apply(fn: (module: Module) => void): this {
    for (const child of this.children()) child.apply(fn);
    fn(this);
    return this;
  }

  /** Clears every parameter's gradient (set to null, PyTorch's default set_to_none). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /**
   * Moves parameters and buffers to a device and/or converts floating-point ones to a
   * dtype (integer buffers keep theirs, as in PyTorch). Tied parameters stay tied.
   */
  to(target: DType | Device | { dtype?: DType; device?: Device }): this {
    const options =
      typeof target === 'string' ? (isDevice(target) ? { device: target } : { dtype: target as DType }) : target;
    const converted = new Map<Tensor, Tensor>();
    const convert = (t: Tensor): Tensor => {
      let out = converted.get(t);
      if (!out) {
        const floating = /^(float|bfloat)/.test(t.dtype);
        const dtype = floating ? options.dtype : undefined;
        out = noGrad(() => t.to({ dtype, device: options.device }));
        if (out !== t) t.dispose();
        converted.set(t, out);
      }
      return out;
    };
    for (const module of this.modules()) {
      const self = module as unknown as Record<string, Tensor>;
      for (const [name, p] of module.ownParameters()) {
        const requiresGrad = (converted.get(p) ?? p).requiresGrad;
        self[name] = parameter(convert(p), requiresGrad);
      }
      for (const [name, b] of module.ownBuffers()) self[name] = keep(convert(b));
    }
    return this;
  }

  /**
   * A deep copy, like copy.deepcopy: new parameter and buffer tensors (same values,
   * requiresGrad and ties), the same module tree; other settings are shared, being
   * read-only after construction. Modules keeping state in #private fields can't be cloned.
   */
  clone(): this {
    return cloneInto(this, new Map());
  }

  /** Frees every parameter and buffer; the module is unusable afterwards. */
  dispose(): void {
    for (const t of [...this.parameters(), ...this.namedBuffers().map(([, b]) => b)]) t.dispose();
  }

  // ---- printing -------------------------------------------------------------------

  /** One-line description of this module's own settings, shown by toString(). */
  extraRepr(): string {
    return '';
  }

  /** A tree like PyTorch's module repr. */
  toString(): string {
    const children = this.namedChildren();
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (children.length === 0) return `${head})`;
    const lines = children.map(([name, child]) => `(${name}): ${child.toString().replace(/\n/g, '\n  ')}`);
    return `${head}\n  ${lines.join('\n  ')}\n)`;
  }
}

/** loadStateDict's assign: each loaded tensor replaces its target wherever the module tree holds it. */
function assignTensors(root: Module, own: StateDict, incoming: Map<string, Tensor>): void {
  const replacement = new Map<Tensor, Tensor>();
  const taken = new Set<Tensor>();
  noGrad(() => {
    for (const [key, target] of own) {
      const source = incoming.get(key);
      if (!source || replacement.has(target)) continue;
      const converts = source.dtype !== target.dtype || source.device !== target.device;
      // One source under two keys the model keeps apart: a copy each, so no tie appears.
      const value = converts
        ? source.to({ dtype: target.dtype, device: target.device as Device })
        : taken.has(source)
          ? source.clone()
          : source;
      taken.add(source);
      replacement.set(target, value);
    }
  });
  for (const module of root.modules()) {
    const self = module as unknown as Record<string, Tensor>;
    for (const [name, p] of module.ownParameters()) {
      const value = replacement.get(p);
      if (value) self[name] = parameter(value, p.requiresGrad);
    }
    for (const [name, b] of module.ownBuffers()) {
      const value = replacement.get(b);
      if (value) self[name] = keep(value);
    }
  }
  for (const old of replacement.keys()) old.dispose();
}

function cloneInto<M extends Module>(module: M, copies: Map<object, unknown>): M {
  const done = copies.get(module);
  if (done) return done as M;
  const copy = Object.create(Object.getPrototypeOf(module)) as M;
  copies.set(module, copy);
  const own = buffersOf(module);
  bufferNames.set(copy, { all: new Set(own.all), nonPersistent: new Set(own.nonPersistent) });
  const target = copy as unknown as Record<string, unknown>;
  for (const [name, value] of Object.entries(module)) {
    if (value instanceof Module) target[name] = cloneInto(value, copies);
    else if (value instanceof Tensor) {
      let tensor = copies.get(value) as Tensor | undefined;
      if (!tensor) {
        tensor = tidy(() => noGrad(() => value.detach().clone()));
        tensor = isParameter(value) ? parameter(tensor, value.requiresGrad) : keep(tensor);
        copies.set(value, tensor);
      }
      target[name] = tensor;
    } else target[name] = value;
  }
  return copy;
}

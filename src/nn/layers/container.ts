/** Containers: Sequential, ModuleList, ModuleDict (torch/nn/modules/container.py). */
import type { Tensor } from '../../tensor/index.js';
import { Module } from '../module.js';
import { isParameter, parameter } from '../parameter.js';

/** A module whose forward maps one tensor to one tensor; what Sequential chains. */
export interface TensorModule extends Module {
  forward(input: Tensor): Tensor;
}

/** Children named '0', '1', …, so checkpoint keys read `features.0.weight` as in PyTorch. */
abstract class IndexedModules<M extends Module> extends Module {
  constructor(modules: readonly M[]) {
    super();
    modules.forEach((module, i) => this.setAt(i, module));
  }

  private setAt(index: number, module: M): void {
    (this as unknown as Record<string, M>)[String(index)] = module;
  }

  get length(): number {
    return this.namedChildren().length;
  }

  /** The module at `index` (negative counts from the end). */
  at(index: number): M {
    const items = this.children() as M[];
    const module = items[index < 0 ? items.length + index : index];
    if (!module)
      throw new RangeError(`index ${index} out of range for ${this.constructor.name} of length ${items.length}`);
    return module;
  }

  /** Replaces the module at `index` (e.g. a classifier head) in place. */
  set(index: number, module: M): void {
    this.at(index);
    this.setAt(index < 0 ? this.length + index : index, module);
  }

  append(module: M): this {
    this.setAt(this.length, module);
    return this;
  }

  [Symbol.iterator](): Iterator<M> {
    return (this.children() as M[])[Symbol.iterator]();
  }
}

/** Applies its modules in order. */
export class Sequential extends IndexedModules<TensorModule> {
  constructor(...modules: TensorModule[]) {
    super(modules);
  }

  forward(input: Tensor): Tensor {
    let x = input;
    for (const module of this) x = module.forward(x);
    return x;
  }
}

/** Holds submodules in a list, registered so their parameters are found. */
export class ModuleList<M extends Module = Module> extends IndexedModules<M> {
  constructor(modules: readonly M[] = []) {
    super(modules);
  }
}

/** Holds submodules by name. */
export class ModuleDict<M extends Module = Module> extends Module {
  constructor(modules: Record<string, M> = {}) {
    super();
    for (const [name, module] of Object.entries(modules)) this.set(name, module);
  }

  get(name: string): M {
    const module = (this as unknown as Record<string, unknown>)[name];
    if (!(module instanceof Module))
      throw new Error(`ModuleDict has no module '${name}' (has: ${this.keys().join(', ')})`);
    return module as M;
  }

  set(name: string, module: M): void {
    if (name in Module.prototype || name === 'training') throw new Error(`ModuleDict: '${name}' is a reserved name`);
    (this as unknown as Record<string, M>)[name] = module;
  }

  keys(): string[] {
    return this.namedChildren().map(([name]) => name);
  }

  /** Removes the module under `name` (its tensors are not freed: the caller may still use them). */
  delete(name: string): void {
    this.get(name);
    delete (this as unknown as Record<string, unknown>)[name];
  }
}

/** Holds parameters by name (torch.nn.ParameterDict), so keys read `lora_embedding_A.default`. */
export class ParameterDict extends Module {
  get(name: string): Tensor {
    const value = (this as unknown as Record<string, unknown>)[name];
    if (!isParameter(value))
      throw new Error(`ParameterDict has no parameter '${name}' (has: ${this.keys().join(', ')})`);
    return value;
  }

  /** Stores `tensor` as a parameter under `name` (see parameter()). */
  set(name: string, tensor: Tensor, requiresGrad = true): void {
    if (name in Module.prototype || name === 'training') throw new Error(`ParameterDict: '${name}' is a reserved name`);
    (this as unknown as Record<string, Tensor>)[name] = parameter(tensor, requiresGrad);
  }

  delete(name: string): void {
    this.get(name).dispose();
    delete (this as unknown as Record<string, unknown>)[name];
  }

  keys(): string[] {
    return this.ownParameters().map(([name]) => name);
  }
}

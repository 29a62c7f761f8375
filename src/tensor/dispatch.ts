/**
 * Calls any ATen operator by name and overload through libtorch's dispatcher. The addon
 * converts arguments by the operator's schema; here results become Tensors, and results
 * that alias an argument (in-place and out= forms) return that argument's own object.
 */
import { native, type OpInfo, type RawResult } from './native.js';
import { Tensor } from './tensor.js';

/** The addon's call: operator id, keyword arguments, then the positional arguments. */
export const callNative: (id: number, kwargs: object | undefined, ...args: unknown[]) => RawResult = native.callOp;

const ids = new Map<string, number>();

/** The addon's id for an operator overload, resolved once. */
export function opId(name: string, overload: string): number {
  const key = `${name}.${overload}`;
  let id = ids.get(key);
  if (id === undefined) {
    id = native.resolveOp(name, overload);
    ids.set(key, id);
  }
  return id;
}

/**
 * A returned tensor handle as a Tensor. Backward kernels may leave a declared Tensor
 * undefined (an output_mask entry that was false); that comes back as null.
 */
export function asTensor(raw: RawResult): Tensor {
  return (raw === null ? null : Tensor.fromHandle(raw as number)) as Tensor;
}

/** A returned optional tensor (undefined tensors come back as null). */
export function asTensorOrNull(raw: RawResult): Tensor | null {
  return raw === null ? null : Tensor.fromHandle(raw as number);
}

/** A returned tensor list. */
export function asTensorList(raw: RawResult): Tensor[] {
  return (raw as RawResult[]).map(asTensorOrNull) as Tensor[];
}

type Wrap = (raw: RawResult, args: readonly unknown[], kwargs: object | undefined) => unknown;

function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function returnWrapper(info: OpInfo, index: number): Wrap {
  const ret = info.returns[index];
  if (ret.aliasedArg >= 0) {
    const position = ret.aliasedArg;
    const name = info.args[position].name;
    const camel = camelCase(name);
    return (_raw, args, kwargs) => {
      const positional = args[position];
      if (positional !== undefined) return positional;
      const named = kwargs as Record<string, unknown> | undefined;
      return named?.[name] ?? named?.[camel];
    };
  }
  if (ret.type === 'Tensor' || ret.type === 'Optional[Tensor]') return asTensorOrNull;
  if (ret.type === 'List[Tensor]') return asTensorList;
  return (raw) => raw;
}

function resultWrapper(info: OpInfo): Wrap {
  const count = info.returns.length;
  if (count === 0) return () => undefined;
  if (count === 1) return returnWrapper(info, 0);
  const wrappers = info.returns.map((_, i) => returnWrapper(info, i));
  return (raw, args, kwargs) => wrappers.map((wrap, i) => wrap((raw as RawResult[])[i], args, kwargs));
}

const wrappers = new Map<number, Wrap>();

/**
 * Calls an ATen operator by name: `callOp('aten::max', 'dim', [x, 1], { keepdim: true })`
 * returns `[values, indices]`. Arity, types and names are checked against the schema
 * before the call; every failure is a JavaScript Error.
 */
export function callOp(name: string, overload: string, args: readonly unknown[] = [], kwargs?: object): unknown {
  const id = opId(name, overload);
  let wrap = wrappers.get(id);
  if (wrap === undefined) {
    wrap = resultWrapper(native.opInfo(id));
    wrappers.set(id, wrap);
  }
  return wrap(callNative(id, kwargs, ...args), args, kwargs);
}

/** The schema of an operator as libtorch registered it, e.g. for documentation or tooling. */
export function opSchema(name: string, overload = ''): OpInfo {
  return native.opInfo(opId(name, overload));
}

/** Every operator registered with the dispatcher, as [name, overload] pairs. */
export function listOps(): [string, string][] {
  return native.listOps();
}

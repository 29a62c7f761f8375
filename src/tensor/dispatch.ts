/**
 * Calls any ATen operator by name and overload through libtorch's dispatcher. The addon
 * converts arguments by the operator's schema; here results become Tensors, and results
 * that alias an argument (in-place and out= forms) return that argument's own object.
 */
import { native, type OpInfo, type RawResult } from './native.js';
import { Tensor } from './tensor.js';

/** A bound operator: positional arguments in schema order, keyword arguments by name (snake_case or camelCase). */
export type OpCall = (args?: readonly unknown[], kwargs?: object) => unknown;

type Wrap = (raw: RawResult, args: readonly unknown[] | undefined, kwargs: object | undefined) => unknown;

function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function wrapTensor(raw: RawResult): Tensor | null {
  return raw === null ? null : Tensor.fromHandle(raw as number);
}

function returnWrapper(info: OpInfo, index: number): Wrap {
  const ret = info.returns[index];
  if (ret.aliasedArg >= 0) {
    const position = ret.aliasedArg;
    const name = info.args[position].name;
    const camel = camelCase(name);
    return (_raw, args, kwargs) => {
      const positional = args?.[position];
      if (positional !== undefined) return positional;
      const named = kwargs as Record<string, unknown> | undefined;
      return named?.[name] ?? named?.[camel];
    };
  }
  if (ret.type === 'Tensor' || ret.type === 'Optional[Tensor]') return wrapTensor;
  if (ret.type === 'List[Tensor]') return (raw) => (raw as RawResult[]).map(wrapTensor);
  return (raw) => raw;
}

function resultWrapper(info: OpInfo): Wrap {
  const count = info.returns.length;
  if (count === 0) return () => undefined;
  if (count === 1) return returnWrapper(info, 0);
  const wrappers = info.returns.map((_, i) => returnWrapper(info, i));
  return (raw, args, kwargs) => wrappers.map((wrap, i) => wrap((raw as RawResult[])[i], args, kwargs));
}

interface Binding {
  id: number;
  wrap: Wrap;
}

function resolve(name: string, overload: string): Binding {
  const id = native.resolveOp(name, overload);
  return { id, wrap: resultWrapper(native.opInfo(id)) };
}

/** Binds an operator once; the schema is looked up on first call and cached. */
export function bindOp(name: string, overload = ''): OpCall {
  let binding: Binding | undefined;
  return (args, kwargs) => {
    binding ??= resolve(name, overload);
    return binding.wrap(native.callOp(binding.id, args, kwargs), args, kwargs);
  };
}

const bound = new Map<string, OpCall>();

/**
 * Calls an ATen operator by name: `callOp('aten::max', 'dim', [x, 1], { keepdim: true })`
 * returns `[values, indices]`. Arity, types and names are checked against the schema
 * before the call; every failure is a JavaScript Error.
 */
export function callOp(name: string, overload: string, args?: readonly unknown[], kwargs?: object): unknown {
  const key = `${name}.${overload}`;
  let op = bound.get(key);
  if (op === undefined) {
    op = bindOp(name, overload);
    bound.set(key, op);
  }
  return op(args, kwargs);
}

/** The schema of an operator as libtorch registered it, e.g. for documentation or tooling. */
export function opSchema(name: string, overload = ''): OpInfo {
  return native.opInfo(native.resolveOp(name, overload));
}

/** Every operator registered with the dispatcher, as [name, overload] pairs. */
export function listOps(): [string, string][] {
  return native.listOps();
}

/**
 * Tensor memory is scoped, never left to the garbage collector: tidy() and tidyAsync()
 * free every tensor created inside them except those returned or kept, like TF.js's
 * tidy and TorchSharp's DisposeScope. A FinalizationRegistry frees tensors that escape
 * every scope and are collected, as a safety net only. Tensors join it only once they are
 * outside every scope, so the scoped hot path never pays for it and disposal leaves
 * nothing behind in it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

import { native } from './native.js';

/** What a scope needs of a tensor; Tensor implements it. */
export interface Disposable {
  readonly isDisposed: boolean;
  dispose(): void;
}

interface TrackedTensor extends Disposable {
  kept: boolean;
  readonly cell: HandleCell;
}

/** A shared cell so the finalizer can tell whether the tensor was disposed meanwhile. */
export interface HandleCell {
  handle: number;
  /** Registered with the finalizer (the tensor is outside every scope). */
  guarded: boolean;
}

type Scope = TrackedTensor[];

const syncScopes: Scope[] = [];
const asyncScopes = new AsyncLocalStorage<Scope>();
let openAsyncScopes = 0;

const finalizer = new FinalizationRegistry<HandleCell>((cell) => {
  if (cell.handle >= 0) {
    native.dispose(cell.handle);
    cell.handle = -1;
  }
});

function currentScope(): Scope | undefined {
  const depth = syncScopes.length;
  if (depth > 0) return syncScopes[depth - 1];
  return openAsyncScopes > 0 ? asyncScopes.getStore() : undefined;
}

function guard(tensor: TrackedTensor): void {
  const cell = tensor.cell;
  if (cell.guarded || cell.handle < 0) return;
  cell.guarded = true;
  finalizer.register(tensor, cell, cell);
  native.markUnscoped(cell.handle);
}

/** Called by every new Tensor: joins the innermost open scope, or else the safety net. */
export function track(tensor: TrackedTensor): void {
  const scope = currentScope();
  if (scope) scope.push(tensor);
  else guard(tensor);
}

/** Called on dispose(): the safety net lets go of the tensor. */
export function untrack(cell: HandleCell): void {
  if (cell.guarded) {
    finalizer.unregister(cell);
    cell.guarded = false;
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** Every tensor reachable from a scope's result through arrays, plain objects, Maps and Sets. */
function reachableTensors(value: unknown, found: Set<unknown>, seen: Set<unknown>): void {
  if (typeof value !== 'object' || value === null || seen.has(value)) return;
  seen.add(value);
  if (isTracked(value)) {
    found.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const element of value) reachableTensors(element, found, seen);
  } else if (value instanceof Map) {
    for (const element of value.values()) reachableTensors(element, found, seen);
  } else if (value instanceof Set) {
    for (const element of value) reachableTensors(element, found, seen);
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      for (const element of Object.values(value)) reachableTensors(element, found, seen);
    }
  }
}

function isTracked(value: object): boolean {
  return 'kept' in value && 'isDisposed' in value;
}

/** Disposes a closed scope's tensors, handing those in `result` up to the enclosing scope. */
function closeScope(scope: Scope, result: unknown): void {
  if (scope.length === 0) return;
  // The common results (nothing, a number, one tensor) need no walk of the result.
  let returned: Set<unknown> | undefined;
  let single: unknown;
  if (typeof result === 'object' && result !== null) {
    if (isTracked(result)) single = result;
    else reachableTensors(result, (returned = new Set()), new Set());
  }
  const parent = currentScope();
  for (const tensor of scope) {
    if (tensor.kept || tensor.isDisposed) continue;
    if (tensor !== single && !returned?.has(tensor)) tensor.dispose();
    else if (parent) parent.push(tensor);
    else guard(tensor);
  }
}

/**
 * Runs `fn` and disposes every tensor it created, except the tensors it returns (found
 * through arrays and plain objects) and those passed to keep(). Synchronous only: use
 * tidyAsync() for async functions.
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = [];
  syncScopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    syncScopes.pop();
    closeScope(scope, undefined);
    throw error;
  }
  syncScopes.pop();
  if (isPromiseLike(result)) {
    closeScope(scope, undefined);
    throw new Error(
      'tidy() was given an async function; use tidyAsync() so tensors created after an await are tracked',
    );
  }
  closeScope(scope, result);
  return result;
}

/**
 * tidy() for async functions: tensors created anywhere in `fn`'s async call tree (tracked
 * with AsyncLocalStorage) are disposed when its promise settles, except those it resolves to.
 */
export async function tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
  const scope: Scope = [];
  openAsyncScopes++;
  try {
    const result = await asyncScopes.run(scope, fn);
    closeScope(scope, result);
    return result;
  } catch (error) {
    closeScope(scope, undefined);
    throw error;
  } finally {
    openAsyncScopes--;
  }
}

/** Exempts tensors from disposal by any scope; they live until dispose() is called on them. */
export function keep<T extends Disposable>(tensor: T): T {
  const tracked = tensor as unknown as TrackedTensor;
  tracked.kept = true;
  guard(tracked);
  return tensor;
}

/** Disposes a tensor, or every tensor reachable from a container (arrays, plain objects, Maps, Sets). */
export function dispose(value: unknown): void {
  const found = new Set<unknown>();
  reachableTensors(value, found, new Set());
  for (const tensor of found) (tensor as Disposable).dispose();
}

/** Live tensors and the bytes of their distinct storages, named as TF.js names them. */
export function memory(): { numTensors: number; numBytes: number } {
  return native.memory();
}

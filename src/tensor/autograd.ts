/** Autograd switches. Gradients themselves are on Tensor: backward(), grad, requiresGrad. */
import { native } from './native.js';
import { Tensor } from './tensor.js';

/**
 * Runs `fn` with a per-thread libtorch state set by `enter`, and `restore`s it after, also when fn throws.
 * fn must be synchronous — the state would leak across an await into whatever runs meanwhile — so a
 * promise is refused with `refusal`.
 */
export function withThreadState<T>(enter: () => void, restore: () => void, fn: () => T, refusal: string): T {
  enter();
  try {
    const result = fn();
    if (typeof (result as { then?: unknown } | null)?.then === 'function') throw new Error(refusal);
    return result;
  } finally {
    restore();
  }
}

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const previous = native.isGradEnabled();
  return withThreadState(
    () => native.setGradEnabled(enabled),
    () => native.setGradEnabled(previous),
    fn,
    'noGrad()/enableGrad() take synchronous functions: grad mode is per thread and would leak across await',
  );
}

/** Runs `fn` without recording operations for autograd, like `with torch.no_grad():`. */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with gradient recording on, even inside noGrad(). */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

/** Whether operations are currently recorded for autograd. */
export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}

export interface GradOptions {
  /** The vector in the vector–Jacobian product, one per output (default: ones for scalar outputs). */
  gradOutputs?: (Tensor | null)[];
  /** Keep the graph for another backward (default: createGraph). */
  retainGraph?: boolean;
  /** Record the gradient computation itself, so the gradients can be differentiated again. */
  createGraph?: boolean;
  /** Give null for inputs the outputs don't depend on instead of throwing. */
  allowUnused?: boolean;
}

/**
 * Gradients of `outputs` with respect to `inputs`, returned instead of accumulated into
 * `.grad` (torch.autograd.grad). With createGraph they are differentiable again, as GradNorm needs.
 */
export function grad(
  outputs: Tensor | Tensor[],
  inputs: Tensor | Tensor[],
  options: GradOptions = {},
): (Tensor | null)[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  const ins = Array.isArray(inputs) ? inputs : [inputs];
  const gradOutputs = options.gradOutputs ? options.gradOutputs.map((g) => (g ? g.handle : null)) : null;
  const handles = native.autogradGrad(
    outs.map((t) => t.handle),
    ins.map((t) => t.handle),
    gradOutputs,
    options.retainGraph,
    options.createGraph ?? false,
    options.allowUnused ?? false,
  );
  return handles.map((h) => (h === null ? null : Tensor.fromHandle(h)));
}

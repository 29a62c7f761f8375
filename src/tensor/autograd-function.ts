/**
 * Custom autograd Functions written in TypeScript, as torch.autograd.Function: a forward that runs
 * without recording, a backward the autograd engine calls with the outputs' gradients.
 *
 *   class Exp extends AutogradFunction {
 *     static forward(ctx: FunctionCtx, x: Tensor): Tensor {
 *       const y = x.exp();
 *       ctx.saveForBackward(y);
 *       return y;
 *     }
 *     static backward(ctx: FunctionCtx, gradY: Tensor): Tensor {
 *       return gradY.mul(ctx.savedTensors[0]);
 *     }
 *   }
 *   const y = Exp.apply(x);
 *
 * backward runs synchronously on the JavaScript thread inside backward()/grad() (libtorch's engine runs
 * CPU backward on the calling thread); an error it throws comes out of that backward()/grad() call.
 * CPU tensors only: libtorch runs CUDA backward on its own device threads, where no JavaScript may run.
 */
import { aten } from './aten.js';
import { isGradEnabled } from './autograd.js';
import { native } from './native.js';
import { tidy } from './scope.js';
import { Tensor } from './tensor.js';

/** What forward leaves for backward (torch's ctx): saved tensors, which inputs need a gradient, and any fields set on it. */
export class FunctionCtx {
  /** One per forward argument: whether backward must give it a gradient (false for non-tensors). */
  readonly needsInputGrad: readonly boolean[];
  private toSave: Tensor[] = [];
  private saved: Tensor[] | null = null;
  private nonDifferentiable = new Set<Tensor>();
  /** Fields forward sets for backward (non-tensor state: shapes, flags); save tensors with saveForBackward. */
  [field: string]: unknown;

  constructor(needsInputGrad: boolean[]) {
    this.needsInputGrad = needsInputGrad;
  }

  /**
   * Keeps tensors (inputs or outputs) for backward, as libtorch's SavedVariable: a tensor set as a
   * plain field of ctx is disposed when forward's scope ends, a saved one lives until backward.
   */
  saveForBackward(...tensors: Tensor[]): void {
    this.toSave = tensors;
  }

  /** The tensors saveForBackward kept, in backward only. */
  get savedTensors(): Tensor[] {
    if (!this.saved) throw new Error('ctx.savedTensors is only available in backward');
    return this.saved;
  }

  /** Outputs that have no gradient (indices, masks): their gradient in backward is zeros. */
  markNonDifferentiable(...outputs: Tensor[]): void {
    for (const output of outputs) this.nonDifferentiable.add(output);
  }

  /** @internal */
  pendingSaves(): Tensor[] {
    return this.toSave;
  }
  /** @internal */
  isNonDifferentiable(output: Tensor): boolean {
    return this.nonDifferentiable.has(output);
  }
  /** @internal */
  setSaved(saved: Tensor[] | null): void {
    this.saved = saved;
  }
}

type Gradients = Tensor | null | undefined | (Tensor | null | undefined)[];

/** A class with torch.autograd.Function's static forward and backward. */
export interface FunctionClass<Args extends unknown[], Out extends Tensor | Tensor[]> {
  readonly name: string;
  forward(ctx: FunctionCtx, ...args: Args): Out;
  backward(ctx: FunctionCtx, ...gradOutputs: Tensor[]): Gradients;
}

/**
 * Base class of custom autograd Functions: subclasses define static forward(ctx, ...args) and
 * static backward(ctx, ...gradOutputs) and are called with Subclass.apply(...args).
 * Arguments may be tensors or anything else (numbers, options, null); backward returns one gradient
 * (or null) per argument, null for those that are not tensors or need none. Outputs the loss did not
 * use get zero gradients, as in PyTorch.
 */
export abstract class AutogradFunction {
  static apply<Args extends unknown[], Out extends Tensor | Tensor[]>(
    this: FunctionClass<Args, Out>,
    ...args: Args
  ): Out {
    return applyFunction(this, args);
  }
}

function applyFunction<Args extends unknown[], Out extends Tensor | Tensor[]>(
  fn: FunctionClass<Args, Out>,
  args: Args,
): Out {
  const tensorPositions = args.flatMap((arg, i) => (arg instanceof Tensor ? [i] : []));
  const tensorArgs = tensorPositions.map((i) => args[i] as Tensor);
  const recording = isGradEnabled();
  const ctx = new FunctionCtx(args.map((arg) => recording && arg instanceof Tensor && arg.requiresGrad));
  let single = false;
  let made = new Set<Tensor>();
  const forward = (): [number[], number[], number[]] => {
    const { outputs, saved } = tidy(() => {
      const result = fn.forward(ctx, ...args);
      single = !Array.isArray(result);
      return { outputs: Array.isArray(result) ? result : [result], saved: ctx.pendingSaves() };
    });
    made = new Set([...outputs, ...saved]);
    const nonDifferentiable = outputs.flatMap((output, i) => (ctx.isNonDifferentiable(output) ? [i] : []));
    return [outputs.map((t) => t.handle), saved.map((t) => t.handle), nonDifferentiable];
  };
  let granted: Tensor[] = [];
  const backward = (gradHandles: (number | null)[], savedHandles: (number | null)[]): (number | null)[] => {
    const grads = tidy(() => {
      const gradOutputs = gradHandles.map((h) => Tensor.fromHandle(h!));
      ctx.setSaved(savedHandles.map((h) => Tensor.fromHandle(h!)));
      try {
        // Aliases, so that the engine's copies are ours to free in release(), whatever backward returned.
        return inputGradients(fn, args, fn.backward(ctx, ...gradOutputs)).map((g) => g && aten.view_as(g, g));
      } finally {
        ctx.setSaved(null);
      }
    });
    granted = grads.filter((g): g is Tensor => g !== null);
    return tensorPositions.map((i) => grads[i]?.handle ?? null);
  };
  const release = (): void => {
    for (const g of granted) g.dispose();
    granted = [];
  };
  let outputs: Tensor[];
  try {
    const handles = native.autogradFunctionApply(
      tensorArgs.map((t) => t.handle),
      forward,
      backward,
      release,
    );
    outputs = handles.map((h) => Tensor.fromHandle(h));
  } finally {
    for (const t of made) if (!args.includes(t)) t.dispose();
  }
  return (single ? outputs[0] : outputs) as Out;
}

/** backward's result, one gradient or null per forward argument, checked as PyTorch checks it. */
function inputGradients(fn: { name: string }, args: unknown[], result: Gradients): (Tensor | null)[] {
  const grads = Array.isArray(result) ? result : [result];
  if (grads.length !== args.length) {
    throw new Error(
      `${fn.name}.backward returned ${grads.length} gradient(s) but forward took ${args.length} argument(s): return one per argument (null where there is none)`,
    );
  }
  return grads.map((g, i) => {
    if (g === null || g === undefined) return null;
    if (!(g instanceof Tensor)) throw new Error(`${fn.name}.backward returned a non-tensor gradient at position ${i}`);
    if (!(args[i] instanceof Tensor)) {
      throw new Error(
        `${fn.name}.backward returned a gradient at position ${i}, whose forward argument is not a tensor`,
      );
    }
    return g;
  });
}

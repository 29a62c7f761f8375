/**
 * Activation checkpointing (torch.utils.checkpoint): run a function without keeping its
 * intermediate activations, and run it again in backward to get them, trading compute for memory.
 */
import { enableGrad, grad } from './autograd.js';
import { autocast, autocastState, type AutocastOptions } from './autocast.js';
import { AutogradFunction, type FunctionCtx } from './autograd-function.js';
import { getRngState, setRngState } from './runtime.js';
import { Tensor } from './tensor.js';
import { dispose } from './scope.js';
import type { Device } from './types.js';

export interface CheckpointOptions {
  /**
   * The trainable tensors `fn` uses besides its arguments (a layer's parameters). They become inputs
   * of the checkpoint, so they get gradients even when no argument requires grad — the frozen-input
   * case (frozen embeddings under LoRA) where PyTorch's reentrant checkpoint gives them none and
   * transformers needs enable_input_require_grads(). Parameters that need no gradient are skipped.
   */
  parameters?: Iterable<Tensor>;
  /** Restore the CPU random generator before recomputing, so dropout draws the same masks (default true). */
  preserveRngState?: boolean;
  /**
   * Wraps the recomputation in backward and the gradients through it (e.g. to undo side effects such as
   * BatchNorm's running statistics once the recomputed graph is no longer needed).
   */
  recompute?: <T>(run: () => T) => T;
}

/**
 * Runs `fn(...args)` without saving the activations inside it, saving only its tensor arguments,
 * and recomputes it in backward with the same random state and CPU autocast state. Returns what fn returns (a tensor or an
 * array of tensors). Tensors fn uses must come in through `args` or options.parameters: a tensor fn
 * closes over is not saved and may be disposed before backward.
 */
export function checkpoint<Args extends unknown[], Out extends Tensor | Tensor[]>(
  fn: (...args: Args) => Out,
  args: Args,
  options: CheckpointOptions = {},
): Out {
  const parameters = [...(options.parameters ?? [])].filter((p) => p.requiresGrad);
  const run: CheckpointRun = {
    fn: fn as unknown as CheckpointRun['fn'],
    argCount: args.length,
    preserveRngState: options.preserveRngState ?? true,
    recompute: options.recompute ?? ((recomputeFn) => recomputeFn()),
  };
  return CheckpointFunction.apply(run, ...args, ...parameters) as Out;
}

interface CheckpointRun {
  fn: (...args: unknown[]) => Tensor | Tensor[];
  argCount: number;
  preserveRngState: boolean;
  recompute: <T>(run: () => T) => T;
}

class CheckpointFunction extends AutogradFunction {
  static forward(ctx: FunctionCtx, run: CheckpointRun, ...inputs: unknown[]): Tensor | Tensor[] {
    const args = inputs.slice(0, run.argCount);
    ctx.run = run;
    // Tensor arguments go through saveForBackward; the rest (null masks, options) stay on ctx.
    ctx.isTensor = args.map((arg) => arg instanceof Tensor);
    ctx.otherArgs = args.map((arg) => (arg instanceof Tensor ? null : arg));
    ctx.parameters = inputs.slice(run.argCount);
    const tensors = args.filter((arg): arg is Tensor => arg instanceof Tensor);
    // The recomputation runs under forward's autocast state (the CPU's, and the GPU's when the arguments
    // are there), as torch's checkpoint does: backward usually runs outside the caller's autocast() region.
    const gpu = tensors.some((t) => t.device.startsWith('cuda'));
    ctx.autocast = { cpu: autocastState('cpu'), ...(gpu ? { cuda: autocastState('cuda') } : {}) };
    // The generators to replay: the CPU's, and those of the GPUs the arguments are on (torch's
    // get_device_states), so that dropout draws the same masks in the recomputation.
    const rngDevices: Device[] = run.preserveRngState
      ? ['cpu', ...new Set(tensors.map((t) => t.device as Device).filter((d) => d.startsWith('cuda')))]
      : [];
    ctx.rngDevices = rngDevices;
    ctx.saveForBackward(...rngDevices.map((device) => getRngState(device)), ...tensors);
    const out = run.fn(...args);
    // An argument returned unchanged would be both an input and an output of the Function.
    const fresh = (t: Tensor): Tensor => (args.includes(t) ? t.clone() : t);
    return Array.isArray(out) ? out.map(fresh) : fresh(out);
  }

  static backward(ctx: FunctionCtx, ...gradOutputs: Tensor[]): (Tensor | null)[] {
    const run = ctx.run as CheckpointRun;
    const saved = [...ctx.savedTensors];
    const rngDevices = ctx.rngDevices as Device[];
    const rngStates = rngDevices.map(() => saved.shift()!);
    const needs = ctx.needsInputGrad.slice(1);
    // The recomputed graph starts at detached copies of the arguments, so grad() stops there.
    const args = (ctx.otherArgs as unknown[]).map((arg, i) =>
      (ctx.isTensor as boolean[])[i] ? saved.shift()!.detach().requiresGrad_(needs[i]) : arg,
    );
    const parameters = ctx.parameters as Tensor[];
    const inputs = [...args, ...parameters];
    const targets = inputs.filter((input, i): input is Tensor => input instanceof Tensor && needs[i]);
    const grads = run.recompute(() => {
      const outerRngStates = rngDevices.map((device) => getRngState(device));
      rngDevices.forEach((device, i) => setRngState(rngStates[i], device));
      let recomputed: Tensor | Tensor[];
      try {
        const states = ctx.autocast as Partial<Record<'cpu' | 'cuda', ReturnType<typeof autocastState>>>;
        const underAutocast = (deviceType: 'cpu' | 'cuda', fn: () => Tensor | Tensor[]) => () => {
          const state = states[deviceType];
          if (!state) return fn();
          const dtype = state.dtype as NonNullable<AutocastOptions['dtype']>;
          return autocast(fn, { deviceType, enabled: state.enabled, dtype });
        };
        recomputed = enableGrad(
          underAutocast(
            'cuda',
            underAutocast('cpu', () => run.fn(...args)),
          ),
        );
      } finally {
        rngDevices.forEach((device, i) => setRngState(outerRngStates[i], device));
        dispose(outerRngStates);
      }
      const outputs = Array.isArray(recomputed) ? recomputed : [recomputed];
      const differentiable = outputs.flatMap((out, i) => (out.requiresGrad ? [i] : []));
      if (differentiable.length === 0 || targets.length === 0) return targets.map(() => null);
      return grad(
        differentiable.map((i) => outputs[i]),
        targets,
        { gradOutputs: differentiable.map((i) => gradOutputs[i]), allowUnused: true },
      );
    });
    let next = 0;
    return [null, ...inputs.map((input, i) => (input instanceof Tensor && needs[i] ? grads[next++] : null))];
  }
}

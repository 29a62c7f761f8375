/**
 * Gradient checkpointing for a model's repeated layers (transformers' GradientCheckpointingLayer):
 * with it on, each layer keeps only its inputs in forward and recomputes its activations in backward.
 */
import { checkpoint, dispose, isGradEnabled, noGrad, type Tensor } from '../tensor/index.js';
import { Module } from './module.js';

/**
 * A layer gradient checkpointing can recompute: its forward runs its body through checkpointed(). The
 * layer's parameters are inputs of the checkpoint, so trainable weights inside it (LoRA, adapters) get
 * gradients even when the layer's input needs none — frozen embeddings, the case transformers covers
 * with enable_input_require_grads().
 */
export abstract class GradientCheckpointingLayer extends Module {
  /** Set by setGradientCheckpointing (model.gradientCheckpointingEnable()). */
  gradientCheckpointing = false;

  /**
   * Runs `body(...args)`, checkpointed while gradient checkpointing is on and autograd records. Unlike
   * transformers, eval mode is checkpointed too: what matters is whether a backward will follow.
   */
  protected checkpointed<Args extends unknown[]>(body: (...args: Args) => Tensor, ...args: Args): Tensor {
    if (!this.gradientCheckpointing || !isGradEnabled()) return body(...args);
    return checkpoint(body, args, {
      parameters: this.parameters(),
      recompute: (run) => this.withBuffersRestored(run),
    });
  }

  /**
   * Runs the recomputation (and the backward through it, which reads the buffers BatchNorm saved) and
   * then puts the buffers back as forward left them: BatchNorm in training mode updates its running
   * statistics once per step, as without checkpointing (torch's checkpoint updates them twice).
   */
  private withBuffersRestored<T>(run: () => T): T {
    const buffers = this.training ? this.namedBuffers().map(([, buffer]) => buffer) : [];
    if (buffers.length === 0) return run();
    const before = noGrad(() => buffers.map((buffer) => buffer.clone()));
    try {
      return run();
    } finally {
      noGrad(() => buffers.forEach((buffer, i) => buffer.copy_(before[i])));
      dispose(before);
    }
  }
}

/**
 * Turns gradient checkpointing on or off for every GradientCheckpointingLayer in `model` (a model, a
 * PeftModel, any Module) and returns how many layers it set; 0 means the model has none.
 */
export function setGradientCheckpointing(model: Module, enabled: boolean): number {
  let layers = 0;
  for (const module of model.modules()) {
    if (module instanceof GradientCheckpointingLayer) {
      module.gradientCheckpointing = enabled;
      layers++;
    }
  }
  return layers;
}

/** Whether any layer of `model` has gradient checkpointing on. */
export function isGradientCheckpointing(model: Module): boolean {
  return model.modules().some((module) => module instanceof GradientCheckpointingLayer && module.gradientCheckpointing);
}

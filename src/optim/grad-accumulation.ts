/**
 * Gradient accumulation: take an optimizer step every `steps` micro-batches, with the gradients
 * of all of them summed. Each micro-batch's loss is divided by `steps` before backward, so that
 * for equal-sized micro-batches and a mean-reduced loss the accumulated gradient is the gradient
 * of the mean loss over the whole effective batch (steps × micro-batch size) — what
 * `loss = loss / gradient_accumulation_steps` does in PyTorch training loops and HF Trainer.
 *
 *   const accumulation = new GradientAccumulation(4);
 *   for (const batch of batches) {
 *     tidy(() => accumulation.backward(lossOf(batch)));
 *     if (accumulation.ready) { clipGradNorm_(params, 1).dispose(); optimizer.step(); optimizer.zeroGrad(); accumulation.reset(); }
 *   }
 *
 * At the end of an epoch a partial cycle (fewer than `steps` micro-batches) still holds gradients
 * scaled by 1/steps: step on it (`pending > 0`), as HF Trainer does, or zeroGrad to drop it.
 * Schedules count optimizer steps, not micro-batches.
 */
import type { Tensor } from '../tensor/index.js';

export class GradientAccumulation {
  /** Micro-batches per optimizer step. */
  readonly steps: number;
  #pending = 0;

  constructor(steps: number) {
    if (!Number.isInteger(steps) || steps < 1)
      throw new RangeError(`gradient accumulation steps must be a positive integer, got ${steps}`);
    this.steps = steps;
  }

  /** Micro-batches accumulated since the last reset(). */
  get pending(): number {
    return this.#pending;
  }

  /** Whether `steps` micro-batches have been accumulated: time for the optimizer step. */
  get ready(): boolean {
    return this.#pending >= this.steps;
  }

  /** The loss to backpropagate for one micro-batch: loss / steps (the same tensor when steps is 1). */
  scale(loss: Tensor): Tensor {
    return this.steps === 1 ? loss : loss.div(this.steps);
  }

  /** Backpropagates loss / steps and counts the micro-batch; returns `ready`. */
  backward(loss: Tensor): boolean {
    const scaled = this.scale(loss);
    scaled.backward();
    if (scaled !== loss) scaled.dispose();
    this.#pending++;
    return this.ready;
  }

  /** Starts a new cycle (call after the optimizer step, or after dropping a partial cycle). */
  reset(): void {
    this.#pending = 0;
  }
}

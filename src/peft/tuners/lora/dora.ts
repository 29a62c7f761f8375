/**
 * DoRA's magnitude vector (Liu et al., 2024; PEFT's tuners/lora/dora.py): the weight is
 * split into a learned magnitude m per output row and the direction of W + ΔW, so
 * W' = m · (W + ΔW) / ‖W + ΔW‖ with the norm taken per row (per output channel of a
 * convolution) and treated as a constant in backward. A Linear's m is [out]; a convolution's is
 * [1, out, 1, 1], PEFT's layout, which scales the channels of the conv's output as it is.
 */
import { empty, type Tensor } from '../../../tensor/index.js';
import { Module, parameter } from '../../../nn/index.js';

export class DoraMagnitude extends Module {
  weight: Tensor = parameter(empty([0]));

  /** Starts m at ‖W + s·ΔW‖ so the layer's output is unchanged at initialisation. */
  initFrom(baseWeight: Tensor, delta: Tensor, scaling: number): void {
    this.weight.dispose();
    this.weight = parameter(this.weightNorm(baseWeight, delta, scaling).detach());
  }

  /** ‖W + s·ΔW‖ over every dimension but the output one: [out] for a Linear, [1, out, 1, 1] for a Conv2d. */
  weightNorm(baseWeight: Tensor, delta: Tensor, scaling: number): Tensor {
    const combined = baseWeight.add(delta.mul(scaling));
    const dims = Array.from({ length: combined.dim() - 1 }, (_, i) => i + 1);
    if (combined.dim() === 2) return combined.norm(2, dims);
    return combined.norm(2, dims, true).transpose(0, 1);
  }

  /** m / norm, shaped to scale the rows of a weight with `weightDims` dimensions. */
  factor(norm: Tensor, weightDims: number): Tensor {
    return this.weight.div(norm).view(-1, ...Array<number>(weightDims - 1).fill(1));
  }
}

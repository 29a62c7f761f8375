/**
 * Checks autograd against central finite differences, like torch.autograd.gradcheck.
 * The output is projected onto a random vector v, so for every differentiable input x
 * the analytic vector-Jacobian product vᵀ·∂f/∂x (from one backward) is compared element
 * by element with (vᵀf(x + eps·eᵢ) − vᵀf(x − eps·eᵢ)) / 2eps.
 */
import assert from 'node:assert/strict';

import { noGrad, randn, tidy, type Tensor } from 'finetune';

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
}

export interface GradMismatch {
  input: number;
  element: number;
  analytic: number;
  numeric: number;
}

export interface GradcheckResult {
  /** Elements compared, over all differentiable inputs. */
  checked: number;
  mismatches: GradMismatch[];
}

type Fn = (...inputs: Tensor[]) => Tensor;

function projectedValue(fn: Fn, inputs: Tensor[], projection: Float64Array): number {
  return tidy(() => {
    const values = noGrad(() => fn(...inputs)).data() as Float64Array;
    let total = 0;
    for (let i = 0; i < values.length; i++) total += values[i] * projection[i];
    return total;
  });
}

/**
 * Differentiates `fn` with respect to every input that has requiresGrad set (each must be
 * float64); other inputs (index tensors, masks) are passed through unchanged. The inputs
 * themselves are not modified and get no .grad.
 */
export function gradcheck(fn: Fn, inputs: Tensor[], options: GradcheckOptions = {}): GradcheckResult {
  const { eps = 1e-6, atol = 1e-5, rtol = 1e-3 } = options;
  return tidy(() => {
    const differentiable = inputs.map((x) => x.requiresGrad);
    assert.ok(differentiable.some(Boolean), 'gradcheck: no input has requiresGrad set');
    for (const [i, x] of inputs.entries()) {
      if (!differentiable[i]) continue;
      assert.equal(x.dtype, 'float64', `gradcheck: input ${i} must be float64, is ${x.dtype}`);
      // data() of a non-CPU tensor is a copy, so perturbations would not reach it
      assert.equal(x.device, 'cpu', `gradcheck: input ${i} must be on the CPU, is on ${x.device}`);
    }

    const leaves = inputs.map((x, i) => (differentiable[i] ? x.detach().clone().requiresGrad_() : x));
    const output = fn(...leaves);
    assert.equal(output.dtype, 'float64', `gradcheck: output must be float64, is ${output.dtype}`);
    assert.ok(output.requiresGrad, 'gradcheck: output does not require grad, so no gradient reaches the inputs');
    const projection = randn(output.shape, { dtype: 'float64' });
    output.backward(projection);
    const projectionValues = Float64Array.from(projection.data() as Float64Array);

    // Perturbed copies: writes through data() land in the tensor because a fresh clone is contiguous on the CPU.
    const probes = inputs.map((x, i) => (differentiable[i] ? x.detach().clone() : x));
    const mismatches: GradMismatch[] = [];
    let checked = 0;
    for (const [i, leaf] of leaves.entries()) {
      if (!differentiable[i]) continue;
      const grad = leaf.grad;
      const analytic = grad === null ? new Float64Array(leaf.numel()) : (grad.data() as Float64Array);
      const probeValues = probes[i].data() as Float64Array;
      for (let element = 0; element < probeValues.length; element++) {
        const original = probeValues[element];
        probeValues[element] = original + eps;
        const above = projectedValue(fn, probes, projectionValues);
        probeValues[element] = original - eps;
        const below = projectedValue(fn, probes, projectionValues);
        probeValues[element] = original;
        const numeric = (above - below) / (2 * eps);
        checked++;
        if (!(Math.abs(analytic[element] - numeric) <= atol + rtol * Math.abs(numeric))) {
          mismatches.push({ input: i, element, analytic: analytic[element], numeric });
        }
      }
    }
    return { checked, mismatches };
  });
}

/** Throws an AssertionError listing the first mismatches when autograd disagrees with finite differences. */
export function assertGradcheck(fn: Fn, inputs: Tensor[], options?: GradcheckOptions): void {
  const { checked, mismatches } = gradcheck(fn, inputs, options);
  assert.ok(checked > 0, 'gradcheck compared no elements');
  if (mismatches.length > 0) {
    const shown = mismatches
      .slice(0, 5)
      .map((m) => `input ${m.input}[${m.element}]: analytic ${m.analytic}, numeric ${m.numeric}`)
      .join('\n  ');
    assert.fail(`gradient mismatch in ${mismatches.length} of ${checked} elements:\n  ${shown}`);
  }
}

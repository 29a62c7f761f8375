/**
 * Gradient clipping as torch.nn.utils: clipGradNorm_ (one `_foreach_norm` per (device, dtype)
 * bucket, the norm of the norms, one multi-tensor scale), clipGradValue_, and the two halves of
 * clipGradNorm_, getTotalNorm and clipGradsWithNorm_. Parameters without a grad are skipped.
 * Everything runs under noGrad; temporaries are freed before returning.
 */
import { aten, noGrad, tidy, type Device, type Tensor } from '../tensor/index.js';
import { byDeviceAndDtype } from './optimizer.js';

/** A p-norm order: a number, or 'inf' / Infinity for the largest absolute value. */
export type NormType = number | 'inf' | '-inf';

export interface ClipGradNormOptions {
  /** Throw when the total norm is NaN or infinite instead of scaling by it (false, as PyTorch). */
  errorIfNonfinite?: boolean;
}

function order(normType: NormType): number {
  if (normType === 'inf') return Infinity;
  if (normType === '-inf') return -Infinity;
  if (typeof normType !== 'number' || Number.isNaN(normType))
    throw new TypeError(`normType must be a number or 'inf', got ${String(normType)}`);
  return normType;
}

function gradsOf(parameters: Tensor | readonly Tensor[]): Tensor[] {
  const list = Array.isArray(parameters) ? (parameters as readonly Tensor[]) : [parameters as Tensor];
  const grads: Tensor[] = [];
  for (const p of list) {
    const grad = p.grad;
    if (grad !== null) grads.push(grad);
  }
  return grads;
}

/**
 * The p-norm of the tensors taken together, as if concatenated into one vector
 * (torch.nn.utils.get_total_norm): a 0-d tensor on the first tensor's device.
 */
export function getTotalNorm(
  tensors: Tensor | readonly Tensor[],
  normType: NormType = 2,
  options: ClipGradNormOptions = {},
): Tensor {
  const list = Array.isArray(tensors) ? (tensors as readonly Tensor[]) : [tensors as Tensor];
  const ord = order(normType);
  return noGrad(() =>
    tidy(() => {
      if (list.length === 0) return aten.scalar_tensor(0, { dtype: 'float32' });
      const firstDevice = list[0].device as Device;
      const norms: Tensor[] = [];
      for (const bucket of byDeviceAndDtype(list, (t) => t).values())
        norms.push(...aten._foreach_norm_Scalar(bucket.items, ord));
      const total = aten.linalg_vector_norm(
        aten.stack(norms.map((n) => (n.device === firstDevice ? n : n.to(firstDevice)))),
        ord,
      );
      if (options.errorIfNonfinite && !Number.isFinite(total.item())) {
        throw new Error(
          `The total norm of order ${ord} for gradients from \`parameters\` is non-finite, so it cannot be clipped. ` +
            'To disable this error and scale the gradients by the non-finite norm anyway, set `errorIfNonfinite: false`',
        );
      }
      return total;
    }),
  );
}

/**
 * Scales the parameters' gradients in place by min(maxNorm / (totalNorm + 1e-6), 1)
 * (torch.nn.utils.clip_grads_with_norm_), always multiplying, as PyTorch does (no host sync).
 */
export function clipGradsWithNorm_(parameters: Tensor | readonly Tensor[], maxNorm: number, totalNorm: Tensor): void {
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm))
    throw new TypeError(`maxNorm must be a number, got ${String(maxNorm)}`);
  noGrad(() =>
    tidy(() => {
      const grads = gradsOf(parameters);
      if (grads.length === 0) return;
      // Python's `max_norm / (total_norm + 1e-6)` is Tensor.__rtruediv__: reciprocal, then multiply.
      const coef = aten.clamp(aten.mul_Scalar(aten.reciprocal(aten.add_Scalar(totalNorm, 1e-6)), maxNorm), null, 1.0);
      for (const bucket of byDeviceAndDtype(grads, (g) => g).values()) {
        aten._foreach_mul__Tensor(
          bucket.items,
          coef.device === bucket.device ? coef : coef.to(bucket.device as Device),
        );
      }
    }),
  );
}

/**
 * Clips the parameters' gradients in place so that their total p-norm is at most maxNorm
 * (torch.nn.utils.clip_grad_norm_), and returns the total norm before clipping: a 0-d tensor in
 * the caller's scope (`.item()` reads it).
 */
export function clipGradNorm_(
  parameters: Tensor | readonly Tensor[],
  maxNorm: number,
  normType: NormType = 2,
  options: ClipGradNormOptions = {},
): Tensor {
  return noGrad(() =>
    tidy(() => {
      const grads = gradsOf(parameters);
      if (grads.length === 0) return aten.scalar_tensor(0, { dtype: 'float32' });
      const total = getTotalNorm(grads, normType, options);
      clipGradsWithNorm_(parameters, maxNorm, total);
      return total;
    }),
  );
}

/** Clamps every gradient in place to [−clipValue, clipValue] (torch.nn.utils.clip_grad_value_). */
export function clipGradValue_(parameters: Tensor | readonly Tensor[], clipValue: number): void {
  if (typeof clipValue !== 'number' || Number.isNaN(clipValue))
    throw new TypeError(`clipValue must be a number, got ${String(clipValue)}`);
  noGrad(() =>
    tidy(() => {
      for (const bucket of byDeviceAndDtype(gradsOf(parameters), (g) => g).values()) {
        aten._foreach_clamp_min__Scalar(bucket.items, -clipValue);
        aten._foreach_clamp_max__Scalar(bucket.items, clipValue);
      }
    }),
  );
}

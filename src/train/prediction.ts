/** What evaluation and prediction turn tensors into: logit rows, label values, speed metrics. */
import type { Tensor } from '../tensor/index.js';
import type { Metrics } from './metrics.js';

export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function round4(x: number): number {
  return Math.round(x * 10000) / 10000;
}

/** <prefix>_runtime, <prefix>_samples_per_second, <prefix>_steps_per_second. */
export function speedMetrics(prefix: string, runtime: number, samples: number, steps: number): Metrics {
  return {
    [`${prefix}_runtime`]: round4(runtime),
    [`${prefix}_samples_per_second`]: round3(samples / Math.max(runtime, 1e-9)),
    [`${prefix}_steps_per_second`]: round3(steps / Math.max(runtime, 1e-9)),
  };
}

/** Logits as float32 rows, one per example (a vector: one value per row). */
export function logitRows(logits: Tensor): number[][] {
  const t = logits.detach().to('float32').contiguous();
  if (t.ndim <= 1) return [...(t.data() as Float32Array)].map((v) => [v]);
  const matrix = t.reshape([t.shape[0], -1]);
  const [n, c] = matrix.shape;
  const data = matrix.data() as Float32Array;
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) rows.push(Array.from(data.subarray(i * c, (i + 1) * c)));
  return rows;
}

/** A labels tensor as numbers (one per example) or rows (multi-label). */
export function labelValues(labels: Tensor): (number | number[])[] {
  const t = labels.detach().contiguous();
  const flat = Array.from(t.data() as ArrayLike<number | bigint>, Number);
  if (t.ndim <= 1) return flat;
  const width = flat.length / t.shape[0];
  return Array.from({ length: t.shape[0] }, (_, i) => flat.slice(i * width, (i + 1) * width));
}

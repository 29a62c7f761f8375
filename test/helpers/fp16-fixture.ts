/**
 * test/fixtures/precision/fp16-overflow.json (tools/gen_precision_fixtures.py): PyTorch's fp16 steps of
 * a small MLP in transformers' loop, one of them overflowing; read without the library, so that test
 * files on either import path (finetune or ../src) can use it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ROOT } from './cli.js';

export interface ReferenceStep {
  step: number;
  loss: number;
  grad_norm: number | null;
  stepped: boolean;
  scale: number;
  lr: number;
  weights: Record<string, number[]>;
}

export const reference = JSON.parse(
  readFileSync(join(ROOT, 'test', 'fixtures', 'precision', 'fp16-overflow.json'), 'utf8'),
) as {
  x: number[][];
  y: number[];
  initial: Record<string, number[]>;
  lr: number;
  overflow_step: number;
  boost: number;
  steps: ReferenceStep[];
  scaler_state: Record<string, number>;
};

/** torch's parameter names → the Mlp's. */
export const TORCH_NAMES: Record<string, string> = {
  '0.weight': 'fc1.weight',
  '0.bias': 'fc1.bias',
  '2.weight': 'fc2.weight',
  '2.bias': 'fc2.bias',
};

/** Each weight within 1e-6 + relative × |torch's| of the fixture's (torch's names). */
export function assertWeightsClose(
  actual: Map<string, Float32Array>,
  expected: Record<string, number[]>,
  where: string,
  relative = 1e-5,
): void {
  for (const [torchName, name] of Object.entries(TORCH_NAMES)) {
    const got = actual.get(name)!;
    expected[torchName].forEach((value, i) =>
      assert.ok(
        Math.abs(got[i] - value) <= 1e-6 + relative * Math.abs(value),
        `${where}: ${name}[${i}] ${got[i]} vs torch ${value}`,
      ),
    );
  }
}

/**
 * What tracking the typed arrays Tensor.data() shares costs (issue 14, item 3): each shared
 * ArrayBuffer is registered by its storage, and every operator that writes a tensor checks,
 * while any such array is live, whether the written storage's memory moved.
 *
 *   node build/ts/bench/shared-buffers.js                      this build
 *   FINETUNE_ADDON=/path/to/other/finetune.node node build/ts/bench/shared-buffers.js   another addon, same script
 *
 * Prints µs per call (median of 7 rounds) for: data() on a 256-element float32 tensor; an
 * in-place add_ (a written argument) and an out-of-place add with no shared array alive; and
 * add_ again while 1,000 shared arrays are alive (the watched path).
 */
import { performance } from 'node:perf_hooks';

import { aten, full, tidy, type Tensor } from 'finetune';

import { median } from './shared.js';

const ROUNDS = 7;
const CALLS = 20_000;

function microsecondsPerCall(call: () => void): number {
  const rounds: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    for (let i = 0; i < CALLS; i++) call();
    rounds.push(((performance.now() - start) * 1000) / CALLS);
  }
  return median(rounds);
}

const x = full([256], 1);
const y = full([256], 2);

// Before any array is shared: data() leaves arrays for the garbage collector to free later.
const idle = {
  add_: microsecondsPerCall(() => void aten.add__Tensor(x, y)),
  add: microsecondsPerCall(() => tidy(() => void aten.add_Tensor(x, y))),
  data: microsecondsPerCall(() => void x.data()),
};
const held: Tensor[] = Array.from({ length: 1000 }, () => full([256], 1));
const arrays = held.map((t) => t.data());
const watched = { add_: microsecondsPerCall(() => void aten.add__Tensor(x, y)) };

console.log(
  JSON.stringify({ microsecondsPerCall: { idle, with1000SharedArrays: watched }, liveArrays: arrays.length }, null, 1),
);

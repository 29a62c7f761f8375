/**
 * Loaded into `finetune train` by bench/e2e-train.ts with --require (the hook for user code, imported as
 * train() starts): records how long the process took to get there (node's start, the CLI's imports, the addon)
 * and the time spent tokenizing (Tokenizer.encodeBatchSettled, which the text datasets call), and writes both to
 * $FINETUNE_E2E_PROBE as the process exits. It changes nothing the run does.
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import type { data as Data } from 'finetune';

const startupMs = performance.now();
const { data } = await import('finetune');

let active = 0;
let since = 0;
let tokenizeMs = 0;
const tokenizer = data.Tokenizer.prototype;
const encodeBatchSettled = tokenizer.encodeBatchSettled;
tokenizer.encodeBatchSettled = async function (this: Data.Tokenizer, ...args) {
  // Overlapping calls (train and eval files read at once) count once: the union of the intervals.
  if (active++ === 0) since = performance.now();
  try {
    return await encodeBatchSettled.apply(this, args);
  } finally {
    if (--active === 0) tokenizeMs += performance.now() - since;
  }
};

process.on('exit', () => {
  const file = process.env.FINETUNE_E2E_PROBE;
  if (file) writeFileSync(file, JSON.stringify({ startupMs, tokenizeMs, exitMs: performance.now() }));
});

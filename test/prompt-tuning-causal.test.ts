/**
 * Prompt tuning on causal LMs against Python PEFT: the adapters of test/fixtures/{gpt2,llama}/prompt_tuning
 * (written by tools/gen_prompt_tuning_causal_fixtures.py: peft 0.21, task_type CAUSAL_LM, 4 random virtual
 * tokens on the tiny GPT-2 and Llama checkpoints) load here and give PEFT's logits and loss with labels —
 * PeftModelForCausalLM prepends -100 labels for the virtual tokens, so the loss covers the real tokens only —
 * and PEFT's greedy generate on a left-padded batch, with and without the KV cache (the virtual tokens go in
 * at the first step and stay in the cache).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { dispose, noGrad, tensor, tidy, type Tensor } from '../src/tensor/index.js';
import { fromPretrained } from '../src/io/index.js';
import { PeftModel } from '../src/peft/index.js';
import type { Module } from '../src/nn/index.js';

const FIXTURES = new URL('../../../test/fixtures/', import.meta.url);
const fixture = (path: string) => fileURLToPath(new URL(path, FIXTURES));

interface Reference {
  input_ids: number[][];
  attention_mask: number[][];
  labels: number[][];
  loss: number;
  logits: { shape: number[]; values: number[] };
  greedy: number[][];
}

for (const [family, base] of [
  ['gpt2', 'lm'],
  ['llama', 'llama'],
] as const) {
  test(`prompt tuning (CAUSAL_LM) on ${family}: Python PEFT's adapter gives PEFT's logits and loss with labels`, async () => {
    const ref = JSON.parse(readFileSync(fixture(`${family}/prompt_tuning/reference.json`), 'utf8')) as Reference;
    const model = await PeftModel.fromPretrained(
      ((await fromPretrained(fixture(`${family}/${base}`))) as Module).eval(),
      fixture(`${family}/prompt_tuning`),
      { warn: (m: string) => assert.fail(m) } as never,
    );
    model.eval();
    const [logits, loss] = noGrad(() =>
      tidy(() => {
        const ids = (rows: number[][]) => tensor(rows, { dtype: 'int64' });
        const out = model.forward({
          inputIds: ids(ref.input_ids),
          attentionMask: ids(ref.attention_mask),
          labels: ids(ref.labels),
        }) as { logits: Tensor; loss: Tensor };
        return [out.logits.clone(), out.loss.clone()];
      }),
    );
    assert.deepEqual(logits.shape, ref.logits.shape, 'the virtual tokens are in the logits, as PEFT returns them');
    const values = Array.from(logits.contiguous().data() as Float32Array);
    const worst = Math.max(...values.map((v, i) => Math.abs(v - ref.logits.values[i])));
    assert.ok(worst <= 1e-4, `logits differ from PEFT's by up to ${worst}`);
    assert.ok(Math.abs(loss.item() - ref.loss) <= 1e-5, `loss ${loss.item()} vs PEFT's ${ref.loss}`);
    dispose([logits, loss]);
    for (const useCache of [true, false]) {
      const generated = noGrad(() =>
        model.generate(tensor(ref.input_ids, { dtype: 'int64' }), {
          attentionMask: tensor(ref.attention_mask, { dtype: 'int64' }),
          maxNewTokens: 8,
          useCache,
        }),
      );
      assert.deepEqual(generated.toArray(), ref.greedy, `greedy generate, useCache ${useCache}`);
      generated.dispose();
    }
    model.dispose();
  });
}

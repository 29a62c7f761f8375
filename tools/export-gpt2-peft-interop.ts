/**
 * The finetune half of the GPT-2 PEFT interop check (tools/check_gpt2_peft_interop.py): LoRA adapters
 * made here on test/fixtures/gpt2/lm — PEFT's default target for gpt2 (c_attn) and c_attn + c_proj +
 * c_fc — with seeded random weights (as training would leave them), saved with savePretrained into
 * build/gpt2-peft-interop/<case>/, and finetune's logits for the fixture's left-padded batch in outputs.json.
 *   node build/ts/tools/export-gpt2-peft-interop.js && python3 tools/check_gpt2_peft_interop.py
 * The checker's verdict goes to test/fixtures/gpt2/interop.json, which test/gpt2.test.ts reads.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { fromPretrained, getPeftModel, LoraConfig, manualSeed, noGrad, randn, tensor, type Tensor } from 'finetune';

const fixtures = join('test', 'fixtures', 'gpt2');
const out = join('build', 'gpt2-peft-interop');
const reference = JSON.parse(readFileSync(join(fixtures, 'lm', 'reference.json'), 'utf8')) as {
  padded_ids: number[][];
  padded_mask: number[][];
};

const CASES: Record<string, ConstructorParameters<typeof LoraConfig>[0]> = {
  lora_default: { taskType: 'CAUSAL_LM' },
  lora_mlp: { taskType: 'CAUSAL_LM', r: 4, loraAlpha: 8, targetModules: ['c_attn', 'c_proj', 'c_fc'] },
};

const outputs: Record<string, { shape: number[]; values: number[] }> = {};
for (const [name, options] of Object.entries(CASES)) {
  const base = await fromPretrained(join(fixtures, 'lm'));
  const model = getPeftModel(base, new LoraConfig(options));
  manualSeed(5);
  noGrad(() => {
    for (const [key, p] of model.namedParameters()) if (key.includes('lora_')) p.copy_(randn(p.shape).mul(0.1));
  });
  model.eval();
  await model.savePretrained(join(out, name));
  const logits = noGrad(
    () =>
      (
        model.forward({
          inputIds: tensor(reference.padded_ids, { dtype: 'int64' }),
          attentionMask: tensor(reference.padded_mask, { dtype: 'int64' }),
        }) as { logits: Tensor }
      ).logits,
  );
  outputs[name] = { shape: logits.shape, values: [...(logits.contiguous().data() as Float32Array)] };
  model.dispose();
}
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'outputs.json'), JSON.stringify(outputs));
console.log(`wrote ${Object.keys(outputs).join(', ')} to ${out}`);

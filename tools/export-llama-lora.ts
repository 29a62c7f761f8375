/**
 * The finetune half of the Llama LoRA interop check (tools/check_llama_lora.py): loads the tiny Llama
 * of test/fixtures/llama/llama, adds LoRA on q_proj/v_proj (CAUSAL_LM, PEFT's llama defaults), changes
 * every adapter tensor the way training would (seeded noise), saves the adapter with savePretrained
 * into build/llama-lora/ and writes finetune's logits for the fixture's input ids to outputs.json.
 *   node build/ts/tools/export-llama-lora.js && python3 tools/check_llama_lora.py build/llama-lora
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { fromPretrained, getPeftModel, manualSeed, noGrad, peft, randn, tensor, tidy, type Tensor } from 'finetune';

const fixture = join('test', 'fixtures', 'llama');
const out = join('build', 'llama-lora');
const { input_ids: inputIds } = JSON.parse(readFileSync(join(fixture, 'llama', 'reference.json'), 'utf8')) as {
  input_ids: number[][];
};

const base = await fromPretrained(join(fixture, 'llama'), { warn: () => {} });
const model = getPeftModel(
  base,
  new peft.LoraConfig({ taskType: 'CAUSAL_LM', r: 4, loraAlpha: 8, targetModules: ['q_proj', 'v_proj'] }),
).eval();
manualSeed(11);
noGrad(() =>
  tidy(() => {
    for (const [name, p] of model.namedParameters()) if (/\.lora_[AB]\./.test(name)) p.add_(randn(p.shape).mul(0.2));
  }),
);
mkdirSync(out, { recursive: true });
await model.savePretrained(out);
const logits = noGrad(() =>
  tidy(() => {
    const result = (model.forward({ inputIds: tensor(inputIds, { dtype: 'int64' }) }) as { logits: Tensor }).logits;
    return { shape: result.shape, values: result.flatten().toArray() as number[] };
  }),
);
writeFileSync(join(out, 'outputs.json'), JSON.stringify({ input_ids: inputIds, logits }));
console.log(`wrote ${out}`);

/**
 * The finetune half of the PEFT interop check (tools/check_peft_interop.py): for every case of
 * test/fixtures/peft/cases.json, loads Python's adapter onto the fixture base, changes every
 * adapter tensor the way training would (seeded noise), saves it with savePretrained into
 * build/peft-interop/<case>/, and writes finetune's logits for the fixture inputs to outputs.json.
 *   node build/ts/tools/export-peft-interop.js && python3 tools/check_peft_interop.py build/peft-interop
 * The checker's verdict goes to test/fixtures/peft/interop.json, which the tests read.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  fromPretrained,
  loadSafetensors,
  manualSeed,
  nn,
  noGrad,
  PeftModel,
  randn,
  tensor,
  tidy,
  type Tensor,
} from 'finetune';

const fixtures = join('test', 'fixtures', 'peft');
const out = join('build', 'peft-interop');
const cases = JSON.parse(readFileSync(join(fixtures, 'cases.json'), 'utf8')) as {
  inputs: {
    input_ids: number[][];
    attention_mask: number[][];
    token_type_ids: number[][];
    pixel_values: { shape: number[]; values: number[] };
  };
  cases: Record<string, { base: 'tiny-bert' | 'tiny-conv' }>;
};

async function baseModel(name: 'tiny-bert' | 'tiny-conv'): Promise<nn.Module> {
  if (name === 'tiny-bert') return fromPretrained(join(fixtures, 'tiny-bert'), { warn: () => {} });
  const model = new nn.Sequential(new nn.Conv2d(3, 4, 3, { padding: 1 }), new nn.ReLU(), new nn.Conv2d(4, 2, 1));
  model.loadStateDict((await loadSafetensors(join(fixtures, 'tiny-conv', 'model.safetensors'))).tensors);
  return model;
}

function logits(model: PeftModel, base: 'tiny-bert' | 'tiny-conv'): { shape: number[]; values: number[] } {
  return noGrad(() =>
    tidy(() => {
      const { input_ids, attention_mask, token_type_ids, pixel_values } = cases.inputs;
      const result =
        base === 'tiny-conv'
          ? (model.forward(tensor(pixel_values.values).reshape(pixel_values.shape)) as Tensor)
          : (
              model.forward({
                inputIds: tensor(input_ids, { dtype: 'int64' }),
                attentionMask: tensor(attention_mask, { dtype: 'int64' }),
                tokenTypeIds: tensor(token_type_ids, { dtype: 'int64' }),
              }) as { logits: Tensor }
            ).logits;
      return { shape: result.shape, values: result.flatten().toArray() as number[] };
    }),
  );
}

manualSeed(11);
const outputs: Record<string, { base: string; shape: number[]; values: number[] }> = {};
for (const [name, { base }] of Object.entries(cases.cases)) {
  const model = await PeftModel.fromPretrained(await baseModel(base), join(fixtures, name), { isTrainable: true });
  noGrad(() => tidy(() => model.adapterStateDict().forEach((t) => t.mul_(randn(t.shape).mul(0.1).add(1)))));
  model.eval();
  await model.savePretrained(join(out, name));
  outputs[name] = { base, ...logits(model, base) };
  model.dispose();
  console.log(`wrote ${join(out, name)}`);
}
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'outputs.json'), JSON.stringify(outputs) + '\n');

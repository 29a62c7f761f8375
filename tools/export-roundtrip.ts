/**
 * The finetune half of the Python round trip (tools/check_roundtrip.py): loads the test
 * checkpoints, changes them the way fine-tuning does (new heads, perturbed weights), saves them
 * with savePretrained into build/roundtrip/<name>/ with the inputs and finetune's logits.
 *   node build/ts/tools/export-roundtrip.js && python3 tools/check_roundtrip.py
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import {
  fromPretrained,
  loadSafetensors,
  manualSeed,
  models,
  noGrad,
  randn,
  saveSafetensors,
  savePretrained,
  tensor,
  tidy,
  type Tensor,
} from 'finetune';

const out = join('build', 'roundtrip');
manualSeed(7);

function perturb(model: { parameters(): Tensor[] }): void {
  tidy(() => noGrad(() => model.parameters().forEach((p) => p.add_(randn(p.shape).mul(0.01)))));
}

async function exportModel(
  name: string,
  model: { eval(): unknown; parameters(): Tensor[] } & object,
  inputs: Record<string, Tensor>,
  logits: () => Tensor,
): Promise<void> {
  const dir = join(out, name);
  mkdirSync(dir, { recursive: true });
  model.eval();
  await savePretrained(model as never, dir);
  await saveSafetensors(join(dir, 'finetune-io.safetensors'), { ...inputs, logits: tidy(logits) });
  console.log(`wrote ${dir}`);
}

const bertInputs = {
  input_ids: tensor(
    [
      [2, 17, 45, 9, 3, 0],
      [2, 88, 61, 3, 0, 0],
    ],
    { dtype: 'int64' },
  ),
  attention_mask: tensor(
    [
      [1, 1, 1, 1, 1, 0],
      [1, 1, 1, 1, 0, 0],
    ],
    { dtype: 'int64' },
  ),
};
const bertCall = { inputIds: bertInputs.input_ids, attentionMask: bertInputs.attention_mask };

const seqcls = (await fromPretrained('test/fixtures/bert/seqcls', {
  warn: () => {},
})) as models.BertForSequenceClassification;
seqcls.resetClassifier(4);
perturb(seqcls);
await exportModel('bert-seqcls', seqcls, bertInputs, () => seqcls.forward(bertCall).logits);

const mlm = (await fromPretrained('test/fixtures/bert/mlm', { warn: () => {} })) as models.BertForMaskedLM;
perturb(mlm);
await exportModel('bert-mlm', mlm, bertInputs, () => mlm.forward(bertCall).logits);

const vit = (await fromPretrained('test/fixtures/vit/hf', { warn: () => {} })) as models.ViTForImageClassification;
vit.resetClassifier(5);
perturb(vit);
const pixels = (await loadSafetensors('test/fixtures/vit/inputs.safetensors')).tensors.get('pixel_values')!;
await exportModel('vit', vit, { pixel_values: pixels }, () => vit.forward({ pixelValues: pixels }).logits);

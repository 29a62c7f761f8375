/**
 * What `finetune train` advises after its end-of-run checks (trainingAdvice), on warnings made here. It
 * imports the CLI's module from src/, so it runs in a process of its own: a second copy of the library
 * beside the package's ('finetune') would not share its tensors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { trainingAdvice } from '../src/cli/train.js';
import type { TrainingWarning, TrainingWarningKind } from '../src/train/index.js';

test("train's advice: a loss that rose gets a lower lr and never also a higher one; a higher lr stops at 1e-3 for methods that update the pretrained weights and at 1e-2 from random weights, where a flat loss gets a lower one", () => {
  const warning = (kind: TrainingWarningKind): TrainingWarning =>
    ({ kind, message: kind, details: {} }) as unknown as TrainingWarning;
  const advise = (kinds: TrainingWarningKind[], lr: number, method: string) =>
    trainingAdvice(kinds.map(warning), { lr, ranAuto: false, method, newlyInitialized: [] });
  assert.deepEqual(advise(['chance-accuracy', 'rising-loss'], 2e-3, 'lora'), [
    'the run learned little at lr 2e-3: try finetune lr-find (or --learning-rate auto), or more steps (--num-train-epochs, --max-steps)',
    'the loss rose at lr 2e-3: try a lower --learning-rate (2e-4), or finetune lr-find',
  ]);
  assert.match(advise(['flat-loss'], 2e-3, 'lora')[0], /a higher --learning-rate \(2e-2\)/);
  assert.match(advise(['flat-loss'], 5e-4, 'full')[0], /a higher --learning-rate \(1e-3\)/);
  assert.equal(
    advise(['flat-loss'], 1e-3, 'full')[0],
    'the run learned little at lr 1e-3: try finetune lr-find (or --learning-rate auto), a lower --learning-rate (1e-4), or more steps (--num-train-epochs, --max-steps) (lr 1e-3 is already high for full, which updates the pretrained weights)',
  );
  // From random weights there is no pretraining to forget: the ceiling is 1e-2, and a flat loss at or above
  // it asks for a lower rate (a random bert-tiny at 1e-2 stayed at the majority class; lr-find chose 5.75e-4).
  const fromScratch = (lr: number) =>
    trainingAdvice([warning('flat-loss')], {
      lr,
      ranAuto: false,
      method: 'full',
      newlyInitialized: [],
      randomInit: true,
    })[0];
  assert.match(fromScratch(1e-3), /a higher --learning-rate \(1e-2\)/);
  assert.doesNotMatch(fromScratch(1e-3), /pretrained weights|already high/);
  assert.match(fromScratch(3e-3), /a higher --learning-rate \(1e-2\)/);
  assert.equal(
    fromScratch(1e-2),
    'the run learned little at lr 1e-2: try finetune lr-find (or --learning-rate auto), a lower --learning-rate (1e-3), or more steps (--num-train-epochs, --max-steps) (lr 1e-2 is already high for a network trained from random weights)',
  );
  // A LoRA adapter on pretrained weights leaves them as they were: no ceiling.
  assert.match(advise(['flat-loss'], 1e-2, 'lora')[0], /a higher --learning-rate \(1e-1\)/);
});

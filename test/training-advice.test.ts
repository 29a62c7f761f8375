/**
 * What `finetune train` advises after its end-of-run checks (trainingAdvice), on warnings made here. It
 * imports the CLI's module from src/, so it runs in a process of its own: a second copy of the library
 * beside the package's ('finetune') would not share its tensors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { trainingAdvice } from '../src/cli/train.js';
import type { TrainingWarning, TrainingWarningKind } from '../src/train/index.js';

test("train's advice: a loss that rose gets a lower lr and never also a higher one; a higher lr stops at 1e-3 for methods that update the pretrained weights", () => {
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
  assert.match(
    advise(['flat-loss'], 1e-3, 'full')[0],
    /, or more steps .*\(lr 1e-3 is already high for full, which updates the pretrained weights\)$/,
  );
  // From random weights there is no pretraining to forget: no ceiling.
  const fromScratch = trainingAdvice([warning('flat-loss')], {
    lr: 1e-3,
    ranAuto: false,
    method: 'full',
    newlyInitialized: [],
    randomInit: true,
  });
  assert.match(fromScratch[0], /a higher --learning-rate \(1e-2\)/);
  assert.doesNotMatch(fromScratch[0], /pretrained weights/);
});

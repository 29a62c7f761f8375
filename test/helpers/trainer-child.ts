/**
 * The child process of the kill test (test/trainer-resume.test.ts): trains killTestTrainer into
 * the folder given as argv[2]. The test sets FINETUNE_TEST_PAUSE_IN_SAVE=<step>, so the Trainer
 * prints FINETUNE_TEST_PAUSED_IN_SAVE halfway through writing that checkpoint and waits there to be
 * killed.
 */
import { killTestTrainer } from './trainer-setup.js';

const outputDir = process.argv[2];
if (!outputDir) throw new Error('usage: node trainer-child.js <outputDir>');
const trainer = await killTestTrainer(outputDir);
await trainer.train();
process.stdout.write('FINISHED\n');

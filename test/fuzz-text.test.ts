/**
 * Fuzz suite (issue 14), text inputs: mutated tokenizer.json / tokenizer_config.json files, and
 * mutated CSV/TSV/JSONL data files through readTable and TextClassificationDataset, and mutated causal-LM
 * files (.txt, JSONL texts, pairs, chats) through CausalLmDataset. Each case runs
 * in a child process (test/helpers/fuzz.ts): no case may crash, hang, or fail with anything but an
 * Error naming the file or field.
 */
import { assertClean } from './helpers/fuzz-assert.js';

assertClean('tokenizer');
assertClean('table');
assertClean('causal-lm');

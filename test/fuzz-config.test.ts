/**
 * Fuzz suite (issue 14), configuration: mutated config.json (loadPretrained of BERT and ViT
 * checkpoints) and adapter_config.json (PeftModel.fromPretrained). Each case runs in a child
 * process (test/helpers/fuzz.ts): no case may crash, hang (num_hidden_layers 1e9 must be refused
 * within the 5 s case timeout), load a model whose logits are not finite, or fail with anything
 * but an Error naming the file or field.
 */
import { assertClean } from './helpers/fuzz-assert.js';

assertClean('config');

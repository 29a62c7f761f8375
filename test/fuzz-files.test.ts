/**
 * Fuzz suite (issue 14), weight files: mutated .safetensors through every reader and through
 * loadPretrained folders. Each case runs in a child process (test/helpers/fuzz.ts): no case may
 * crash, hang, or fail with anything but an Error naming the file. FUZZ_SEED, FUZZ_SCALE and
 * FUZZ_COUNT change the run; `node build/ts/tools/fuzz.js` is the longer form.
 */
import { assertClean } from './helpers/fuzz-assert.js';

assertClean('safetensors');

/**
 * Fuzz suite (issue 14), images: mutated PNG/JPEG files (headers with hostile dimensions among
 * them) and IDX files. Each case runs in a child process (test/helpers/fuzz.ts): no case may
 * crash, hang, or fail with anything but an Error naming the file.
 */
import { assertClean } from './helpers/fuzz-assert.js';

assertClean('image');

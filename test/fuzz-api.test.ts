/**
 * Fuzz suite (issue 14), API misuse: one hand-written case per misuse, the fourteen findings of
 * the issue among them (test/helpers/fuzz-corpora/misuse.ts). Each case runs in a child process
 * (test/helpers/fuzz.ts): none may crash, hang, be accepted with a wrong result, or fail with
 * anything but an Error naming the argument, field, file or flag.
 */
import { assertClean } from './helpers/fuzz-assert.js';

assertClean('misuse');

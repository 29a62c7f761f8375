/**
 * Regular expressions from untrusted files, handled without backtracking: a linear-time
 * matcher for the Python `re` patterns of PEFT configs, and a check of tokenizer.json patterns
 * for the quantifier nesting that makes a backtracking engine take exponential time. Imports
 * nothing of finetune's, so every layer may use it.
 */
export { Pattern, MAX_PROGRAM_SIZE, type PatternMatch } from './match.js';
export { PatternError, MAX_PATTERN_LENGTH, MAX_REPEAT_COUNT } from './parse.js';
export { catastrophicBacktracking, matchesEmptyText } from './backtracking.js';

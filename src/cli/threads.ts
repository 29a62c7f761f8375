/**
 * `--threads`, one definition for every command that computes (train, eval, predict, merge, compare,
 * lr-find, advise, inspect, pretrain): libtorch's intra-op threads, set as soon as the flags are read —
 * before loading a model, tokenising or building anything. On a shared or busy machine fewer threads
 * are faster: libtorch's threads spin while they wait for a core.
 */
import { setNumThreads } from '../tensor/index.js';
import { resolveOptions, UsageError, type FlagTable, type FlagValue } from './config.js';

export const THREADS_FLAG: FlagTable = {
  threads: { kind: 'integer', group: 'Run', trainingArg: 'threads', help: 'libtorch threads (default: all cores; on a shared or busy machine, 1)' },
};

/** Sets libtorch's threads from --threads' value (a positive integer, else a UsageError); nothing when it is not given. */
export function applyThreads(value: FlagValue | undefined): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new UsageError(`--threads must be a positive integer, got ${String(value)}`);
  setNumThreads(value);
}

/** A command's options (resolveOptions: --config's file, the command line on top) with --threads applied. */
export function resolveCommandOptions(...args: Parameters<typeof resolveOptions>): ReturnType<typeof resolveOptions> {
  const resolved = resolveOptions(...args);
  if (!resolved.help) applyThreads(resolved.options.threads);
  return resolved;
}

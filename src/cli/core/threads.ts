/**
 * `--threads`, one definition for every command that computes (train, eval, predict, merge, compare,
 * lr-find, advise, inspect, pretrain): libtorch's intra-op threads, set as soon as the flags are read —
 * before loading a model, tokenising or building anything. On a shared or busy machine fewer threads
 * are faster: libtorch's threads spin while they wait for a core.
 */
import { MAX_THREADS, setNumThreads } from '../../tensor/index.js';
import { resolveOptions, UsageError, type FlagTable, type FlagValue } from './flags.js';
import { settingFlags } from './setting-flags.js';

export const THREADS_FLAG: FlagTable = settingFlags(['threads']);

/** --threads' value, checked: an integer from 1 to MAX_THREADS, else a UsageError; undefined when not given. */
export function threadsFlag(value: FlagValue | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_THREADS) {
    throw new UsageError(`--threads must be an integer from 1 to ${MAX_THREADS}, got ${String(value)}`);
  }
  return value;
}

/** Sets libtorch's threads from --threads' value (checked by threadsFlag); nothing when it is not given. */
export function applyThreads(value: FlagValue | undefined): void {
  const threads = threadsFlag(value);
  if (threads !== undefined) setNumThreads(threads);
}

/** A command's options (resolveOptions: --config's file, the command line on top) with --threads applied. */
export function resolveCommandOptions(...args: Parameters<typeof resolveOptions>): ReturnType<typeof resolveOptions> {
  const resolved = resolveOptions(...args);
  if (!resolved.help) applyThreads(resolved.options.threads);
  return resolved;
}

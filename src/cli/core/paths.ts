/**
 * The paths the CLI's flags name: `~` expanded, checked to exist (a usage error naming the flag and the
 * path otherwise), and told apart from Hub ids — a name that looks like a path, or whose first part is a
 * folder here, is never sent to the Hub.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname } from 'node:path';

import { looksLikeLocalPath } from '../../hub/index.js';
import { describeJsonValue } from '../../io/index.js';
import { distance, UsageError } from './flags.js';

/** A Hub repo id as the CLI accepts it: `namespace/name`. */
export const HUB_ID = /^[\w.-]+\/[\w.-]+$/;

/** `~` and `~/…` → the home folder (a shell leaves `--model=~/x` and a --config file's values as typed). */
export function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? homedir() + path.slice(1) : path;
}

export function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Whether a model argument (--model, --adapter, --tokenizer) is a local path, never sent to the Hub: it exists,
 * is written as a path (starts with `.`, `/` or `~`, or has more than one `/`), or its first part is a folder
 * here (`runs/lora` where ./runs exists). Anything else of the form `namespace/name` may be a Hub id.
 */
export function isLocalPath(arg: string): boolean {
  return existsSync(arg) || looksLikeLocalPath(arg) || (arg.includes('/') && isDir(arg.split('/')[0]));
}

/**
 * The path a flag names (`~` expanded), which must exist: otherwise a UsageError naming the flag and the path,
 * `why` it was taken for a path, and the nearest name in its folder when one is close.
 */
export function requirePath(path: string, flag: string, kind: 'file' | 'folder' | 'any' = 'any', why = ''): string {
  const expanded = expandHome(path);
  if (!existsSync(expanded))
    throw new UsageError(
      `--${flag}: ${path} does not exist${expanded === path ? '' : ` (${expanded})`}${why}${nearestSibling(expanded)}`,
    );
  if (kind === 'folder' && !isDir(expanded)) throw new UsageError(`--${flag}: ${path} is not a folder`);
  if (kind === 'file' && isDir(expanded)) throw new UsageError(`--${flag}: ${path} is a folder, not a file`);
  return expanded;
}

/** requirePath for a model, adapter or tokenizer that isLocalPath: a `namespace/name` that does not exist says why it is not a Hub id. */
export function requireModelPath(arg: string, flag: string, kind: 'file' | 'folder' | 'any' = 'any'): string {
  return requirePath(
    arg,
    flag,
    kind,
    HUB_ID.test(arg) && !looksLikeLocalPath(arg)
      ? ` (a path, not a Hub id: ${arg.split('/')[0]}/ is a folder here)`
      : '',
  );
}

/** ' (did you mean runs/lora-tiny?)' when the missing path's folder holds a name a typo or two away (one per 4 letters), else ''. */
function nearestSibling(path: string): string {
  const parent = dirname(path);
  const name = basename(path);
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return '';
  }
  const near = names
    .map((n) => ({ n, d: distance(name, n) }))
    .filter(({ d }) => d <= Math.max(1, Math.floor(name.length / 4)))
    .sort((a, b) => a.d - b.d)[0];
  return near ? ` (did you mean ${parent === '.' ? '' : `${parent}/`}${near.n}?)` : '';
}

/** A JSON file holding an object, read; errors name the file. */
export function readJsonFile(path: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${path}: expected a JSON object, got ${describeJsonValue(value)}`);
  }
  return value as Record<string, unknown>;
}

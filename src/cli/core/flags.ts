/**
 * Command-line options of the training commands (`finetune train`, `eval`, `predict`, `merge`,
 * `compare`, `lr-find`, `advise`): one table of flags per command, parsed from the command line
 * and, with `--config file.yaml`, from a YAML file with the same keys (kebab-case, snake_case or
 * camelCase); flags given on the command line override the file.
 *
 *   finetune train --config run.yaml --learning-rate 1e-4
 *
 * Flags are `--name value` or `--name=value`; `--name_with_underscores` is the same flag (as
 * Hugging Face's HfArgumentParser accepts); booleans are `--flag`, `--flag=false` or `--flag false`;
 * lists are comma-separated (`--labels negative,positive`) or, in YAML, sequences. Anything wrong
 * with the flags or the file is a UsageError, which the commands turn into exit code 2.
 */
import { readFileSync } from 'node:fs';

import { LineCounter, parseDocument, isMap, isScalar, type Pair } from 'yaml';

/** A usage error (bad or missing flag, bad config file, a path that does not exist): exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Exit codes of the training commands (documented in `finetune train --help`). */
export const EXIT = { ok: 0, runtime: 1, usage: 2, nan: 3 } as const;

/**
 * What a flag takes: a string, a number, an integer, a boolean, a comma-separated list, a JSON
 * object (YAML: a mapping), strings given once per flag (repeatable, never split; YAML: a
 * sequence), or a string that may be left out (`--resume-from-checkpoint [path]`:
 * true without a value).
 */
export type FlagKind = 'string' | 'strings' | 'number' | 'integer' | 'boolean' | 'list' | 'json' | 'optional-string';

export interface FlagSpec {
  kind: FlagKind;
  /** One line of help. */
  help: string;
  /** The value's name in the help (default by kind). */
  arg?: string;
  /** The section of the help it is listed in. */
  group?: string;
  /** Allowed values (strings). */
  choices?: readonly string[];
  /** Words a number flag also takes (`--learning-rate auto`), kept as they are. */
  keywords?: readonly string[];
  /** May be given several times (values are appended; lists only). */
  repeatable?: boolean;
  /** The TrainingArguments option it sets (camelCase), when it is one. */
  trainingArg?: string;
  /** Left out of --help (aliases, internal flags). */
  hidden?: boolean;
}

export type FlagTable = Record<string, FlagSpec>;
export type FlagValue = string | number | boolean | string[] | Record<string, unknown>;
export type Options = Record<string, FlagValue>;

export interface ParsedCommandLine {
  /** Flags given on the command line (kebab-case names). */
  flags: Options;
  /** Arguments that are not flags (only where the command takes them). */
  positionals: string[];
  help: boolean;
}

/** An option's value when it is a string (the accessors below: of that kind, else undefined). */
export function optString(options: Options, name: string): string | undefined {
  const v = options[name];
  return typeof v === 'string' ? v : undefined;
}

export function optNumber(options: Options, name: string): number | undefined {
  const v = options[name];
  return typeof v === 'number' ? v : undefined;
}

export function optList(options: Options, name: string): string[] | undefined {
  const v = options[name];
  return Array.isArray(v) ? v : undefined;
}

export function optBoolean(options: Options, name: string): boolean | undefined {
  const v = options[name];
  return typeof v === 'boolean' ? v : undefined;
}

/** An option that must be a positive integer when given (a UsageError naming the flag otherwise). */
export function optPositiveInteger(options: Options, name: string): number | undefined {
  const v = optNumber(options, name);
  if (v !== undefined && !(Number.isInteger(v) && v > 0))
    throw new UsageError(`--${name} must be a positive integer, got ${v}`);
  return v;
}

/** 'learningRate' / 'learning_rate' / 'learning-rate' → 'learning-rate'. */
export function kebabCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/_/g, '-')
    .toLowerCase();
}

/** 'learning-rate' → 'learningRate'. */
export function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Levenshtein distance, for "did you mean". */
export function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}

/** ' (did you mean --learning-rate?)' for a near miss, else ''. */
export function suggestion(name: string, known: readonly string[], prefix = '--'): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = distance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const contains = known.find((k) => k.includes(name) || name.includes(k));
  if (best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 4)))
    return ` (did you mean ${prefix}${best}?)`;
  if (contains !== undefined && name.length >= 3) return ` (did you mean ${prefix}${contains}?)`;
  return '';
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/** Converts a raw value (a command-line string, or what YAML gave) to the flag's kind; `where` names it in errors. */
export function coerce(name: string, spec: FlagSpec, raw: unknown, where: string): FlagValue {
  const fail = (expected: string): never => {
    throw new UsageError(
      `${where}: --${name} expects ${expected}, got ${typeof raw === 'string' ? `'${raw}'` : JSON.stringify(raw)}`,
    );
  };
  let value: FlagValue;
  switch (spec.kind) {
    case 'boolean': {
      if (typeof raw === 'boolean') value = raw;
      else if (typeof raw === 'string' && TRUE.has(raw.toLowerCase())) value = true;
      else if (typeof raw === 'string' && FALSE.has(raw.toLowerCase())) value = false;
      else return fail('true or false');
      break;
    }
    case 'number':
    case 'integer': {
      if (typeof raw === 'string' && spec.keywords?.includes(raw)) {
        value = raw;
        break;
      }
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isFinite(n))
        return fail(
          `${spec.kind === 'integer' ? 'an integer' : 'a number'}${spec.keywords ? ` or ${spec.keywords.join(', ')}` : ''}`,
        );
      if (spec.kind === 'integer' && !Number.isInteger(n)) return fail('an integer');
      value = n;
      break;
    }
    case 'list': {
      const items = Array.isArray(raw)
        ? raw
        : typeof raw === 'string'
          ? raw.split(',')
          : typeof raw === 'number'
            ? [raw]
            : fail('a comma-separated list');
      value = (items as unknown[])
        .map((item) => {
          if (typeof item !== 'string' && typeof item !== 'number' && typeof item !== 'boolean')
            return fail('a list of names');
          return String(item).trim();
        })
        .filter((s) => s !== '');
      if (value.length === 0) return fail('at least one name');
      break;
    }
    case 'strings': {
      const items = Array.isArray(raw) ? raw : [raw];
      value = items.map((item) => {
        if (typeof item !== 'string' && typeof item !== 'number') return fail('text');
        return String(item);
      });
      break;
    }
    case 'json': {
      if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) value = raw as Record<string, unknown>;
      else if (typeof raw === 'string') {
        let parsed: unknown;
        try {
          parsed = JSON.parse(raw);
        } catch {
          return fail('a JSON object');
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return fail('a JSON object');
        value = parsed as Record<string, unknown>;
      } else return fail('a JSON object');
      break;
    }
    case 'optional-string': {
      if (typeof raw === 'boolean') value = raw;
      else if (typeof raw === 'string' && (TRUE.has(raw.toLowerCase()) || FALSE.has(raw.toLowerCase())))
        value = TRUE.has(raw.toLowerCase());
      else if (typeof raw === 'string' && raw !== '') value = raw;
      else return fail('a path, or nothing');
      break;
    }
    default: {
      if (typeof raw === 'string') value = raw;
      else if (typeof raw === 'number' || typeof raw === 'boolean') value = String(raw);
      else return fail('a string');
    }
  }
  if (spec.choices && typeof value === 'string' && !spec.choices.includes(value)) {
    throw new UsageError(`${where}: --${name} must be one of ${spec.choices.join(', ')}, got '${value}'`);
  }
  if (spec.choices && Array.isArray(value)) {
    const bad = value.find((v) => !spec.choices!.includes(v));
    if (bad !== undefined)
      throw new UsageError(`${where}: --${name}: unknown value '${bad}' (known: ${spec.choices.join(', ')})`);
  }
  return value;
}

/** Parses command-line arguments against a flag table. */
export function parseCommandLine(
  argv: readonly string[],
  table: FlagTable,
  options: { positionals?: boolean } = {},
): ParsedCommandLine {
  const flags: Options = {};
  const positionals: string[] = [];
  let help = false;
  const names = Object.keys(table);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h' || arg === '--help') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') {
      if (options.positionals && !arg.startsWith('-')) {
        positionals.push(arg);
        continue;
      }
      throw new UsageError(`unexpected argument '${arg}'${arg.startsWith('-') ? ' (flags start with --)' : ''}`);
    }
    const eq = arg.indexOf('=');
    const name = kebabCase(arg.slice(2, eq < 0 ? undefined : eq));
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    const spec = Object.hasOwn(table, name) ? table[name] : undefined;
    if (!spec)
      throw new UsageError(
        `unknown flag --${name}${suggestion(
          name,
          names.filter((n) => !table[n].hidden),
        )}`,
      );
    let raw: string | boolean | undefined = inline;
    if (raw === undefined) {
      const next = argv[i + 1];
      if (spec.kind === 'boolean') {
        if (next !== undefined && (TRUE.has(next.toLowerCase()) || FALSE.has(next.toLowerCase()))) raw = argv[++i];
        else raw = true;
      } else if (spec.kind === 'optional-string') {
        raw = next !== undefined && !next.startsWith('--') ? argv[++i] : true;
      } else {
        if (next === undefined) throw new UsageError(`--${name} needs a value${spec.arg ? ` (${spec.arg})` : ''}`);
        raw = argv[++i];
      }
    }
    const value = coerce(name, spec, raw, 'command line');
    if ((spec.repeatable || spec.kind === 'strings') && Array.isArray(value) && Array.isArray(flags[name]))
      flags[name] = [...(flags[name] as string[]), ...value];
    else flags[name] = value;
  }
  return { flags, positionals, help };
}

/**
 * Reads a YAML (or JSON) config file: a mapping whose keys are the command's flags in kebab-case,
 * snake_case or camelCase. Unknown keys and bad values are usage errors naming `file:line`.
 */
export function readConfigFile(path: string, table: FlagTable): Options {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `--config: cannot read ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
    );
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    const error = doc.errors[0];
    const { line } = lineCounter.linePos(error.pos[0]);
    throw new UsageError(`${path}:${line}: not valid YAML: ${error.message.split('\n')[0]}`);
  }
  const out: Options = {};
  if (doc.contents === null || (isScalar(doc.contents) && (doc.contents.value === null || doc.contents.value === '')))
    return out;
  if (!isMap(doc.contents))
    throw new UsageError(`${path}:1: expected a mapping of flag names to values (e.g. learning-rate: 2e-5)`);
  const names = Object.keys(table).filter((n) => !table[n].hidden);
  for (const item of doc.contents.items as Pair[]) {
    const keyNode = item.key as { value?: unknown; range?: [number, number, number] } | null;
    const line = keyNode?.range ? lineCounter.linePos(keyNode.range[0]).line : 1;
    const key = keyNode && typeof keyNode.value !== 'undefined' ? String(keyNode.value) : '';
    const name = kebabCase(key);
    const where = `${path}:${line}`;
    if (name === 'config') throw new UsageError(`${where}: a config file cannot name another (config)`);
    const spec = Object.hasOwn(table, name) ? table[name] : undefined;
    if (!spec) throw new UsageError(`${where}: unknown key '${key}'${suggestion(name, names, '')}`);
    const node = item.value as { toJSON?: () => unknown } | null;
    const value = node && typeof node.toJSON === 'function' ? node.toJSON() : (node as unknown);
    if (value === null || value === undefined) continue; // `key:` with no value leaves the default
    out[name] = coerce(name, spec, value, where);
  }
  return out;
}

/**
 * The command's options: `--config`'s file (when the table has `config` and it is given) with the
 * command line's flags on top.
 */
export function resolveOptions(
  argv: readonly string[],
  table: FlagTable,
  options: { positionals?: boolean } = {},
): ParsedCommandLine & { options: Options; configFile?: string } {
  const parsed = parseCommandLine(argv, table, options);
  const configFile = typeof parsed.flags.config === 'string' ? parsed.flags.config : undefined;
  const fromFile = configFile !== undefined ? readConfigFile(configFile, table) : {};
  const merged: Options = { ...fromFile, ...parsed.flags };
  delete merged.config;
  return { ...parsed, options: merged, configFile };
}

/** The values of a table's flags that set TrainingArguments, as TrainingArguments options (camelCase). */
export function trainingArgumentsFrom(options: Options, table: FlagTable): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    const target = table[name]?.trainingArg;
    if (target) out[target] = value;
  }
  return out;
}

/** Rewrites TrainingArguments' option names in a message as the flags that set them ('learningRate' → '--learning-rate'). */
export function flagNamesInMessage(message: string, table: FlagTable): string {
  let out = message.replace(/^TrainingArguments: /, '');
  for (const [name, spec] of Object.entries(table)) {
    if (!spec.trainingArg) continue;
    out = out.replace(new RegExp(`\\b${spec.trainingArg}\\b(?!')`, 'g'), `--${name}`);
  }
  return out;
}

/**
 * Options back to command-line flags (for child processes): `--name=value`, lists comma-joined
 * (`table`'s repeatable strings, never split: one flag per value), JSON as JSON.
 */
export function toArgv(options: Options, table: FlagTable = {}): string[] {
  const argv: string[] = [];
  for (const [name, value] of Object.entries(options)) {
    if (Array.isArray(value) && table[name]?.kind === 'strings') argv.push(...value.map((v) => `--${name}=${v}`));
    else if (Array.isArray(value)) argv.push(`--${name}=${value.join(',')}`);
    else if (typeof value === 'object') argv.push(`--${name}=${JSON.stringify(value)}`);
    else argv.push(`--${name}=${String(value)}`);
  }
  return argv;
}

const DEFAULT_ARG: Record<FlagKind, string> = {
  string: 'TEXT',
  strings: 'TEXT',
  number: 'X',
  integer: 'N',
  boolean: '',
  list: 'A,B',
  json: 'JSON',
  'optional-string': '[PATH]',
};

/** The flags' help, grouped, aligned. */
export function flagHelp(table: FlagTable): string {
  const groups = new Map<string, string[][]>();
  for (const [name, spec] of Object.entries(table)) {
    if (spec.hidden) continue;
    const group = spec.group ?? 'Options';
    const arg = spec.arg ?? DEFAULT_ARG[spec.kind];
    const left = `--${name}${arg ? ` ${arg}` : ''}`;
    const help =
      spec.choices && !spec.help.includes(spec.choices[0]) ? `${spec.help} (${spec.choices.join(', ')})` : spec.help;
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group)!.push([left, help]);
  }
  const width = Math.min(36, Math.max(...[...groups.values()].flat().map(([left]) => left.length)));
  const lines: string[] = [];
  for (const [group, rows] of groups) {
    lines.push(`${group}:`);
    for (const [left, help] of rows) {
      if (left.length > width) lines.push(`  ${left}\n  ${' '.repeat(width)}  ${help}`);
      else lines.push(`  ${left.padEnd(width)}  ${help}`);
    }
    lines.push('');
  }
  return lines.join('\n').trimEnd();
}

/**
 * Seeded mutators for the fuzz corpora: byte-level (bit flips, insertions, deletions,
 * truncation) and JSON-level (a field replaced by a hostile value: another type, a huge or
 * negative number, NaN/Infinity, __proto__/constructor keys, deep nesting, a long string).
 */
import { mulberry32FromState } from '../../src/data/random.js';

/** A small seeded PRNG (mulberry32): the same (seed, index) always makes the same case. */
export class Rng {
  /** A float in [0, 1). */
  readonly next: () => number;

  constructor(seed: number, index = 0) {
    this.next = mulberry32FromState(Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b));
    for (let i = 0; i < 4; i++) this.next();
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** Numbers that break size arithmetic, bounds checks and type checks. */
export const HOSTILE_NUMBERS: readonly number[] = [
  0,
  -1,
  -(2 ** 31),
  2 ** 31 - 1,
  2 ** 32,
  2 ** 53 - 1,
  2 ** 53 + 2,
  1e9,
  1e18,
  1e308,
  -1e308,
  0.5,
  -0.0,
  1.5,
  3.000001,
  Number.MAX_SAFE_INTEGER,
  Number.MIN_VALUE,
];

/** Raw JSON number texts that JSON.stringify cannot make (NaN, Infinity) or that lose precision. */
export const HOSTILE_NUMBER_TEXTS: readonly string[] = [
  'NaN',
  'Infinity',
  '-Infinity',
  '1e400',
  '-1e400',
  '123456789012345678901234567890',
  '0x10',
  '1.',
  '.5',
  '01',
  '-',
];

/** Keys that reach Object.prototype when a lookup uses `in` or `obj[key]`. */
export const PROTOTYPE_KEYS: readonly string[] = [
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'prototype',
  '__defineGetter__',
];

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A value of a random hostile kind. */
export function hostileValue(rng: Rng): Json {
  switch (rng.int(11)) {
    case 0:
      return rng.pick(HOSTILE_NUMBERS);
    case 1:
      return -1 - rng.int(1000);
    case 2:
      return rng.pick(PROTOTYPE_KEYS);
    case 3:
      return null;
    case 4:
      return rng.chance(0.5);
    case 5:
      return [];
    case 6:
      return {};
    case 7:
      return String(rng.pick(HOSTILE_NUMBERS));
    case 8:
      return 'x'.repeat(rng.pick([0, 1, 1000, 100_000]));
    case 9:
      return deepNesting(rng.pick([50, 2000, 20_000]), rng.chance(0.5));
    default:
      return [rng.pick(HOSTILE_NUMBERS), 'a', null];
  }
}

/**
 * `[[[…]]]` or `{"a":{"a":…}}`, `depth` deep, as a placeholder that stringify() expands: deep
 * values overflow the stack of JSON.stringify itself.
 */
export function deepNesting(depth: number, objects: boolean): Json {
  return `\u0000DEEP ${depth} ${objects ? 'object' : 'array'}\u0000`;
}

/** JSON.stringify, with deepNesting() placeholders expanded. */
export function stringify(value: Json): string {
  return JSON.stringify(value).replace(
    /"\\u0000DEEP (\d+) (object|array)\\u0000"/g,
    (_, depth: string, kind: string) => {
      const n = Number(depth);
      return kind === 'object' ? '{"a":'.repeat(n) + '1' + '}'.repeat(n) : '['.repeat(n) + '1' + ']'.repeat(n);
    },
  );
}

/** Every path to a value in a JSON document (object keys and array indices), up to `limit` of them. */
export function jsonPaths(value: Json, limit = 5000): (string | number)[][] {
  const paths: (string | number)[][] = [];
  const walk = (node: Json, path: (string | number)[]): void => {
    if (paths.length >= limit) return;
    paths.push(path);
    if (Array.isArray(node)) node.slice(0, 50).forEach((child, i) => walk(child, [...path, i]));
    else if (node !== null && typeof node === 'object')
      for (const [key, child] of Object.entries(node)) walk(child, [...path, key]);
  };
  walk(value, []);
  return paths;
}

function parentAt(root: Json, path: readonly (string | number)[]): Json {
  let node = root;
  for (const key of path) node = (node as Record<string, Json>)[key]!;
  return node;
}

/**
 * Applies one random JSON mutation to a deep copy of `doc` and returns the copy, a description,
 * and the key it touched. `keys`, when given, are preferred targets (top-level fields to change).
 * The copy is returned as text because some mutations (NaN, duplicate keys, __proto__ keys) have
 * no JSON.stringify form.
 */
export function mutateJson(rng: Rng, doc: Json, keys?: readonly string[]): { text: string; what: string; key: string } {
  const copy = JSON.parse(JSON.stringify(doc)) as Json;
  const paths = jsonPaths(copy).filter((p) => p.length > 0);
  const path = keys && keys.length > 0 && rng.chance(0.7) ? [rng.pick(keys)] : rng.pick(paths);
  const key = String(path[path.length - 1]);
  const parent = parentAt(copy, path.slice(0, -1)) as Record<string, Json>;
  const where = path.join('.');
  const placeholder = '\u0000FUZZ\u0000';
  switch (rng.int(6)) {
    case 0: {
      // A number text JSON.stringify cannot make.
      const raw = rng.pick(HOSTILE_NUMBER_TEXTS);
      parent[key] = placeholder;
      return { text: stringify(copy).replace(JSON.stringify(placeholder), raw), what: `${where} = ${raw}`, key };
    }
    case 1: {
      // A prototype key beside (or instead of) the field.
      const protoKey = rng.pick(PROTOTYPE_KEYS);
      const value = hostileValue(rng);
      const target =
        parent !== null && typeof parent === 'object' && !Array.isArray(parent)
          ? parent
          : (copy as Record<string, Json>);
      target[placeholder] = value;
      return {
        text: stringify(copy).replace(JSON.stringify(placeholder), JSON.stringify(protoKey)),
        what: `${where}: key ${protoKey} = ${JSON.stringify(value).slice(0, 60)}`,
        key: protoKey,
      };
    }
    case 2: {
      delete parent[key];
      return { text: stringify(copy), what: `${where} removed`, key };
    }
    case 3: {
      // The same key twice: which one wins?
      const value = hostileValue(rng);
      parent[placeholder] = value;
      return {
        text: stringify(copy).replace(JSON.stringify(placeholder), JSON.stringify(key)),
        what: `${where} duplicated as ${JSON.stringify(value).slice(0, 60)}`,
        key,
      };
    }
    default: {
      const value = hostileValue(rng);
      parent[key] = value;
      return { text: stringify(copy), what: `${where} = ${JSON.stringify(value).slice(0, 60)}`, key };
    }
  }
}

/** One byte-level mutation of `bytes`, confined to [from, to) when given (e.g. a file's header). */
export function mutateBytes(
  rng: Rng,
  bytes: Uint8Array,
  from = 0,
  to = bytes.length,
): { bytes: Uint8Array; what: string } {
  const at = from + rng.int(Math.max(1, to - from));
  switch (rng.int(6)) {
    case 0: {
      const copy = Uint8Array.from(bytes);
      const flips = 1 + rng.int(8);
      for (let i = 0; i < flips; i++) {
        const pos = from + rng.int(Math.max(1, to - from));
        if (pos < copy.length) copy[pos]! ^= 1 << rng.int(8);
      }
      return { bytes: copy, what: `${flips} bit flips in [${from}, ${to})` };
    }
    case 1: {
      const count = rng.pick([1, 4, 100]);
      const inserted = Uint8Array.from({ length: count }, () => rng.int(256));
      return {
        bytes: concat(bytes.subarray(0, at), inserted, bytes.subarray(at)),
        what: `${count} bytes inserted at ${at}`,
      };
    }
    case 2: {
      const count = rng.pick([1, 4, 100]);
      return {
        bytes: concat(bytes.subarray(0, at), bytes.subarray(at + count)),
        what: `${count} bytes deleted at ${at}`,
      };
    }
    case 3:
      return { bytes: bytes.slice(0, at), what: `truncated to ${at} bytes` };
    case 4: {
      const copy = Uint8Array.from(bytes);
      const value = rng.pick([0x00, 0xff, 0x7f, 0x80]);
      copy.fill(value, at, Math.min(copy.length, at + rng.pick([1, 4, 8])));
      return { bytes: copy, what: `bytes at ${at} set to 0x${value.toString(16)}` };
    }
    default: {
      const copy = Uint8Array.from(bytes);
      const length = Math.min(copy.length - at, 1 + rng.int(16));
      const source = rng.int(Math.max(1, copy.length - length));
      copy.copyWithin(at, source, source + length);
      return { bytes: copy, what: `${length} bytes at ${at} copied from ${source}` };
    }
  }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

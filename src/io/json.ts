/**
 * A strict JSON parser for untrusted file headers. Unlike JSON.parse it refuses duplicate keys
 * (JSON.parse silently keeps the last one, which would let one header describe a tensor twice),
 * builds objects without a prototype (so keys such as "__proto__" are plain data) and bounds the
 * nesting depth (so a hostile "[[[[…" cannot exhaust the stack).
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

/** A parsed JSON object: no prototype, keys in document order (as JavaScript orders them). */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** A syntax error, a duplicate key or too deep a nesting; `position` is a character index. */
export class JsonError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
    this.name = 'JsonError';
  }
}

const MAX_DEPTH = 64;
const HEX4 = /^[0-9a-fA-F]{4}$/;
const SIMPLE_ESCAPES = '"\\/bfnrt';
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/** Parses `text` as one JSON value; throws JsonError naming what is wrong and where. */
export function parseJsonStrict(text: string): JsonValue {
  let i = 0;

  const fail = (message: string, at = i): never => {
    throw new JsonError(`${message} at character ${at}`, at);
  };

  const skipSpace = (): void => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  };

  const unexpected = (): never =>
    i >= text.length ? fail('unexpected end of JSON') : fail(`unexpected ${JSON.stringify(text[i])}`);

  const expect = (char: string): void => {
    skipSpace();
    if (text[i] !== char) unexpected();
    i++;
  };

  // Scanned by hand, not by a regex: V8's backtracking stack overflowed ("Maximum call stack size
  // exceeded") on a megabyte string of \u escapes. JSON.parse then decodes the checked token.
  const parseString = (): string => {
    const start = i;
    i++;
    for (;;) {
      if (i >= text.length) fail('unterminated string', start);
      const c = text.charCodeAt(i);
      if (c === 0x22 /* " */) break;
      if (c < 0x20) fail('invalid string: unescaped control character');
      if (c !== 0x5c /* \ */) {
        i++;
      } else if (text[i + 1] === 'u' && HEX4.test(text.slice(i + 2, i + 6))) {
        i += 6;
      } else if (i + 1 < text.length && SIMPLE_ESCAPES.includes(text[i + 1])) {
        i += 2;
      } else {
        fail('invalid string: bad escape');
      }
    }
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };

  const parseValue = (depth: number): JsonValue => {
    if (depth > MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH} levels`);
    skipSpace();
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) {
      i++;
      const object = Object.create(null) as JsonObject;
      skipSpace();
      if (text[i] === '}') {
        i++;
        return object;
      }
      for (;;) {
        skipSpace();
        if (text[i] !== '"') unexpected();
        const keyAt = i;
        const key = parseString();
        if (Object.prototype.hasOwnProperty.call(object, key)) fail(`duplicate key ${JSON.stringify(key)}`, keyAt);
        expect(':');
        object[key] = parseValue(depth + 1);
        skipSpace();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return object;
        }
        unexpected();
      }
    }
    if (c === 0x5b /* [ */) {
      i++;
      const array: JsonValue[] = [];
      skipSpace();
      if (text[i] === ']') {
        i++;
        return array;
      }
      for (;;) {
        array.push(parseValue(depth + 1));
        skipSpace();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return array;
        }
        unexpected();
      }
    }
    if (c === 0x22 /* " */) return parseString();
    if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      NUMBER.lastIndex = i;
      const match = NUMBER.exec(text);
      if (!match) fail('invalid number');
      i = NUMBER.lastIndex;
      return Number(match![0]);
    }
    for (const [word, value] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return value;
      }
    }
    return unexpected();
  };

  const value = parseValue(0);
  skipSpace();
  if (i < text.length) fail(`unexpected ${JSON.stringify(text[i])} after the JSON value`);
  return value;
}

/** True for a parsed JSON object (not an array or null). */
export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What a JSON value is, for errors: 'null', 'an array', 'an object', 'number 5', 'string "x"', or 'missing'. */
export function describeJsonValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

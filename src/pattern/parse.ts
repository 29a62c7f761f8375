/**
 * A parser for the regular expressions users put in config files, into a small syntax tree.
 * Two dialects: 'python' is the subset of Python's `re` that PEFT configs use, and refuses
 * what the linear-time matcher (match.ts) cannot run; 'oniguruma' reads the patterns of a
 * tokenizer.json (Oniguruma's syntax) only far enough to see how quantifiers nest
 * (backtracking.ts): lookaround, \p{…} and inline flags become opaque pieces, never errors.
 */

/** Tests one code point. */
export type CharTest = (codePoint: number) => boolean;

export type AssertionKind = 'start' | 'end' | 'endOnly' | 'wordBoundary' | 'notWordBoundary';

/** A node with the span of the pattern it came from, for messages. */
export type PatternNode = { start: number; end: number } & (
  | { kind: 'char'; test: CharTest }
  | { kind: 'sequence'; items: PatternNode[] }
  | { kind: 'alternation'; branches: PatternNode[] }
  /** `capture` is the group's number (1-based), null for a group that captures nothing. */
  | { kind: 'group'; body: PatternNode; capture: number | null; name: string | null }
  | { kind: 'repeat'; body: PatternNode; min: number; max: number; lazy: boolean }
  | { kind: 'assertion'; assertion: AssertionKind }
  /** Oniguruma only: a zero-width piece whose content does not repeat the text (lookaround, \K, \G). */
  | { kind: 'opaque'; body: PatternNode | null }
);

/** A node without its span. */
type NodeFields = PatternNode extends infer N ? (N extends unknown ? Omit<N, 'start' | 'end'> : never) : never;

export type Dialect = 'python' | 'oniguruma';

export interface ParsedPattern {
  root: PatternNode;
  /** How many capturing groups, and the number of each named one. */
  groupCount: number;
  groupNames: Map<string, number>;
}

/** The longest pattern accepted: module-name patterns are short, and the matcher's work grows with the length. */
export const MAX_PATTERN_LENGTH = 1000;
/** The largest count in `{m,n}`; a larger one is refused rather than expanded. */
export const MAX_REPEAT_COUNT = 1000;

/** A pattern finetune cannot read or will not run; `position` is the offset in the pattern, null where the whole pattern is at fault. */
export class PatternError extends Error {
  constructor(
    message: string,
    readonly position: number | null,
  ) {
    super(position === null ? message : `${message} at position ${position}`);
    this.name = 'PatternError';
  }
}

/** Python's `\s` for str patterns (str.isspace), which JS's \s differs from at \x1c–\x1f and \ufeff. */
const PY_SPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;
const WORD = /[\p{L}\p{N}_]/u;
const DIGIT = /\p{Nd}/u;

function charTest(regex: RegExp): CharTest {
  return (cp) => regex.test(String.fromCodePoint(cp));
}

export const isWordChar: CharTest = charTest(WORD);
const CLASS_ESCAPES: Record<string, CharTest> = {
  d: charTest(DIGIT),
  w: isWordChar,
  s: charTest(PY_SPACE),
};
const NEWLINE = 10;
const anyButNewline: CharTest = (cp) => cp !== NEWLINE;
const anyChar: CharTest = () => true;
const CONTROL_ESCAPES: Record<string, number> = { n: 10, t: 9, r: 13, f: 12, v: 11, a: 7 };
const SUPPORTED = 'literals, escapes, ., [classes], groups, |, * + ? {m,n} (lazy too), ^ $ \\A \\Z \\b \\B';

export function parsePattern(source: string, dialect: Dialect): ParsedPattern {
  if (source.length > MAX_PATTERN_LENGTH) {
    throw new PatternError(
      `the pattern is ${source.length} characters long, more than the ${MAX_PATTERN_LENGTH} accepted`,
      null,
    );
  }
  return new Parser(source, dialect).parse();
}

class Parser {
  #pos = 0;
  #groupCount = 0;
  readonly #groupNames = new Map<string, number>();

  constructor(
    readonly source: string,
    readonly dialect: Dialect,
  ) {}

  parse(): ParsedPattern {
    const root = this.#alternation();
    if (this.#pos < this.source.length) throw new PatternError('unbalanced parenthesis', this.#pos);
    return { root, groupCount: this.#groupCount, groupNames: this.#groupNames };
  }

  #peek(offset = 0): string | undefined {
    return this.source[this.#pos + offset];
  }

  #unsupported(what: string, at: number): never {
    throw new PatternError(
      `${what} is not supported (finetune matches patterns in linear time and reads ${SUPPORTED})`,
      at,
    );
  }

  #alternation(): PatternNode {
    const start = this.#pos;
    const branches = [this.#sequence()];
    while (this.#peek() === '|') {
      this.#pos++;
      branches.push(this.#sequence());
    }
    return branches.length === 1 ? branches[0] : { kind: 'alternation', branches, start, end: this.#pos };
  }

  #sequence(): PatternNode {
    const start = this.#pos;
    const items: PatternNode[] = [];
    for (let c = this.#peek(); c !== undefined && c !== '|' && c !== ')'; c = this.#peek()) {
      const atom = this.#atom();
      if (atom) items.push(this.#quantified(atom));
    }
    return items.length === 1 ? items[0] : { kind: 'sequence', items, start, end: this.#pos };
  }

  /** `{m}`, `{m,}`, `{,n}`, `{m,n}` at the cursor, or null where Python reads the brace as a literal. */
  #braces(): { min: number; max: number; length: number } | null {
    const match = /^\{(\d*)(,(\d*))?\}/.exec(this.source.slice(this.#pos));
    if (!match || (match[1] === '' && match[2] === undefined)) return null;
    const min = match[1] === '' ? 0 : Number(match[1]);
    const max = match[2] === undefined ? min : match[3] === '' ? Infinity : Number(match[3]);
    return { min, max, length: match[0].length };
  }

  #quantifier(): { min: number; max: number; length: number } | null {
    const c = this.#peek();
    if (c === '*') return { min: 0, max: Infinity, length: 1 };
    if (c === '+') return { min: 1, max: Infinity, length: 1 };
    if (c === '?') return { min: 0, max: 1, length: 1 };
    return c === '{' ? this.#braces() : null;
  }

  #quantified(atom: PatternNode): PatternNode {
    let node = atom;
    for (let q = this.#quantifier(); q; q = this.#quantifier()) {
      const at = this.#pos;
      if (node !== atom && this.dialect === 'python') throw new PatternError('multiple repeat', at);
      if (node.kind === 'assertion' && this.dialect === 'python') throw new PatternError('nothing to repeat', at);
      if (q.min > MAX_REPEAT_COUNT || (q.max !== Infinity && q.max > MAX_REPEAT_COUNT)) {
        throw new PatternError(
          `the repeat count ${this.source.slice(at, at + q.length)} is above the ${MAX_REPEAT_COUNT} accepted`,
          at,
        );
      }
      if (q.max < q.min) throw new PatternError('min repeat greater than max repeat', at);
      this.#pos += q.length;
      let lazy = false;
      if (this.#peek() === '?') {
        lazy = true;
        this.#pos++;
      } else if (this.#peek() === '+') {
        if (this.dialect === 'python')
          this.#unsupported(`the possessive quantifier ${this.source.slice(at, this.#pos + 1)}`, at);
        this.#pos++; // Oniguruma's possessive form: it never gives back what it took
        node = {
          kind: 'opaque',
          body: { kind: 'repeat', body: node, min: q.min, max: q.max, lazy, start: atom.start, end: this.#pos },
          start: atom.start,
          end: this.#pos,
        };
        continue;
      }
      node = { kind: 'repeat', body: node, min: q.min, max: q.max, lazy, start: atom.start, end: this.#pos };
    }
    return node;
  }

  /** One atom, or null for a piece that matches nothing (a comment). */
  #atom(): PatternNode | null {
    const start = this.#pos;
    const c = this.source[this.#pos++];
    const node = (fields: NodeFields): PatternNode => ({ ...fields, start, end: this.#pos }) as PatternNode;
    switch (c) {
      case '(':
        return this.#group(start);
      case '[':
        return node({ kind: 'char', test: this.#characterClass(start) });
      case '.':
        return node({ kind: 'char', test: anyButNewline });
      case '^':
        return node({ kind: 'assertion', assertion: 'start' });
      case '$':
        return node({ kind: 'assertion', assertion: 'end' });
      case '\\':
        return this.#escape(start);
      case '*':
      case '+':
      case '?':
        throw new PatternError('nothing to repeat', start);
      case '{':
        this.#pos--;
        if (this.#braces()) throw new PatternError('nothing to repeat', start);
        this.#pos++;
        return node({ kind: 'char', test: literal(c) });
      default: {
        const cp = this.source.codePointAt(start)!;
        this.#pos = start + String.fromCodePoint(cp).length;
        return node({ kind: 'char', test: (x: number) => x === cp });
      }
    }
  }

  #group(start: number): PatternNode | null {
    let capture: number | null = null;
    let name: string | null = null;
    let zeroWidth = false;
    if (this.#peek() !== '?') {
      capture = ++this.#groupCount;
    } else {
      const rest = this.source.slice(this.#pos + 1);
      const named = /^(?:P<|<(?![=!]))([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest);
      if (rest.startsWith(':')) {
        this.#pos += 2;
      } else if (named && (named[0].startsWith('P') || this.dialect === 'oniguruma')) {
        name = named[1];
        if (this.#groupNames.has(name)) throw new PatternError(`redefinition of group name '${name}'`, start);
        capture = ++this.#groupCount;
        this.#groupNames.set(name, capture);
        this.#pos += 1 + named[0].length;
      } else if (rest.startsWith('#')) {
        const close = this.source.indexOf(')', this.#pos);
        if (close < 0) throw new PatternError('missing ), unterminated comment', start);
        this.#pos = close + 1;
        return null;
      } else if (this.dialect === 'python') {
        const construct = /^(?:P=|<=|<!|[=!>(]|[aiLmsux-]+[:)])/.exec(rest)?.[0] ?? rest.slice(0, 1);
        const what: Record<string, string> = {
          'P=': 'the backreference (?P=…)',
          '=': 'lookahead (?=…)',
          '!': 'lookahead (?!…)',
          '<=': 'lookbehind (?<=…)',
          '<!': 'lookbehind (?<!…)',
          '>': 'the atomic group (?>…)',
          '(': 'the conditional (?(…)…)',
        };
        this.#unsupported(
          what[construct] ??
            (/^[aiLmsux-]/.test(construct) ? `the inline flags (?${construct}…)` : `the group (?${construct}…`),
          start,
        );
      } else {
        // Oniguruma: lookaround, atomic groups, inline flags (?i) / (?i:…), absent groups and the like.
        const head = /^(?:<=|<!|[=!>~]|[imxWDSPayu-]*:?)/.exec(rest)![0];
        this.#pos += 1 + head.length;
        zeroWidth = head !== '>' && !head.endsWith(':') && head !== '';
        if (!head.endsWith(':') && /^[imxWDSPayu-]+$/.test(head) && this.#peek() === ')') {
          this.#pos++;
          return null; // (?i): flags for the rest of the pattern
        }
      }
    }
    const body = this.#alternation();
    if (this.#peek() !== ')') throw new PatternError('missing ), unterminated subpattern', start);
    this.#pos++;
    if (zeroWidth) return { kind: 'opaque', body, start, end: this.#pos };
    return { kind: 'group', body, capture, name, start, end: this.#pos };
  }

  #escape(start: number): PatternNode {
    const c = this.source[this.#pos++];
    const node = (fields: NodeFields): PatternNode => ({ ...fields, start, end: this.#pos }) as PatternNode;
    if (c === undefined) throw new PatternError('bad escape (end of pattern)', start);
    const assertion: Record<string, AssertionKind> = {
      A: 'start',
      Z: 'endOnly',
      b: 'wordBoundary',
      B: 'notWordBoundary',
    };
    if (this.dialect === 'oniguruma' && c === 'z') return node({ kind: 'assertion', assertion: 'endOnly' });
    if (this.dialect === 'oniguruma' && c === 'Z') return node({ kind: 'assertion', assertion: 'end' });
    if (Object.hasOwn(assertion, c)) return node({ kind: 'assertion', assertion: assertion[c] });
    if (this.dialect === 'python' && /[1-9]/.test(c)) this.#unsupported(`the backreference \\${c}`, start);
    this.#pos--;
    return node({ kind: 'char', test: this.#charEscape(start, false).test });
  }

  /** An escape that stands for characters, the cursor after the backslash; inClass reads \b as backspace. */
  #charEscape(start: number, inClass: boolean): ClassItem {
    const c = this.source[this.#pos++];
    if (c === undefined) throw new PatternError('bad escape (end of pattern)', start);
    const lower = c.toLowerCase();
    if (Object.hasOwn(CLASS_ESCAPES, lower)) {
      const test = CLASS_ESCAPES[lower];
      return set(c === lower ? test : (cp) => !test(cp));
    }
    if (Object.hasOwn(CONTROL_ESCAPES, c)) return point(CONTROL_ESCAPES[c]);
    if (inClass && c === 'b') return point(8);
    const hexLength: Record<string, number> = { x: 2, u: 4, U: 8 };
    if (Object.hasOwn(hexLength, c)) {
      const digits = this.source.slice(this.#pos, this.#pos + hexLength[c]);
      if (/^[0-9a-fA-F]+$/.test(digits) && digits.length === hexLength[c] && Number.parseInt(digits, 16) <= 0x10ffff) {
        this.#pos += digits.length;
        return point(Number.parseInt(digits, 16));
      }
      if (this.dialect === 'python') throw new PatternError(`incomplete escape \\${c}${digits}`, start);
    }
    if (c === '0' || (inClass && /[1-7]/.test(c))) {
      const digits = /^[0-7]{0,2}/.exec(this.source.slice(this.#pos))![0];
      this.#pos += digits.length;
      return point(Number.parseInt(c + digits, 8));
    }
    if (this.dialect === 'oniguruma') {
      // \p{L}, \h, \R, \X and Oniguruma's other letter escapes: some set of characters, read where JS knows it.
      const property = /^\{\^?([A-Za-z_ =]+)\}/.exec(this.source.slice(this.#pos));
      if ((c === 'p' || c === 'P') && property) {
        this.#pos += property[0].length;
        const negated = (c === 'P') !== property[0].startsWith('{^');
        try {
          const test = charTest(new RegExp(`\\p{${property[1]}}`, 'u'));
          return set(negated ? (cp) => !test(cp) : test);
        } catch {
          return set(anyChar);
        }
      }
      return /[A-Za-z0-9]/.test(c) ? set(anyChar) : point(c.codePointAt(0)!);
    }
    if (/[A-Za-z0-9]/.test(c)) {
      if (c === 'N') this.#unsupported('the named character escape \\N{…}', start);
      throw new PatternError(`bad escape \\${c}`, start);
    }
    return point(c.codePointAt(0)!);
  }

  #characterClass(start: number): CharTest {
    const negated = this.#peek() === '^';
    if (negated) this.#pos++;
    const parts: CharTest[] = [];
    let first = true;
    for (;;) {
      const c = this.#peek();
      if (c === undefined) throw new PatternError('unterminated character set', start);
      if (c === ']' && !first) break;
      first = false;
      if (this.dialect === 'oniguruma' && c === '[') {
        parts.push(this.#characterClass(this.#pos++)); // Oniguruma's nested class
        continue;
      }
      const itemStart = this.#pos;
      const low = this.#classItem();
      if (this.#peek() === '-' && this.#peek(1) !== ']' && this.#peek(1) !== undefined) {
        this.#pos++;
        const high = this.#classItem();
        if (low.point === null || high.point === null) {
          if (this.dialect === 'python')
            throw new PatternError(`bad character range ${this.source.slice(itemStart, this.#pos)}`, itemStart);
          parts.push(anyChar);
          continue;
        }
        if (high.point < low.point)
          throw new PatternError(`bad character range ${this.source.slice(itemStart, this.#pos)}`, itemStart);
        const [from, to] = [low.point, high.point];
        parts.push((cp) => cp >= from && cp <= to);
      } else {
        parts.push(low.test);
      }
    }
    this.#pos++;
    const inClass: CharTest = (cp) => parts.some((test) => test(cp));
    return negated ? (cp) => !inClass(cp) : inClass;
  }

  /** One member of a class: a single code point (`point`, usable in a range) or a set like \d. */
  #classItem(): ClassItem {
    const start = this.#pos;
    if (this.source[this.#pos] === '\\') {
      this.#pos++;
      if (
        this.dialect === 'python' &&
        /[1-9]/.test(this.#peek() ?? '') &&
        !/^[1-7][0-7]{2}/.test(this.source.slice(this.#pos))
      ) {
        throw new PatternError(`bad escape \\${this.#peek()}`, start);
      }
      return this.#charEscape(start, true);
    }
    const cp = this.source.codePointAt(this.#pos)!;
    this.#pos += String.fromCodePoint(cp).length;
    return point(cp);
  }
}

function literal(char: string): CharTest {
  const cp = char.codePointAt(0)!;
  return (x) => x === cp;
}

/** What an escape or class member stands for: one code point (`point`, usable in a range) or a set like \d. */
interface ClassItem {
  test: CharTest;
  point: number | null;
}

function point(cp: number): ClassItem {
  return { test: (x) => x === cp, point: cp };
}

function set(test: CharTest): ClassItem {
  return { test, point: null };
}

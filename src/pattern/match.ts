/**
 * A linear-time matcher for the Python `re` patterns of PEFT configs (target_modules,
 * modules_to_save, …): the parsed pattern is compiled to a Thompson NFA and run as a Pike VM,
 * RE2's idea, so its work is at most the pattern's size times the text's length — `(.|.)*Z`
 * cannot make it backtrack. Threads keep Python's priority order (greedy before lazy, left
 * branch before right), so the groups it reports are the ones `re.match` reports — except after a
 * loop pass that matched nothing: Python leaves the loop there keeping that pass's groups, a
 * Pike VM drops the pass, so a loop over a group that can match the empty text may report another
 * extent or groups (never another answer to whether it matches: 19,500 random cases agree).
 */
import {
  isWordChar,
  parsePattern,
  PatternError,
  type AssertionKind,
  type CharTest,
  type PatternNode,
} from './parse.js';

type Instruction =
  | { op: 'char'; test: CharTest }
  | { op: 'split'; preferred: number; other: number }
  | { op: 'jump'; to: number }
  | { op: 'save'; slot: number }
  | { op: 'assert'; assertion: AssertionKind }
  | { op: 'match' };

/** The most instructions a compiled pattern may have: `{m,n}` copies its operand, and the matcher's work per character grows with this. */
export const MAX_PROGRAM_SIZE = 5_000;

/** A successful match: group texts by number (0: the whole match) and by name; undefined where a group took no part. */
export interface PatternMatch {
  groups: (string | undefined)[];
  named: Record<string, string | undefined>;
}

export class Pattern {
  readonly #program: Instruction[];
  readonly #groupCount: number;
  readonly #groupNames: Map<string, number>;

  /** Compiles a Python `re` pattern; a construct the linear-time matcher cannot run throws a PatternError naming it. */
  constructor(readonly source: string) {
    const parsed = parsePattern(source, 'python');
    const program: Instruction[] = [];
    emit(program, { kind: 'group', body: parsed.root, capture: 0, name: null, start: 0, end: source.length });
    program.push({ op: 'match' });
    this.#program = program;
    this.#groupCount = parsed.groupCount;
    this.#groupNames = parsed.groupNames;
  }

  /** Python's `re.fullmatch(pattern, text)` as a boolean. */
  fullMatch(text: string): boolean {
    return this.#run(text, true, false) !== null;
  }

  /** Whether Python's `re.match(pattern, text)` finds a match (one that starts at the beginning of `text`). */
  test(text: string): boolean {
    return this.#run(text, false, false) !== null;
  }

  /** Python's `re.match(pattern, text)`, with its groups, or null. */
  match(text: string): PatternMatch | null {
    return this.#run(text, false, true);
  }

  /** Runs the program over `text`; `whole`: the match must end at the end; `groups`: record group boundaries (else they come back empty). */
  #run(text: string, whole: boolean, groups: boolean): PatternMatch | null {
    const points = Array.from(text, (c) => c.codePointAt(0)!);
    const program = this.#program;
    const walk: Walk = {
      points,
      groups,
      addedAt: new Int32Array(program.length).fill(-1),
      stackPc: new Int32Array(2 * program.length + 1),
      stackCaptures: new Array<Captures>(2 * program.length + 1),
    };
    let found: Captures | undefined;
    let current: Threads = { pcs: [], captures: [] };
    this.#follow(walk, 0, 0, null, current);
    for (let position = 0; current.pcs.length > 0; position++) {
      const next: Threads = { pcs: [], captures: [] };
      for (let t = 0; t < current.pcs.length; t++) {
        const instruction = program[current.pcs[t]];
        if (instruction.op === 'match') {
          if (whole && position !== points.length) continue;
          found = current.captures[t];
          break; // the threads after this one have lower priority
        }
        if (instruction.op === 'char' && position < points.length && instruction.test(points[position])) {
          this.#follow(walk, position + 1, current.pcs[t] + 1, current.captures[t], next);
        }
      }
      if (position >= points.length) break;
      current = next;
    }
    return found === undefined ? null : this.#matchOf(points, found);
  }

  /**
   * Appends to `into` the threads that instruction `pc` reaches at `position` through jumps,
   * splits, saves and assertions, in priority order; each instruction joins a list once per position.
   */
  #follow(walk: Walk, position: number, pc: number, captures: Captures, into: Threads): void {
    const { points, groups, addedAt, stackPc, stackCaptures } = walk;
    let top = 0;
    const push = (to: number, saved: Captures) => {
      stackPc[top] = to;
      stackCaptures[top++] = saved;
    };
    push(pc, captures);
    while (top > 0) {
      const at = stackPc[--top];
      const held = stackCaptures[top];
      if (addedAt[at] === position) continue;
      addedAt[at] = position;
      const instruction = this.#program[at];
      switch (instruction.op) {
        case 'jump':
          push(instruction.to, held);
          break;
        case 'split':
          push(instruction.other, held);
          push(instruction.preferred, held);
          break;
        case 'save':
          push(at + 1, groups ? { slot: instruction.slot, position, previous: held } : held);
          break;
        case 'assert':
          if (holds(instruction.assertion, points, position)) push(at + 1, held);
          break;
        default:
          into.pcs.push(at);
          into.captures.push(held);
      }
    }
  }

  #matchOf(points: number[], found: Captures): PatternMatch {
    const captures = new Array<number>(2 * (this.#groupCount + 1)).fill(-1);
    for (let saved = found; saved; saved = saved.previous)
      if (captures[saved.slot] < 0) captures[saved.slot] = saved.position;
    const groups: (string | undefined)[] = [];
    for (let g = 0; g <= this.#groupCount; g++) {
      const [from, to] = [captures[2 * g], captures[2 * g + 1]];
      groups.push(from < 0 || to < 0 ? undefined : String.fromCodePoint(...points.slice(from, to)));
    }
    const named: Record<string, string | undefined> = Object.create(null);
    for (const [name, g] of this.#groupNames) named[name] = groups[g];
    return { groups, named };
  }
}

/** The threads alive at one position, highest priority first: each one's instruction and group boundaries. */
interface Threads {
  pcs: number[];
  captures: Captures[];
}

/** What following the instructions at every position shares: the text, and scratch space sized to the program. */
interface Walk {
  points: number[];
  groups: boolean;
  /** The position each instruction was last added at. */
  addedAt: Int32Array;
  stackPc: Int32Array;
  stackCaptures: Captures[];
}

/** A thread's group boundaries, newest first: a shared list, so that recording one costs the same however many groups there are. */
type Captures = { slot: number; position: number; previous: Captures } | null;

function holds(assertion: AssertionKind, points: number[], position: number): boolean {
  switch (assertion) {
    case 'start':
      return position === 0;
    case 'end': // Python's $: the end, or before a newline that ends the text
      return position === points.length || (position === points.length - 1 && points[position] === 10);
    case 'endOnly':
      return position === points.length;
    case 'wordBoundary':
    case 'notWordBoundary': {
      if (points.length === 0) return false; // Python's re (before 3.14) finds neither in an empty text
      const before = position > 0 && isWordChar(points[position - 1]);
      const after = position < points.length && isWordChar(points[position]);
      return (before !== after) === (assertion === 'wordBoundary');
    }
  }
}

function emit(program: Instruction[], node: PatternNode): void {
  if (program.length > MAX_PROGRAM_SIZE) {
    throw new PatternError(
      `the pattern expands to more than ${MAX_PROGRAM_SIZE} steps (repeat counts multiply)`,
      node.start,
    );
  }
  switch (node.kind) {
    case 'char':
      program.push({ op: 'char', test: node.test });
      return;
    case 'assertion':
      program.push({ op: 'assert', assertion: node.assertion });
      return;
    case 'sequence':
      for (const item of node.items) emit(program, item);
      return;
    case 'group':
      if (node.capture !== null) program.push({ op: 'save', slot: 2 * node.capture });
      emit(program, node.body);
      if (node.capture !== null) program.push({ op: 'save', slot: 2 * node.capture + 1 });
      return;
    case 'alternation': {
      const exits: Extract<Instruction, { op: 'jump' }>[] = [];
      node.branches.forEach((branch, i) => {
        const last = i === node.branches.length - 1;
        const split: Extract<Instruction, { op: 'split' }> = { op: 'split', preferred: program.length + 1, other: -1 };
        if (!last) program.push(split);
        emit(program, branch);
        if (!last) {
          const exit: Extract<Instruction, { op: 'jump' }> = { op: 'jump', to: -1 };
          exits.push(exit);
          program.push(exit);
          split.other = program.length;
        }
      });
      for (const exit of exits) exit.to = program.length;
      return;
    }
    case 'repeat':
      emitRepeat(program, node.body, node.min, node.max, node.lazy);
      return;
    case 'opaque':
      throw new PatternError('an Oniguruma construct', node.start); // parsePattern's python dialect never makes one
  }
}

/** `body{min,max}`: min copies, then either a loop or (max − min) nested optional copies. */
function emitRepeat(program: Instruction[], body: PatternNode, min: number, max: number, lazy: boolean): void {
  for (let i = 0; i < min; i++) emit(program, body);
  const branch = (into: number, out: number): Instruction =>
    lazy ? { op: 'split', preferred: out, other: into } : { op: 'split', preferred: into, other: out };
  if (max === Infinity) {
    const loop = program.length;
    program.push({ op: 'jump', to: -1 }); // replaced by the split once the exit is known
    emit(program, body);
    program.push({ op: 'jump', to: loop });
    program[loop] = branch(loop + 1, program.length);
    return;
  }
  const optionals: number[] = [];
  for (let i = min; i < max; i++) {
    optionals.push(program.length);
    program.push({ op: 'jump', to: -1 });
    emit(program, body);
  }
  for (const at of optionals) program[at] = branch(at + 1, program.length);
}

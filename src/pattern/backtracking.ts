/**
 * Finds the shapes that make a backtracking engine (Oniguruma, which the tokenizers library
 * runs a tokenizer.json's Split and Replace patterns with) take exponential time: an unbounded
 * quantifier over a piece that itself holds an unbounded quantifier (`(a+)+`, `(a*b)*`) or an
 * alternation whose branches can begin with the same character (`(.|.)*`, `(a|aa)*`). The
 * tokenizers library aborts the process when Oniguruma gives up on such a pattern. The check is
 * structural and errs towards refusing: a repeated alternation whose branches merely start alike
 * is refused even where no text would make it slow.
 */
import { parsePattern, PatternError, type CharTest, type PatternNode } from './parse.js';

/** Why `source` can backtrack catastrophically (naming the pieces), or null when its quantifiers do not nest that way. */
export function catastrophicBacktracking(source: string): string | null {
  let root: PatternNode;
  try {
    root = parsePattern(source, 'oniguruma').root;
  } catch (error) {
    if (error instanceof PatternError) return null; // left for the tokenizers library to refuse with its own message
    throw error;
  }
  return findHazard(source, root, null);
}

/** Whether `source` can match the empty text (null when it does not parse: left for the tokenizers library to refuse). */
export function matchesEmptyText(source: string): boolean | null {
  try {
    return firstCharacters(parsePattern(source, 'oniguruma').root).nullable;
  } catch (error) {
    if (error instanceof PatternError) return null;
    throw error;
  }
}

/** Walks the tree; `outer` is the nearest enclosing unbounded repeat. */
function findHazard(source: string, node: PatternNode, outer: PatternNode | null): string | null {
  const text = (n: PatternNode) => `'${source.slice(n.start, n.end)}'`;
  switch (node.kind) {
    case 'repeat': {
      if (outer && node.max === Infinity && !matchesOnlyEmpty(node.body)) {
        return `the quantifier of ${text(outer)} repeats ${text(node)}, which repeats itself: the ways to split a text between them grow exponentially`;
      }
      return findHazard(source, node.body, outer ?? (node.max === Infinity ? node : null));
    }
    case 'alternation': {
      if (outer) {
        for (let i = 0; i < node.branches.length; i++) {
          for (let j = i + 1; j < node.branches.length; j++) {
            if (mayStartAlike(node.branches[i], node.branches[j])) {
              return `the quantifier of ${text(outer)} repeats the alternatives ${text(node.branches[i])} and ${text(node.branches[j])}, which can match the same text: the ways to match grow exponentially`;
            }
          }
        }
      }
      for (const branch of node.branches) {
        const found = findHazard(source, branch, outer);
        if (found) return found;
      }
      return null;
    }
    case 'sequence':
      for (const item of node.items) {
        const found = findHazard(source, item, outer);
        if (found) return found;
      }
      return null;
    case 'group':
      return findHazard(source, node.body, outer);
    case 'opaque':
      // A lookaround is matched on its own at each position it is tried; its inside is checked as a pattern of its own.
      return node.body && findHazard(source, node.body, null);
    default:
      return null;
  }
}

function matchesOnlyEmpty(node: PatternNode): boolean {
  return firstCharacters(node).tests.length === 0;
}

/** Whether two alternatives can both match the empty text or begin with the same character. */
function mayStartAlike(a: PatternNode, b: PatternNode): boolean {
  const first = firstCharacters(a);
  const second = firstCharacters(b);
  if (first.nullable && second.nullable) return true;
  return overlap(first.tests, second.tests);
}

/** The tests a match's first character can pass, and whether the node can match the empty text. */
function firstCharacters(node: PatternNode): { tests: CharTest[]; nullable: boolean } {
  switch (node.kind) {
    case 'char':
      return { tests: [node.test], nullable: false };
    case 'assertion':
    case 'opaque':
      return { tests: [], nullable: true };
    case 'group':
      return firstCharacters(node.body);
    case 'repeat': {
      const body = firstCharacters(node.body);
      return { tests: node.max === 0 ? [] : body.tests, nullable: node.min === 0 || body.nullable };
    }
    case 'alternation': {
      const branches = node.branches.map(firstCharacters);
      return { tests: branches.flatMap((b) => b.tests), nullable: branches.some((b) => b.nullable) };
    }
    case 'sequence': {
      const tests: CharTest[] = [];
      for (const item of node.items) {
        const first = firstCharacters(item);
        tests.push(...first.tests);
        if (!first.nullable) return { tests, nullable: false };
      }
      return { tests, nullable: true };
    }
  }
}

/** Whether some character of the Basic Multilingual Plane passes a test of each set (the planes above hold no pattern's only overlap in practice). */
function overlap(first: CharTest[], second: CharTest[]): boolean {
  if (first.length === 0 || second.length === 0) return false;
  for (let cp = 0; cp <= 0xffff; cp++) {
    if (first.some((test) => test(cp)) && second.some((test) => test(cp))) return true;
  }
  return false;
}

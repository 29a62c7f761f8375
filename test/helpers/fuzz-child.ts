/**
 * A fuzz child process (see fuzz.ts): runs cases [from, to) of a corpus and reports each on fd 3,
 * "start" before running it (a synchronous write, so it is out before any crash) and "end" with
 * its outcome after.
 *   node fuzz-child.js <corpus module> <seed> <from> <to> <dir>
 */
import { writeSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { WrongResult, type Corpus, type Outcome } from './fuzz.js';

const [corpusModule, seedText, fromText, toText, dir] = process.argv.slice(2);
if (!corpusModule || !dir) throw new Error('usage: node fuzz-child.js <corpus module> <seed> <from> <to> <dir>');
const { corpus } = (await import(corpusModule)) as { corpus: Corpus };
const seed = Number(seedText);

function report(message: object): void {
  writeSync(3, `${JSON.stringify(message)}\n`);
}

function judge(error: unknown, names: readonly string[]): { outcome: Outcome; detail: string } {
  if (error instanceof WrongResult) return { outcome: 'wrong', detail: error.message };
  if (!(error instanceof Error))
    return { outcome: 'non-error', detail: `threw ${typeof error}: ${String(error).slice(0, 200)}` };
  const detail = `${error.name}: ${error.message}`;
  const named = names.length === 0 || names.some((name) => error.message.includes(name));
  return {
    outcome: named ? 'error' : 'unnamed',
    detail: named ? detail : `${detail} (names none of ${JSON.stringify(names)})`,
  };
}

for (let index = Number(fromText); index < Number(toText); index++) {
  const caseDir = join(dir, `case-${index}`);
  mkdirSync(caseDir, { recursive: true });
  let fuzzCase;
  try {
    fuzzCase = await corpus.make(seed, index, caseDir);
  } catch (error) {
    // A bug of the fuzzer, not of the library: reported as a crash so that it is seen.
    report({
      event: 'end',
      index,
      what: '(making the case)',
      outcome: 'crash',
      detail: `the fuzzer failed to make this case: ${(error as Error).stack}`,
    });
    continue;
  }
  report({
    event: 'start',
    index,
    what: fuzzCase.what,
    detail: fuzzCase.timeoutMs ? String(fuzzCase.timeoutMs) : undefined,
  });
  let result: { outcome: Outcome; detail: string };
  const started = performance.now();
  try {
    await fuzzCase.run();
    result = { outcome: 'ok', detail: '' };
  } catch (error) {
    result = judge(error, fuzzCase.names);
  }
  report({ event: 'end', index, what: fuzzCase.what, ms: Math.round(performance.now() - started), ...result });
  rmSync(caseDir, { recursive: true, force: true });
}

/** The fuzz suite's one test per corpus: run it, then fail listing every bad case. */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { failures, runFuzz, summaryTable, tally } from './fuzz.js';

/** Registers a test that runs the corpus `test/helpers/fuzz-corpora/<name>.ts` and expects no bad outcome. */
export function assertClean(name: string, minimumErrors = 0): void {
  test(`fuzz ${name}: no crash, hang, or error that does not name its file or field`, async (t) => {
    const results = await runFuzz(new URL(`./fuzz-corpora/${name}.js`, import.meta.url).href);
    for (const line of summaryTable(results).split('\n')) t.diagnostic(line);
    const counts = tally(results);
    // Bad input must mostly be refused, or the mutators are not reaching the parsers.
    assert.ok(counts.error >= minimumErrors, `only ${counts.error} of ${results.length} cases were refused`);
    assert.deepEqual(failures(results), []);
  });
}

/**
 * The fuzz suite's longer form (issue 14): runs the corpora of test/helpers/fuzz-corpora with more
 * cases and prints a summary table, every bad case (with the seed and index to rerun it) and the
 * slowest cases.
 *   node build/ts/tools/fuzz.js [--count N] [--seed S] [corpus …]
 * Corpora: safetensors, tokenizer, config, image, table, misuse (default: all). --count is per
 * corpus (default 10× the test suite's; misuse has a fixed list). Exits 1 when a case is bad.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { failures, runFuzz, slowest, summaryTable, type CaseResult } from '../test/helpers/fuzz.js';

// The corpora read fixtures by paths relative to the repository root (this file is build/ts/tools/fuzz.js).
process.chdir(fileURLToPath(new URL('../../..', import.meta.url)));

const CORPORA = ['safetensors', 'tokenizer', 'config', 'image', 'table', 'misuse'];

const { values, positionals } = parseArgs({
  options: { count: { type: 'string' }, seed: { type: 'string' } },
  allowPositionals: true,
});
const unknown = positionals.filter((name) => !CORPORA.includes(name));
if (unknown.length > 0) {
  console.error(`unknown corpus ${unknown.join(', ')} (expected ${CORPORA.join(', ')})`);
  process.exit(2);
}
const seed = values.seed === undefined ? Date.now() % 1_000_000 : Number(values.seed);
const results: CaseResult[] = [];
for (const name of positionals.length > 0 ? positionals : CORPORA) {
  const module = new URL(`../test/helpers/fuzz-corpora/${name}.js`, import.meta.url).href;
  const { corpus } = (await import(module)) as { corpus: { defaultCount: number } };
  const count =
    name === 'misuse'
      ? corpus.defaultCount
      : values.count === undefined
        ? corpus.defaultCount * 10
        : Number(values.count);
  const started = Date.now();
  const ran = await runFuzz(module, { seed, count });
  console.error(`${name}: ${ran.length} cases in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  results.push(...ran);
}
console.log(`seed ${seed}\n${summaryTable(results)}`);
const bad = failures(results);
if (bad.length > 0) console.log(`\nbad cases (rerun with --seed ${seed}):\n${bad.join('\n')}`);
console.log(`\nslowest:\n${slowest(results, 10).join('\n')}`);
process.exitCode = bad.length > 0 ? 1 : 0;

/**
 * The fuzz runner (issue 14): runs the cases of a corpus in child processes so that a crash or a
 * hang is counted against the one case that caused it instead of taking the test run down.
 *
 * A corpus is a module exporting `corpus: Corpus`; a case is rebuilt in the child from
 * (seed, index) alone, so nothing but numbers crosses the process boundary. A child
 * (fuzz-child.ts) runs a range of cases and, before each, writes "start <index>" to fd 3 with a
 * synchronous write, so the parent knows which case was running when the child died. When a child
 * dies (signal, abort, nonzero exit) or a case outlives its timeout, the parent records that case
 * as a crash or hang and starts a fresh child at the next case.
 *
 * Outcomes: ok (accepted), error (a JS Error whose message names the file/field/flag the case
 * says it must), unnamed (an Error that names none of them), non-error (a thrown non-Error),
 * wrong (the case itself saw a silently wrong result), crash, hang. Only ok and error are good.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One fuzz input, made from (seed, index) in the child. */
export interface FuzzCase {
  /** What the case is, for reports: the mutation applied. */
  what: string;
  /**
   * An error must name at least one of these (the file's basename, the field or flag). An empty
   * list accepts any Error.
   */
  names: readonly string[];
  /** Runs the case: returning is 'ok', throwing is judged by `names`; throw WrongResult for a silently wrong result. */
  run(): unknown;
  /** This case's hang timeout (ms), when it differs from the corpus's. */
  timeoutMs?: number;
}

export interface Corpus {
  name: string;
  /** Cases in the test suite (FUZZ_SCALE multiplies it). */
  defaultCount: number;
  /** Hang timeout per case (ms). */
  timeoutMs: number;
  /** Builds case `index` of the run seeded `seed`; files go under `dir` (the case's own folder). */
  make(seed: number, index: number, dir: string): FuzzCase | Promise<FuzzCase>;
}

/** Thrown by a case that sees input accepted with a wrong result (NaN logits, a file written outside its folder, …). */
export class WrongResult extends Error {
  override name = 'WrongResult';
}

export type Outcome = 'ok' | 'error' | 'unnamed' | 'non-error' | 'wrong' | 'crash' | 'hang';
export const BAD_OUTCOMES: readonly Outcome[] = ['unnamed', 'non-error', 'wrong', 'crash', 'hang'];

export interface CaseResult {
  corpus: string;
  seed: number;
  index: number;
  what: string;
  outcome: Outcome;
  /** The error message, the signal or exit code, or the timeout. */
  detail: string;
  /** How long the case ran (ms); for a crash or hang, until the child was found dead or killed. */
  ms: number;
}

export interface FuzzRunOptions {
  seed?: number;
  count?: number;
  /** Cases per child before a fresh one is started (bounds leaks between cases). */
  batch?: number;
  /** Address-space limit of a child (MiB), so a case that allocates without bound fails there, not on the machine. */
  memoryMb?: number;
}

/** The child process's entry point, beside this module. */
const CHILD = fileURLToPath(new URL('./fuzz-child.js', import.meta.url));

function envNumber(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`${name}=${text} is not a number`);
  return value;
}

/** The seed of a run: FUZZ_SEED, or 1 so that the test suite is reproducible. */
export function fuzzSeed(): number {
  return envNumber('FUZZ_SEED') ?? 1;
}

/** A corpus's case count in the test suite: its default × FUZZ_SCALE (default 1), or FUZZ_COUNT. */
export function fuzzCount(corpus: Corpus): number {
  return envNumber('FUZZ_COUNT') ?? Math.ceil(corpus.defaultCount * (envNumber('FUZZ_SCALE') ?? 1));
}

interface ChildMessage {
  event: 'start' | 'end';
  index: number;
  what?: string;
  outcome?: Outcome;
  detail?: string;
  ms?: number;
}

/**
 * Runs cases [from, to) of `corpusModule` in one child until it ends or dies; returns the index
 * of the first case it did not settle (to when it ran them all).
 */
function runChild(
  corpusModule: string,
  corpusName: string,
  seed: number,
  from: number,
  to: number,
  dir: string,
  timeoutMs: number,
  memoryMb: number,
  results: CaseResult[],
): Promise<number> {
  return new Promise((resolve) => {
    // ulimit -v bounds the child's address space: an allocation of tens of GB fails in the child.
    const child = spawn(
      '/bin/sh',
      [
        '-c',
        `ulimit -v ${memoryMb * 1024} && exec "$0" "$@"`,
        process.execPath,
        CHILD,
        corpusModule,
        String(seed),
        String(from),
        String(to),
        dir,
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
        env: { ...process.env, OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? '1' },
      },
    );
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-20_000);
    });
    let running: { index: number; what: string; timer: NodeJS.Timeout; started: number } | undefined;
    let next = from;
    let hung = false;
    let buffered = '';
    const onMessage = (message: ChildMessage): void => {
      if (message.event === 'start') {
        const caseTimeout = message.detail ? Number(message.detail) : timeoutMs;
        const timer = setTimeout(() => {
          hung = true;
          child.kill('SIGKILL');
        }, caseTimeout);
        running = { index: message.index, what: message.what ?? '', timer, started: performance.now() };
      } else {
        clearTimeout(running?.timer);
        results.push({
          corpus: corpusName,
          seed,
          index: message.index,
          what: message.what ?? running?.what ?? '',
          outcome: message.outcome!,
          detail: message.detail ?? '',
          ms: message.ms ?? 0,
        });
        running = undefined;
        next = message.index + 1;
      }
    };
    child.stdio[3]!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        onMessage(JSON.parse(buffered.slice(0, newline)) as ChildMessage);
        buffered = buffered.slice(newline + 1);
      }
    });
    child.on('close', (code, signal) => {
      if (running) {
        clearTimeout(running.timer);
        const tail = dyingWords(stderr);
        const outcome: Outcome = hung ? 'hang' : 'crash';
        const detail = hung
          ? `no result after the case timeout; killed`
          : `child died (${signal ?? `exit ${code}`}): ${tail}`;
        results.push({
          corpus: corpusName,
          seed,
          index: running.index,
          what: running.what,
          outcome,
          detail,
          ms: Math.round(performance.now() - running.started),
        });
        resolve(running.index + 1);
      } else if (next < to && (code !== 0 || signal)) {
        // Died between cases (at start-up or while tidying): blame nothing, but do not loop forever.
        results.push({
          corpus: corpusName,
          seed,
          index: next,
          what: '(between cases)',
          outcome: 'crash',
          detail: `child died (${signal ?? `exit ${code}`}): ${stderr.trim().slice(-500)}`,
          ms: 0,
        });
        resolve(next + 1);
      } else {
        resolve(next);
      }
    });
  });
}

/** The lines of a dead child's stderr that say why it died (a panic, an assertion, a fatal error), else its last lines. */
function dyingWords(stderr: string): string {
  const lines = stderr.trim().split('\n');
  const telling = lines.filter(
    (line) =>
      /panicked|assert|fatal|error|segmentation|double free|abort|out of memory/i.test(line) &&
      !/^\s+(at |\d+:)/.test(line),
  );
  return (telling.length > 0 ? telling.slice(0, 3) : lines.slice(-3)).join(' | ').slice(0, 600);
}

/** Runs `count` cases of the corpus exported by `corpusModule` (a file URL or path of its compiled module). */
export async function runFuzz(corpusModule: string, options: FuzzRunOptions = {}): Promise<CaseResult[]> {
  const { corpus } = (await import(corpusModule)) as { corpus: Corpus };
  const seed = options.seed ?? fuzzSeed();
  const count = options.count ?? fuzzCount(corpus);
  const batch = options.batch ?? 400;
  const memoryMb = options.memoryMb ?? envNumber('FUZZ_MEMORY_MB') ?? 4096;
  const dir = mkdtempSync(join(tmpdir(), `fuzz-${corpus.name}-`));
  const results: CaseResult[] = [];
  try {
    let index = 0;
    while (index < count)
      index = await runChild(
        corpusModule,
        corpus.name,
        seed,
        index,
        Math.min(count, index + batch),
        dir,
        corpus.timeoutMs,
        memoryMb,
        results,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

/** Counts of each outcome. */
export function tally(results: readonly CaseResult[]): Record<Outcome, number> {
  const counts: Record<Outcome, number> = { ok: 0, error: 0, unnamed: 0, 'non-error': 0, wrong: 0, crash: 0, hang: 0 };
  for (const r of results) counts[r.outcome]++;
  return counts;
}

/** The cases with a bad outcome, one line each with what it takes to rerun it. */
export function failures(results: readonly CaseResult[]): string[] {
  return results
    .filter((r) => BAD_OUTCOMES.includes(r.outcome))
    .map((r) => `${r.corpus} seed ${r.seed} case ${r.index} [${r.outcome}] ${r.what}: ${r.detail.slice(0, 300)}`);
}

/** The `count` slowest cases, one line each. */
export function slowest(results: readonly CaseResult[], count: number): string[] {
  return [...results]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, count)
    .map((r) => `${r.ms} ms  ${r.corpus} case ${r.index} [${r.outcome}] ${r.what.slice(0, 100)}`);
}

/** A table of outcome counts by corpus. */
export function summaryTable(results: readonly CaseResult[]): string {
  const outcomes: Outcome[] = ['ok', 'error', 'unnamed', 'non-error', 'wrong', 'crash', 'hang'];
  const corpora = [...new Set(results.map((r) => r.corpus))];
  const rows = corpora.map((name) => {
    const counts = tally(results.filter((r) => r.corpus === name));
    return [name, String(results.filter((r) => r.corpus === name).length), ...outcomes.map((o) => String(counts[o]))];
  });
  const all = tally(results);
  rows.push(['total', String(results.length), ...outcomes.map((o) => String(all[o]))]);
  const header = ['corpus', 'cases', ...outcomes];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { PrinterCallback } from '../src/train/printer.js';
import {
  ProgressCallback,
  progressBar,
  type OutputStream,
  type ProgressArgs,
  type ProgressState,
} from '../src/train/progress.js';

class FakeStream implements OutputStream {
  chunks: string[] = [];
  constructor(
    readonly isTTY: boolean,
    readonly columns = 100,
  ) {}
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
}

type Entry = Record<string, number>;

interface Run {
  args: ProgressArgs;
  state: ProgressState & { logHistory: Entry[]; epoch: number; maxSteps: number };
}

/**
 * Drives callbacks through a run as Hugging Face's loop calls them: 3 epochs of 10 steps (0.1 s each,
 * batch 8), a training log every 5 steps, an evaluation after each epoch (after onEpochEnd, 0.5 s),
 * the summary entry before onTrainEnd. `context` adds the Trainer's 4th argument ({logs} / {loss}).
 */
function simulate(
  callbacks: Array<Record<string, unknown>>,
  clock: { t: number },
  options: { context?: boolean } = {},
): Run {
  const args: ProgressArgs = {
    loggingSteps: 5,
    numTrainEpochs: 3,
    maxSteps: -1,
    perDeviceTrainBatchSize: 8,
    gradientAccumulationSteps: 1,
    evalStrategy: 'epoch',
  };
  const state = {
    globalStep: 0,
    maxSteps: 30,
    epoch: 0,
    numTrainEpochs: 3,
    trainBatchSize: 8,
    logHistory: [] as Entry[],
    bestMetric: null,
  };
  const control = {};
  const call = (event: string, extra?: unknown): void => {
    for (const cb of callbacks) {
      const fn = cb[event] as ((...a: unknown[]) => void) | undefined;
      fn?.call(cb, args, state, control, extra);
    }
  };
  const log = (entry: Entry): void => {
    const full = { ...entry, epoch: state.epoch, step: state.globalStep };
    state.logHistory.push(full);
    call('onLog', options.context ? { trainer: {}, model: {}, logs: full } : full);
  };
  call('onTrainBegin');
  for (let epoch = 0; epoch < 3; epoch++) {
    call('onEpochBegin', options.context ? { epochIndex: epoch } : undefined);
    for (let i = 0; i < 10; i++) {
      clock.t += 100;
      state.globalStep++;
      state.epoch = epoch + (i + 1) / 10;
      const stepLoss = 1 / state.globalStep;
      call('onStepEnd', options.context ? { loss: stepLoss, gradNorm: 1 } : undefined);
      if (state.globalStep % 5 === 0)
        log({ loss: 1 - state.globalStep / 40, grad_norm: 1.5, learning_rate: 1e-3 * (1 - state.globalStep / 30) });
    }
    call('onEpochEnd', options.context ? { epochIndex: epoch } : undefined);
    clock.t += 500;
    const metrics = {
      eval_loss: 0.8 - 0.1 * epoch,
      eval_accuracy: 0.7 + 0.1 * epoch,
      eval_runtime: 0.5,
      eval_samples_per_second: 200,
      eval_steps_per_second: 10,
    };
    log(metrics);
    call('onEvaluate', { metrics });
  }
  const summary = {
    train_runtime: 4.5,
    train_samples_per_second: 53.3,
    train_steps_per_second: 6.67,
    total_flos: 1e12,
    train_loss: 0.6,
    epoch: 3,
    step: 30,
  };
  state.logHistory.push(summary);
  call('onLog', options.context ? { logs: summary } : summary);
  call('onTrainEnd');
  return { args, state };
}

function debiasedEma(values: Array<[number, number]>, beta = 0.98): number {
  let ema = 0;
  let weight = 0;
  let last: number | undefined;
  for (const [step, v] of values) {
    const d = beta ** (last === undefined ? 1 : step - last);
    ema = d * ema + (1 - d) * v;
    weight = d * weight + (1 - d);
    last = step;
  }
  return ema / weight;
}

const stripAnsi = (s: string): string => s.replace(/\x1b\[K/g, '');

test('progressBar fills eighths of cells', () => {
  assert.equal(progressBar(0, 10), ' '.repeat(10));
  assert.equal(progressBar(1, 10), '█'.repeat(10));
  assert.equal(progressBar(0.5, 10), '█████     ');
  assert.equal(progressBar(0.0625, 2), '▏ ');
  assert.equal(progressBar(0.55, 4).length, 4);
});

test('ProgressCallback on a terminal: one line rewritten in place, evaluations above it', () => {
  const stream = new FakeStream(true, 100);
  const clock = { t: 1_000_000 };
  const progress = new ProgressCallback({ stream, now: () => clock.t, minIntervalMs: 0 });
  simulate([progress as unknown as Record<string, unknown>], clock);
  const text = stream.text;
  // newlines only after the evaluation lines, the final bar and the done line
  const lines = text.split('\n');
  assert.equal(lines.length, 3 + 1 + 1 + 1, JSON.stringify(lines.map((l) => l.slice(-60))));
  assert.equal(lines[lines.length - 1], '');
  // every drawn state fits the terminal
  const frames = text
    .split('\r')
    .map((f) => stripAnsi(f).split('\n')[0])
    .filter((f) => f.startsWith('epoch'));
  assert.ok(frames.length >= 30, `${frames.length} frames`);
  for (const f of frames) assert.ok(f.length <= 99, `frame wider than the terminal: ${f.length} ${f}`);
  // the last frame: the whole run done
  const last = frames[frames.length - 1];
  assert.match(last, /^epoch 3\/3 █+ 100% 30\/30 · loss [0-9.]+ · lr /);
  assert.match(last, / · 53\.3 samples\/s · 00:04<00:00$/, '30 steps of 8 in 4.5 s (evaluations included)');
  // halfway through: elapsed 00:02 (2.0 s of steps + 0.5 s eval), ETA 00:02 from the average rate
  const middle = frames.find((f) => f.includes(' 15/30 '));
  assert.ok(middle, 'a frame at step 15');
  assert.match(middle, /^epoch 2\/3 /);
  assert.match(middle, / 50% 15\/30 /);
  assert.match(middle, /00:02<00:02$/);
  // the loss shown is the debiased EMA of the logged losses (β = 0.98 per step)
  const logged: Array<[number, number]> = [5, 10, 15, 20, 25, 30].map((s) => [s, 1 - s / 40]);
  const expected = debiasedEma(logged);
  assert.ok(last.includes(`loss ${Number(expected.toPrecision(4))} `), `${last} vs ${expected}`);
  // evaluations: their own line, the bar cleared before and redrawn after
  const evalLines = lines.filter((l) => l.includes('eval @'));
  assert.equal(evalLines.length, 3);
  assert.match(stripAnsi(evalLines[0]), /eval @ step 10 \(epoch 1\): eval_loss 0\.8 · eval_accuracy 0\.7 \[00:00\]$/);
  assert.ok(text.includes('\r\x1b[Keval @ step 10'), 'the bar is cleared before an evaluation line');
  assert.match(lines[lines.length - 2], /^done: train_runtime 00:04 · 53\.3 samples\/s · train_loss 0\.6$/);
});

test('ProgressCallback on a narrow terminal drops fields, never wraps', () => {
  const stream = new FakeStream(true, 60);
  const clock = { t: 0 };
  simulate(
    [new ProgressCallback({ stream, now: () => clock.t, minIntervalMs: 0 }) as unknown as Record<string, unknown>],
    clock,
  );
  const frames = stream.text
    .split('\r')
    .map((f) => stripAnsi(f).split('\n')[0])
    .filter((f) => f.startsWith('epoch'));
  for (const f of frames) assert.ok(f.length <= 59, f);
  assert.ok(
    frames.some((f) => f.includes('█')),
    'still a bar',
  );
  assert.ok(!frames[frames.length - 1].includes('samples/s'), 'samples/s dropped first');
});

test('ProgressCallback throttles redraws on a terminal', () => {
  const stream = new FakeStream(true, 100);
  const clock = { t: 0 };
  simulate(
    [new ProgressCallback({ stream, now: () => clock.t, minIntervalMs: 1000 }) as unknown as Record<string, unknown>],
    clock,
  );
  const frames = stream.text.split('\r').filter((f) => f.startsWith('epoch'));
  // 30 steps of 0.1 s: steps redraw at most once a second, plus the forced draws (epochs, logs, the end)
  assert.ok(frames.length < 40, `${frames.length} frames`);
});

test('ProgressCallback without a terminal: a plain line per logging step', () => {
  const stream = new FakeStream(false);
  const clock = { t: 0 };
  simulate([new ProgressCallback({ stream, now: () => clock.t }) as unknown as Record<string, unknown>], clock);
  const text = stream.text;
  assert.ok(!text.includes('\r') && !text.includes('\x1b'), 'no control characters in CI logs');
  const lines = text.trimEnd().split('\n');
  const progress = lines.filter((l) => l.startsWith('[epoch'));
  assert.deepEqual(
    progress.map((l) => /step (\d+)\/30/.exec(l)?.[1]),
    ['5', '10', '15', '20', '25', '30'],
  );
  assert.match(
    progress[0],
    /^\[epoch 1\/3\] step 5\/30 \(16%\) loss 0\.875 lr 8\.3e-4 80 samples\/s elapsed 00:00 eta 00:02$/,
  );
  assert.match(progress[2], /^\[epoch 2\/3\] step 15\/30 \(50%\) loss /);
  assert.equal(lines.filter((l) => l.startsWith('eval @')).length, 3);
  // the evaluation follows the progress line of its step
  assert.ok(lines.indexOf(progress[1]) < lines.findIndex((l) => l.startsWith('eval @ step 10')));
  assert.match(lines[lines.length - 1], /^done: /);
});

test('ProgressCallback with leave: false: the bar is erased at the end, a log gets only the evaluations', () => {
  const tty = new FakeStream(true);
  const clock = { t: 0 };
  simulate(
    [new ProgressCallback({ stream: tty, now: () => clock.t, leave: false }) as unknown as Record<string, unknown>],
    clock,
  );
  assert.ok(tty.text.includes('100% 30/30'), 'the bar was drawn');
  assert.ok(tty.text.endsWith('\r\x1b[K'), `the bar is erased at the end: ${JSON.stringify(tty.text.slice(-40))}`);
  assert.ok(!tty.text.includes('done:'));
  const log = new FakeStream(false);
  simulate(
    [new ProgressCallback({ stream: log, now: () => clock.t, leave: false }) as unknown as Record<string, unknown>],
    clock,
  );
  const lines = log.text.trimEnd().split('\n');
  assert.equal(lines.length, 3, log.text);
  assert.ok(
    lines.every((l) => l.startsWith('eval @')),
    log.text,
  );
});

test('ProgressCallback takes the Trainer context: {logs} and per-step losses', () => {
  const stream = new FakeStream(false);
  const clock = { t: 0 };
  simulate(
    [new ProgressCallback({ stream, now: () => clock.t, logEvery: 10 }) as unknown as Record<string, unknown>],
    clock,
    { context: true },
  );
  const progress = stream.text.split('\n').filter((l) => l.startsWith('[epoch'));
  assert.deepEqual(
    progress.map((l) => /step (\d+)\/30/.exec(l)?.[1]),
    ['10', '20', '30'],
  );
  // smoothed over each step's loss (1/step), not the logs' interval means
  const perStep: Array<[number, number]> = Array.from({ length: 10 }, (_, i) => [i + 1, 1 / (i + 1)]);
  assert.ok(progress[0].includes(`loss ${Number(debiasedEma(perStep).toPrecision(4))} `), progress[0]);
  assert.ok(stream.text.includes('eval @ step 10'));
});

test('ProgressCallback prints nothing with disableTqdm or off process 0', () => {
  for (const [args, state] of [
    [{ disableTqdm: true }, { globalStep: 0, maxSteps: 10 }],
    [{}, { globalStep: 0, maxSteps: 10, isWorldProcessZero: false }],
  ] as Array<[ProgressArgs, ProgressState]>) {
    const stream = new FakeStream(true);
    const progress = new ProgressCallback({ stream });
    progress.onTrainBegin(args, state);
    progress.onStepEnd(args, { ...state, globalStep: 1 });
    progress.onTrainEnd(args, { ...state, globalStep: 1 });
    assert.equal(stream.text, '');
  }
});

/** The start column of each cell in an aligned row (cells separated by two or more spaces). */
function cellStarts(line: string): number[] {
  const starts: number[] = [];
  const re = /\S+/g;
  let m: RegExpExecArray | null;
  let previousEnd = -2;
  while ((m = re.exec(line))) {
    if (m.index - previousEnd >= 2 || starts.length === 0) starts.push(m.index);
    previousEnd = m.index + m[0].length;
  }
  return starts;
}

test('PrinterCallback prints a fastai-style table, one aligned row per epoch', () => {
  const stream = new FakeStream(false);
  const clock = { t: 0 };
  const printer = new PrinterCallback({ stream, now: () => clock.t });
  simulate([printer as unknown as Record<string, unknown>], clock);
  const lines = stream.text.trimEnd().split('\n');
  assert.equal(lines.length, 4);
  assert.deepEqual(lines[0].split(/\s+/), ['epoch', 'train_loss', 'valid_loss', 'accuracy', 'time']);
  const starts = cellStarts(lines[0]);
  for (const row of lines.slice(1)) assert.deepEqual(cellStarts(row), starts, `misaligned:\n${lines[0]}\n${row}`);
  // epoch 1: training logs at steps 5 and 10 (loss 0.875, 0.75, 5 steps each) → 0.8125; its evaluation; 1.0 s + 0.5 s
  assert.deepEqual(printer.rows[0], ['1', '0.812500', '0.800000', '0.700000', '00:01']);
  assert.deepEqual(printer.rows[2], ['3', '0.312500', '0.600000', '0.900000', '00:01']);
  assert.equal(lines[1], '1      0.812500    0.800000    0.700000   00:01');
});

test('PrinterCallback with the Trainer context and chosen metrics', () => {
  const stream = new FakeStream(false);
  const clock = { t: 0 };
  const printer = new PrinterCallback({ stream, now: () => clock.t, metrics: ['accuracy', 'f1'], decimals: 4 });
  simulate([printer as unknown as Record<string, unknown>], clock, { context: true });
  const lines = stream.text.trimEnd().split('\n');
  assert.deepEqual(lines[0].split(/\s+/), ['epoch', 'train_loss', 'valid_loss', 'accuracy', 'f1', 'time']);
  assert.deepEqual(printer.rows[1], ['2', '0.5625', '0.7000', '0.8000', '—', '00:01']);
  const starts = cellStarts(lines[0]);
  for (const row of lines.slice(1)) assert.deepEqual(cellStarts(row), starts);
});

test('PrinterCallback rows and the progress bar share a terminal', () => {
  const stream = new FakeStream(true, 100);
  const clock = { t: 0 };
  const progress = new ProgressCallback({ stream, now: () => clock.t, minIntervalMs: 0 });
  const printer = new PrinterCallback({ stream, now: () => clock.t });
  simulate([progress as unknown as Record<string, unknown>, printer as unknown as Record<string, unknown>], clock);
  const text = stream.text;
  // each table line is written on a cleared line, then the bar comes back below it
  assert.ok(text.includes('\r\x1b[Kepoch  train_loss  valid_loss  accuracy   time\n'), 'header on a cleared line');
  assert.ok(
    /\r\x1b\[K1 {6}0\.812500 .*\n\repoch 1\/3 [█▏▎▍▌▋▊▉]+ +33% 10\/30 /.test(text),
    'row 1, then the bar redrawn',
  );
  const completeLines = text.split('\n').map((l) => stripAnsi(l.slice(l.lastIndexOf('\r') + 1)));
  assert.ok(completeLines.includes('epoch  train_loss  valid_loss  accuracy   time'));
  assert.ok(completeLines.includes('3      0.312500    0.600000    0.900000   00:01'));
});

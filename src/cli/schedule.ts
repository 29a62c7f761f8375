/**
 * `finetune schedule`: a learning-rate schedule's curve, plot-ready. Prints an ASCII plot and a
 * sampled table (or, with --json, the whole curve as JSON) and writes every step to --out
 * (.json as JSON, anything else as CSV: step,multiplier,lr[,momentum]).
 *
 *   finetune schedule --name cosine --steps 1000 --warmup 0.1 --lr 2e-5 --out curve.csv
 */
import { writeFileAtomicSync } from '../io/files.js';

import {
  getSchedule,
  resolveWarmupSteps,
  SCHEDULE_NAMES,
  type ScheduleName,
  type ScheduleOptions,
  type WsdShape,
} from '../optim/schedules.js';
import { oneCycleSchedule, type OneCycleOptions } from '../optim/one-cycle.js';
import { flagHelp, parseCommandLine, UsageError, type FlagTable } from './core/flags.js';

const OPTIONS = "Schedule options (HF's kwargs in kebab-case)";

export const FLAGS: FlagTable = {
  name: {
    kind: 'string',
    arg: 'NAME',
    help: `the schedule: ${SCHEDULE_NAMES.filter((n) => n !== 'reduce_lr_on_plateau').join(', ')}`,
  },
  steps: { kind: 'number', arg: 'N', help: 'optimizer steps of the curve' },
  warmup: {
    kind: 'number',
    arg: 'R|N',
    help: 'warmup as a ratio of --steps (ceil(steps × R)); a value ≥ 1 is a number of steps',
  },
  'warmup-steps': { kind: 'number', arg: 'N', help: 'warmup steps (or --warmup)' },
  lr: { kind: 'number', arg: 'LR', help: 'the peak lr (default 1: the curve is the multiplier)' },
  out: {
    kind: 'string',
    arg: 'FILE',
    help: "every step's value: CSV (step,multiplier,lr[,momentum]) or JSON by extension",
  },
  json: { kind: 'boolean', help: 'print the whole curve as JSON instead of the plot and table' },
  rows: { kind: 'number', arg: 'N', help: 'table rows (default 12)' },
  width: { kind: 'number', arg: 'N', help: 'plot width (default 64)' },
  height: { kind: 'number', arg: 'N', help: 'plot height (default 12)' },
  'num-cycles': {
    kind: 'number',
    group: OPTIONS,
    help: 'waves of the cosine (default 0.5: a half cosine from 1 down to 0)',
  },
  'min-lr': { kind: 'number', group: OPTIONS, help: 'cosine_with_min_lr: the floor (absolute)' },
  'min-lr-rate': {
    kind: 'number',
    group: OPTIONS,
    help: 'cosine_with_min_lr: the floor as a fraction of the initial lr',
  },
  'warmup-lr-rate': {
    kind: 'number',
    group: OPTIONS,
    help: 'warmup starts at this fraction of the lr (default: warmup is (step + 1) / warmup)',
  },
  'lr-end': { kind: 'number', group: OPTIONS, help: 'polynomial: the lr at the end (absolute, default 1e-7)' },
  power: { kind: 'number', group: OPTIONS, help: 'polynomial: power of the decay (default 1: linear)' },
  timescale: {
    kind: 'number',
    group: OPTIONS,
    help: 'inverse_sqrt: default the warmup steps, or 10 000 without warmup',
  },
  'num-stable-steps': {
    kind: 'number',
    group: OPTIONS,
    help: 'warmup_stable_decay: stable steps (default: the steps less warmup and decay)',
  },
  'num-decay-steps': { kind: 'number', group: OPTIONS, help: 'warmup_stable_decay: decay steps' },
  'warmup-type': {
    kind: 'string',
    group: OPTIONS,
    help: 'warmup_stable_decay: the warmup shape (linear, cosine, 1-sqrt)',
  },
  'decay-type': {
    kind: 'string',
    group: OPTIONS,
    help: 'warmup_stable_decay: the decay shape (linear, cosine, 1-sqrt)',
  },
  'min-lr-ratio': {
    kind: 'number',
    group: OPTIONS,
    help: 'warmup_stable_decay: floor (and warmup start) as a fraction of the initial lr (default 0)',
  },
  'cut-frac': {
    kind: 'number',
    group: OPTIONS,
    help: 'slanted_triangular: fraction of the steps spent increasing (default 0.1)',
  },
  ratio: {
    kind: 'number',
    group: OPTIONS,
    help: 'slanted_triangular: how much smaller the lowest lr is than the peak (default 32)',
  },
  style: { kind: 'string', group: OPTIONS, arg: 'fastai|torch', help: "one_cycle: fastai's or PyTorch's OneCycleLR" },
  'pct-start': {
    kind: 'number',
    group: OPTIONS,
    help: 'one_cycle: fraction of the steps spent increasing the lr (fastai 0.25, torch 0.3)',
  },
  div: { kind: 'number', group: OPTIONS, help: 'one_cycle: start lr = peak / div (default 25)' },
  'div-final': {
    kind: 'number',
    group: OPTIONS,
    help: "one_cycle: final lr = peak / div-final (fastai's div_final, default 1e5)",
  },
  'final-div-factor': {
    kind: 'number',
    group: OPTIONS,
    help: "one_cycle: final lr = start lr / final-div-factor (torch's final_div_factor, default 1e4)",
  },
  anneal: {
    kind: 'string',
    group: OPTIONS,
    arg: 'cos|linear',
    help: 'one_cycle: annealing within each phase (default cos)',
  },
  'three-phase': { kind: 'boolean', group: OPTIONS, help: "one_cycle: torch's three-phase variant (torch style only)" },
  moms: {
    kind: 'string',
    group: OPTIONS,
    arg: '0.95,0.85,0.95',
    help: 'one_cycle: momentum at the start, at the peak lr and at the end (default 0.95,0.85,0.95)',
  },
};

export function scheduleHelp(): string {
  return `Usage: finetune schedule --name <schedule> --steps N [--warmup R|N | --warmup-steps N] [--lr LR] [--out curve.csv|curve.json] [--json]

Prints a learning-rate schedule's curve: an ASCII plot and a sampled table, or the whole curve as JSON.

${flagHelp(FLAGS)}`;
}

export interface ScheduleCurve {
  name: ScheduleName;
  steps: number;
  numWarmupSteps: number;
  lr: number;
  options: Record<string, unknown>;
  step: number[];
  multiplier: number[];
  lrs: number[];
  momentum?: number[];
}

/** Builds the curve of a schedule over steps 0 … steps − 1 (the lr of each of `steps` optimizer steps). */
export function scheduleCurve(
  name: string,
  steps: number,
  lr: number,
  options: ScheduleOptions & Partial<OneCycleOptions>,
): ScheduleCurve {
  if (!(SCHEDULE_NAMES as readonly string[]).includes(name))
    throw new Error(`unknown schedule '${name}' (known: ${SCHEDULE_NAMES.join(', ')})`);
  if (name === 'reduce_lr_on_plateau')
    throw new Error("'reduce_lr_on_plateau' follows a metric, not the step: it has no curve to print");
  if (!Number.isInteger(steps) || steps <= 0) throw new Error(`--steps must be a positive integer, got ${steps}`);
  const numWarmupSteps = resolveWarmupSteps({ ...options, numTrainingSteps: steps });
  const full = { ...options, numTrainingSteps: steps, lrInit: lr };
  const schedule = getSchedule(name, full);
  const cycle =
    name === 'one_cycle' && (options.cycleMomentum ?? true)
      ? oneCycleSchedule({ ...options, totalSteps: steps })
      : undefined;
  const step = Array.from({ length: steps }, (_, i) => i);
  const multiplier = step.map(schedule);
  return {
    name: name as ScheduleName,
    steps,
    numWarmupSteps,
    lr,
    options: Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    step,
    multiplier,
    lrs: multiplier.map((m) => lr * m),
    ...(cycle ? { momentum: step.map(cycle.momentum) } : {}),
  };
}

export function runSchedule(argv: string[]): number {
  let flags;
  try {
    const parsed = parseCommandLine(argv, FLAGS);
    if (parsed.help) {
      console.log(scheduleHelp());
      return 0;
    }
    flags = parsed.flags;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`finetune schedule: ${error.message}\n(finetune schedule --help lists the flags)`);
    return 2;
  }
  const num = (k: string) => flags[k] as number | undefined;
  const str = (k: string) => flags[k] as string | undefined;
  const name = str('name');
  if (name === undefined) throw new Error(`--name is required\n\n${scheduleHelp()}`);
  const steps = num('steps');
  if (steps === undefined) throw new Error('--steps is required');
  const lr = num('lr') ?? 1;
  if (flags.warmup !== undefined && flags['warmup-steps'] !== undefined)
    throw new Error('give --warmup or --warmup-steps, not both');
  const warmup = num('warmup');
  const moms = str('moms')?.split(',').map(Number);
  if (moms && (moms.length !== 3 || moms.some((m) => !Number.isFinite(m))))
    throw new Error(`--moms expects three numbers like 0.95,0.85,0.95, got '${str('moms')}'`);
  const style = str('style');
  const anneal = str('anneal');
  const options: ScheduleOptions & Partial<OneCycleOptions> = {
    numWarmupSteps: num('warmup-steps') ?? (warmup !== undefined && warmup >= 1 ? warmup : undefined),
    warmupRatio: warmup !== undefined && warmup < 1 ? warmup : undefined,
    numCycles: num('num-cycles'),
    minLr: num('min-lr'),
    minLrRate: num('min-lr-rate'),
    warmupLrRate: num('warmup-lr-rate'),
    lrEnd: num('lr-end'),
    power: num('power'),
    timescale: num('timescale'),
    numStableSteps: num('num-stable-steps'),
    numDecaySteps: num('num-decay-steps'),
    warmupType: str('warmup-type') as WsdShape | undefined,
    decayType: str('decay-type') as WsdShape | undefined,
    minLrRatio: num('min-lr-ratio'),
    cutFrac: num('cut-frac'),
    ratio: num('ratio'),
    style: style as OneCycleOptions['style'],
    pctStart: num('pct-start'),
    divFactor: num('div'),
    divFinal: num('div-final'),
    finalDivFactor: num('final-div-factor'),
    annealStrategy: anneal as OneCycleOptions['annealStrategy'],
    threePhase: flags['three-phase'] as boolean | undefined,
    moms: moms as [number, number, number] | undefined,
  };
  const curve = scheduleCurve(name, steps, lr, options);

  const out = str('out');
  if (out !== undefined)
    writeFileAtomicSync(out, out.toLowerCase().endsWith('.json') ? `${JSON.stringify(curve)}\n` : toCsv(curve));
  if (flags.json) {
    console.log(JSON.stringify(curve));
    return 0;
  }
  const warmupText = curve.numWarmupSteps ? `, ${curve.numWarmupSteps} warmup steps` : '';
  console.log(
    `${curve.name} schedule over ${steps} steps${warmupText}${num('lr') !== undefined ? `, peak lr ${fmt(lr)}` : ' (multiplier of the lr)'}`,
  );
  console.log('');
  console.log(asciiPlot(curve.lrs, num('width') ?? 64, num('height') ?? 12));
  console.log('');
  console.log(table(curve, num('rows') ?? 12));
  if (out !== undefined) console.log(`\nwrote ${steps} steps to ${out}`);
  return 0;
}

function toCsv(curve: ScheduleCurve): string {
  const header = ['step', 'multiplier', 'lr', ...(curve.momentum ? ['momentum'] : [])].join(',');
  const lines = curve.step.map((s, i) =>
    [s, curve.multiplier[i], curve.lrs[i], ...(curve.momentum ? [curve.momentum[i]] : [])].join(','),
  );
  return `${header}\n${lines.join('\n')}\n`;
}

function fmt(x: number): string {
  if (x === 0) return '0';
  const abs = Math.abs(x);
  return abs >= 1e-3 && abs < 1e4 ? String(Number(x.toPrecision(4))) : x.toExponential(3);
}

/** The steps a table shows: evenly spaced ones plus the warmup edges and the last step. */
function sampleSteps(curve: ScheduleCurve, rows: number): number[] {
  const n = curve.steps;
  const picked = new Set<number>([0, n - 1]);
  const count = Math.max(2, rows);
  for (let i = 0; i < count; i++) picked.add(Math.round((i * (n - 1)) / (count - 1)));
  const w = curve.numWarmupSteps;
  if (w > 0) for (const s of [w - 1, w, w + 1]) if (s >= 0 && s < n) picked.add(s);
  return [...picked].sort((a, b) => a - b);
}

function table(curve: ScheduleCurve, rows: number): string {
  const heads = ['step', 'multiplier', 'lr', ...(curve.momentum ? ['momentum'] : [])];
  const body = sampleSteps(curve, rows).map((s) => [
    String(s),
    fmt(curve.multiplier[s]),
    fmt(curve.lrs[s]),
    ...(curve.momentum ? [fmt(curve.momentum[s])] : []),
  ]);
  const widths = heads.map((h, c) => Math.max(h.length, ...body.map((r) => r[c].length)));
  const line = (cells: string[]) => cells.map((cell, c) => cell.padStart(widths[c])).join('  ');
  return [line(heads), ...body.map(line)].join('\n');
}

/** A compact plot: one column per sampled step, '*' at the value's row, y axis from 0 to the max. */
export function asciiPlot(values: number[], width: number, height: number): string {
  const n = values.length;
  const cols = Math.max(2, Math.min(width, n));
  const top = Math.max(...values.filter(Number.isFinite), 0);
  const bottom = Math.min(0, ...values.filter(Number.isFinite));
  const span = top - bottom || 1;
  const grid = Array.from({ length: height }, () => new Array<string>(cols).fill(' '));
  for (let c = 0; c < cols; c++) {
    const v = values[Math.round((c * (n - 1)) / (cols - 1))];
    if (!Number.isFinite(v)) continue;
    const r = Math.round(((top - v) / span) * (height - 1));
    grid[r][c] = '*';
  }
  const labels = grid.map((_, r) => (r === 0 ? fmt(top) : r === height - 1 ? fmt(bottom) : ''));
  const labelWidth = Math.max(...labels.map((l) => l.length));
  const lines = grid.map((row, r) => `${labels[r].padStart(labelWidth)} |${row.join('')}`);
  const axis = `${' '.repeat(labelWidth)} +${'-'.repeat(cols)}`;
  const last = String(n - 1);
  const ticks = `${' '.repeat(labelWidth)}  0${' '.repeat(Math.max(1, cols - 1 - last.length))}${last}`;
  return [...lines, axis, `${ticks}  (step)`].join('\n');
}

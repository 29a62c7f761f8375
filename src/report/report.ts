/**
 * writeReport: a training run's output folder → report.html (one self-contained page: inline CSS,
 * inline SVG charts, no script, no network) and loss.png, metrics.png, lr.png.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { writeFileAtomic } from '../io/files.js';
import { chartGrid, chartSvg, lineChart, PALETTE, type Chart, type ChartSeries } from './chart.js';
import { formatBytes, formatDuration, formatInteger, formatNumber, formatPercent } from '../format/numbers.js';
import { escapeXml, htmlDocument } from './format.js';
import {
  entryKind,
  evalMetricNames,
  num,
  readRunHistory,
  summarizeRun,
  type LogEntry,
  type RunHistory,
  type RunSummary,
} from './history.js';
import { chartToPng, systemFontsAvailable, type PngOptions } from './png.js';

export interface WriteReportOptions {
  /** The page's title. Default: "Training report" and the folder's name. */
  title?: string;
  /** The run's configuration (model, strategy, hyperparameters, …): shown as a table, searched for parameter counts. */
  config?: Record<string, unknown>;
  /** Use this log history instead of reading trainer_state.json / metrics.jsonl (e.g. a Trainer's state.logHistory). */
  logHistory?: LogEntry[];
  /** Write loss.png, metrics.png and lr.png too. Default true. */
  png?: boolean;
  /** PNG pixels per chart unit (default 2) and extra font files. */
  pngScale?: number;
  fontFiles?: string[];
  /** The time printed on the page. Default now. */
  generatedAt?: Date;
}

export interface ReportResult {
  /** The path of report.html. */
  html: string;
  /** The PNG paths written (absent when `png: false`). */
  png: { loss?: string; metrics?: string; lr?: string };
  summary: RunSummary;
  history: RunHistory;
  /** Things the reader should know (e.g. no system fonts, so the PNGs have no text). */
  warnings: string[];
}

function points(log: readonly LogEntry[], key: string, kind?: ReturnType<typeof entryKind>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const e of log) {
    if (kind && entryKind(e) !== kind) continue;
    const step = num(e, 'step');
    const v = num(e, key);
    if (step !== undefined && v !== undefined) out.push([step, v]);
  }
  return out;
}

export interface ChartSize {
  width?: number;
  height?: number;
}

/** [0, the last step logged]: every chart of a run spans the whole run. */
function stepDomain(log: readonly LogEntry[]): [number, number] {
  let last = 0;
  for (const e of log) last = Math.max(last, num(e, 'step') ?? 0);
  return [0, last];
}

/** Keys of the training logs that start with `prefix` (multi-task runs: loss_<task>, weight_<task>), in first-seen order. */
function trainKeys(log: readonly LogEntry[], prefix: string): string[] {
  const keys = new Set<string>();
  for (const e of log) {
    if (entryKind(e) !== 'train') continue;
    for (const [k, v] of Object.entries(e)) if (k.startsWith(prefix) && typeof v === 'number') keys.add(k);
  }
  return [...keys];
}

/** Eval metric `name` as a series with markers, in the palette's colour `index` after train_loss's. */
function evalSeries(log: readonly LogEntry[], name: string, index: number): ChartSeries {
  return { name, points: points(log, name, 'eval'), color: PALETTE[(index + 1) % PALETTE.length], markers: true };
}

/** Train loss, each task's training loss (multi-task runs: loss_<task>, dashed) and every eval loss (eval_loss, eval_<set>_loss) against the step. */
export function lossChart(log: readonly LogEntry[], options: ChartSize = {}): Chart {
  const series: ChartSeries[] = [{ name: 'train_loss', points: points(log, 'loss', 'train'), color: PALETTE[0] }];
  trainKeys(log, 'loss_').forEach((k, i) =>
    series.push({
      name: `train_${k}`,
      points: points(log, k, 'train'),
      color: PALETTE[(i + 5) % PALETTE.length],
      dashed: true,
    }),
  );
  evalMetricNames(log)
    .filter((k) => /loss$/.test(k))
    .forEach((k, i) => series.push(evalSeries(log, k, i)));
  return lineChart({
    title: 'Loss',
    xLabel: 'step',
    yLabel: 'loss',
    series,
    emptyText: 'no loss logged',
    xDomain: stepDomain(log),
    ...options,
  });
}

/**
 * The eval metrics other than losses: those that stay within [0, 1] (accuracy, F1, …) share a chart,
 * each other one gets its own (their scales differ).
 */
export function metricCharts(log: readonly LogEntry[], options: ChartSize = {}): Chart[] {
  const names = evalMetricNames(log).filter((k) => !/loss$/.test(k));
  const unit: string[] = [];
  const other: string[] = [];
  for (const k of names) {
    const vs = points(log, k, 'eval')
      .map((p) => p[1])
      .filter(Number.isFinite);
    (vs.every((v) => v >= 0 && v <= 1) ? unit : other).push(k);
  }
  const charts: Chart[] = [];
  if (unit.length > 0) {
    charts.push(
      lineChart({
        title: 'Evaluation metrics',
        xLabel: 'step',
        xDomain: stepDomain(log),
        series: unit.map((k, i) => evalSeries(log, k, i)),
        ...options,
      }),
    );
  }
  for (const [i, k] of other.entries()) {
    charts.push(
      lineChart({
        title: k,
        xLabel: 'step',
        xDomain: stepDomain(log),
        series: [evalSeries(log, k, unit.length + i)],
        ...options,
      }),
    );
  }
  if (charts.length === 0)
    charts.push(
      lineChart({
        title: 'Evaluation metrics',
        xLabel: 'step',
        series: [],
        emptyText: 'no evaluation metrics logged',
        ...options,
      }),
    );
  return charts;
}

/** The learning rate against the step. */
export function lrChart(log: readonly LogEntry[], options: ChartSize = {}): Chart {
  return lineChart({
    title: 'Learning rate',
    xLabel: 'step',
    yLabel: 'learning rate',
    xDomain: stepDomain(log),
    series: [{ name: 'learning_rate', points: points(log, 'learning_rate'), color: PALETTE[4] }],
    emptyText: 'no learning rate logged',
    ...options,
  });
}

/** Multi-task runs: each task's loss weight (weight_<task>) and a scheduled α (alpha) against the step, when logged. */
export function taskWeightChart(log: readonly LogEntry[]): Chart | undefined {
  const keys = trainKeys(log, 'weight_');
  if (trainKeys(log, 'alpha').includes('alpha')) keys.push('alpha');
  if (keys.length === 0) return undefined;
  return lineChart({
    title: 'Task weights',
    xLabel: 'step',
    yLabel: 'weight',
    xDomain: stepDomain(log),
    series: keys.map((k, i) => ({
      name: k,
      points: points(log, k, 'train'),
      color: PALETTE[(i + 1) % PALETTE.length],
      dashed: k === 'alpha',
    })),
  });
}

/** The gradient norm against the step, when logged. */
export function gradNormChart(log: readonly LogEntry[]): Chart | undefined {
  const p = points(log, 'grad_norm');
  if (p.length === 0) return undefined;
  return lineChart({
    title: 'Gradient norm',
    xLabel: 'step',
    yLabel: 'grad norm',
    xDomain: stepDomain(log),
    series: [{ name: 'grad_norm', points: p, color: PALETTE[6] }],
  });
}

/** Flattens a configuration for a table: nested objects as dotted keys, arrays of scalars joined. */
export function flattenConfig(value: Record<string, unknown>, prefix = ''): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(value)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (
      v !== null &&
      typeof v === 'object' &&
      !Array.isArray(v) &&
      Object.keys(v).length > 0 &&
      Object.keys(v).length <= 50
    ) {
      rows.push(...flattenConfig(v as Record<string, unknown>, key));
    } else if (Array.isArray(v) && v.every((x) => x === null || typeof x !== 'object')) {
      rows.push([key, v.map((x) => String(x)).join(', ')]);
    } else if (typeof v === 'number') {
      rows.push([key, Number.isInteger(v) ? String(v) : String(v)]);
    } else if (typeof v === 'string') {
      rows.push([key, v]);
    } else {
      rows.push([key, JSON.stringify(v) ?? String(v)]);
    }
  }
  return rows;
}

const MODEL_CONFIG_KEYS = [
  '_name_or_path',
  'model_type',
  'architectures',
  'arch',
  'problem_type',
  'hidden_size',
  'num_hidden_layers',
  'num_attention_heads',
  'image_size',
  'num_classes',
  'torch_dtype',
  'dtype',
];

function modelConfigRows(config: Record<string, unknown>): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const k of MODEL_CONFIG_KEYS) if (k in config) picked[k] = config[k];
  const id2label = config.id2label;
  if (id2label && typeof id2label === 'object') picked.num_labels = Object.keys(id2label).length;
  return picked;
}

function configTable(caption: string, value: Record<string, unknown>): string {
  const rows = flattenConfig(value);
  if (rows.length === 0) return '';
  const body = rows.map(([k, v]) => `<tr><th scope="row">${escapeXml(k)}</th><td>${escapeXml(v)}</td></tr>`).join('');
  return `<table class="config"><caption>${escapeXml(caption)}</caption><tbody>${body}</tbody></table>`;
}

function summaryTables(summary: RunSummary): string {
  const run: Array<[string, string]> = [];
  if (summary.globalStep !== undefined)
    run.push([
      'steps',
      summary.maxSteps
        ? `${formatInteger(summary.globalStep)} / ${formatInteger(summary.maxSteps)}`
        : formatInteger(summary.globalStep),
    ]);
  if (summary.epoch !== undefined)
    run.push([
      'epochs',
      summary.numTrainEpochs
        ? `${formatNumber(summary.epoch)} / ${formatNumber(summary.numTrainEpochs)}`
        : formatNumber(summary.epoch),
    ]);
  if (summary.finalTrainLoss !== undefined) run.push(['final train loss', formatNumber(summary.finalTrainLoss)]);
  if (summary.trainLoss !== undefined) run.push(['mean train loss (train_loss)', formatNumber(summary.trainLoss)]);
  if (summary.trainRuntime !== undefined)
    run.push(['train runtime', `${formatDuration(summary.trainRuntime)} (${formatNumber(summary.trainRuntime)} s)`]);
  if (summary.trainSamplesPerSecond !== undefined)
    run.push(['samples / s', formatNumber(summary.trainSamplesPerSecond)]);
  if (summary.trainStepsPerSecond !== undefined) run.push(['steps / s', formatNumber(summary.trainStepsPerSecond)]);
  if (summary.trainableParams !== undefined) {
    const of = summary.totalParams !== undefined ? ` of ${formatInteger(summary.totalParams)}` : '';
    const pct = summary.trainablePercent !== undefined ? ` (${formatPercent(summary.trainablePercent)})` : '';
    run.push(['trainable parameters', `${formatInteger(summary.trainableParams)}${of}${pct}`]);
  }
  if (summary.peakMemoryBytes !== undefined) run.push(['peak memory', formatBytes(summary.peakMemoryBytes)]);
  // 0 is what the Trainer records where it cannot estimate FLOs (as transformers' total_flos): no row rather than a false 0.
  if (summary.totalFlos) run.push(['total FLOs (6 × non-embedding params × tokens)', formatNumber(summary.totalFlos)]);
  if (summary.bestMetric !== undefined)
    run.push([`best ${summary.metricForBestModel ?? 'metric'}`, formatNumber(summary.bestMetric)]);
  if (summary.bestModelCheckpoint) run.push(['best checkpoint', summary.bestModelCheckpoint]);
  const runTable = run.length
    ? `<table class="kv"><caption>Run</caption><tbody>${run.map(([k, v]) => `<tr><th scope="row">${escapeXml(k)}</th><td>${escapeXml(v)}</td></tr>`).join('')}</tbody></table>`
    : '';
  const metrics = Object.keys(summary.finalEval);
  const metricTable = metrics.length
    ? `<table class="metrics"><caption>Evaluation</caption><thead><tr><th>metric</th><th>final</th><th>best</th><th>at step</th></tr></thead><tbody>${metrics
        .map((k) => {
          const b = summary.best[k];
          return `<tr><th scope="row">${escapeXml(k)}</th><td>${escapeXml(formatNumber(summary.finalEval[k]))}</td><td>${b ? escapeXml(formatNumber(b.value)) : ''}${b ? ` <span class="mode">(${b.mode})</span>` : ''}</td><td>${b?.step !== undefined ? formatInteger(b.step) : ''}</td></tr>`;
        })
        .join('')}</tbody></table>`
    : '<p class="note">No evaluation was logged.</p>';
  return `<div class="summary">${runTable}${metricTable}</div>`;
}

function evalTable(log: readonly LogEntry[]): string {
  const names = evalMetricNames(log);
  const evals = log.filter((e) => entryKind(e) === 'eval');
  if (evals.length === 0) return '';
  const head = ['step', 'epoch', ...names].map((n) => `<th>${escapeXml(n)}</th>`).join('');
  const rows = evals
    .map((e) => {
      const cells = [num(e, 'step'), num(e, 'epoch'), ...names.map((n) => num(e, n))].map(
        (v) => `<td>${v === undefined ? '' : escapeXml(formatNumber(v))}</td>`,
      );
      return `<tr>${cells.join('')}</tr>`;
    })
    .join('');
  return `<section id="evaluations"><h2>Evaluations</h2><div class="scroll"><table class="evals"><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table></div></section>`;
}

/** A causal LM's sample generations at each evaluation (TrainingArguments.samplePrompts: sample_1, … in the log), prompt by prompt. */
function samplesTable(log: readonly LogEntry[]): string {
  const withSamples = log.filter((e) => typeof e.sample_1 === 'string');
  if (withSamples.length === 0) return '';
  const keys = Object.keys(withSamples[0]).filter((k) => /^sample_\d+$/.test(k));
  const head = ['step', ...keys].map((n) => `<th>${escapeXml(n)}</th>`).join('');
  const rows = withSamples
    .map((e) => {
      const cells = [String(num(e, 'step') ?? ''), ...keys.map((k) => (typeof e[k] === 'string' ? e[k] : ''))];
      return `<tr>${cells.map((c) => `<td>${escapeXml(c)}</td>`).join('')}</tr>`;
    })
    .join('');
  return `<section id="samples"><h2>Samples</h2><p class="note">Each prompt continued greedily at each evaluation.</p><div class="scroll"><table class="samples"><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table></div></section>`;
}

const CSS = `
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #222; background: #f7f7f8; margin: 0; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta { color: #666; margin: 0; font-size: 13px; }
.figure { background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; padding: 8px; margin: 10px 0; }
svg.chart { display: block; max-width: 100%; height: auto; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 12px; }
table { border-collapse: collapse; background: #fff; font-size: 14px; margin: 8px 0; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border: 1px solid #e2e2e2; padding: 4px 10px; text-align: left; vertical-align: top; }
td { font-variant-numeric: tabular-nums; }
table.metrics td, table.evals td { text-align: right; }
table.config { width: 100%; table-layout: fixed; }
table.config th { width: 34%; font-weight: 500; color: #444; word-break: break-all; }
table.config td { word-break: break-word; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
.summary { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.scroll { overflow-x: auto; }
.mode, .note { color: #777; font-size: 12px; }
@media print { body { background: #fff; } .figure { border: none; } }
`;

function figure(chart: Chart, id: string): string {
  return `<div class="figure">${chartSvg(chart, { id })}</div>`;
}

/** The report page for a run, as a string. */
export function renderReportHtml(history: RunHistory, summary: RunSummary, options: WriteReportOptions = {}): string {
  const log = history.logHistory;
  const title = options.title ?? 'Training report';
  const when = (options.generatedAt ?? new Date())
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  const sources = history.sources.length ? history.sources.join(', ') : 'the log history given';
  const metrics = metricCharts(log);
  const grad = gradNormChart(log);
  const taskWeights = taskWeightChart(log);
  const configs = [
    options.config ? configTable('Configuration', options.config) : '',
    history.runConfig ? configTable('Run configuration (run_config.json)', history.runConfig) : '',
    history.trainingArgs ? configTable('Training arguments (training_args.json)', history.trainingArgs) : '',
    history.adapterConfig ? configTable('Adapter (adapter_config.json)', history.adapterConfig) : '',
    history.modelConfig ? configTable('Model (config.json)', modelConfigRows(history.modelConfig)) : '',
  ].filter(Boolean);
  return htmlDocument(
    title,
    CSS,
    `<header>
<h1>${escapeXml(title)}</h1>
<p class="meta">${escapeXml(history.outputDir)} · from ${escapeXml(sources)} · ${summary.counts.train} training logs, ${summary.counts.eval} evaluations · generated ${escapeXml(when)}</p>
</header>
<section id="summary"><h2>Summary</h2>${summaryTables(summary)}</section>
<section id="loss"><h2>Loss</h2>${figure(lossChart(log), 'chart-loss')}</section>
<section id="metrics"><h2>Metrics</h2><div class="charts">${metrics.map((c, i) => figure(c, `chart-metrics-${i + 1}`)).join('')}</div></section>
<section id="lr"><h2>Learning rate</h2><div class="charts">${figure(lrChart(log), 'chart-lr')}${grad ? figure(grad, 'chart-grad-norm') : ''}${taskWeights ? figure(taskWeights, 'chart-task-weights') : ''}</div></section>
${evalTable(log)}
${samplesTable(log)}
<section id="config"><h2>Configuration</h2>${configs.length ? configs.join('\n') : '<p class="note">No configuration was saved with this run.</p>'}</section>`,
  );
}

/**
 * Writes `outputDir/report.html` (and loss.png, metrics.png, lr.png) for the run in `outputDir`,
 * from its trainer_state.json and/or metrics.jsonl, training_args.json, run_config.json,
 * adapter_config.json and config.json, or from `options.logHistory`. Each file is replaced atomically.
 */
export async function writeReport(outputDir: string, options: WriteReportOptions = {}): Promise<ReportResult> {
  const history = await readRunHistory(outputDir, { allowEmpty: options.logHistory !== undefined });
  if (options.logHistory) {
    history.logHistory = options.logHistory;
    history.sources = history.sources.filter((s) => !s.endsWith('trainer_state.json') && s !== 'metrics.jsonl');
  }
  const summary = summarizeRun(history, options.config);
  const warnings: string[] = [];
  await mkdir(outputDir, { recursive: true });
  const htmlPath = join(outputDir, 'report.html');
  await writeFileAtomic(htmlPath, renderReportHtml(history, summary, options));
  const result: ReportResult = { html: htmlPath, png: {}, summary, history, warnings };
  if (options.png === false) return result;
  if (!systemFontsAvailable() && !options.fontFiles?.length) {
    warnings.push(
      'no font files found (e.g. /usr/share/fonts): the PNGs are drawn without text; install fonts-dejavu-core or pass fontFiles',
    );
  }
  const png: PngOptions = { scale: options.pngScale, fontFiles: options.fontFiles };
  const log = history.logHistory;
  let metrics = metricCharts(log);
  if (metrics.length > 1) metrics = metricCharts(log, { width: 520, height: 320 });
  const charts: Array<['loss' | 'metrics' | 'lr', Chart]> = [
    ['loss', lossChart(log)],
    ['metrics', metrics.length === 1 ? metrics[0] : chartGrid(metrics, 2)],
    ['lr', lrChart(log)],
  ];
  for (const [name, chart] of charts) {
    const path = join(outputDir, `${name}.png`);
    await writeFileAtomic(path, chartToPng(chart, png));
    result.png[name] = path;
  }
  return result;
}

/**
 * The fine-tuning trade-off table: strategy | (lr) | trainable params | % | accuracy | train time |
 * peak memory, for runs of the same task with different strategies (what `finetune compare` prints),
 * with a bar chart of each column (comparison.png) and a self-contained comparison.html.
 */
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';

import { writeFileAtomic } from '../io/files.js';
import { barChart, chartGrid, chartSvg, PALETTE, type Chart } from './chart.js';
import { formatLr } from '../optim/index.js';
import { methodOfStrategy, peftConfigFromJson } from '../peft/index.js';
import { formatBytes, formatInteger, formatNumber, formatPercent, formatSeconds } from '../format/numbers.js';
import { escapeXml, htmlDocument } from './format.js';
import { readRunHistory, summarizeRun } from './history.js';
import { chartToPng, type PngOptions } from './png.js';

/** One strategy's run. Every figure is optional; a missing one prints as n/a. */
export interface ComparisonRun {
  /** The strategy's name: full, head, lora, … */
  strategy: string;
  /** The (peak) learning rate the run trained at; the table has an lr column when a run has one. */
  lr?: number;
  trainableParams?: number;
  totalParams?: number;
  /** 100 × trainable / total; computed from the counts when omitted. */
  trainablePercent?: number;
  /** The task metric (final evaluation); its column is named by `metricName`. */
  accuracy?: number;
  /** Training wall time in seconds. */
  trainTimeSeconds?: number;
  /** Peak memory in bytes. */
  peakMemoryBytes?: number;
}

export interface ComparisonOptions {
  /** Write comparison.png, comparison.html and comparison.md here. */
  outputDir?: string;
  title?: string;
  /** The metric column's header (default "accuracy"). */
  metricName?: string;
  /** Lines under the table in comparison.html and .md: what the metric is measured on, how each lr was chosen. */
  notes?: string[];
  /** Write the PNG (default true when outputDir is given). */
  png?: boolean;
  pngScale?: number;
  fontFiles?: string[];
}

export interface ComparisonResult {
  /** The header and the rows' cells, formatted. */
  header: string[];
  rows: string[][];
  /** An aligned plain-text table (for the terminal). */
  text: string;
  /** A Markdown table. */
  markdown: string;
  /** A self-contained HTML page with the table and the chart. */
  html: string;
  /** The bar charts, one panel per column that has a value. */
  chart: Chart;
  files: { png?: string; html?: string; markdown?: string };
}

function percentOf(run: ComparisonRun): number | undefined {
  if (run.trainablePercent !== undefined) return run.trainablePercent;
  if (run.trainableParams !== undefined && run.totalParams) return (100 * run.trainableParams) / run.totalParams;
  return undefined;
}

const NA = 'n/a';

function cells(run: ComparisonRun, withLr: boolean): string[] {
  const pct = percentOf(run);
  return [
    run.strategy,
    ...(withLr ? [run.lr !== undefined ? formatLr(run.lr) : NA] : []),
    run.trainableParams !== undefined ? formatInteger(run.trainableParams) : NA,
    pct !== undefined ? formatPercent(pct) : NA,
    run.accuracy !== undefined ? formatNumber(run.accuracy) : NA,
    run.trainTimeSeconds !== undefined ? formatSeconds(run.trainTimeSeconds) : NA,
    run.peakMemoryBytes !== undefined ? formatBytes(run.peakMemoryBytes) : NA,
  ];
}

/** Columns padded to their widest cell; text left-aligned, numbers right-aligned. */
export function alignTable(header: string[], rows: string[][], rightAligned: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => (rightAligned[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The bar charts of a comparison: trainable %, the metric, train time and peak memory (panels with no value are left out). */
export function comparisonChart(runs: ComparisonRun[], options: { title?: string; metricName?: string } = {}): Chart {
  const labels = runs.map((r) => r.strategy);
  const color = runs.map((_, i) => PALETTE[i % PALETTE.length]);
  const metric = options.metricName ?? 'accuracy';
  // The metric's axis starts near its lowest value (and says so): scores a few points apart must not look alike.
  const panels: Array<{
    title: string;
    values: Array<number | undefined>;
    format: (v: number) => string;
    log?: boolean;
    axisFromData?: boolean;
  }> = [
    { title: 'trainable parameters (%, log scale)', values: runs.map(percentOf), format: formatPercent, log: true },
    { title: metric, values: runs.map((r) => r.accuracy), format: (v) => formatNumber(v), axisFromData: true },
    { title: 'train time', values: runs.map((r) => r.trainTimeSeconds), format: formatSeconds },
    { title: 'peak memory', values: runs.map((r) => r.peakMemoryBytes), format: formatBytes },
  ];
  const charts = panels
    .filter((p) => p.values.some((v) => v !== undefined))
    .map((p) =>
      barChart({
        title: p.title,
        labels,
        values: p.values,
        format: p.format,
        color,
        width: 440,
        log: p.log,
        axisFromData: p.axisFromData,
      }),
    );
  if (charts.length === 0)
    charts.push(barChart({ title: 'no figures to compare', labels, values: runs.map(() => undefined), width: 440 }));
  return chartGrid(charts, 2, options.title ?? 'Fine-tuning strategies compared');
}

const CSS = `
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #222; background: #f7f7f8; margin: 0; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 24px; }
table { border-collapse: collapse; background: #fff; font-size: 14px; }
th, td { border: 1px solid #e2e2e2; padding: 4px 12px; }
td { text-align: right; font-variant-numeric: tabular-nums; }
td:first-child, th { text-align: left; }
.note { color: #555; font-size: 14px; margin: 8px 0; }
.figure { background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; padding: 8px; margin: 16px 0; }
svg.chart { display: block; max-width: 100%; height: auto; }
`;

/**
 * The trade-off table of several strategies' runs, as text, Markdown and HTML, with a bar chart;
 * with `outputDir`, also written there as comparison.png, comparison.html and comparison.md.
 */
export async function comparisonReport(
  runs: ComparisonRun[],
  options: ComparisonOptions = {},
): Promise<ComparisonResult> {
  const metric = options.metricName ?? 'accuracy';
  const title = options.title ?? 'Fine-tuning strategies compared';
  const withLr = runs.some((r) => r.lr !== undefined);
  const header = ['strategy', ...(withLr ? ['lr'] : []), 'trainable params', '%', metric, 'train time', 'peak memory'];
  const rows = runs.map((r) => cells(r, withLr));
  const text = alignTable(
    header,
    rows,
    header.map((_, i) => i > 0),
  );
  const md = (r: string[]): string => `| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  const notes = options.notes ?? [];
  const markdown = [
    md(header),
    `|:--|${header
      .slice(1)
      .map(() => '--:')
      .join('|')}|`,
    ...rows.map(md),
    ...(notes.length ? ['', ...notes] : []),
  ].join('\n');
  const chart = comparisonChart(runs, { title, metricName: metric });
  const table =
    `<table class="comparison"><thead><tr>${header.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr></thead><tbody>` +
    rows
      .map(
        (r) =>
          `<tr>${r.map((c, i) => (i === 0 ? `<th scope="row">${escapeXml(c)}</th>` : `<td>${escapeXml(c)}</td>`)).join('')}</tr>`,
      )
      .join('') +
    '</tbody></table>';
  const html = htmlDocument(
    title,
    CSS,
    `<h1>${escapeXml(title)}</h1>
${table}
${notes.map((n) => `<p class="note">${escapeXml(n)}</p>`).join('\n')}
<div class="figure">${chartSvg(chart, { id: 'chart-comparison' })}</div>`,
  );
  const result: ComparisonResult = { header, rows, text, markdown, html, chart, files: {} };
  if (options.outputDir) {
    await mkdir(options.outputDir, { recursive: true });
    result.files.html = join(options.outputDir, 'comparison.html');
    await writeFileAtomic(result.files.html, html);
    result.files.markdown = join(options.outputDir, 'comparison.md');
    await writeFileAtomic(result.files.markdown, `${markdown}\n`);
    if (options.png !== false) {
      const png: PngOptions = { scale: options.pngScale, fontFiles: options.fontFiles };
      result.files.png = join(options.outputDir, 'comparison.png');
      await writeFileAtomic(result.files.png, chartToPng(chart, png));
    }
  }
  return result;
}

/**
 * A strategy's name from a config: a string, a freezing strategy {kind: 'top-k', k}, a PEFT config
 * {peft_type} (the registered method it is: lora or dora; a peft_type not registered here, or a config
 * finetune cannot read, by its peft_type in lower case).
 */
function strategyName(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.kind === 'string') return v.kind === 'top-k' && typeof v.k === 'number' ? `top-${v.k}` : v.kind;
  if (typeof v.peft_type !== 'string') return undefined;
  try {
    return methodOfStrategy(peftConfigFromJson(v)).name;
  } catch {
    return v.peft_type.toLowerCase();
  }
}

/**
 * A comparison row from a run's output folder: the final `eval_<metricName>`, train_runtime,
 * trainable/total parameters, peak memory and learning rate as the run logged them (or its
 * run_config.json / `config` holds them).
 */
export async function comparisonRunFromDir(
  outputDir: string,
  options: { strategy?: string; metricName?: string; config?: Record<string, unknown> } = {},
): Promise<ComparisonRun> {
  const history = await readRunHistory(outputDir);
  const summary = summarizeRun(history, options.config);
  const metric = options.metricName ?? 'accuracy';
  const key = metric.startsWith('eval_') ? metric : `eval_${metric}`;
  const named = [history.runConfig?.strategy, history.trainingArgs?.strategy]
    .map(strategyName)
    .find((s) => s !== undefined);
  const strategy = options.strategy ?? named ?? basename(outputDir);
  const lr = [
    history.runConfig?.learning_rate,
    history.trainingArgs?.learning_rate,
    history.trainingArgs?.learningRate,
  ].find((v) => typeof v === 'number');
  return {
    strategy,
    ...(lr !== undefined ? { lr: lr as number } : {}),
    trainableParams: summary.trainableParams,
    totalParams: summary.totalParams,
    trainablePercent: summary.trainablePercent,
    accuracy: summary.finalEval[key],
    trainTimeSeconds: summary.trainRuntime,
    peakMemoryBytes: summary.peakMemoryBytes,
  };
}

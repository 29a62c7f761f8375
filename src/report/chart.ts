/**
 * A small SVG chart kit for the training reports: line charts (axes, "nice" ticks, grid, legend,
 * markers with tooltips), horizontal bar charts and grids of either. The output is plain SVG 1.1
 * with presentation attributes only (no CSS, no script, no external reference), so the same string
 * embeds in an HTML page and rasterises to PNG with resvg.
 *
 * Every drawn series is a `<path class="series" data-series="NAME" data-points="N">` (N: the
 * series' finite points, before any thinning for drawing) and every bar a
 * `<rect class="bar" data-label="…" data-value="…">`, which is what tests and scripts can read back.
 */
import { formatInteger } from '../format/numbers.js';
import { escapeXml } from './format.js';

/** Tableau 10, the default categorical palette of matplotlib and Vega. */
export const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

const FONT_FAMILY = 'DejaVu Sans, Helvetica, Arial, sans-serif';
const TEXT = '#333';
const MUTED = '#666';
const GRID = '#e6e6e6';
const AXIS = '#999';

/** A drawn chart: its size and its SVG content (without the `<svg>` element around it). */
export interface Chart {
  title: string;
  width: number;
  height: number;
  body: string;
}

export interface ChartSeries {
  name: string;
  /** [x, y] pairs; non-finite ones are skipped. */
  points: ReadonlyArray<readonly [number, number]>;
  color?: string;
  dashed?: boolean;
  /** Draw a marker (with a hover tooltip) at each point; always on for a series of one point. */
  markers?: boolean;
  strokeWidth?: number;
  opacity?: number;
}

export interface LineChartSpec {
  title: string;
  series: ChartSeries[];
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** Shown in the plot area when no series has a point. */
  emptyText?: string;
  /** Lines are thinned (keeping each bucket's extremes) past this many points per series. Default 2000. */
  maxPoints?: number;
  /** Values the x axis covers besides the data's (e.g. [0, lastStep], so charts of one run line up). */
  xDomain?: [number, number];
}

export interface BarChartSpec {
  title: string;
  labels: string[];
  /** One per label; null or undefined draws "n/a" and no bar. */
  values: Array<number | null | undefined>;
  format?: (v: number) => string;
  xLabel?: string;
  width?: number;
  /** One colour for all bars, or one per bar. */
  color?: string | string[];
  /** A logarithmic value axis (positive values only; others print n/a): for shares spanning decades, like trainable %. */
  log?: boolean;
  /**
   * The value axis starts at a tick just below the smallest value instead of at 0, with its ticks
   * labelled under the bars and its start named: for scores that differ by a few points (0.48 vs
   * 0.62 look alike on an axis from 0), as plotting libraries scale a dot or bar comparison.
   */
  axisFromData?: boolean;
}

/** Ticks at 1, 2 or 5 × 10^k covering [min, max]; `min`/`max` of the result are the rounded-out domain. */
export function niceTicks(
  min: number,
  max: number,
  count = 5,
): { min: number; max: number; step: number; ticks: number[] } {
  if (!Number.isFinite(min) || !Number.isFinite(max))
    return { min: 0, max: 1, step: 0.2, ticks: [0, 0.2, 0.4, 0.6, 0.8, 1] };
  if (!(max > min)) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const f = raw / magnitude;
  const step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * magnitude;
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let i = 0; lo + i * step <= hi + step * 1e-9; i++) ticks.push(Number((lo + i * step).toPrecision(12)));
  return { min: ticks[0], max: ticks[ticks.length - 1], step, ticks };
}

function trimExponential(s: string): string {
  return s.replace(/\.?0+e/, 'e');
}

/** A tick label with as many digits as the tick step needs: 0.5, 1.5e-5, 2,000. */
export function formatTick(v: number, step: number): string {
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (step < 1e-3 || abs >= 1e6) {
    const p = Math.max(0, Math.floor(Math.log10(abs) + 1e-9) - Math.floor(Math.log10(step) + 1e-9));
    return trimExponential(v.toExponential(Math.min(p, 6)));
  }
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return abs >= 1e4 && decimals === 0 ? formatInteger(v) : v.toFixed(decimals);
}

/** The width of `text` in DejaVu Sans at `size` px, estimated (no font metrics at hand): enough for layout. */
export function textWidth(text: string, size: number): number {
  let em = 0;
  for (const c of text) {
    if ("il.,:;|!'`".includes(c)) em += 0.3;
    else if ('ftrj()[] '.includes(c)) em += 0.4;
    else if ('mwMW@%'.includes(c)) em += 0.9;
    else if (c >= 'A' && c <= 'Z') em += 0.7;
    else em += 0.62;
  }
  return em * size;
}

const r1 = (v: number): string => String(Math.round(v * 10) / 10);

function text(x: number, y: number, content: string, attrs: Record<string, string | number> = {}): string {
  const extra = Object.entries(attrs)
    .map(([k, v]) => ` ${k}="${escapeXml(String(v))}"`)
    .join('');
  return `<text x="${r1(x)}" y="${r1(y)}"${extra}>${escapeXml(content)}</text>`;
}

/** Thins a line to at most `max` points, keeping the first and last point and each bucket's lowest and highest. */
function thin(points: Array<readonly [number, number]>, max: number): Array<readonly [number, number]> {
  if (points.length <= max) return points;
  const buckets = Math.max(1, Math.floor((max - 2) / 2));
  const size = (points.length - 2) / buckets;
  const out: Array<readonly [number, number]> = [points[0]];
  for (let b = 0; b < buckets; b++) {
    const from = 1 + Math.floor(b * size);
    const to = Math.min(points.length - 1, 1 + Math.floor((b + 1) * size));
    let lo = from;
    let hi = from;
    for (let i = from; i < to; i++) {
      if (points[i][1] < points[lo][1]) lo = i;
      if (points[i][1] > points[hi][1]) hi = i;
    }
    if (from >= to) continue;
    for (const i of lo <= hi ? [lo, hi] : [hi, lo]) if (out[out.length - 1] !== points[i]) out.push(points[i]);
  }
  out.push(points[points.length - 1]);
  return out;
}

interface LegendItem {
  name: string;
  color: string;
  dashed?: boolean;
}

/** Lays a legend out in rows under the title; returns the SVG and the height it takes. */
function legend(items: LegendItem[], x0: number, y0: number, maxWidth: number): { svg: string; height: number } {
  if (items.length === 0) return { svg: '', height: 0 };
  const rowHeight = 18;
  let x = x0;
  let y = y0;
  const parts: string[] = [];
  for (const item of items) {
    const w = 26 + textWidth(item.name, 12) + 18;
    if (x > x0 && x + w > x0 + maxWidth) {
      x = x0;
      y += rowHeight;
    }
    const dash = item.dashed ? ' stroke-dasharray="6 4"' : '';
    parts.push(
      `<g class="legend-item" data-series="${escapeXml(item.name)}">` +
        `<line x1="${r1(x)}" y1="${r1(y - 4)}" x2="${r1(x + 20)}" y2="${r1(y - 4)}" stroke="${item.color}" stroke-width="2.5"${dash}/>` +
        text(x + 26, y, item.name, { 'font-size': 12, fill: TEXT }) +
        '</g>',
    );
    x += w;
  }
  return { svg: `<g class="legend">${parts.join('')}</g>`, height: y - y0 + rowHeight };
}

/** A line chart of one or more series against a shared x axis. */
export function lineChart(spec: LineChartSpec): Chart {
  const width = spec.width ?? 720;
  const height = spec.height ?? 360;
  const maxPoints = spec.maxPoints ?? 2000;
  const pad = 12;
  const series = spec.series.map((s, i) => ({
    ...s,
    color: s.color ?? PALETTE[i % PALETTE.length],
    finite: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(([x, y]) => [x, y] as const),
  }));
  const all = series.flatMap((s) => s.finite);
  const parts: string[] = [`<rect class="background" width="${width}" height="${height}" fill="#ffffff"/>`];
  parts.push(text(pad, 24, spec.title, { 'font-size': 15, 'font-weight': 'bold', fill: TEXT, class: 'title' }));
  const lg = legend(
    series.map((s) => ({ name: s.name, color: s.color, dashed: s.dashed })),
    pad + 4,
    50,
    width - 2 * pad - 8,
  );
  parts.push(lg.svg);
  const plotTop = 36 + (lg.height > 0 ? lg.height + 10 : 8);

  // extents by loop: a long run's series would overflow Math.min(...spread)
  let xMin = Infinity;
  let xMax = -Infinity;
  let yMinData = Infinity;
  let yMaxData = -Infinity;
  let integerX = true;
  for (const [x, y] of all) {
    if (x < xMin) xMin = x;
    if (x > xMax) xMax = x;
    if (y < yMinData) yMinData = y;
    if (y > yMaxData) yMaxData = y;
    if (!Number.isInteger(x)) integerX = false;
  }
  if (all.length === 0) {
    [xMin, xMax, yMinData, yMaxData] = [0, 1, 0, 1];
  } else if (spec.xDomain) {
    for (const x of spec.xDomain) {
      if (!Number.isFinite(x)) continue;
      xMin = Math.min(xMin, x);
      xMax = Math.max(xMax, x);
      if (!Number.isInteger(x)) integerX = false;
    }
  }
  const xt = niceTicks(xMin, xMax, 6);
  if (xt.step < 1 && integerX && all.length > 0) {
    // integer steps: never a tick between two steps
    const hi = Math.max(xMin + 1, xMax);
    xt.step = 1;
    xt.ticks = [];
    for (let v = Math.floor(xMin); v <= hi; v++) xt.ticks.push(v);
    xt.min = xt.ticks[0];
    xt.max = xt.ticks[xt.ticks.length - 1];
  }
  const yPad = (yMaxData - yMinData) * 0.04;
  const yt = niceTicks(yMinData - (yMinData >= 0 && yMinData - yPad < 0 ? yMinData : yPad), yMaxData + yPad, 5);
  const yLabels = yt.ticks.map((v) => formatTick(v, yt.step));
  const yLabelWidth = Math.max(...yLabels.map((l) => textWidth(l, 11)));
  const plotLeft = pad + (spec.yLabel ? 20 : 0) + yLabelWidth + 8;
  const plotRight = width - pad - 10;
  const plotBottom = height - pad - (spec.xLabel ? 34 : 18);
  const sx = (x: number): number => plotLeft + ((x - xt.min) / (xt.max - xt.min)) * (plotRight - plotLeft);
  const sy = (y: number): number => plotBottom - ((y - yt.min) / (yt.max - yt.min)) * (plotBottom - plotTop);

  // grid and y ticks
  const axis: string[] = [];
  yt.ticks.forEach((v, i) => {
    const y = sy(v);
    axis.push(
      `<line x1="${r1(plotLeft)}" y1="${r1(y)}" x2="${r1(plotRight)}" y2="${r1(y)}" stroke="${GRID}" stroke-width="1"/>`,
    );
    axis.push(text(plotLeft - 6, y + 4, yLabels[i], { 'font-size': 11, fill: MUTED, 'text-anchor': 'end' }));
  });
  const xLabels = xt.ticks.map((v) => formatTick(v, xt.step));
  // drop x tick labels that would overlap
  const xTickWidth = Math.max(...xLabels.map((l) => textWidth(l, 11))) + 8;
  const every = Math.max(
    1,
    Math.ceil(xTickWidth / Math.max(1, (plotRight - plotLeft) / Math.max(1, xt.ticks.length - 1))),
  );
  xt.ticks.forEach((v, i) => {
    const x = sx(v);
    axis.push(
      `<line x1="${r1(x)}" y1="${r1(plotBottom)}" x2="${r1(x)}" y2="${r1(plotBottom + 4)}" stroke="${AXIS}" stroke-width="1"/>`,
    );
    if (i % every === 0)
      axis.push(text(x, plotBottom + 17, xLabels[i], { 'font-size': 11, fill: MUTED, 'text-anchor': 'middle' }));
  });
  axis.push(
    `<line x1="${r1(plotLeft)}" y1="${r1(plotBottom)}" x2="${r1(plotRight)}" y2="${r1(plotBottom)}" stroke="${AXIS}" stroke-width="1"/>`,
  );
  axis.push(
    `<line x1="${r1(plotLeft)}" y1="${r1(plotTop)}" x2="${r1(plotLeft)}" y2="${r1(plotBottom)}" stroke="${AXIS}" stroke-width="1"/>`,
  );
  if (spec.xLabel)
    axis.push(
      text((plotLeft + plotRight) / 2, height - pad - 2, spec.xLabel, {
        'font-size': 12,
        fill: TEXT,
        'text-anchor': 'middle',
      }),
    );
  if (spec.yLabel) {
    const cy = (plotTop + plotBottom) / 2;
    axis.push(
      `<text x="${r1(pad + 12)}" y="${r1(cy)}" font-size="12" fill="${TEXT}" text-anchor="middle" transform="rotate(-90 ${r1(pad + 12)} ${r1(cy)})">${escapeXml(spec.yLabel)}</text>`,
    );
  }
  parts.push(`<g class="axes">${axis.join('')}</g>`);

  if (all.length === 0) {
    parts.push(
      text((plotLeft + plotRight) / 2, (plotTop + plotBottom) / 2, spec.emptyText ?? 'no data', {
        'font-size': 13,
        fill: MUTED,
        'text-anchor': 'middle',
        class: 'empty',
      }),
    );
  }
  for (const s of series) {
    const drawn = thin(s.finite, maxPoints);
    const d = drawn.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${r1(sx(x))} ${r1(sy(y))}`).join('');
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    const opacity = s.opacity !== undefined ? ` stroke-opacity="${s.opacity}"` : '';
    parts.push(
      `<path class="series" data-series="${escapeXml(s.name)}" data-points="${s.finite.length}" d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.strokeWidth ?? 2}" stroke-linejoin="round" stroke-linecap="round"${dash}${opacity}/>`,
    );
    if ((s.markers || s.finite.length === 1) && s.finite.length <= 500) {
      const dots = s.finite.map(
        ([x, y]) =>
          `<circle cx="${r1(sx(x))}" cy="${r1(sy(y))}" r="3.5" fill="${s.color}" stroke="#ffffff" stroke-width="1"><title>${escapeXml(`${s.name} @ ${formatTick(x, xt.step)}: ${y}`)}</title></circle>`,
      );
      parts.push(`<g class="markers" data-series="${escapeXml(s.name)}">${dots.join('')}</g>`);
    }
  }
  return { title: spec.title, width, height, body: parts.join('') };
}

/** The ticks of a value axis that starts a tick below the smallest value, so that every bar keeps a length. */
function dataAxisTicks(values: number[]): ReturnType<typeof niceTicks> {
  const low = Math.min(...values);
  const ticks = niceTicks(low, Math.max(...values), 4);
  if (ticks.min < low) return ticks;
  const min = Number((ticks.min - ticks.step).toPrecision(12));
  return { ...ticks, min, ticks: [min, ...ticks.ticks] };
}

/** A horizontal bar chart: one bar per label, its value printed at the end of the bar. */
export function barChart(spec: BarChartSpec): Chart {
  const width = spec.width ?? 420;
  const format = spec.format ?? ((v: number) => String(v));
  const pad = 12;
  const rowHeight = 26;
  const top = 40;
  const n = spec.labels.length;
  const usable = (v: number | null | undefined): v is number =>
    v !== null && v !== undefined && Number.isFinite(v) && (!spec.log || v > 0);
  const finite = spec.values.filter(usable);
  const dataAxis = spec.axisFromData && finite.length > 0 && !spec.log ? dataAxisTicks(finite) : null;
  const xLabel =
    dataAxis && dataAxis.min !== 0
      ? [`axis from ${formatTick(dataAxis.min, dataAxis.step)}, not 0`, spec.xLabel].filter(Boolean).join('; ')
      : spec.xLabel;
  const height = top + n * rowHeight + (dataAxis ? 18 : 0) + (xLabel ? 30 : 14);
  const labelWidth = Math.max(0, ...spec.labels.map((l) => textWidth(l, 12))) + 10;
  const valueTexts = spec.values.map((v) => (usable(v) ? format(v) : 'n/a'));
  const valueWidth = Math.max(...valueTexts.map((t) => textWidth(t, 11))) + 10;
  const x0 = pad + labelWidth;
  const x1 = Math.max(x0 + 40, width - pad - valueWidth);
  let scale: (v: number) => number;
  let zero: number;
  if (dataAxis) {
    scale = (v: number): number => x0 + ((v - dataAxis.min) / (dataAxis.max - dataAxis.min)) * (x1 - x0);
    zero = dataAxis.min;
  } else if (spec.log) {
    // bars grow from the decade below the smallest value
    const lo = Math.floor(Math.log10(Math.min(...finite, 1)) - 1e-9);
    const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...finite, 10 ** lo)) - 1e-9));
    scale = (v: number): number => x0 + ((Math.log10(v) - lo) / (hi - lo)) * (x1 - x0);
    zero = 10 ** lo;
  } else {
    const lo = Math.min(0, ...finite);
    const hi = Math.max(0, ...finite);
    scale = (v: number): number => x0 + ((v - lo) / (hi - lo || 1)) * (x1 - x0);
    zero = 0;
  }
  const parts: string[] = [`<rect class="background" width="${width}" height="${height}" fill="#ffffff"/>`];
  parts.push(text(pad, 24, spec.title, { 'font-size': 14, 'font-weight': 'bold', fill: TEXT, class: 'title' }));
  spec.labels.forEach((label, i) => {
    const y = top + i * rowHeight;
    const v = spec.values[i];
    const color = Array.isArray(spec.color)
      ? spec.color[i % spec.color.length]
      : (spec.color ?? PALETTE[i % PALETTE.length]);
    parts.push(text(x0 - 8, y + 15, label, { 'font-size': 12, fill: TEXT, 'text-anchor': 'end' }));
    if (!usable(v)) {
      parts.push(text(x0 + 4, y + 15, 'n/a', { 'font-size': 11, fill: MUTED }));
      return;
    }
    const a = scale(Math.min(zero, v));
    const b = scale(Math.max(zero, v));
    const w = Math.max(1, b - a);
    parts.push(
      `<rect class="bar" data-label="${escapeXml(label)}" data-value="${v}" x="${r1(a)}" y="${r1(y + 3)}" width="${r1(w)}" height="18" fill="${color}"><title>${escapeXml(`${label}: ${valueTexts[i]}`)}</title></rect>`,
    );
    parts.push(text(a + w + 5, y + 16, valueTexts[i], { 'font-size': 11, fill: TEXT }));
  });
  parts.push(
    `<line x1="${r1(scale(zero))}" y1="${top}" x2="${r1(scale(zero))}" y2="${top + n * rowHeight}" stroke="${AXIS}" stroke-width="1"/>`,
  );
  if (dataAxis) {
    const y = top + n * rowHeight;
    parts.push(`<line x1="${r1(x0)}" y1="${y}" x2="${r1(x1)}" y2="${y}" stroke="${AXIS}" stroke-width="1"/>`);
    for (const tick of dataAxis.ticks) {
      const x = scale(tick);
      parts.push(`<line x1="${r1(x)}" y1="${y}" x2="${r1(x)}" y2="${y + 4}" stroke="${AXIS}" stroke-width="1"/>`);
      parts.push(
        text(x, y + 15, formatTick(tick, dataAxis.step), {
          'font-size': 10,
          fill: MUTED,
          'text-anchor': 'middle',
          class: 'tick',
        }),
      );
    }
  }
  if (xLabel)
    parts.push(
      text((x0 + x1) / 2, height - pad, xLabel, {
        'font-size': 11,
        fill: MUTED,
        'text-anchor': 'middle',
        class: 'axis-label',
      }),
    );
  return { title: spec.title, width, height, body: parts.join('') };
}

/** Charts side by side, `columns` to a row, on one canvas. */
export function chartGrid(charts: Chart[], columns: number, title?: string, gap = 12): Chart {
  const cols = Math.max(1, Math.min(columns, charts.length));
  const cellWidth = Math.max(0, ...charts.map((c) => c.width));
  const head = title ? 34 : 0;
  const rows: Chart[][] = [];
  for (let i = 0; i < charts.length; i += cols) rows.push(charts.slice(i, i + cols));
  const width = cols * cellWidth + (cols - 1) * gap;
  let y = head;
  const parts: string[] = [];
  for (const row of rows) {
    const rowHeight = Math.max(...row.map((c) => c.height));
    row.forEach((c, i) => {
      const x = i * (cellWidth + gap);
      parts.push(`<g class="panel" transform="translate(${x} ${y})">${c.body}</g>`);
    });
    y += rowHeight + gap;
  }
  const height = Math.max(head, y - gap);
  const background = `<rect class="background" width="${width}" height="${height}" fill="#ffffff"/>`;
  const heading = title
    ? text(12, 24, title, { 'font-size': 16, 'font-weight': 'bold', fill: TEXT, class: 'title' })
    : '';
  return {
    title: title ?? charts.map((c) => c.title).join(', '),
    width,
    height,
    body: background + heading + parts.join(''),
  };
}

/**
 * The `<svg>` element of a chart. `standalone` adds the XML namespace a .svg file or a rasteriser
 * needs; inside HTML it is not needed (and the page then names no URL at all).
 */
export function chartSvg(chart: Chart, options: { standalone?: boolean; id?: string } = {}): string {
  const ns = options.standalone ? ' xmlns="http://www.w3.org/2000/svg"' : '';
  const id = options.id ? ` id="${escapeXml(options.id)}"` : '';
  return (
    `<svg${ns}${id} class="chart" width="${chart.width}" height="${chart.height}" viewBox="0 0 ${chart.width} ${chart.height}" ` +
    `role="img" aria-label="${escapeXml(chart.title)}" font-family="${FONT_FAMILY}">${chart.body}</svg>`
  );
}

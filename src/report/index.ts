/** Reports of training runs: report.html with inline SVG charts, PNG plots (resvg), the strategy comparison table. */
export {
  writeReport,
  renderReportHtml,
  lossChart,
  metricCharts,
  lrChart,
  gradNormChart,
  taskWeightChart,
  flattenConfig,
  type WriteReportOptions,
  type ReportResult,
  type ChartSize,
} from './report.js';
export {
  comparisonReport,
  comparisonRunFromDir,
  comparisonChart,
  alignTable,
  type ComparisonRun,
  type ComparisonOptions,
  type ComparisonResult,
} from './comparison.js';
export {
  readRunHistory,
  summarizeRun,
  parseMetricsJsonl,
  parseJsonWithNonFinite,
  dropReplayedSteps,
  mergeLogHistories,
  entryKind,
  evalMetricNames,
  lowerIsBetter,
  type LogEntry,
  type TrainerStateJson,
  type RunHistory,
  type RunSummary,
  type BestValue,
  type EntryKind,
} from './history.js';
export {
  lineChart,
  barChart,
  chartGrid,
  chartSvg,
  niceTicks,
  formatTick,
  PALETTE,
  type Chart,
  type ChartSeries,
  type LineChartSpec,
  type BarChartSpec,
} from './chart.js';
export { svgToPng, chartToPng, pngSize, systemFontsAvailable, type PngOptions } from './png.js';
export {
  formatDuration,
  formatSeconds,
  formatNumber,
  formatInteger,
  formatBytes,
  formatPercent,
  formatFixed,
} from '../format/numbers.js';

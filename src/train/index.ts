export { ProgressCallback, writeLine, formatEvalLine, progressBar, type ProgressCallbackOptions, type ProgressArgs, type ProgressState, type ProgressLogEntry, type OutputStream } from './progress.js';
export { PrinterCallback, type PrinterCallbackOptions } from './printer.js';

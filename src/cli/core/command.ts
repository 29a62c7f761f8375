/** How every training command runs: errors to exit codes and messages, the exit codes' help, the process's peak memory. */
import { readFileSync } from 'node:fs';
import { EXIT, UsageError } from './flags.js';
import { dataFlagsInMessage } from './data.js';

export const EXIT_CODES_HELP = `Exit codes:
  0  done
  1  runtime error (a bad data file — a bad row, a missing column, a corrupt image: the message names the file; a model or checkpoint that cannot be read)
  2  usage error (unknown or bad flag, bad --config file, a missing file or folder, labels that look like mistakes, one class)
  3  training stopped: the loss or the gradient norm became NaN/Inf (--nan-policy stop)`;

// ---- errors → exit codes -------------------------------------------------------------------------

/** Whether an error is the Trainer's stop on a non-finite loss or gradient norm (nanPolicy 'stop'). */
export function isNanStop(error: unknown): boolean {
  return error instanceof Error && /^training stopped at step \d+ .*nanPolicy 'stop'/s.test(error.message);
}

/** Runs a command body, turning errors into the documented exit codes and messages. */
export async function runCommand(name: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`finetune ${name}: ${error.message}\n(finetune ${name} --help lists the flags)`);
      return EXIT.usage;
    }
    if (isNanStop(error)) {
      const message = (error as Error).message
        .replace("(nanPolicy 'stop')", '(--nan-policy stop)')
        .replace("set nanPolicy: 'skip'", 'pass --nan-policy skip');
      console.error(`finetune ${name}: ${message}`);
      return EXIT.nan;
    }
    const message = dataFlagsInMessage(error instanceof Error ? error.message : String(error));
    if (error instanceof Error && message.startsWith('TrainingArguments: ')) {
      console.error(`finetune ${name}: ${message}`);
      return EXIT.usage;
    }
    console.error(`finetune ${name}: ${message}`);
    if (process.env.FINETUNE_DEBUG && error instanceof Error) console.error(error.stack);
    return EXIT.runtime;
  }
}

// ---- peak memory ---------------------------------------------------------------------------------

/** The process's peak resident set size in bytes (VmHWM on Linux, else getrusage's maxrss). */
export function peakRssBytes(): number {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    if (match) return Number(match[1]) * 1024;
  } catch {
    /* not Linux */
  }
  return process.resourceUsage().maxRSS * 1024;
}

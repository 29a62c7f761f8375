/**
 * Peak memory of a run: how far the process's resident set rose above where it stood when the run
 * began. On Linux the kernel keeps the peak (VmHWM in /proc/self/status) and lets a process reset it
 * to the current RSS by writing 5 to /proc/self/clear_refs, so the figure catches every short spike
 * (backward passes included). Elsewhere, or when clear_refs cannot be written, the RSS is sampled at
 * every training step (process.memoryUsage.rss()), which can miss spikes between samples.
 */
import { readFileSync, writeFileSync } from 'node:fs';

export type PeakMemoryMethod = 'vmhwm' | 'sampled-rss';

function statusKb(field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function resetPeak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** Measures one run's peak RSS increase: start(), sample() from time to time (used by the fallback), stop() → bytes. */
export class PeakMemory {
  #method: PeakMemoryMethod | undefined;
  #base = 0;
  #max = 0;

  /** Which measurement the last start() could use. */
  get method(): PeakMemoryMethod {
    return this.#method ?? (process.platform === 'linux' ? 'vmhwm' : 'sampled-rss');
  }

  start(): void {
    if (resetPeak()) {
      const rss = statusKb('VmRSS');
      if (rss !== undefined) {
        this.#method = 'vmhwm';
        this.#base = rss;
        this.#max = rss;
        return;
      }
    }
    this.#method = 'sampled-rss';
    this.#base = process.memoryUsage.rss();
    this.#max = this.#base;
  }

  sample(): void {
    if (this.#method !== 'sampled-rss') return;
    const rss = process.memoryUsage.rss();
    if (rss > this.#max) this.#max = rss;
  }

  /** The peak RSS minus the RSS at start(), in bytes (≥ 0). */
  stop(): number {
    if (this.#method === 'vmhwm') {
      const peak = statusKb('VmHWM');
      if (peak !== undefined) return Math.max(0, peak - this.#base);
    }
    this.sample();
    return Math.max(0, this.#max - this.#base);
  }
}

/** What the peak-memory column measures, for the output. */
export function describePeakMemory(method: PeakMemoryMethod): string {
  return method === 'vmhwm'
    ? 'peak memory = peak RSS during training (VmHWM in /proc/self/status, reset via /proc/self/clear_refs at the start) minus the RSS at the start'
    : 'peak memory = the highest RSS sampled at each training step (process.memoryUsage.rss()) minus the RSS at the start';
}

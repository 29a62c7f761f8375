/**
 * Number, duration and size text shared by every layer: progress lines, error messages, reports and tables.
 * Everything here is deterministic (no locale): the same value always prints the same way. It imports nothing,
 * so the lowest layers may use it.
 */

/** Groups an integer's digits by thousands: 109483778 → "109,483,778". */
export function formatInteger(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const sign = n < 0 ? '-' : '';
  return (
    sign +
    Math.round(Math.abs(n))
      .toString()
      .replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  );
}

function trimExponential(s: string): string {
  // "1.90e-5" → "1.9e-5", "2.00e+3" → "2e+3"
  return s.replace(/\.?0+e/, 'e');
}

/**
 * A compact human reading of a number with `digits` significant digits: 0.41234 → "0.4123",
 * 1.9e-5 → "1.9e-5", 12345.6 → "12,346", 0 → "0". Non-finite values print as JavaScript does (NaN, Infinity).
 */
export function formatNumber(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs < 1e-3 || abs >= 1e12) return trimExponential(v.toExponential(Math.max(0, digits - 1)));
  if (abs >= 10 ** digits) return formatInteger(v);
  return String(Number(v.toPrecision(digits)));
}

/** A fixed-point reading as fastai prints metrics (6 decimals), falling back to exponential when that would hide the value. */
export function formatFixed(v: number, decimals = 6): string {
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && Math.abs(v) < 10 ** -decimals) return trimExponential(v.toExponential(2));
  if (Math.abs(v) >= 1e9) return trimExponential(v.toExponential(3));
  return v.toFixed(decimals);
}

/** Elapsed time as tqdm and fastai print it (whole seconds, rounded down): "00:42", "12:03", "1:02:03" (hours unpadded), "3d 04:05:06". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  let s = Math.floor(seconds + 1e-9);
  const days = Math.floor(s / 86400);
  s -= days * 86400;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mmss = `${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
  const hms = h > 0 || days > 0 ? `${days > 0 ? String(h).padStart(2, '0') : h}:${mmss}` : mmss;
  return days > 0 ? `${days}d ${hms}` : hms;
}

/** A run's length for tables: "4.2 s" under a minute (where mm:ss would read 00:04), else formatDuration's "2:05". */
export function formatSeconds(seconds: number): string {
  if (Number.isFinite(seconds) && seconds >= 0 && seconds < 59.95) return `${seconds.toFixed(1)} s`;
  return formatDuration(seconds);
}

/** A size in bytes with binary units: 1000 → "1,000 B", 1536 → "1.5 KiB", 3.2e9 → "2.98 GiB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = Math.abs(bytes);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const sign = bytes < 0 ? '-' : '';
  return `${sign}${u === 0 ? formatInteger(v) : String(Number(v.toPrecision(3)))} ${units[u]}`;
}

/** A percentage with enough decimals to tell small shares apart: 0.2700 → "0.27%", 100 → "100%", 0.0012 → "0.0012%". */
export function formatPercent(percent: number): string {
  if (!Number.isFinite(percent)) return String(percent);
  if (percent === 0) return '0%';
  if (Math.abs(percent) >= 10) return `${Number(percent.toFixed(1))}%`;
  if (Math.abs(percent) >= 0.01) return `${Number(percent.toFixed(2))}%`;
  return `${Number(percent.toPrecision(2))}%`;
}

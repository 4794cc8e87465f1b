/**
 * Small numeric helpers for the bench: percentiles of raw samples, medians of rounds, formatting.
 */

/** Nearest-rank percentile of values sorted ascending; `NaN` when there are none. */
export function percentile(sorted: ArrayLike<number>, fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(fraction * sorted.length)));
  return sorted[rank - 1]!;
}

export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 === 1 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2;
}

export function ratio(a: number, b: number): number {
  return b === 0 || !Number.isFinite(a) || !Number.isFinite(b) ? Number.NaN : a / b;
}

export function fixed(value: number, digits = 2): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

export function mib(bytes: number): string {
  return Number.isFinite(bytes) ? (bytes / 1_048_576).toFixed(1) : 'n/a';
}

/** A Markdown table; every row must have as many cells as `head`. */
export function markdownTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Percentiles of each `sliceMs` slice of a run (by send time): the tail of a typical slice. A pause of the whole
 * machine (a VM descheduled by its host) lands in one slice and moves its percentiles only, so the median over
 * slices shows the app's own tail where a percentile over the whole run would show the pause.
 */
export function slicePercentiles(sentAtMs: ArrayLike<number>, latencyMs: ArrayLike<number>, sliceMs: number, fraction: number): number[] {
  const slices: number[][] = [];
  for (let i = 0; i < latencyMs.length; i++) (slices[Math.floor(sentAtMs[i]! / sliceMs)] ??= []).push(latencyMs[i]!);
  // A slice cut short at the end of the run has too few samples for its tail.
  const full = slices.filter((slice) => slice && slice.length >= 0.5 * (slices[0]?.length ?? 0));
  return full.map((slice) => percentile(sortedCopy(slice), fraction));
}

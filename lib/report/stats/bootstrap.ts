/**
 * Percentile-bootstrap interval of the shift of a quantile (second − first), seeded so it is the same on every run.
 * Each resample draws n indices into the sorted sample and walks their counts to the wanted rank: O(n) per resample.
 */
export interface ShiftInterval {
  /** Point estimate: quantile of `second` minus quantile of `first` (nearest rank). */
  shift: number;
  low: number;
  high: number;
}

/** Nearest-rank quantile of an ascending array. */
export function sortedQuantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/**
 * One resample's draws: n indices into `counts` (zeroed first), drawn by mulberry32 from `state`; returns the state
 * after them. The generator of stats/random.ts written out here, not called through its closure: the same numbers
 * (test/statistics.test.ts checks), in half the time (the bootstrap is most of the verdict's time on a big report).
 */
function drawCounts(state: number, n: number, counts: Uint32Array): number {
  counts.fill(0);
  for (let k = 0; k < n; k++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    counts[Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n)]! += 1;
  }
  return state;
}

/** The values of `sorted` at each rank of `ranks` (ascending, 1-based) in the resample whose draws are `counts`. */
function atRanks(sorted: readonly number[], ranks: readonly number[], counts: Uint32Array, out: Float64Array): void {
  const n = sorted.length;
  let seen = 0;
  let next = 0;
  for (let i = 0; i < n && next < ranks.length; i++) {
    seen += counts[i] as number;
    while (next < ranks.length && seen >= (ranks[next] as number)) out[next++] = sorted[i] as number;
  }
  while (next < ranks.length) out[next++] = sorted[n - 1] as number;
}

const rankOf = (q: number, n: number): number => Math.max(1, Math.ceil(q * n));

/**
 * 95% intervals of quantile(second, q) − quantile(first, q) for each q of `quantiles` (ascending), from the same
 * resamples; `null` when a sample is empty.
 */
export function bootstrapQuantileShifts(
  first: readonly number[],
  second: readonly number[],
  quantiles: readonly number[],
  options: { resamples?: number; seed?: number } = {},
): ShiftInterval[] | null {
  if (first.length === 0 || second.length === 0) return null;
  const a = [...first].sort((x, y) => x - y);
  const b = [...second].sort((x, y) => x - y);
  let state = (options.seed ?? 1) >>> 0;
  const resamples = options.resamples ?? 400;
  const countsA = new Uint32Array(a.length);
  const countsB = new Uint32Array(b.length);
  const ranksA = quantiles.map((q) => rankOf(q, a.length));
  const ranksB = quantiles.map((q) => rankOf(q, b.length));
  const shifts = quantiles.map(() => new Float64Array(resamples));
  const fromA = new Float64Array(quantiles.length);
  const fromB = new Float64Array(quantiles.length);
  for (let r = 0; r < resamples; r++) {
    state = drawCounts(state, b.length, countsB);
    atRanks(b, ranksB, countsB, fromB);
    state = drawCounts(state, a.length, countsA);
    atRanks(a, ranksA, countsA, fromA);
    for (let k = 0; k < quantiles.length; k++) shifts[k]![r] = (fromB[k] as number) - (fromA[k] as number);
  }
  return quantiles.map((q, k) => {
    const sorted = (shifts[k] as Float64Array).sort();
    const at = (p: number): number => sorted[Math.min(resamples - 1, Math.max(0, Math.floor(p * resamples)))] as number;
    return { shift: sortedQuantile(b, q) - sortedQuantile(a, q), low: at(0.025), high: at(0.975) };
  });
}

/** 95% interval of quantile(second, q) − quantile(first, q); `null` when a sample is empty. */
export function bootstrapQuantileShift(first: readonly number[], second: readonly number[], q: number, options: { resamples?: number; seed?: number } = {}): ShiftInterval | null {
  return bootstrapQuantileShifts(first, second, [q], options)?.[0] ?? null;
}

/**
 * Percentile-bootstrap interval of the shift of a quantile (second − first), seeded so it is the same on every run.
 * Each resample draws n indices into the sorted sample and walks their counts to the wanted rank: O(n) per resample.
 */
import { seededRandom } from './random.js';

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

/** One resample of `sorted` (n draws with replacement), read at each rank of `ranks` (ascending, 1-based). */
function resampledAtRanks(sorted: readonly number[], ranks: readonly number[], random: () => number, counts: Uint32Array): number[] {
  const n = sorted.length;
  counts.fill(0);
  for (let k = 0; k < n; k++) counts[Math.floor(random() * n)]! += 1;
  const values: number[] = [];
  let seen = 0;
  let next = 0;
  for (let i = 0; i < n && next < ranks.length; i++) {
    seen += counts[i] as number;
    while (next < ranks.length && seen >= (ranks[next] as number)) {
      values.push(sorted[i] as number);
      next++;
    }
  }
  while (values.length < ranks.length) values.push(sorted[n - 1] as number);
  return values;
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
  const random = seededRandom(options.seed ?? 1);
  const resamples = options.resamples ?? 400;
  const countsA = new Uint32Array(a.length);
  const countsB = new Uint32Array(b.length);
  const ranksA = quantiles.map((q) => rankOf(q, a.length));
  const ranksB = quantiles.map((q) => rankOf(q, b.length));
  const shifts = quantiles.map(() => new Float64Array(resamples));
  for (let r = 0; r < resamples; r++) {
    const fromB = resampledAtRanks(b, ranksB, random, countsB);
    const fromA = resampledAtRanks(a, ranksA, random, countsA);
    quantiles.forEach((_, k) => {
      shifts[k]![r] = (fromB[k] as number) - (fromA[k] as number);
    });
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

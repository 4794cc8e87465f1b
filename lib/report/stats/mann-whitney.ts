/**
 * Mann–Whitney U (Wilcoxon rank-sum) test, two-sided, normal approximation with tie and continuity corrections: the
 * same p-value as R's `wilcox.test(x, y, exact = FALSE, correct = TRUE)` and SciPy's
 * `mannwhitneyu(x, y, method="asymptotic")`. Kayenta judges each canary metric with it.
 *
 * It works on counts over shared ordered bins, so it runs on the report's latency histograms (every sample, ties within
 * one 2%-wide bin) as well as on raw samples (one bin per distinct value: the exact textbook statistic).
 */
import { normalTwoSided } from './normal.js';

interface MannWhitneyResult {
  /** U of the first sample: pairs where it is greater, plus half the ties. */
  u: number;
  n1: number;
  n2: number;
  z: number;
  /** Two-sided p-value; 1 when either sample is empty. */
  p: number;
  /** U / (n1·n2): the probability that a value of the first sample exceeds one of the second (ties count half). 0.5 = no shift. */
  probabilityGreater: number;
}

/** The test over counts in the same ordered bins: `first[i]` and `second[i]` values fell in bin i. */
export function mannWhitneyFromBins(first: ArrayLike<number>, second: ArrayLike<number>): MannWhitneyResult {
  let n1 = 0;
  let n2 = 0;
  for (let i = 0; i < first.length; i++) n1 += first[i] ?? 0;
  for (let i = 0; i < second.length; i++) n2 += second[i] ?? 0;
  if (n1 === 0 || n2 === 0) return { u: 0, n1, n2, z: 0, p: 1, probabilityGreater: 0.5 };
  let u = 0;
  let secondBelow = 0;
  let ties = 0;
  const bins = Math.max(first.length, second.length);
  for (let i = 0; i < bins; i++) {
    const a = first[i] ?? 0;
    const b = second[i] ?? 0;
    u += a * (secondBelow + b / 2);
    secondBelow += b;
    const t = a + b;
    ties += t * t * t - t;
  }
  const n = n1 + n2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - ties / (n * (n - 1)));
  if (!(variance > 0)) return { u, n1, n2, z: 0, p: 1, probabilityGreater: u / (n1 * n2) };
  const deviation = Math.abs(u - mean);
  const z = (Math.sign(u - mean) * Math.max(0, deviation - 0.5)) / Math.sqrt(variance);
  return { u, n1, n2, z, p: normalTwoSided(z), probabilityGreater: u / (n1 * n2) };
}

/** The test over raw samples. */
export function mannWhitney(first: readonly number[], second: readonly number[]): MannWhitneyResult {
  const values = [...new Set([...first, ...second])].sort((a, b) => a - b);
  const index = new Map(values.map((v, i) => [v, i]));
  const a = new Float64Array(values.length);
  const b = new Float64Array(values.length);
  for (const v of first) a[index.get(v) as number]! += 1;
  for (const v of second) b[index.get(v) as number]! += 1;
  return mannWhitneyFromBins(a, b);
}

/**
 * Two-sample Kolmogorov–Smirnov test with the asymptotic (Kolmogorov limit) p-value, as R's
 * `ks.test(x, y, exact = FALSE)`: p = Q(√(n·m/(n+m)) · D) with Q(λ) = 2 Σ (−1)^(k−1) e^(−2k²λ²).
 */

interface KolmogorovSmirnovResult {
  /** Largest vertical distance between the two empirical CDFs, 0..1. */
  d: number;
  p: number;
}

/** Survival function of the Kolmogorov distribution (SciPy `kstwobign.sf`). */
export function kolmogorovSurvival(lambda: number): number {
  if (!(lambda > 0)) return 1;
  if (lambda < 0.2) return 1; // the series converges slowly here and the value is 1 to 12 digits
  let sum = 0;
  for (let k = 1; k <= 100; k++) {
    const term = Math.exp(-2 * k * k * lambda * lambda);
    sum += k % 2 === 1 ? term : -term;
    if (term < 1e-17) break;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}

export function kolmogorovSmirnov(first: readonly number[], second: readonly number[]): KolmogorovSmirnovResult {
  const n = first.length;
  const m = second.length;
  if (n === 0 || m === 0) return { d: 0, p: 1 };
  const a = [...first].sort((x, y) => x - y);
  const b = [...second].sort((x, y) => x - y);
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n && j < m) {
    const value = Math.min(a[i] as number, b[j] as number);
    while (i < n && (a[i] as number) <= value) i++;
    while (j < m && (b[j] as number) <= value) j++;
    d = Math.max(d, Math.abs(i / n - j / m));
  }
  return { d, p: kolmogorovSurvival(Math.sqrt((n * m) / (n + m)) * d) };
}

/**
 * Two-proportion z-test with the pooled standard error, two-sided: the p-value of R's `prop.test(correct = FALSE)` and
 * of SciPy's `chi2_contingency(correction=False)` on the 2×2 table.
 */
import { normalTwoSided } from './normal.js';

interface TwoProportionResult {
  /** second rate − first rate. */
  difference: number;
  z: number;
  p: number;
}

export function twoProportionTest(count1: number, total1: number, count2: number, total2: number): TwoProportionResult {
  if (total1 <= 0 || total2 <= 0) return { difference: 0, z: 0, p: 1 };
  const p1 = count1 / total1;
  const p2 = count2 / total2;
  const pooled = (count1 + count2) / (total1 + total2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / total1 + 1 / total2));
  if (!(se > 0)) return { difference: p2 - p1, z: 0, p: 1 };
  const z = (p2 - p1) / se;
  return { difference: p2 - p1, z, p: normalTwoSided(z) };
}

/**
 * Score test of one proportion against a fixed value, two-sided: the test whose inversion is the Wilson interval, so
 * `p < 0.05` exactly when the 95% Wilson interval excludes `expected`.
 */
export function oneProportionTest(count: number, total: number, expected: number): { z: number; p: number } {
  if (total <= 0) return { z: 0, p: 1 };
  const se = Math.sqrt((expected * (1 - expected)) / total);
  const observed = count / total;
  if (!(se > 0)) return { z: 0, p: observed === expected ? 1 : 0 };
  const z = (observed - expected) / se;
  return { z, p: normalTwoSided(z) };
}

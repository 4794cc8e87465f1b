/**
 * Tails of the standard normal distribution. The complementary error function is Numerical Recipes' `erfcc`
 * (Chebyshev fit, fractional error below 1.2e-7 everywhere), the approximation simple-statistics' `errorFunction`
 * uses, written here because that package, loaded with the report's API on the app's thread that mounts the
 * middleware, cost 3 MB of its RSS for these ten lines. Taking erfc directly, not 1 − erf, keeps the relative
 * precision of p-values far below 1e-16 (1 − erf rounds them to 0).
 */

/** erfc(x) for x ≥ 0. */
function erfc(x: number): number {
  const t = 1 / (1 + 0.5 * x);
  const poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * Math.exp(-x * x + poly);
}

/** P(|Z| ≥ |z|) for a standard normal Z. */
export function normalTwoSided(z: number): number {
  if (Number.isNaN(z)) return 1;
  return Math.min(1, Math.max(0, erfc(Math.abs(z) / Math.SQRT2)));
}

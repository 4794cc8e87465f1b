/** A ratio with its 95% Wilson score interval. `rate`, `low` and `high` are `null` when `total` is 0. */
export interface Rate {
  count: number;
  total: number;
  rate: number | null;
  low: number | null;
  high: number | null;
}

/** z for a two-sided 95% interval. */
const Z = 1.959963984540054;

/**
 * `count` out of `total` with its 95% Wilson score interval, which stays inside [0, 1] and behaves at small totals and
 * at rates near 0 or 1, where the normal approximation does not.
 */
export function wilson(count: number, total: number): Rate {
  if (total <= 0) return { count, total, rate: null, low: null, high: null };
  const p = count / total;
  const z2 = Z * Z;
  const denominator = 1 + z2 / total;
  const centre = (p + z2 / (2 * total)) / denominator;
  const half = (Z / denominator) * Math.sqrt((p * (1 - p)) / total + z2 / (4 * total * total));
  // The bounds are exactly 0 and 1 at the extremes; say so rather than leave rounding error (0.9999999999999999).
  const low = count <= 0 ? 0 : Math.max(0, centre - half);
  const high = count >= total ? 1 : Math.min(1, centre + half);
  return { count, total, rate: p, low, high };
}

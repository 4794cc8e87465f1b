/**
 * Tails of the standard normal distribution, from simple-statistics' error function (fractional error below 1.2e-7,
 * so p-values stay meaningful down to about 1e-15; its `cumulativeStdNormalProbability` is a 2-decimal table and is not used).
 */
import { errorFunction } from 'simple-statistics';

/** P(|Z| ≥ |z|) for a standard normal Z. */
export function normalTwoSided(z: number): number {
  if (Number.isNaN(z)) return 1;
  const tail = 1 - errorFunction(Math.abs(z) / Math.SQRT2);
  return Math.min(1, Math.max(0, tail));
}

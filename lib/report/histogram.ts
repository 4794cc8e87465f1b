/**
 * Log-bucketed latency histogram: fixed memory (about 19 KB) whatever the number of samples.
 * Bucket i holds values in [MIN·γ^(i-1), MIN·γ^i) with γ = 1.02; a percentile is the mean of the samples in its bucket,
 * so it is within 2% of the exact nearest-rank value (exact when the bucket holds one distinct value). Max is exact.
 */
import type { LatencyFigures } from './types.js';

const GAMMA = 1.02;
const LOG_GAMMA = Math.log(GAMMA);
/** Values below this (ms) share bucket 0. */
const MIN = 0.01;
/** 0.01 ms .. about 28 hours. */
const BUCKETS = 1 + Math.ceil(Math.log(1e8 / MIN) / LOG_GAMMA);
const CDF_POINTS = 120;

export class LatencyHistogram {
  count = 0;
  max = -Infinity;
  readonly #counts = new Float64Array(BUCKETS);
  readonly #sums = new Float64Array(BUCKETS);

  /** Counts per bucket, in increasing order of value: shared by every histogram, so two can be rank-tested bin by bin. */
  get bins(): ArrayLike<number> {
    return this.#counts;
  }

  add(ms: unknown): void {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return;
    const i = ms < MIN ? 0 : Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(ms / MIN) / LOG_GAMMA));
    this.#counts[i] = (this.#counts[i] ?? 0) + 1;
    this.#sums[i] = (this.#sums[i] ?? 0) + ms;
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  /** Nearest-rank percentile, q in (0, 1]. */
  quantile(q: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      const n = this.#counts[i] ?? 0;
      if (n === 0) continue;
      seen += n;
      if (seen >= rank) return (this.#sums[i] ?? 0) / n;
    }
    return this.max;
  }

  figures(): LatencyFigures {
    const empty = this.count === 0;
    return {
      count: this.count,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p99: this.quantile(0.99),
      max: empty ? null : this.max,
      cdf: this.#cdf(),
    };
  }

  #cdf(): [number, number][] {
    const points: [number, number][] = [];
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      const n = this.#counts[i] ?? 0;
      if (n === 0) continue;
      seen += n;
      points.push([(this.#sums[i] ?? 0) / n, seen / this.count]);
    }
    if (points.length <= CDF_POINTS) return points;
    // Keep the shape: evenly spaced points by rank, always including the last one.
    const kept: [number, number][] = [];
    const step = points.length / CDF_POINTS;
    for (let k = 1; k <= CDF_POINTS; k++) {
      const p = points[Math.min(points.length - 1, Math.round(k * step) - 1)];
      if (p !== undefined && p !== kept[kept.length - 1]) kept.push(p);
    }
    return kept;
  }
}

/**
 * Log-bucketed latency histogram: fixed memory (about 33 KB) whatever the number of samples.
 * Bucket i holds values in [MIN·γ^(i-1), MIN·γ^i) with γ = 1.02; a percentile is the mean of the samples in its bucket,
 * so it is within 2% of the exact nearest-rank value (exact when the bucket holds one distinct value). Max is exact.
 * Bucket sums are compensated (Neumaier), so histograms filled in any order, or in parts and merged, agree to the bit.
 */
import type { LatencyFigures } from './types.js';

const GAMMA = 1.02;
const LOG_GAMMA = Math.log(GAMMA);
/** Values below this (ms) share bucket 0. */
const MIN = 0.01;
/** 0.01 ms .. about 28 hours. */
const BUCKETS = 1 + Math.ceil(Math.log(1e8 / MIN) / LOG_GAMMA);
const CDF_POINTS = 120;

/** Plain data of a histogram, to send between threads: only the buckets in use. */
export interface HistogramState {
  count: number;
  max: number;
  buckets: number[];
  counts: number[];
  sums: number[];
  compensations: number[];
}

export class LatencyHistogram {
  count = 0;
  max = -Infinity;
  readonly #counts = new Float64Array(BUCKETS);
  readonly #sums = new Float64Array(BUCKETS);
  /** Low-order parts lost from each sum (Neumaier's compensation). */
  readonly #compensations = new Float64Array(BUCKETS);

  /** Counts per bucket, in increasing order of value: shared by every histogram, so two can be rank-tested bin by bin. */
  get bins(): ArrayLike<number> {
    return this.#counts;
  }

  add(ms: unknown): void {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return;
    const i = ms < MIN ? 0 : Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(ms / MIN) / LOG_GAMMA));
    this.#counts[i] = (this.#counts[i] ?? 0) + 1;
    this.#addToSum(i, ms);
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  #addToSum(i: number, value: number): void {
    const sum = this.#sums[i] as number;
    const total = sum + value;
    this.#compensations[i] = (this.#compensations[i] as number) + (Math.abs(sum) >= Math.abs(value) ? sum - total + value : value - total + sum);
    this.#sums[i] = total;
  }

  #mean(i: number): number {
    return ((this.#sums[i] as number) + (this.#compensations[i] as number)) / (this.#counts[i] as number);
  }

  state(): HistogramState {
    const state: HistogramState = { count: this.count, max: this.max, buckets: [], counts: [], sums: [], compensations: [] };
    for (let i = 0; i < BUCKETS; i++) {
      if (this.#counts[i] === 0) continue;
      state.buckets.push(i);
      state.counts.push(this.#counts[i] as number);
      state.sums.push(this.#sums[i] as number);
      state.compensations.push(this.#compensations[i] as number);
    }
    return state;
  }

  /** Adds another histogram's samples (its state, or the histogram itself). */
  merge(other: HistogramState | LatencyHistogram): void {
    const state = other instanceof LatencyHistogram ? other.state() : other;
    state.buckets.forEach((i, k) => {
      this.#counts[i] = (this.#counts[i] as number) + (state.counts[k] as number);
      this.#addToSum(i, state.sums[k] as number);
      this.#addToSum(i, state.compensations[k] as number);
    });
    this.count += state.count;
    if (state.max > this.max) this.max = state.max;
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
      if (seen >= rank) return this.#mean(i);
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
      points.push([this.#mean(i), seen / this.count]);
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

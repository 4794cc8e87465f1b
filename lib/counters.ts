/**
 * Counters behind `shadow.stats()` and the periodic summary record.
 */
import type { LatencySummary } from './types.js';

export function increment(counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

/** Shadow latencies of the most recent calls, in a fixed-size ring: memory never grows with traffic. */
export class LatencyWindow {
  #samples: Float64Array;
  #next = 0;
  #count = 0;

  constructor(size = 1024) {
    this.#samples = new Float64Array(size);
  }

  add(ms: number): void {
    this.#samples[this.#next] = ms;
    this.#next = (this.#next + 1) % this.#samples.length;
    this.#count = Math.min(this.#count + 1, this.#samples.length);
  }

  summary(): LatencySummary {
    if (this.#count === 0) return { count: 0, p50: null, p90: null, p99: null };
    const sorted = this.#samples.slice(0, this.#count).sort();
    return { count: this.#count, p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), p99: percentile(sorted, 0.99) };
  }
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: ArrayLike<number>, fraction: number): number {
  const rank = Math.max(1, Math.ceil(fraction * sorted.length));
  return sorted[rank - 1]!;
}

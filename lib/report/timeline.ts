/**
 * Per-period counts for the "over time" charts. Bucket width starts at one second and doubles up a ladder of round
 * widths whenever the span would need more than MAX_BUCKETS, so memory stays flat for logs of any length.
 */
import type { TimelineBucket } from './types.js';

const WEEK = 604800e3;
/**
 * Each width is a multiple of the one before, so buckets merge exactly. The widest (about 1.9 million years) puts the
 * whole Date range (±273,790 years) in a handful of buckets, so no timestamp a log can hold makes thousands of them.
 */
const WIDTHS_MS = [1e3, 5e3, 15e3, 60e3, 300e3, 900e3, 3600e3, 21600e3, 86400e3, WEEK, 4 * WEEK, 52 * WEEK, 520 * WEEK, 5200 * WEEK, 52000 * WEEK, 520000 * WEEK, 5200000 * WEEK, 100000000 * WEEK];
/** Largest time a Date can hold (ms either side of the epoch). */
const MAX_DATE = 8.64e15;
const MAX_BUCKETS = 240;
/** Buckets shown: the width is raised at the end until the span fits. */
const SHOWN_BUCKETS = 60;

type Counts = Omit<TimelineBucket, 'start'>;
type TimelineField = keyof Counts;

/** Plain data of a timeline: its width (an index into the ladder) and the buckets in use. */
export interface TimelineState {
  level: number;
  buckets: [number, Counts][];
}

function zero(): Counts {
  return { requests: 0, comparisons: 0, matches: 0, shadowCalls: 0, shadowErrors: 0, timeouts: 0 };
}

export class Timeline {
  #level = 0;
  #buckets = new Map<number, Counts>();
  #minIndex = Infinity;
  #maxIndex = -Infinity;
  /**
   * The bucket last used, by index: times come nearly in order, so most adds find their bucket here without a map
   * lookup (an index past 2^30 is not a small integer, and may be boxed for each lookup).
   */
  #lastIndex = NaN;
  #lastBucket: Counts | undefined;

  add(time: number, field: TimelineField, amount = 1): void {
    const bucket = this.#bucketAt(time);
    if (bucket !== undefined) bucket[field] += amount;
  }

  /** The counts of the bucket `time` falls in, widening buckets first if the span needs it; undefined for a time off the Date range. */
  #bucketAt(time: number): Counts | undefined {
    if (!Number.isFinite(time) || Math.abs(time) > MAX_DATE) return undefined;
    let index = Math.floor(time / this.#width);
    if (index === this.#lastIndex) return this.#lastBucket;
    if (index < this.#minIndex || index > this.#maxIndex) {
      const min = Math.min(index, this.#minIndex);
      const max = Math.max(index, this.#maxIndex);
      if (max - min + 1 > MAX_BUCKETS && this.#level < WIDTHS_MS.length - 1) {
        this.#coarsen(min, max, MAX_BUCKETS);
        index = Math.floor(time / this.#width);
      }
      this.#minIndex = Math.min(index, this.#minIndex);
      this.#maxIndex = Math.max(index, this.#maxIndex);
    }
    let bucket = this.#buckets.get(index);
    if (bucket === undefined) {
      bucket = zero();
      this.#buckets.set(index, bucket);
    }
    this.#lastIndex = index;
    this.#lastBucket = bucket;
    return bucket;
  }

  state(): TimelineState {
    return { level: this.#level, buckets: [...this.#buckets].map(([index, counts]) => [index, { ...counts }]) };
  }

  /**
   * Adds another timeline's counts. Widths are a ladder of multiples, so its buckets fall whole into this one's once
   * both are at the wider width; the result is the timeline of every time added to either.
   */
  merge(state: TimelineState): void {
    if (state.buckets.length === 0) return;
    const width = WIDTHS_MS[state.level] as number;
    if (state.level > this.#level && Number.isFinite(this.#minIndex)) this.#coarsen(this.#minIndex, this.#maxIndex, MAX_BUCKETS, state.level);
    else if (state.level > this.#level) this.#level = state.level;
    for (const [index, counts] of state.buckets) {
      const bucket = this.#bucketAt(index * width);
      if (bucket === undefined) continue;
      for (const key of Object.keys(counts) as TimelineField[]) bucket[key] += counts[key];
    }
  }

  get #width(): number {
    return WIDTHS_MS[this.#level] as number;
  }

  /** Raises the width until [min, max] (in current indexes) fits in `limit` buckets, and to at least `atLeast`. */
  #coarsen(min: number, max: number, limit: number, atLeast = this.#level): void {
    const minTime = min * this.#width;
    const maxTime = (max + 1) * this.#width - 1;
    let level = Math.max(this.#level, atLeast);
    while (level < WIDTHS_MS.length - 1) {
      const w = WIDTHS_MS[level] as number;
      if (Math.floor(maxTime / w) - Math.floor(minTime / w) + 1 <= limit) break;
      level++;
    }
    if (level === this.#level) return;
    this.#lastIndex = NaN;
    const width = WIDTHS_MS[level] as number;
    const old = this.#buckets;
    const oldWidth = this.#width;
    this.#buckets = new Map();
    for (const [i, counts] of old) {
      const j = Math.floor((i * oldWidth) / width);
      const target = this.#buckets.get(j);
      if (target === undefined) this.#buckets.set(j, counts);
      else for (const key of Object.keys(counts) as TimelineField[]) target[key] += counts[key];
    }
    if (Number.isFinite(this.#minIndex)) {
      this.#minIndex = Math.floor((this.#minIndex * oldWidth) / width);
      this.#maxIndex = Math.floor((this.#maxIndex * oldWidth) / width);
    }
    this.#level = level;
  }

  /** Contiguous buckets (empty ones included), at most SHOWN_BUCKETS. */
  result(): { bucketMs: number; buckets: TimelineBucket[] } {
    if (this.#buckets.size === 0) return { bucketMs: this.#width, buckets: [] };
    this.#coarsen(this.#minIndex, this.#maxIndex, SHOWN_BUCKETS);
    const buckets: TimelineBucket[] = [];
    for (let i = this.#minIndex; i <= this.#maxIndex; i++) {
      // The first bucket of a time near the start of the Date range starts before it: clamp what is printed.
      const start = Math.min(MAX_DATE, Math.max(-MAX_DATE, i * this.#width));
      buckets.push({ start: new Date(start).toISOString(), ...(this.#buckets.get(i) ?? zero()) });
    }
    return { bucketMs: this.#width, buckets };
  }
}

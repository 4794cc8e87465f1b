/**
 * A uniform sample of at most `capacity` values from a stream of any length: the values whose keys hash lowest
 * (bottom-k sampling). Each value's key is a hash of the request it came from, so the sample depends only on which
 * requests were seen, never on their order or on how the logs were shared among threads: two samples merge into
 * exactly the sample of the whole. Memory: 16 bytes per kept value (24 for pairs).
 */

/** Plain data of a sample, to send between threads and merge. */
export interface KeyedSampleState {
  keys: number[];
  values: number[];
  /** Second value of each pair, for paired samples. */
  pairs: number[] | null;
  seen: number;
}

function swapAt(items: number[], i: number, j: number): void {
  const t = items[i] as number;
  items[i] = items[j] as number;
  items[j] = t;
}

/** Bottom-k sample; `paired` keeps a second value with each, drawn together (a score on both sides of one request). */
export class KeyedSample {
  seen = 0;
  readonly #capacity: number;
  /** A max-heap by (key, value, pair): the top is the first value to leave when a lower key comes. */
  readonly #keys: number[] = [];
  readonly #values: number[] = [];
  readonly #pairs: number[] | null;

  constructor(capacity: number, paired = false) {
    this.#capacity = capacity;
    this.#pairs = paired ? [] : null;
  }

  get size(): number {
    return this.#keys.length;
  }

  /** The kept values, in no particular order. */
  get values(): readonly number[] {
    return this.#values;
  }

  /** The second values, index for index with `values` (empty unless paired). */
  get pairs(): readonly number[] {
    return this.#pairs ?? [];
  }

  add(key: number, value: number, pair = 0): void {
    this.seen++;
    this.#offer(key, value, pair);
  }

  state(): KeyedSampleState {
    return { keys: [...this.#keys], values: [...this.#values], pairs: this.#pairs === null ? null : [...this.#pairs], seen: this.seen };
  }

  /** Adds every value of another sample (its state): the result is the sample of both streams. */
  merge(other: KeyedSampleState): void {
    this.seen += other.seen;
    for (let i = 0; i < other.keys.length; i++) this.#offer(other.keys[i] as number, other.values[i] as number, other.pairs?.[i] ?? 0);
  }

  #offer(key: number, value: number, pair: number): void {
    const keys = this.#keys;
    if (keys.length < this.#capacity) {
      keys.push(key);
      this.#values.push(value);
      this.#pairs?.push(pair);
      this.#siftUp(keys.length - 1);
    } else if (keys.length > 0 && this.#above(0, key, value, pair)) {
      keys[0] = key;
      this.#values[0] = value;
      if (this.#pairs !== null) this.#pairs[0] = pair;
      this.#siftDown(0);
    }
  }

  /** Whether the item at `i` orders after (key, value, pair): ties on the key are broken by the values, so the sample is a function of the set alone. */
  #above(i: number, key: number, value: number, pair: number): boolean {
    const k = this.#keys[i] as number;
    if (k !== key) return k > key;
    const v = this.#values[i] as number;
    if (v !== value) return v > value;
    return (this.#pairs?.[i] ?? 0) > pair;
  }

  #greater(i: number, j: number): boolean {
    return this.#above(i, this.#keys[j] as number, this.#values[j] as number, this.#pairs?.[j] ?? 0);
  }

  #swap(i: number, j: number): void {
    // Through a temporary, not a destructuring swap, which V8 does not always compile without an array.
    swapAt(this.#keys, i, j);
    swapAt(this.#values, i, j);
    if (this.#pairs !== null) swapAt(this.#pairs, i, j);
  }

  #siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#greater(i, parent)) return;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #siftDown(i: number): void {
    const n = this.#keys.length;
    for (;;) {
      const left = 2 * i + 1;
      let largest = i;
      if (left < n && this.#greater(left, largest)) largest = left;
      if (left + 1 < n && this.#greater(left + 1, largest)) largest = left + 1;
      if (largest === i) return;
      this.#swap(i, largest);
      i = largest;
    }
  }
}

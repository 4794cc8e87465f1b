/**
 * A first-in first-out queue on a ring of arrays: push and shift in O(1), unlike `Array#shift` (which moves every
 * item) or deleting from the front of a `Map` (whose deleted slots V8 walks again on every iteration). The ring grows by
 * doubling and never shrinks: an array with a moving head, compacted by `slice` and grown again by `push`, put a fresh
 * large object (fresh pages, each a page fault) on the heap at every compaction and growth (measured in a perf profile
 * of the 1M set: with the memory of yielded requests, about 2 % of a report thread's CPU).
 */

/** The first capacity of a ring (a power of two). */
export const RING_START = 1024;

/** Strings, each with a number (a time, a step), in push order; the numbers unboxed in a `Float64Array`. */
export class StampedQueue {
  #ids: (string | undefined)[] = new Array<string | undefined>(RING_START).fill(undefined);
  #stamps = new Float64Array(RING_START);
  #mask = RING_START - 1;
  /** Where the oldest item is. */
  #head = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(id: string, stamp: number): void {
    if (this.#size > this.#mask) this.#grow();
    const at = (this.#head + this.#size) & this.#mask;
    this.#ids[at] = id;
    this.#stamps[at] = stamp;
    this.#size++;
  }

  /** The oldest id, or `undefined` when empty. */
  peekId(): string | undefined {
    return this.#size === 0 ? undefined : this.#ids[this.#head];
  }

  /** The stamp of the oldest id (`NaN` when empty). */
  peekStamp(): number {
    return this.#size === 0 ? NaN : (this.#stamps[this.#head] as number);
  }

  shift(): void {
    if (this.#size === 0) return;
    this.#ids[this.#head] = undefined;
    this.#head = (this.#head + 1) & this.#mask;
    this.#size--;
  }

  clear(): void {
    this.#ids = new Array<string | undefined>(RING_START).fill(undefined);
    this.#stamps = new Float64Array(RING_START);
    this.#mask = RING_START - 1;
    this.#head = 0;
    this.#size = 0;
  }

  /** Twice the capacity, the items in order from index 0. */
  #grow(): void {
    const capacity = 2 * (this.#mask + 1);
    const ids = new Array<string | undefined>(capacity).fill(undefined);
    const stamps = new Float64Array(capacity);
    for (let i = 0; i < this.#size; i++) {
      const from = (this.#head + i) & this.#mask;
      ids[i] = this.#ids[from];
      stamps[i] = this.#stamps[from] as number;
    }
    this.#ids = ids;
    this.#stamps = stamps;
    this.#mask = capacity - 1;
    this.#head = 0;
  }
}

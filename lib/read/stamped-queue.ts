/**
 * A first-in first-out queue on arrays with a moving head: push and shift in amortised O(1), unlike `Array#shift`
 * (which moves every item) or deleting from the front of a `Map` (whose deleted slots V8 walks again on every iteration).
 */

/** Whether to drop the dead front: once it is most of the array, so each item is copied at most once more. */
function worthCompacting(length: number, head: number): boolean {
  return head >= 1024 && head * 2 >= length;
}

/**
 * Strings, each with a number (a time, a step), in push order. Two parallel arrays: no object per item, and the stamps
 * stay unboxed doubles, so a queue of a window's worth of requests costs the garbage collector almost nothing.
 */
export class StampedQueue {
  #ids: (string | undefined)[] = [];
  #stamps: number[] = [];
  #head = 0;

  get size(): number {
    return this.#ids.length - this.#head;
  }

  push(id: string, stamp: number): void {
    this.#ids.push(id);
    this.#stamps.push(stamp);
  }

  /** The oldest id, or `undefined` when empty. */
  peekId(): string | undefined {
    return this.#ids[this.#head];
  }

  /** The stamp of the oldest id (only meaningful when `size > 0`). */
  peekStamp(): number {
    return this.#stamps[this.#head] ?? NaN;
  }

  shift(): void {
    if (this.#head >= this.#ids.length) return;
    this.#ids[this.#head++] = undefined;
    if (worthCompacting(this.#ids.length, this.#head)) {
      this.#ids = this.#ids.slice(this.#head);
      this.#stamps = this.#stamps.slice(this.#head);
      this.#head = 0;
    }
  }

  clear(): void {
    this.#ids = [];
    this.#stamps = [];
    this.#head = 0;
  }
}

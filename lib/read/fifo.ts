/**
 * A first-in first-out queue on an array with a moving head: push and shift in amortised O(1), unlike `Array#shift`
 * (which moves every item) or deleting from the front of a `Map` (whose deleted slots V8 walks again on every iteration).
 */

/** Whether to drop the dead front: once it is most of the array, so each item is copied at most once more. */
function worthCompacting(length: number, head: number): boolean {
  return head >= 1024 && head * 2 >= length;
}

export class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get size(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** The oldest item, or `undefined` when empty. */
  peek(): T | undefined {
    return this.#items[this.#head];
  }

  shift(): void {
    if (this.#head >= this.#items.length) return;
    this.#items[this.#head++] = undefined;
    if (worthCompacting(this.#items.length, this.#head)) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }

  /** The items from the oldest, each once. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i] as T;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}

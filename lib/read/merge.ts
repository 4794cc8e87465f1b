/**
 * Merges the records of several logs by time: the file heads sit in a min-heap by merge time, so each record costs
 * a sift, and reading waits only when one file's buffer runs dry.
 */
import { NEEDS_FILL, type KeyedRecord, type RecordCursor } from './cursor.js';

interface Head {
  cursor: RecordCursor;
  keyed: KeyedRecord;
}

/**
 * The records of all cursors in merge order. Pull with `peek()`; `advance()` moves past the record peeked and returns
 * a promise only when more of a file must be read first.
 */
export class TimeMerge {
  readonly #heap = new HeadHeap();

  private constructor() {}

  static async start(cursors: readonly RecordCursor[]): Promise<TimeMerge> {
    const merge = new TimeMerge();
    for (const cursor of cursors) {
      const keyed = await nextRecord(cursor);
      if (keyed !== undefined) merge.#heap.push({ cursor, keyed });
    }
    return merge;
  }

  /** The next record in time order (ties: the file given first), or `undefined` when every file has ended. */
  peek(): KeyedRecord | undefined {
    return this.#heap.peek()?.keyed;
  }

  advance(): Promise<void> | undefined {
    const head = this.#heap.peek();
    if (head === undefined) return undefined;
    const keyed = head.cursor.next();
    if (keyed === NEEDS_FILL) return nextRecord(head.cursor).then((k) => this.#replace(head, k));
    this.#replace(head, keyed);
    return undefined;
  }

  #replace(head: Head, keyed: KeyedRecord | undefined): void {
    if (keyed === undefined) {
      this.#heap.pop();
    } else {
      // The same file's next record replaces it at the top: one sift instead of a pop and a push.
      head.keyed = keyed;
      this.#heap.replaceTop(head);
    }
  }
}

/** The cursor's next record, reading more of its input as needed; `undefined` at its end. */
async function nextRecord(cursor: RecordCursor): Promise<KeyedRecord | undefined> {
  for (;;) {
    const keyed = cursor.next();
    if (keyed !== NEEDS_FILL) return keyed;
    await cursor.fill();
  }
}

/** Min-heap of file heads by merge time; ties go to the file given first, keeping the merge deterministic. */
class HeadHeap {
  readonly #items: Head[] = [];

  peek(): Head | undefined {
    return this.#items[0];
  }

  push(head: Head): void {
    const items = this.#items;
    items.push(head);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i] as Head, items[parent] as Head)) break;
      [items[i], items[parent]] = [items[parent] as Head, items[i] as Head];
      i = parent;
    }
  }

  pop(): Head | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    items[0] = last;
    this.#siftDown();
    return top;
  }

  /** Re-sorts after the top's key changed. */
  replaceTop(head: Head): void {
    this.#items[0] = head;
    this.#siftDown();
  }

  #siftDown(): void {
    const items = this.#items;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < items.length && before(items[left] as Head, items[smallest] as Head)) smallest = left;
      if (right < items.length && before(items[right] as Head, items[smallest] as Head)) smallest = right;
      if (smallest === i) break;
      [items[i], items[smallest]] = [items[smallest] as Head, items[i] as Head];
      i = smallest;
    }
  }
}

function before(a: Head, b: Head): boolean {
  return a.keyed.key < b.keyed.key || (a.keyed.key === b.keyed.key && a.cursor.index < b.cursor.index);
}

/**
 * Lines written but not yet counted as written: they count only once the path is found to still name the file they
 * went to. A check is due at least every `intervalMs`, as soon as enough bytes wait for one, and at every flush.
 */
import type { Batch } from './log-ledger.js';

export class UncheckedLines {
  batches: Batch[] = [];
  /** A check is due: enough bytes wait, or the interval has passed. */
  due = false;
  #bytes = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #intervalMs: number;
  readonly #dueBytes: number;
  /** Called when the interval makes a check due. */
  readonly #onDue: () => void;

  constructor(intervalMs: number, dueBytes: number, onDue: () => void) {
    this.#intervalMs = intervalMs;
    this.#dueBytes = dueBytes;
    this.#onDue = onDue;
  }

  add(group: Batch[]): void {
    for (const batch of group) {
      this.batches.push(batch);
      this.#bytes += batch.bytes;
    }
    if (this.#bytes >= this.#dueBytes) this.due = true;
  }

  /** Takes every unchecked batch. */
  take(): Batch[] {
    const batches = this.batches;
    this.batches = [];
    this.#bytes = 0;
    return batches;
  }

  /** Takes every unchecked batch for a check: the next one is due after the next interval. */
  takeForCheck(): Batch[] {
    this.due = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batches = this.batches;
    this.batches = [];
    this.#bytes = 0;
    return batches;
  }

  /** Someone waits (a flush) for some of these lines, so they are checked without waiting for the interval. */
  awaited(): boolean {
    for (const batch of this.batches) if (batch.onSettled) return true;
    return false;
  }

  schedule(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.due = true;
      this.#onDue();
    }, this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearTimeout(this.#timer);
  }
}

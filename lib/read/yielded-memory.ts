/**
 * The join's memory of the requests it yielded, to tell a repeated record (a duplicate) from a straggler (late): each
 * requestId with a bit set of the records its entry had, for `REMEMBER_WINDOWS` windows of log time and at most
 * `REMEMBER_WINDOWS` times the count window. Ids wait in a queue in the order they were first yielded, stamped with
 * the watermark of that moment, so forgetting only looks at the front.
 */
import { StampedQueue } from './stamped-queue.js';

/** Yielded requestIds are remembered for this many windows of log time (and at most this many times `maxOpenEntries`). */
export const REMEMBER_WINDOWS = 2;

const BITS = 52;
const BIT = Array.from({ length: BITS }, (_, i) => 2 ** i);

export function hasBit(bits: number, bit: number): boolean {
  return bit >= 0 && Math.floor(bits / (BIT[bit] as number)) % 2 === 1;
}

export function withBit(bits: number, bit: number): number {
  return bit < 0 || hasBit(bits, bit) ? bits : bits + (BIT[bit] as number);
}

export class YieldedMemory {
  readonly #bits = new Map<string, number>();
  readonly #queue = new StampedQueue();
  /** Split reads: when each remembered id was first yielded (the watermark), to judge a repeat's doubt. */
  readonly #yieldedAt: Map<string, number> | null;
  /** Largest number of yielded requestIds remembered at once. */
  peak = 0;
  /** Split reads: repeats whose request one reader of every file may already have forgotten (then it reads alone). */
  doubts = 0;

  constructor(split: boolean) {
    this.#yieldedAt = split ? new Map() : null;
  }

  /** The bits remembered of `id`, or `undefined` when it was not yielded lately. */
  get(id: string): number | undefined {
    return this.#bits.get(id);
  }

  /**
   * Remembers `bits` for `id`, yielded at `watermark` (the bits already remembered of it included: `get` first).
   * `first`: it was not remembered yet; a late entry's id keeps the first one's term.
   */
  remember(id: string, bits: number, watermark: number, first: boolean): void {
    this.#bits.set(id, bits);
    if (!first) return;
    this.#queue.push(id, watermark);
    this.#yieldedAt?.set(id, watermark);
    if (this.#queue.size > this.peak) this.peak = this.#queue.size;
  }

  /** Split reads: counts a doubt when the window of forgetting `id` ended between `before` and `watermark`. */
  doubt(id: string, before: number, watermark: number, windowMs: number): void {
    if (this.#yieldedAt === null) return;
    const forgetEnd = (this.#yieldedAt.get(id) ?? Infinity) + REMEMBER_WINDOWS * windowMs;
    if (forgetEnd >= before && forgetEnd < watermark) this.doubts++;
  }

  /** Forgets the ids yielded before `before`, and the oldest past `max`. */
  forget(before: number, max: number): void {
    const queue = this.#queue;
    for (let id = queue.peekId(); id !== undefined; id = queue.peekId()) {
      if (queue.peekStamp() >= before && queue.size <= max) break;
      this.#bits.delete(id);
      this.#yieldedAt?.delete(id);
      queue.shift();
    }
  }

  clear(): void {
    this.#bits.clear();
    this.#yieldedAt?.clear();
    this.#queue.clear();
  }
}

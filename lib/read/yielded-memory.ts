/**
 * The join's memory of the requests it yielded, to tell a repeated record (a duplicate) from a straggler (late): each
 * requestId with a bit set of the records its entry had, for `REMEMBER_WINDOWS` windows of log time and at most
 * `REMEMBER_WINDOWS` times the count window. Ids are kept in the order they were first yielded, with the watermark of
 * that moment (which only grows), so forgetting only looks at the front.
 */

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

/** Whether to drop the forgotten front of the arrays: once it is most of them, so each item is copied at most once more. */
function worthCompacting(length: number, head: number): boolean {
  return head >= 1024 && head * 2 >= length;
}

/**
 * One map from requestId to its place in arrays kept in the order ids were first yielded (their bits, the watermark
 * then): a second map for the watermark cost a split read as much as the first.
 */
export class YieldedMemory {
  /** Each remembered id's place: its index in the arrays is the place less `#base`. */
  readonly #places = new Map<string, number>();
  #ids: string[] = [];
  #bits: number[] = [];
  /** The watermark each id was first yielded at. */
  #at: number[] = [];
  /** The place of `#ids[0]`, and the index of the oldest id not forgotten. */
  #base = 0;
  #head = 0;
  readonly #split: boolean;
  /** Largest number of yielded requestIds remembered at once. */
  peak = 0;
  /** Split reads: repeats whose request one reader of every file may already have forgotten (then it reads alone). */
  doubts = 0;

  constructor(split: boolean) {
    this.#split = split;
  }

  get #size(): number {
    return this.#ids.length - this.#head;
  }

  /** The bits remembered of `id`, or `undefined` when it was not yielded lately. */
  get(id: string): number | undefined {
    const place = this.#places.get(id);
    return place === undefined ? undefined : this.#bits[place - this.#base];
  }

  /**
   * Remembers `bits` for `id`, yielded at `watermark` (the bits already remembered of it included: `get` first).
   * `first`: it was not remembered yet; a late entry's id keeps the first one's term.
   */
  remember(id: string, bits: number, watermark: number, first: boolean): void {
    if (!first) {
      this.#bits[(this.#places.get(id) as number) - this.#base] = bits;
      return;
    }
    this.#places.set(id, this.#base + this.#ids.length);
    this.#ids.push(id);
    this.#bits.push(bits);
    this.#at.push(watermark);
    if (this.#size > this.peak) this.peak = this.#size;
  }

  /** Split reads: counts a doubt when the window of forgetting `id` ended between `before` and `watermark`. */
  doubt(id: string, before: number, watermark: number, windowMs: number): void {
    if (!this.#split) return;
    const place = this.#places.get(id);
    const forgetEnd = (place === undefined ? Infinity : (this.#at[place - this.#base] as number)) + REMEMBER_WINDOWS * windowMs;
    if (forgetEnd >= before && forgetEnd < watermark) this.doubts++;
  }

  /** Forgets the ids yielded before `before`, and the oldest past `max`. */
  forget(before: number, max: number): void {
    const start = this.#head;
    while (this.#head < this.#ids.length && ((this.#at[this.#head] as number) < before || this.#size > max)) {
      this.#places.delete(this.#ids[this.#head] as string);
      this.#head++;
    }
    if (this.#head !== start && worthCompacting(this.#ids.length, this.#head)) {
      this.#ids = this.#ids.slice(this.#head);
      this.#bits = this.#bits.slice(this.#head);
      this.#at = this.#at.slice(this.#head);
      this.#base += this.#head;
      this.#head = 0;
    }
  }

  clear(): void {
    this.#places.clear();
    this.#base += this.#ids.length;
    this.#ids = [];
    this.#bits = [];
    this.#at = [];
    this.#head = 0;
  }
}

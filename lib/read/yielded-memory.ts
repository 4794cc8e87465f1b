/**
 * The join's memory of the requests it yielded, to tell a repeated record (a duplicate) from a straggler (late): each
 * requestId with a bit set of the records its entry had, for `REMEMBER_WINDOWS` windows of log time and at most
 * `REMEMBER_WINDOWS` times the count window. Ids are kept in the order they were first yielded, with the watermark of
 * that moment (which only grows), so forgetting only looks at the front.
 *
 * The join keeps one map from requestId to its open entry or, once yielded, to its place here (join.ts): one lookup
 * per record tells an open request from a yielded one, and a request costs 6 map operations where a map each took 10.
 */

/** Yielded requestIds are remembered for this many windows of log time (and at most this many times `maxOpenEntries`). */
export const REMEMBER_WINDOWS = 2;

const BITS = 52;
const BIT = Array.from({ length: BITS }, (_, i) => 2 ** i);
/** The bits of a remembered id whose late entry is open now: the entry holds its bits until it closes. */
const OPEN = -1;

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

/** The join's map: an open entry, or the place of a yielded request remembered here. */
export type RequestMap<Entry> = Map<string, Entry | number>;

/** What the memory needs of an open entry: its place here when its request was yielded before and is remembered. */
export interface LateEntry {
  /** Its place here, or -1 (not yielded before, or forgotten since it opened). */
  place: number;
}

/**
 * Places are kept in arrays in the order ids were first yielded (their bits, the watermark then); the place of an id is
 * its index less `#base`.
 */
export class YieldedMemory<Entry extends LateEntry> {
  readonly #map: RequestMap<Entry>;
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
  /** Split reads: repeats whose request a reader of every file may already have forgotten (then it reads alone). */
  doubts = 0;

  constructor(split: boolean, map: RequestMap<Entry>) {
    this.#split = split;
    this.#map = map;
  }

  get #size(): number {
    return this.#ids.length - this.#head;
  }

  /** The bits remembered at `place` (a value of the map that is a number). */
  bitsAt(place: number): number {
    return this.#bits[place - this.#base] as number;
  }

  /** A late entry opened for the id at `place`: until it closes, the entry holds the bits (see `remember`). */
  reopened(place: number): void {
    this.#bits[place - this.#base] = OPEN;
  }

  /**
   * Remembers `bits` for `id`, yielded at `watermark` (the bits already remembered of it included), and maps the id to
   * its place. `place`: where it is remembered already (a late entry keeps the first one's term), or -1.
   */
  remember(id: string, bits: number, watermark: number, place: number): void {
    if (place >= 0) {
      this.#bits[place - this.#base] = bits;
      this.#map.set(id, place);
      return;
    }
    this.#map.set(id, this.#base + this.#ids.length);
    this.#ids.push(id);
    this.#bits.push(bits);
    this.#at.push(watermark);
    if (this.#size > this.peak) this.peak = this.#size;
  }

  /** Split reads: counts a doubt when the window of forgetting the id at `place` ended between `before` and `watermark`. */
  doubt(place: number, before: number, watermark: number, windowMs: number): void {
    if (!this.#split) return;
    const forgetEnd = (this.#at[place - this.#base] as number) + REMEMBER_WINDOWS * windowMs;
    if (forgetEnd >= before && forgetEnd < watermark) this.doubts++;
  }

  /** Forgets the ids yielded before `before`, and the oldest past `max`; an id's open late entry is told it is forgotten. */
  forget(before: number, max: number): void {
    const start = this.#head;
    while (this.#head < this.#ids.length && ((this.#at[this.#head] as number) < before || this.#size > max)) {
      const id = this.#ids[this.#head] as string;
      if (this.#bits[this.#head] === OPEN) (this.#map.get(id) as Entry).place = -1;
      else this.#map.delete(id);
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

  /** Forgets every id (the map is cleared by the join). */
  clear(): void {
    this.#base += this.#ids.length;
    this.#ids = [];
    this.#bits = [];
    this.#at = [];
    this.#head = 0;
  }
}

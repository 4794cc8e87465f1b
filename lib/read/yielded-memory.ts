import { RING_START } from './stamped-queue.js';

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

/** The join's map: an open entry, or the place of a yielded request remembered here. */
export type RequestMap<Entry> = Map<string, Entry | number>;

/** What the memory needs of an open entry: its place here when its request was yielded before and is remembered. */
export interface LateEntry {
  /** Its place here, or -1 (not yielded before, or forgotten since it opened). */
  place: number;
}

/**
 * Places are kept in a ring of arrays (as stamped-queue.ts, for the same reason) in the order ids were first yielded
 * (their bits, the watermark then); places count up from 0, and the oldest remembered is `#first`.
 */
export class YieldedMemory<Entry extends LateEntry> {
  readonly #map: RequestMap<Entry>;
  #ids: (string | undefined)[] = new Array<string | undefined>(RING_START).fill(undefined);
  #bits = new Float64Array(RING_START);
  /** The watermark each id was first yielded at. */
  #at = new Float64Array(RING_START);
  #mask = RING_START - 1;
  /** Where in the ring the oldest remembered id is, its place, and how many are remembered. */
  #start = 0;
  #first = 0;
  #size = 0;
  readonly #split: boolean;
  /** Largest number of yielded requestIds remembered at once. */
  peak = 0;
  /** Split reads: repeats whose request a reader of every file may already have forgotten (then it reads alone). */
  doubts = 0;

  constructor(split: boolean, map: RequestMap<Entry>) {
    this.#split = split;
    this.#map = map;
  }

  /** Where in the ring `place` is. */
  #slot(place: number): number {
    return (this.#start + place - this.#first) & this.#mask;
  }

  /** The bits remembered at `place` (a value of the map that is a number). */
  bitsAt(place: number): number {
    return this.#bits[this.#slot(place)] as number;
  }

  /** A late entry opened for the id at `place`: until it closes, the entry holds the bits (see `remember`). */
  reopened(place: number): void {
    this.#bits[this.#slot(place)] = OPEN;
  }

  /**
   * Remembers `bits` for `id`, yielded at `watermark` (the bits already remembered of it included), and maps the id to
   * its place. `place`: where it is remembered already (a late entry keeps the first one's term), or -1.
   */
  remember(id: string, bits: number, watermark: number, place: number): void {
    if (place >= 0) {
      this.#bits[this.#slot(place)] = bits;
      this.#map.set(id, place);
      return;
    }
    if (this.#size > this.#mask) this.#grow();
    const next = this.#first + this.#size;
    const slot = this.#slot(next);
    this.#ids[slot] = id;
    this.#bits[slot] = bits;
    this.#at[slot] = watermark;
    this.#map.set(id, next);
    if (++this.#size > this.peak) this.peak = this.#size;
  }

  /** Split reads: counts a doubt when the window of forgetting the id at `place` ended between `before` and `watermark`. */
  doubt(place: number, before: number, watermark: number, windowMs: number): void {
    if (!this.#split) return;
    const forgetEnd = (this.#at[this.#slot(place)] as number) + REMEMBER_WINDOWS * windowMs;
    if (forgetEnd >= before && forgetEnd < watermark) this.doubts++;
  }

  /** Forgets the ids yielded before `before`, and the oldest past `max`; an id's open late entry is told it is forgotten. */
  forget(before: number, max: number): void {
    while (this.#size > 0 && ((this.#at[this.#start] as number) < before || this.#size > max)) {
      const id = this.#ids[this.#start] as string;
      if (this.#bits[this.#start] === OPEN) (this.#map.get(id) as Entry).place = -1;
      else this.#map.delete(id);
      this.#ids[this.#start] = undefined;
      this.#start = (this.#start + 1) & this.#mask;
      this.#first++;
      this.#size--;
    }
  }

  /** Forgets every id (the map is cleared by the join). */
  clear(): void {
    this.#first += this.#size;
    this.#ids = new Array<string | undefined>(RING_START).fill(undefined);
    this.#bits = new Float64Array(RING_START);
    this.#at = new Float64Array(RING_START);
    this.#mask = RING_START - 1;
    this.#start = 0;
    this.#size = 0;
  }

  /** Twice the capacity, the places in order from index 0. */
  #grow(): void {
    const capacity = 2 * (this.#mask + 1);
    const ids = new Array<string | undefined>(capacity).fill(undefined);
    const bits = new Float64Array(capacity);
    const at = new Float64Array(capacity);
    for (let i = 0; i < this.#size; i++) {
      const from = (this.#start + i) & this.#mask;
      ids[i] = this.#ids[from];
      bits[i] = this.#bits[from] as number;
      at[i] = this.#at[from] as number;
    }
    this.#ids = ids;
    this.#bits = bits;
    this.#at = at;
    this.#mask = capacity - 1;
    this.#start = 0;
  }
}

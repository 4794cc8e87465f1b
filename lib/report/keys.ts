/**
 * Bounds on keys that come from the logs (routes, targets, labels, paths, status codes, error codes, reasons), so a log
 * full of distinct values cannot grow the report. The keys kept are the smallest ones in code-unit order, whatever the
 * order they came in: a report built in parts (one per thread) and merged keeps exactly the keys, and the counts, of a
 * report built in one pass. A key pushed out is folded into the `other` key by its owner.
 */

/** The `max` smallest keys seen, and what to count a new key under. */
export class KeyCap {
  readonly other: string;
  readonly #max: number;
  readonly #kept = new Set<string>();
  /** The kept keys as a max-heap, so the largest can leave when a smaller one comes. */
  readonly #heap: string[] = [];
  /** Set by `admit` when the key it took pushed another out: fold that one into `other`. */
  evicted: string | undefined;

  constructor(max: number, other: string) {
    this.#max = max;
    this.other = other;
  }

  get keys(): ReadonlySet<string> {
    return this.#kept;
  }

  has(key: string): boolean {
    return this.#kept.has(key);
  }

  /** The key to count `key` under: itself, or `other`. Sets `evicted` (else clears it). */
  admit(key: string): string {
    this.evicted = undefined;
    if (this.#kept.has(key) || key === this.other) return key;
    const heap = this.#heap;
    if (heap.length < this.#max) {
      this.#kept.add(key);
      heap.push(key);
      this.#siftUp(heap.length - 1);
      return key;
    }
    const largest = heap[0] as string;
    if (!(key < largest)) return this.other;
    this.#kept.delete(largest);
    this.#kept.add(key);
    heap[0] = key;
    this.#siftDown(0);
    this.evicted = largest;
    return key;
  }

  #siftUp(i: number): void {
    const heap = this.#heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!((heap[i] as string) > (heap[parent] as string))) return;
      [heap[i], heap[parent]] = [heap[parent] as string, heap[i] as string];
      i = parent;
    }
  }

  #siftDown(i: number): void {
    const heap = this.#heap;
    for (;;) {
      const left = 2 * i + 1;
      let largest = i;
      if (left < heap.length && (heap[left] as string) > (heap[largest] as string)) largest = left;
      if (left + 1 < heap.length && (heap[left + 1] as string) > (heap[largest] as string)) largest = left + 1;
      if (largest === i) return;
      [heap[i], heap[largest]] = [heap[largest] as string, heap[i] as string];
      i = largest;
    }
  }
}

/** Maps a route or target name of another report part onto this report's (the same, or its `other` key). */
export interface KeyMapper {
  route(name: string): string;
  target(name: string): string;
}

/** Counts by a key from the logs, at most `max` keys and `(other)`. A Map, so `__proto__` is a key like any other. */
export class CappedCounts {
  readonly counts = new Map<string, number>();
  readonly #cap: KeyCap;

  constructor(max: number, other = '(other)') {
    this.#cap = new KeyCap(max, other);
  }

  add(key: string, amount = 1): void {
    const kept = this.#cap.admit(key);
    const evicted = this.#cap.evicted;
    if (evicted !== undefined) {
      const n = this.counts.get(evicted) ?? 0;
      this.counts.delete(evicted);
      this.counts.set(this.#cap.other, (this.counts.get(this.#cap.other) ?? 0) + n);
    }
    this.counts.set(kept, (this.counts.get(kept) ?? 0) + amount);
  }

  get total(): number {
    let total = 0;
    for (const n of this.counts.values()) total += n;
    return total;
  }

  /** Keys in code-unit order, as a plain object (`Object.fromEntries` makes `__proto__` an own key, not the prototype). */
  sorted(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  state(): [string, number][] {
    return [...this.counts];
  }

  merge(state: readonly [string, number][]): void {
    for (const [key, n] of state) this.add(key, n);
  }
}

/** The target key of production's own side in a {@link CellMap} (a NUL can start no name a log gives). */
export const PRODUCTION = '\u0000production';
/** The target key of production's replica (`secondary`) in a latency {@link CellMap}: timed by the engine, as candidates are. */
export const SECONDARY = '\u0000secondary';

/** A {@link CellMap}'s cells as plain data: `[route, target, state]`. */
export type CellsState<S> = [string, string, S][];

/** Adds each count of `from` to `into`: the merge of cells that hold only counts. */
export function addCounts<T extends { [key in keyof T]: number }>(into: T, from: T): void {
  for (const key in from) (into[key] as number) += from[key];
}

/**
 * Values per route and target (a candidate's name, or {@link PRODUCTION} for production's own side), created on first
 * use. Folding moves a route's or a target's values into another key with the owner's merge.
 */
export class CellMap<T> {
  readonly #routes = new Map<string, Map<string, T>>();
  readonly #create: () => T;
  readonly #merge: (into: T, from: T) => void;

  constructor(create: () => T, merge: (into: T, from: T) => void) {
    this.#create = create;
    this.#merge = merge;
  }

  get(route: string, target: string): T {
    let targets = this.#routes.get(route);
    if (targets === undefined) {
      targets = new Map();
      this.#routes.set(route, targets);
    }
    let cell = targets.get(target);
    if (cell === undefined) {
      cell = this.#create();
      targets.set(target, cell);
    }
    return cell;
  }

  peek(route: string, target: string): T | undefined {
    return this.#routes.get(route)?.get(target);
  }

  *entries(): IterableIterator<[route: string, target: string, cell: T]> {
    for (const [route, targets] of this.#routes) for (const [target, cell] of targets) yield [route, target, cell];
  }

  /** Every cell of `target` (of every target when undefined) merged into one; of `route` only when given. */
  sum(target: string | undefined, route?: string): T {
    const total = this.#create();
    for (const [r, t, cell] of this.entries()) {
      if ((target === undefined || t === target) && (route === undefined || r === route)) this.#merge(total, cell);
    }
    return total;
  }

  state<S>(toState: (cell: T) => S): CellsState<S> {
    return [...this.entries()].map(([route, target, cell]) => [route, target, toState(cell)]);
  }

  /** Adds cells given as plain data, their keys mapped through this report's caps. */
  mergeState<S>(state: CellsState<S>, keys: KeyMapper, mergeState: (into: T, from: S) => void): void {
    for (const [route, target, cell] of state) {
      const r = keys.route(route);
      mergeState(this.get(r, target === PRODUCTION || target === SECONDARY ? target : keys.target(target)), cell);
    }
  }

  foldRoute(from: string, into: string): void {
    const targets = this.#routes.get(from);
    if (targets === undefined) return;
    this.#routes.delete(from);
    for (const [target, cell] of targets) this.#merge(this.get(into, target), cell);
  }

  foldTarget(from: string, into: string): void {
    for (const targets of this.#routes.values()) {
      const cell = targets.get(from);
      if (cell === undefined) continue;
      targets.delete(from);
      let kept = targets.get(into);
      if (kept === undefined) {
        kept = this.#create();
        targets.set(into, kept);
      }
      this.#merge(kept, cell);
    }
  }
}

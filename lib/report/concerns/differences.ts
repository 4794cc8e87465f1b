/**
 * Differences: how often each path differed between production and a candidate, with example requests (the earliest
 * ones), numeric differences per path, and which paths look like times or ids (suggestions for `ignorePaths`).
 */
import { addExact, exactValue } from '../stats/exact-sum.js';
import { KeyCap, type KeyMapper } from '../keys.js';
import type { DifferingPath, NumericDifference } from '../types.js';
import type { Concern, EntryContext } from './concern.js';

interface PathCounts {
  count: number;
  /** Differences whose two values both look like times or ids. */
  volatile: number;
  /** The earliest requests (log time, then requestId) that differed here. */
  examples: { requestId: string; time: number }[];
  /** `sum`: exact partials (stats/exact-sum.ts), so merged parts give one pass's mean to the last bit. */
  numeric: { count: number; sum: number[]; max: number } | null;
}

interface DifferencesState {
  paths: [string, PathCounts][];
  otherPaths: number;
  truncatedLists: number;
}

/** ISO times, epoch seconds/ms, UUIDs and long hex or token strings: values that differ on every call. */
const TIME_OR_ID = /^(?:\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|[0-9a-f]{16,}$|(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}$)/i;

function looksLikeTimeOrId(value: unknown): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && ((value >= 1e9 && value < 1e10) || (value >= 1e12 && value < 1e13));
  return typeof value === 'string' && value.length <= 200 && TIME_OR_ID.test(value);
}

const OTHER = '\u0000other';

function earlier(a: { requestId: string; time: number }, b: { requestId: string; time: number }): boolean {
  return a.time < b.time || (a.time === b.time && a.requestId < b.requestId);
}

/** Most frequent first, then by path. */
function byCount<T extends { count: number }>(entries: [string, T][]): [string, T][] {
  return entries.sort(([pa, a], [pb, b]) => b.count - a.count || (pa < pb ? -1 : 1));
}

export class DifferencesConcern implements Concern<DifferencesState> {
  readonly paths = new Map<string, PathCounts>();
  otherPaths = 0;
  truncatedLists = 0;
  readonly #cap: KeyCap;
  readonly #examples: number;

  constructor(options: { maxDistinctPaths: number; examplesPerPath: number }) {
    this.#cap = new KeyCap(options.maxDistinctPaths, OTHER);
    this.#examples = options.examplesPerPath;
  }

  add({ entry, time, comparisonTargets }: EntryContext): void {
    entry.comparisons.forEach((comparison, i) => {
      if (comparisonTargets[i] === null) return;
      if (comparison.differencesTruncated === true) this.truncatedLists++;
      if (!Array.isArray(comparison.differences)) return;
      const example = { requestId: entry.requestId, time: Number.isNaN(time) ? Infinity : time };
      for (const difference of comparison.differences as unknown[]) this.#count(difference, example);
    });
  }

  #count(difference: unknown, example: { requestId: string; time: number }): void {
    if (typeof difference !== 'object' || difference === null) return;
    const { path, production, shadow } = difference as { path?: unknown; production?: unknown; shadow?: unknown };
    if (typeof path !== 'string') return;
    const counts = this.#counts(path);
    if (counts === undefined) return;
    counts.count++;
    if (looksLikeTimeOrId(production) && looksLikeTimeOrId(shadow)) counts.volatile++;
    this.#addExample(counts.examples, example);
    if (typeof production === 'number' && typeof shadow === 'number' && Number.isFinite(production) && Number.isFinite(shadow)) {
      const delta = Math.abs(production - shadow);
      const n = (counts.numeric ??= { count: 0, sum: [], max: 0 });
      n.count++;
      addExact(n.sum, delta);
      if (delta > n.max) n.max = delta;
    }
  }

  /** The counts of `path`, or undefined (counted among other paths) when it is beyond the cap. */
  #counts(path: string): PathCounts | undefined {
    const key = this.#cap.admit(path);
    const evicted = this.#cap.evicted;
    if (evicted !== undefined) {
      this.otherPaths += this.paths.get(evicted)?.count ?? 0;
      this.paths.delete(evicted);
    }
    if (key === OTHER) {
      this.otherPaths++;
      return undefined;
    }
    let counts = this.paths.get(key);
    if (counts === undefined) {
      counts = { count: 0, volatile: 0, examples: [], numeric: null };
      this.paths.set(key, counts);
    }
    return counts;
  }

  #addExample(examples: { requestId: string; time: number }[], example: { requestId: string; time: number }): void {
    if (examples.some((e) => e.requestId === example.requestId)) return;
    if (examples.length >= this.#examples && !earlier(example, examples[examples.length - 1] as { requestId: string; time: number })) return;
    examples.push(example);
    examples.sort((a, b) => (earlier(a, b) ? -1 : earlier(b, a) ? 1 : 0));
    if (examples.length > this.#examples) examples.pop();
  }

  /** The `top` most frequent paths. */
  top(top: number): DifferingPath[] {
    return byCount([...this.paths]).slice(0, top).map(([path, p]) => ({ path, count: p.count, exampleRequestIds: p.examples.map((e) => e.requestId) }));
  }

  numeric(top: number): NumericDifference[] {
    const numeric = [...this.paths].flatMap(([path, p]): [string, { count: number; sum: number[]; max: number }][] => (p.numeric === null ? [] : [[path, p.numeric]]));
    return byCount(numeric)
      .slice(0, top)
      .map(([path, n]) => ({ path, count: n.count, meanAbsoluteDifference: exactValue(n.sum) / n.count, maxAbsoluteDifference: n.max }));
  }

  /** The most frequent differing paths whose values mostly look like times or ids. */
  volatilePaths(): string[] {
    return byCount([...this.paths].filter(([, p]) => p.count > 0 && p.volatile / p.count >= 0.8))
      .slice(0, 5)
      .map(([path]) => path);
  }

  state(): DifferencesState {
    return { paths: [...this.paths], otherPaths: this.otherPaths, truncatedLists: this.truncatedLists };
  }

  merge(state: DifferencesState, _keys: KeyMapper): void {
    this.otherPaths += state.otherPaths;
    this.truncatedLists += state.truncatedLists;
    for (const [path, from] of state.paths) {
      const counts = this.#counts(path);
      if (counts === undefined) {
        this.otherPaths += from.count - 1;
        continue;
      }
      counts.count += from.count;
      counts.volatile += from.volatile;
      for (const example of from.examples) this.#addExample(counts.examples, example);
      if (from.numeric !== null) {
        const n = (counts.numeric ??= { count: 0, sum: [], max: 0 });
        n.count += from.numeric.count;
        for (const part of from.numeric.sum) addExact(n.sum, part);
        n.max = Math.max(n.max, from.numeric.max);
      }
    }
  }
}

/**
 * Noise: production against its own replica (`role: "secondary"` records), the floor under any candidate's match rate,
 * per path; and how often candidates' differences were marked as noise at each path.
 */
import { CappedCounts, type KeyMapper } from '../keys.js';
import type { NoiseFigures, Rate } from '../types.js';
import { wilson } from '../wilson.js';
import type { Concern, EntryContext } from './concern.js';

/** Names of replicas listed one by one; the same bound as the reader's learned targets. */
const MAX_SECONDARIES = 64;

interface NoiseState {
  names: [string, number][];
  calls: number;
  errors: number;
  comparisons: number;
  matches: number;
  known: number;
  paths: [string, number][];
  marked: [string, number][];
}

/** The distinct strings of a list (differing paths, noise paths). */
function uniqueStrings(values: unknown, pick: (value: unknown) => unknown): Set<string> {
  const strings = new Set<string>();
  if (!Array.isArray(values)) return strings;
  for (const value of values as unknown[]) {
    const s = pick(value);
    if (typeof s === 'string') strings.add(s);
  }
  return strings;
}

const pathOf = (difference: unknown): unknown => (typeof difference === 'object' && difference !== null ? (difference as { path?: unknown }).path : undefined);

export class NoiseConcern implements Concern<NoiseState> {
  readonly names = new CappedCounts(MAX_SECONDARIES);
  calls = 0;
  errors = 0;
  comparisons = 0;
  matches = 0;
  /** Secondary comparisons without a comparator error: their differences are known. */
  known = 0;
  readonly paths: CappedCounts;
  readonly marked: CappedCounts;

  constructor(options: { maxDistinctPaths: number }) {
    this.paths = new CappedCounts(options.maxDistinctPaths, '\u0000other');
    this.marked = new CappedCounts(options.maxDistinctPaths, '\u0000other');
  }

  add({ entry, comparisonTargets, shadowTargets }: EntryContext): void {
    entry.shadows.forEach((shadow, i) => {
      if (shadowTargets[i] !== null) return;
      this.names.add(String(shadow.target));
      this.calls++;
      if (shadow.error !== undefined) this.errors++;
    });
    entry.comparisons.forEach((comparison, i) => {
      if (comparisonTargets[i] !== null) {
        for (const path of uniqueStrings(comparison.noise, (p) => p)) this.marked.add(path);
        return;
      }
      this.names.add(String(comparison.target));
      this.comparisons++;
      if (comparison.match === true) this.matches++;
      // A comparator error leaves no differences to learn from: it is not evidence that nothing was noisy.
      if (typeof comparison.error !== 'string') {
        this.known++;
        for (const path of uniqueStrings(comparison.differences, pathOf)) this.paths.add(path);
      }
    });
  }

  /** Production against its replica: `total` 0 without one. */
  floor(): Rate {
    return wilson(this.matches, this.comparisons);
  }

  figures(top: number): NoiseFigures | null {
    if (this.calls === 0 && this.comparisons === 0) return null;
    const counted = [...this.paths.counts].filter(([path]) => path !== '\u0000other');
    const paths = counted
      .sort(([pa, a], [pb, b]) => b - a || (pa < pb ? -1 : 1))
      .slice(0, top)
      .map(([path, count]) => ({ path, rate: wilson(count, this.known), markedInCandidates: this.marked.counts.get(path) ?? 0 }));
    return {
      targets: [...this.names.counts.keys()].sort(),
      calls: this.calls,
      errors: this.errors,
      comparisons: this.known,
      paths,
      distinctPaths: counted.length,
      otherPaths: this.paths.counts.get('\u0000other') ?? 0,
    };
  }

  state(): NoiseState {
    const { calls, errors, comparisons, matches, known } = this;
    return { names: this.names.state(), calls, errors, comparisons, matches, known, paths: this.paths.state(), marked: this.marked.state() };
  }

  merge(state: NoiseState, _keys: KeyMapper): void {
    this.names.merge(state.names);
    this.calls += state.calls;
    this.errors += state.errors;
    this.comparisons += state.comparisons;
    this.matches += state.matches;
    this.known += state.known;
    this.paths.merge(state.paths);
    this.marked.merge(state.marked);
  }
}

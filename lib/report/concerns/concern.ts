/**
 * What every part of the report's summary (a concern: totals, agreement, latency, errors, labels, …) implements. The
 * builder hands each joined request to every concern once; concerns keep only bounded, mergeable state, so the
 * summary can be built in parts (one per thread) and merged into exactly the summary of the whole.
 *
 * Adding a concern: a class here implementing `Concern`, one line in `createConcerns` (concerns/index.ts), its figures
 * in the `Report`, and one section in sections.ts.
 */
import type { ShadowLogEntry } from '../../read/types.js';
import type { BreakerRecord, SummaryRecord } from '../../types.js';
import type { KeyMapper } from '../keys.js';

/** One joined request, with what every concern needs worked out once. */
export interface EntryContext {
  entry: ShadowLogEntry;
  /** Log time of the request: its production (or skipped) record's, else its first shadow's or comparison's; NaN if none. */
  time: number;
  /** The route it is counted under (after the route cap). */
  route: string;
  /** A hash of its requestId, the key of the sampled statistics. */
  hash: number;
  /** Per shadow record (same index): the candidate it is counted under, or `null` for a production replica (`secondary`). */
  shadowTargets: (string | null)[];
  /** Per comparison record (same index): as `shadowTargets`. */
  comparisonTargets: (string | null)[];
}

export interface Concern<State = unknown> {
  /** Counts one joined request. */
  add(context: EntryContext): void;
  /** Counts a `summary` or `breaker` record (already inside the period). */
  addRecord?(record: SummaryRecord | BreakerRecord, time: number): void;
  /** A route or target left the cap: move what was counted under `from` into `into`. */
  foldRoute?(from: string, into: string): void;
  foldTarget?(from: string, into: string): void;
  /** Plain data (structured-cloneable) of everything counted. */
  state(): State;
  /** Adds another part's state; its routes and targets go through `keys`. */
  merge(state: State, keys: KeyMapper): void;
}

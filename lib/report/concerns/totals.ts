/**
 * Totals: requests mirrored, production records per route, skips by reason, orphans, the period covered, and what the
 * middleware's `summary` records say was not mirrored.
 */
import type { BreakerRecord, SummaryRecord } from '../../types.js';
import { CappedCounts, type KeyMapper } from '../keys.js';
import type { Report } from '../types.js';
import type { Concern, EntryContext } from './concern.js';

/** Distinct reasons (skips, not mirrored) counted one by one; the rest as `(other)`. */
export const MAX_COUNTED_KEYS = 200;

type Orphans = Report['totals']['orphans'];

interface TotalsState {
  mirrored: number;
  requests: [string, number][];
  skipped: [string, number][];
  notMirrored: [string, number][];
  requestFaults: [string, number][];
  summarySeen: number;
  orphans: Orphans;
  from: number;
  to: number;
}

export class TotalsConcern implements Concern<TotalsState> {
  mirrored = 0;
  /** Production records per route. */
  readonly requests = new Map<string, number>();
  readonly skipped = new CappedCounts(MAX_COUNTED_KEYS);
  readonly notMirrored = new CappedCounts(MAX_COUNTED_KEYS);
  /** Candidate calls that failed by the request's shape (`requestFault`), by error code or status; counted by the builder. */
  readonly requestFaults = new CappedCounts(MAX_COUNTED_KEYS);
  summarySeen = 0;
  readonly orphans: Orphans = { noShadow: 0, noProduction: 0, late: 0 };
  from = Infinity;
  to = -Infinity;
  /** Summary counts are not split by route, so a route filter cannot use them. */
  readonly #countNotMirrored: boolean;

  constructor(options: { route?: string }) {
    this.#countNotMirrored = options.route === undefined;
  }

  get production(): number {
    let total = 0;
    for (const n of this.requests.values()) total += n;
    return total;
  }

  add({ entry, time, route }: EntryContext): void {
    if (Number.isFinite(time)) {
      if (time < this.from) this.from = time;
      if (time > this.to) this.to = time;
    }
    if (entry.orphan === 'no_shadow') this.orphans.noShadow++;
    else if (entry.orphan === 'no_production') this.orphans.noProduction++;
    else if (entry.orphan === 'late') this.orphans.late++;
    if (entry.skipped !== null) {
      this.skipped.add(String(entry.skipped.reason));
    } else if ((entry.production !== null || entry.shadows.length > 0) && entry.orphan !== 'late') {
      // A late entry is the rest of a request already counted.
      this.mirrored++;
    }
    if (entry.production !== null) this.requests.set(route, (this.requests.get(route) ?? 0) + 1);
  }

  addRecord(record: SummaryRecord | BreakerRecord): void {
    if (record.type !== 'summary') return;
    if (typeof record.seen === 'number') this.summarySeen += record.seen;
    if (this.#countNotMirrored && typeof record.notMirrored === 'object' && record.notMirrored !== null) {
      for (const [reason, n] of Object.entries(record.notMirrored)) {
        if (typeof n === 'number') this.notMirrored.add(reason, n);
      }
    }
  }

  foldRoute(from: string, into: string): void {
    const n = this.requests.get(from);
    if (n === undefined) return;
    this.requests.delete(from);
    this.requests.set(into, (this.requests.get(into) ?? 0) + n);
  }

  state(): TotalsState {
    return {
      mirrored: this.mirrored,
      requests: [...this.requests],
      skipped: this.skipped.state(),
      notMirrored: this.notMirrored.state(),
      requestFaults: this.requestFaults.state(),
      summarySeen: this.summarySeen,
      orphans: { ...this.orphans },
      from: this.from,
      to: this.to,
    };
  }

  merge(state: TotalsState, keys: KeyMapper): void {
    this.mirrored += state.mirrored;
    for (const [route, n] of state.requests) {
      const key = keys.route(route);
      this.requests.set(key, (this.requests.get(key) ?? 0) + n);
    }
    this.skipped.merge(state.skipped);
    this.notMirrored.merge(state.notMirrored);
    this.requestFaults.merge(state.requestFaults);
    this.summarySeen += state.summarySeen;
    this.orphans.noShadow += state.orphans.noShadow;
    this.orphans.noProduction += state.orphans.noProduction;
    this.orphans.late += state.orphans.late;
    this.from = Math.min(this.from, state.from);
    this.to = Math.max(this.to, state.to);
  }
}

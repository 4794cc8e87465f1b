/**
 * Latency: per route, production's and each candidate's answers in a histogram (every sample, for percentiles and the
 * rank test) and a keyed sample of up to 4,096 values (for the bootstrap: every value up to that many). Totals per
 * route, per candidate and overall are merges of these cells, made when the report is built.
 */
import { LatencyHistogram, type HistogramState } from '../histogram.js';
import { CellMap, PRODUCTION, type CellsState, type KeyMapper } from '../keys.js';
import { hashString, saltedHash } from '../../read/hash.js';
import { KeyedSample, type KeyedSampleState } from '../stats/keyed-sample.js';
import type { LatencySide } from '../verdict.js';
import type { Concern, EntryContext } from './concern.js';

/** Values kept for the bootstrap: below this many, every one (the interval is then the full-data bootstrap's). */
const SAMPLE = 4_096;

export interface LatencyCell {
  histogram: LatencyHistogram;
  sample: KeyedSample;
}

interface LatencyCellState {
  histogram: HistogramState;
  sample: KeyedSampleState;
}

function newCell(): LatencyCell {
  return { histogram: new LatencyHistogram(), sample: new KeyedSample(SAMPLE) };
}

function mergeCell(into: LatencyCell, from: LatencyCell): void {
  into.histogram.merge(from.histogram);
  into.sample.merge(from.sample.state());
}

/** A sample key per request and side, so production's and each candidate's samples are drawn independently. */
const salts = new Map<string, number>();
function salt(target: string): number {
  let s = salts.get(target);
  if (s === undefined) {
    s = hashString(target);
    if (salts.size < 1024) salts.set(target, s);
  }
  return s;
}

export class LatencyConcern implements Concern<CellsState<LatencyCellState>> {
  readonly cells = new CellMap<LatencyCell>(newCell, mergeCell);

  add({ entry, route, hash, shadowTargets }: EntryContext): void {
    const production = entry.production;
    if (production !== null) this.#sample(this.cells.get(route, PRODUCTION), production.durationMs, hash, PRODUCTION);
    entry.shadows.forEach((shadow, i) => {
      const target = shadowTargets[i];
      // Failed calls have no latency to compare; a production replica is not a candidate.
      if (target === null || target === undefined || shadow.error !== undefined) return;
      this.#sample(this.cells.get(route, target), shadow.durationMs, hash, target);
    });
  }

  #sample(cell: LatencyCell, ms: unknown, hash: number, side: string): void {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return;
    cell.histogram.add(ms);
    cell.sample.add(saltedHash(hash, salt(side)), ms);
  }

  /** Production's (`PRODUCTION`) or a candidate's latency, on one route or (undefined) all, merged from the cells. */
  side(target: string, route?: string): LatencySide & { histogram: LatencyHistogram } {
    const cell = route === undefined ? this.cells.sum(target) : (this.cells.peek(route, target) ?? newCell());
    return { count: cell.histogram.count, bins: cell.histogram.bins, sample: cell.sample.values, histogram: cell.histogram };
  }

  /** Every candidate's answers on `route` (all routes when undefined). */
  candidates(route?: string): LatencyHistogram {
    const total = new LatencyHistogram();
    for (const [r, target, cell] of this.cells.entries()) {
      if (target !== PRODUCTION && (route === undefined || r === route)) total.merge(cell.histogram);
    }
    return total;
  }

  foldRoute(from: string, into: string): void {
    this.cells.foldRoute(from, into);
  }

  foldTarget(from: string, into: string): void {
    this.cells.foldTarget(from, into);
  }

  state(): CellsState<LatencyCellState> {
    return this.cells.state((cell) => ({ histogram: cell.histogram.state(), sample: cell.sample.state() }));
  }

  merge(state: CellsState<LatencyCellState>, keys: KeyMapper): void {
    this.cells.mergeState(state, keys, (into, from) => {
      into.histogram.merge(from.histogram);
      into.sample.merge(from.sample);
    });
  }
}

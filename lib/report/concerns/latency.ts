/**
 * Latency: per route, production's and each candidate's answers in a histogram (every sample, for percentiles and the
 * rank test) and a keyed sample of up to 4,096 values (for the bootstrap: every value up to that many). Totals per
 * route, per candidate and overall are merges of these cells, made when the report is built.
 */
import { LatencyHistogram, type HistogramState } from '../histogram.js';
import { CellMap, PRODUCTION, SECONDARY, type CellsState, type KeyMapper } from '../keys.js';
import { hashString, saltedHash } from '../../read/hash.js';
import { KeyedSample, type KeyedSampleState } from '../stats/keyed-sample.js';
import type { LatencySide } from '../verdict.js';
import type { Concern, EntryContext } from './concern.js';
import type { ShadowRecord } from '../../types.js';

/** Values kept for the bootstrap: below this many, every one (the interval is then the full-data bootstrap's). */
export const LATENCY_SAMPLE = 4_096;

interface LatencyCell {
  histogram: LatencyHistogram;
  sample: KeyedSample;
}

interface LatencyCellState {
  histogram: HistogramState;
  sample: KeyedSampleState;
}

function newCell(): LatencyCell {
  return { histogram: new LatencyHistogram(), sample: new KeyedSample(LATENCY_SAMPLE) };
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

interface LatencyState {
  cells: CellsState<LatencyCellState>;
  delayed: CellsState<number>;
}

/**
 * Latency per route of production (timed in the app), each candidate and production's replica (`secondary`, timed by
 * the engine at the same moments as the candidates, so the like-for-like baseline). A shadow answer the engine read
 * more than `maxEngineDelayMs` late is left out and counted (`delayed`): its time is the engine's, not the model's.
 */
export class LatencyConcern implements Concern<LatencyState> {
  readonly cells = new CellMap<LatencyCell>(newCell, mergeCell);
  /** Per route and candidate (or `SECONDARY`): answers left out because the engine read them late. */
  readonly delayed = new CellMap<{ n: number }>(() => ({ n: 0 }), (into, from) => (into.n += from.n));
  readonly #maxEngineDelayMs: number;

  constructor(options: { maxEngineDelayMs: number }) {
    this.#maxEngineDelayMs = options.maxEngineDelayMs;
  }

  add({ entry, route, hash, shadowTargets }: EntryContext): void {
    const production = entry.production;
    if (production !== null) this.#sample(this.cells.get(route, PRODUCTION), production.durationMs, hash, PRODUCTION);
    for (let i = 0; i < entry.shadows.length; i++) {
      const shadow = entry.shadows[i] as ShadowRecord;
      const candidate = shadowTargets[i];
      const side = candidate ?? (shadow.role === 'secondary' ? SECONDARY : undefined);
      // Failed calls have no latency to compare.
      if (side === undefined || shadow.error !== undefined) continue;
      const delay = shadow.engineDelayMs;
      if (typeof delay === 'number' && delay > this.#maxEngineDelayMs) {
        this.delayed.get(route, side).n++;
        continue;
      }
      this.#sample(this.cells.get(route, side), shadow.durationMs, hash, side);
    }
  }

  /** Answers of `target` (or `SECONDARY`) left out as read late by the engine, on one route or (undefined) all. */
  delayedCount(target: string, route?: string): number {
    return route === undefined ? this.delayed.sum(target).n : (this.delayed.peek(route, target)?.n ?? 0);
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
      if (target !== PRODUCTION && target !== SECONDARY && (route === undefined || r === route)) total.merge(cell.histogram);
    }
    return total;
  }

  foldRoute(from: string, into: string): void {
    this.cells.foldRoute(from, into);
    this.delayed.foldRoute(from, into);
  }

  foldTarget(from: string, into: string): void {
    this.cells.foldTarget(from, into);
    this.delayed.foldTarget(from, into);
  }

  state(): LatencyState {
    return {
      cells: this.cells.state((cell) => ({ histogram: cell.histogram.state(), sample: cell.sample.state() })),
      delayed: this.delayed.state((cell) => cell.n),
    };
  }

  merge(state: LatencyState, keys: KeyMapper): void {
    this.cells.mergeState(state.cells, keys, (into, from) => {
      into.histogram.merge(from.histogram);
      into.sample.merge(from.sample);
    });
    this.delayed.mergeState(state.delayed, keys, (into, n) => (into.n += n));
  }
}

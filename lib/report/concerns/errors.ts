/**
 * Errors: per route, each candidate's calls, calls that got no answer (by code; timeouts apart) and 5xx answers, and
 * production's records and 5xx answers: the error-rate criterion and the error columns of the tables.
 */
import { addCounts, CappedCounts, CellMap, PRODUCTION, type CellsState, type KeyMapper } from '../keys.js';
import type { Concern, EntryContext } from './concern.js';
import { MAX_COUNTED_KEYS } from './totals.js';

interface ErrorCell {
  /** Calls (candidates) or records (production). */
  calls: number;
  /** Calls without an answer. */
  errors: number;
  timeouts: number;
  /** Answers with a 5xx status. */
  serverErrors: number;
}

function newCell(): ErrorCell {
  return { calls: 0, errors: 0, timeouts: 0, serverErrors: 0 };
}

interface ErrorsState {
  cells: CellsState<ErrorCell>;
  byCode: [string, number][];
}

const isServerError = (status: unknown): boolean => typeof status === 'number' && status >= 500;

export class ErrorsConcern implements Concern<ErrorsState> {
  readonly cells = new CellMap<ErrorCell>(newCell, addCounts);
  readonly byCode = new CappedCounts(MAX_COUNTED_KEYS);

  add({ entry, route, shadowTargets }: EntryContext): void {
    const production = entry.production;
    if (production !== null) {
      const cell = this.cells.get(route, PRODUCTION);
      cell.calls++;
      if (isServerError(production.status)) cell.serverErrors++;
    }
    entry.shadows.forEach((shadow, i) => {
      const target = shadowTargets[i];
      if (target === null || target === undefined) return;
      const cell = this.cells.get(route, target);
      cell.calls++;
      if (shadow.error !== undefined) {
        const code = String(shadow.error.code);
        this.byCode.add(code);
        cell.errors++;
        if (code === 'timeout') cell.timeouts++;
      } else if (isServerError(shadow.status)) {
        cell.serverErrors++;
      }
    });
  }

  /** Totals of a candidate (or `PRODUCTION`; every candidate when undefined) on a route (every route when undefined). */
  totals(target: string | undefined, route?: string): ErrorCell {
    if (target !== undefined && route !== undefined) return this.cells.peek(route, target) ?? newCell();
    const total = newCell();
    for (const [r, t, cell] of this.cells.entries()) {
      if ((target === undefined ? t !== PRODUCTION : t === target) && (route === undefined || r === route)) addCounts(total, cell);
    }
    return total;
  }

  foldRoute(from: string, into: string): void {
    this.cells.foldRoute(from, into);
  }

  foldTarget(from: string, into: string): void {
    this.cells.foldTarget(from, into);
  }

  state(): ErrorsState {
    return { cells: this.cells.state((cell) => ({ ...cell })), byCode: this.byCode.state() };
  }

  merge(state: ErrorsState, keys: KeyMapper): void {
    this.cells.mergeState(state.cells, keys, addCounts);
    this.byCode.merge(state.byCode);
  }
}

/**
 * Agreement: per route and candidate, comparisons, matches, and the noise-free matches of comparisons that carry
 * `matchWithoutNoise`; overall, status matches and comparator errors.
 */
import { addCounts, CellMap, type CellsState, type KeyMapper } from '../keys.js';
import type { Concern, EntryContext } from './concern.js';

interface AgreementCell {
  comparisons: number;
  matches: number;
  /** Comparisons that carry `matchWithoutNoise`, and those where it is true. */
  noiseAware: number;
  noiseAwareMatches: number;
}

function newCell(): AgreementCell {
  return { comparisons: 0, matches: 0, noiseAware: 0, noiseAwareMatches: 0 };
}

interface AgreementState {
  cells: CellsState<AgreementCell>;
  statusMatches: number;
  comparatorErrors: number;
}

export class AgreementConcern implements Concern<AgreementState> {
  readonly cells = new CellMap<AgreementCell>(newCell, addCounts);
  statusMatches = 0;
  comparatorErrors = 0;

  add({ entry, route, comparisonTargets }: EntryContext): void {
    entry.comparisons.forEach((comparison, i) => {
      const target = comparisonTargets[i];
      if (target === null || target === undefined) return;
      const cell = this.cells.get(route, target);
      cell.comparisons++;
      if (comparison.match === true) cell.matches++;
      if (typeof comparison.matchWithoutNoise === 'boolean') {
        cell.noiseAware++;
        if (comparison.matchWithoutNoise) cell.noiseAwareMatches++;
      }
      if (comparison.statusMatch === true) this.statusMatches++;
      if (typeof comparison.error === 'string') this.comparatorErrors++;
    });
  }

  /** Counts of a candidate (all when undefined) on a route (all when undefined). */
  totals(target: string | undefined, route?: string): AgreementCell {
    if (target !== undefined && route !== undefined) return this.cells.peek(route, target) ?? newCell();
    return this.cells.sum(target, route);
  }

  foldRoute(from: string, into: string): void {
    this.cells.foldRoute(from, into);
  }

  foldTarget(from: string, into: string): void {
    this.cells.foldTarget(from, into);
  }

  state(): AgreementState {
    return { cells: this.cells.state((cell) => ({ ...cell })), statusMatches: this.statusMatches, comparatorErrors: this.comparatorErrors };
  }

  merge(state: AgreementState, keys: KeyMapper): void {
    this.cells.mergeState(state.cells, keys, addCounts);
    this.statusMatches += state.statusMatches;
    this.comparatorErrors += state.comparatorErrors;
  }
}

/**
 * Similarity: the scores comparison records carry (`compare.similarity`) and the embed and judge hooks' `judgement`
 * records, kept by a `SimilarityAccumulator` (report/similarity.ts), whose state crosses threads as plain data.
 */
import type { JudgementRecord, JudgementSummaryRecord } from '../../types.js';
import type { KeyMapper } from '../keys.js';
import { SimilarityAccumulator, type SimilarityState } from '../similarity.js';
import type { Concern, EntryContext } from './concern.js';

export class SimilarityConcern implements Concern<SimilarityState> {
  readonly accumulator = new SimilarityAccumulator();
  /** Judgement summaries are not split by route, so a route filter leaves them out (as it does the request summaries). */
  readonly #route: string | undefined;

  constructor(options: { route?: string }) {
    this.#route = options.route;
  }

  add({ entry, route, comparisonTargets }: EntryContext): void {
    entry.comparisons.forEach((comparison, i) => {
      // A production replica keeps its own name: it is not one of the capped candidates.
      this.accumulator.addComparison(route, comparisonTargets[i] ?? String(comparison.target), comparison, entry);
    });
  }

  /** A `judgement` or `judgement_summary` record (already inside the period). */
  addJudgement(record: JudgementRecord | JudgementSummaryRecord): void {
    const route = record.type === 'judgement' ? record.route : undefined;
    if (this.#route === undefined || route === this.#route) this.accumulator.addJudgement(record);
  }

  foldRoute(from: string, into: string): void {
    this.accumulator.fold('route', from, into);
  }

  foldTarget(from: string, into: string): void {
    this.accumulator.fold('target', from, into);
  }

  state(): SimilarityState {
    return this.accumulator.state();
  }

  merge(state: SimilarityState, keys: KeyMapper): void {
    this.accumulator.mergeState(state, keys);
  }
}

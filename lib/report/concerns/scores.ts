/**
 * Scores (with a score path): production's and each candidate's numeric score of the same request, a keyed sample of
 * 5,000 pairs per candidate (for the KS test and the PSI) and the mean absolute difference over every pair.
 */
import type { KeyMapper } from '../keys.js';
import { compileLabelPath, evaluatePath, type PathStep } from '../label-path.js';
import { hashString, saltedHash } from '../../read/hash.js';
import { KeyedSample, type KeyedSampleState } from '../stats/keyed-sample.js';
import type { ScoreInput } from '../verdict.js';
import type { Concern, EntryContext } from './concern.js';

const SAMPLE = 5_000;

interface Scores {
  sample: KeyedSample;
  pairs: number;
  sum: number;
}

type ScoresState = [string, { sample: KeyedSampleState; pairs: number; sum: number }][];

const finite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

export class ScoresConcern implements Concern<ScoresState> {
  readonly path: string;
  readonly #steps: PathStep[];
  readonly #targets = new Map<string, Scores>();

  constructor(options: { scorePath: string }) {
    this.path = options.scorePath;
    this.#steps = compileLabelPath(options.scorePath);
  }

  #scores(target: string): Scores {
    let scores = this.#targets.get(target);
    if (scores === undefined) {
      scores = { sample: new KeyedSample(SAMPLE, true), pairs: 0, sum: 0 };
      this.#targets.set(target, scores);
    }
    return scores;
  }

  add({ entry, hash, shadowTargets }: EntryContext): void {
    const production = entry.production;
    if (production === null) return;
    entry.shadows.forEach((shadow, i) => {
      const target = shadowTargets[i];
      if (target === null || target === undefined || shadow.error !== undefined) return;
      const p = evaluatePath(production.response?.body, this.#steps);
      const c = evaluatePath(shadow.response?.body, this.#steps);
      if (!finite(p) || !finite(c)) return;
      const scores = this.#scores(target);
      // One key for both values keeps the pair together in the sample.
      scores.sample.add(saltedHash(hash, hashString(target)), p, c);
      scores.pairs++;
      scores.sum += Math.abs(c - p);
    });
  }

  verdictInput(targets: readonly string[]): ScoreInput[] {
    return targets.flatMap((target) => {
      const s = this.#targets.get(target);
      if (s === undefined) return [];
      return [{ target, path: this.path, production: s.sample.values, candidate: s.sample.pairs, pairs: s.pairs, sumAbsoluteDifference: s.sum }];
    });
  }

  foldTarget(from: string, into: string): void {
    const scores = this.#targets.get(from);
    if (scores === undefined) return;
    this.#targets.delete(from);
    this.#add(into, { sample: scores.sample.state(), pairs: scores.pairs, sum: scores.sum });
  }

  #add(target: string, from: { sample: KeyedSampleState; pairs: number; sum: number }): void {
    const scores = this.#scores(target);
    scores.sample.merge(from.sample);
    scores.pairs += from.pairs;
    scores.sum += from.sum;
  }

  state(): ScoresState {
    return [...this.#targets].map(([target, s]) => [target, { sample: s.sample.state(), pairs: s.pairs, sum: s.sum }]);
  }

  merge(state: ScoresState, keys: KeyMapper): void {
    for (const [target, from] of state) this.#add(keys.target(target), from);
  }
}

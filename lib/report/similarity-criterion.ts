/**
 * The `similarity` criterion: is the candidate as close to production as production is to itself?
 *
 * With a secondary (a production replica) on the route: the effect is the probability that a candidate's score beats a
 * replica's (ties half), 0.5 when the candidate is as close to production as production is to itself. It is a
 * regression below 0.5 − `similarityMargin` (a practical margin on that probability, the same for every measure
 * whatever its spread), and fails when a one-sided Mann-Whitney test also finds the candidate lower. A planted share q
 * of wrong answers among answers otherwise alike brings the effect to about (1 − q) / 2: a 10% share reaches the
 * default margin of 0.05.
 *
 * Without one: a sign test of the median against the threshold the scores were judged by (the median is below it
 * when more than half the comparisons are), with the median's distribution-free 95% interval.
 */
import type { Criteria } from './criteria.js';
import { formatCount, formatPercent } from './format.js';
import { mannWhitneyFromBins } from './stats/mann-whitney.js';
import { normalTwoSided } from './stats/normal.js';
import type { ScoreHistogram, SimilarityInput } from './similarity.js';
import type { CriterionResult, CriterionStatus } from './types.js';

/** The verdict's draft of one criterion (the shape verdict.ts adjusts and scores). */
interface SimilarityDraft {
  result: CriterionResult;
  regression: boolean;
  confirmed: boolean;
  describe: (status: CriterionStatus, p: string) => string;
}

const TEST_WITH_REPLICA = 'one-sided Mann-Whitney U vs the secondary; regression below 0.5 − margin';
const TEST_ALONE = 'sign test of the median vs the threshold';

export function similarityDraft(input: SimilarityInput, criteria: Criteria, several: boolean): SimilarityDraft {
  const scope = `${several ? `${input.target} ` : ''}${input.route ?? 'all routes'}`;
  const secondary = input.secondary !== null && input.secondary.count >= criteria.minSamples ? input.secondary : null;
  const samples = Math.min(input.candidate.count, secondary?.count ?? Infinity);
  if (samples < criteria.minSamples) {
    return {
      result: base(input, 'too_few', secondary ? TEST_WITH_REPLICA : TEST_ALONE, samples, null, null, null, null, null),
      regression: false,
      confirmed: false,
      describe: () => `${scope}: too few scored comparisons (${formatCount(samples)} < ${formatCount(criteria.minSamples)}) to judge similarity`,
    };
  }
  return secondary ? againstReplica(input, secondary, criteria, scope) : againstThreshold(input, scope);
}

function base(input: SimilarityInput, status: CriterionStatus, test: string, samples: number, p: number | null, estimate: number | null, low: number | null, high: number | null, threshold: number | null): CriterionResult {
  return { criterion: 'similarity', target: input.target, route: input.route, label: null, status, reason: '', test, samples, p, adjustedP: null, estimate, low, high, threshold };
}

function againstReplica(input: SimilarityInput, secondary: ScoreHistogram, criteria: Criteria, scope: string): SimilarityDraft {
  const floor = 0.5 - criteria.similarityMargin;
  const { effect, p } = superiority(input.candidate.bins, secondary.bins);
  const candidate = input.candidate.median();
  const replica = secondary.median();
  return {
    result: base(input, 'pass', TEST_WITH_REPLICA, Math.min(input.candidate.count, secondary.count), p, effect, candidate?.low ?? null, candidate?.high ?? null, floor),
    regression: effect < floor,
    confirmed: true,
    describe: (_status, pText) =>
      `${scope}: similarity to production median ${candidate?.median.toFixed(2)} (95% CI ${candidate?.low.toFixed(2)}–${candidate?.high.toFixed(2)}, n=${formatCount(input.candidate.count)}) ` +
      `vs production's own replica ${replica?.median.toFixed(2)} (n=${formatCount(secondary.count)}); ` +
      `P(candidate ≥ replica) = ${effect.toFixed(2)} ${effect < floor ? 'below' : 'at or above'} ${floor.toFixed(2)}, ${pText}`,
  };
}

/**
 * The probability that a candidate score beats a replica score (ties half: 0.5 when the two are alike), and the
 * one-sided p of the candidate's being lower: Mann-Whitney's U, normal approximation with the tie and continuity
 * corrections of mann-whitney.ts. (The margin decides whether a shortfall matters, as the latency threshold does; the
 * test says whether there is one at all.)
 */
export function superiority(candidate: ArrayLike<number>, replica: ArrayLike<number>): { effect: number; p: number } {
  const mw = mannWhitneyFromBins(candidate, replica);
  if (mw.n1 === 0 || mw.n2 === 0) return { effect: 0.5, p: 1 };
  // mann-whitney.ts gives the two-sided p of z; only "the candidate is lower" (z < 0) is one-sided evidence.
  const p = mw.z < 0 ? mw.p / 2 : 1 - mw.p / 2;
  return { effect: mw.probabilityGreater, p: Math.min(1, Math.max(0, p)) };
}

function againstThreshold(input: SimilarityInput, scope: string): SimilarityDraft {
  const scores = input.candidate;
  const threshold = scores.threshold() ?? 0.5;
  const n = scores.count;
  const below = countBelow(scores, threshold);
  // Sign test, normal approximation with continuity correction: H0 P(score < threshold) ≤ 1/2.
  const z = (below - 0.5 - n / 2) / (Math.sqrt(n) / 2);
  const p = z >= 0 ? normalTwoSided(z) / 2 : 1 - normalTwoSided(z) / 2;
  const m = scores.median()!;
  return {
    result: base(input, 'pass', TEST_ALONE, n, Math.min(1, Math.max(0, p)), m.median, m.low, m.high, threshold),
    regression: m.median < threshold,
    confirmed: m.high < threshold,
    describe: (_status, pText) =>
      `${scope}: similarity to production median ${m.median.toFixed(2)} (95% CI ${m.low.toFixed(2)}–${m.high.toFixed(2)}, n=${formatCount(n)}) ` +
      `${m.median < threshold ? 'below' : 'at or above'} the ${threshold} threshold, ${formatPercent(scores.below / n)} under it; ${pText}; ` +
      'no secondary, so not judged against production\'s own variation',
  };
}

function countBelow(scores: ScoreHistogram, threshold: number): number {
  let below = 0;
  for (let i = 0; i < scores.bins.length; i++) if (i / 100 < threshold) below += scores.bins[i]!;
  return below;
}

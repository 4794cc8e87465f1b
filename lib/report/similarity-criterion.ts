/**
 * The `similarity` criterion: is the candidate as close to production as production is to itself?
 *
 * With a secondary (a production replica) on the route: a one-sided Mann-Whitney test of the candidate's scores
 * against the secondary's, the candidate's shifted up by `similarityMargin` (a practical margin: closeness within it
 * counts as the same). The effect is the probability that a candidate score, plus the margin, beats a replica score
 * (ties half); below 0.5 the candidate is further from production than production is from itself.
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
export interface SimilarityDraft {
  result: CriterionResult;
  regression: boolean;
  confirmed: boolean;
  describe: (status: CriterionStatus, p: string) => string;
}

const TEST_WITH_REPLICA = 'one-sided Mann-Whitney U vs the secondary, with the margin';
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
  const shift = Math.round(criteria.similarityMargin * 100);
  // The candidate's bins moved up by the margin (scores above 1 stay in the top bin: they beat every replica score anyway).
  const shifted = new Float64Array(input.candidate.bins.length);
  input.candidate.bins.forEach((n, i) => (shifted[Math.min(shifted.length - 1, i + shift)]! += n));
  const mw = mannWhitneyFromBins(shifted, secondary.bins);
  // One-sided: only "the candidate is lower" is a regression.
  const p = mw.z < 0 ? mw.p / 2 : 1 - mw.p / 2;
  const candidate = input.candidate.median();
  const replica = secondary.median();
  const effect = mw.probabilityGreater;
  return {
    result: base(input, 'pass', TEST_WITH_REPLICA, Math.min(input.candidate.count, secondary.count), Math.min(1, p), effect, candidate?.low ?? null, candidate?.high ?? null, 0.5),
    regression: effect < 0.5,
    confirmed: true,
    describe: (_status, pText) =>
      `${scope}: similarity to production median ${candidate?.median.toFixed(2)} (95% CI ${candidate?.low.toFixed(2)}–${candidate?.high.toFixed(2)}, n=${formatCount(input.candidate.count)}) ` +
      `vs production's own replica ${replica?.median.toFixed(2)} (n=${formatCount(secondary.count)}); ` +
      `P(candidate + ${criteria.similarityMargin} ≥ replica) = ${effect.toFixed(2)}, ${pText}`,
  };
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

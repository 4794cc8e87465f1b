/**
 * The promote/reject call: each criterion judged per candidate and per route with a statistical test and an effect
 * size, p-values adjusted together (Holm), then a Kayenta-style score over the criteria that had enough samples.
 *
 * A criterion is a *regression* when its effect crosses the threshold in the bad direction; it `fail`s when the
 * regression is also significant after the Holm adjustment, and is `marginal` when it is not. Anything else passes.
 */
import type { Criteria } from './criteria.js';
import { formatCount, formatPercent } from './format.js';
import { bootstrapQuantileShifts, sortedQuantile, type BootstrapDraws, type ShiftInterval } from './stats/bootstrap.js';
import { holmAdjust } from './stats/holm.js';
import { kolmogorovSmirnov } from './stats/kolmogorov-smirnov.js';
import { mannWhitneyFromBins } from './stats/mann-whitney.js';
import { populationStabilityIndex } from './stats/psi.js';
import { oneProportionTest, twoProportionTest } from './stats/two-proportion.js';
import type { CriterionKind, CriterionResult, CriterionStatus } from './types.js';
import { wilson } from './wilson.js';
import { similarityDraft } from './similarity-criterion.js';
import type { SimilarityInput } from './similarity.js';

/** One side's latency: every sample in histogram bins (for the rank test) and a bounded uniform sample (for the bootstrap). */
export interface LatencySide {
  count: number;
  bins: ArrayLike<number>;
  sample: readonly number[];
}

/** What the builder hands over for one candidate on one route (`route` null: all routes). */
export interface CellInput {
  target: string;
  route: string | null;
  agreement: { count: number; total: number; basis: 'noise-free match' | 'match' | 'label agreement' };
  /**
   * `production`: the baseline the candidate is judged against — production's replica's answers (`baseline: 'replica'`)
   * or production's own (`'production'`). `delayed`: the candidate's answers left out as read late by the engine.
   */
  latency: { candidate: LatencySide; production: LatencySide; baseline?: 'replica' | 'production'; delayed?: number };
  /** Candidate: calls without an answer or with a 5xx; production: 5xx answers. */
  errors: { candidate: { count: number; total: number }; production: { count: number; total: number } };
}

export interface LabelInput {
  target: string;
  label: string;
  agreed: number;
  total: number;
}

export interface ScoreInput {
  target: string;
  path: string;
  production: readonly number[];
  candidate: readonly number[];
  /** Pairs where both sides had a number at the path, and the sum of |candidate − production| over them. */
  pairs: number;
  sumAbsoluteDifference: number;
}

export interface VerdictInput {
  cells: CellInput[];
  labels: LabelInput[];
  scores: ScoreInput[];
  /**
   * No secondary measured noise, and differing values look like times or ids: a raw match rate cannot tell noise from
   * disagreement, so a raw-match agreement regression is `marginal` at worst, never `fail`.
   */
  unmeasuredNoise?: boolean;
  /** Per candidate and route: similarity scores, with the secondary's when there is one (report/similarity.ts). */
  similarity?: SimilarityInput[];
}

/** A result before the Holm adjustment: `regression` says whether the effect crossed the threshold the wrong way. */
interface Draft {
  result: CriterionResult;
  regression: boolean;
  /** Extra condition for `fail` besides significance (the bootstrap interval excluding 0). */
  confirmed: boolean;
  /** Builds the reason once the adjusted p is known. */
  describe: (status: CriterionStatus, p: string) => string;
}

function formatP(p: number | null): string {
  if (p === null) return 'p –';
  if (p < 1e-9) return 'p < 1e-9';
  if (p < 0.001) return `p = ${p.toExponential(1)}`;
  return `p = ${p.toFixed(3)}`;
}

function where(target: string, route: string | null, several: boolean): string {
  const scope = route ?? 'all routes';
  return several ? `${target} ${scope}` : scope;
}

function tooFew(kind: CriterionKind, target: string, route: string | null, label: string | null, samples: number, test: string, scope: string, minSamples: number): Draft {
  return {
    result: { criterion: kind, target, route, label, status: 'too_few', reason: '', test, samples, p: null, adjustedP: null, estimate: null, low: null, high: null, threshold: null },
    regression: false,
    confirmed: false,
    describe: () => `${scope}: too few samples (${formatCount(samples)} < ${formatCount(minSamples)}) to judge ${kind.replace('_', ' ')}`,
  };
}

function agreementDraft(cell: CellInput, criteria: Criteria, several: boolean, unmeasuredNoise: boolean): Draft {
  const { count, total, basis } = cell.agreement;
  const scope = where(cell.target, cell.route, several);
  const test = 'Wilson interval vs threshold (score test)';
  if (total < criteria.minSamples) return tooFew('agreement', cell.target, cell.route, null, total, test, scope, criteria.minSamples);
  const rate = wilson(count, total);
  const { p } = oneProportionTest(count, total, criteria.minMatch);
  const observed = rate.rate as number;
  return {
    result: {
      criterion: 'agreement', target: cell.target, route: cell.route, label: null, status: 'pass', reason: '', test, samples: total,
      p, adjustedP: null, estimate: observed, low: rate.low, high: rate.high, threshold: criteria.minMatch,
    },
    regression: observed < criteria.minMatch,
    confirmed: !(unmeasuredNoise && basis === 'match'),
    describe: (status, pText) =>
      `${scope}: ${basis} ${formatPercent(observed)} (95% CI ${formatPercent(rate.low)}–${formatPercent(rate.high)}, n=${formatCount(total)}) ` +
      `${observed < criteria.minMatch ? 'below' : 'at or above'} the ${formatPercent(criteria.minMatch)} minimum, ${pText}` +
      (status === 'marginal' && unmeasuredNoise && basis === 'match' ? '; not failed: noise was not measured and differing values look like times or ids' : ''),
  };
}

function labelDraft(label: LabelInput, criteria: Criteria, several: boolean): Draft {
  const scope = `${several ? `${label.target} ` : ''}label ${JSON.stringify(label.label)}`;
  const test = 'Wilson interval vs threshold (score test)';
  if (label.total < criteria.minSamples) return tooFew('label_agreement', label.target, null, label.label, label.total, test, scope, criteria.minSamples);
  const rate = wilson(label.agreed, label.total);
  const observed = rate.rate as number;
  const { p } = oneProportionTest(label.agreed, label.total, criteria.minLabelAgreement);
  return {
    result: {
      criterion: 'label_agreement', target: label.target, route: null, label: label.label, status: 'pass', reason: '', test, samples: label.total,
      p, adjustedP: null, estimate: observed, low: rate.low, high: rate.high, threshold: criteria.minLabelAgreement,
    },
    regression: observed < criteria.minLabelAgreement,
    confirmed: true,
    describe: (_status, pText) =>
      `${scope}: candidate agrees on ${formatPercent(observed)} (95% CI ${formatPercent(rate.low)}–${formatPercent(rate.high)}, n=${formatCount(label.total)}) ` +
      `${observed < criteria.minLabelAgreement ? 'below' : 'at or above'} the ${formatPercent(criteria.minLabelAgreement)} minimum, ${pText}`,
  };
}

function signedMs(ms: number): string {
  return `${ms >= 0 ? '+' : '−'}${Math.abs(ms).toFixed(1)} ms`;
}

function isSlower(shift: number, base: number, criteria: Criteria): boolean {
  if (shift >= criteria.maxLatencyIncreaseMs) return true;
  return shift >= 1 && base > 0 && shift / base >= criteria.maxLatencyIncreaseRatio;
}

/** p99 needs this many samples a side before it can be called a regression: below, it is one or two values. */
const P99_MIN_SAMPLES = 100;

/** What the candidate's latency was judged against, and the bias when that is production's own timing. */
function baselineText(cell: CellInput): string {
  return cell.latency.baseline === 'replica' ? "vs production's replica" : 'vs production, timed in the app; the candidate is timed by the engine';
}

function delayedText(cell: CellInput, criteria: Criteria): string {
  const n = cell.latency.delayed ?? 0;
  return n === 0 ? '' : `; ${formatCount(n)} answer${n === 1 ? '' : 's'} left out (read over ${criteria.maxEngineDelayMs} ms late by the engine)`;
}

/** The quantiles of the latency criterion's bootstrap, and the seed of the `i`th cell's (resamples drawn ahead match them). */
export const LATENCY_QUANTILES: readonly number[] = [0.5, 0.99];
export const latencySeed = (i: number): number => 1 + i;

function latencyDraft(cell: CellInput, criteria: Criteria, several: boolean, seed: number, draws: BootstrapDraws | undefined): Draft {
  const { candidate, production } = cell.latency;
  const scope = where(cell.target, cell.route, several);
  const test = 'Mann-Whitney U + bootstrap of the p50/p99 shift';
  const samples = Math.min(candidate.count, production.count);
  if (samples < criteria.minSamples) {
    const draft = tooFew('latency', cell.target, cell.route, null, samples, test, scope, criteria.minSamples);
    const describe = draft.describe;
    return { ...draft, describe: (status, pText) => describe(status, pText) + delayedText(cell, criteria) };
  }
  const mw = mannWhitneyFromBins(candidate.bins, production.bins);
  const sortedProduction = [...production.sample].sort((a, b) => a - b);
  const base50 = sortedQuantile(sortedProduction, 0.5);
  const base99 = sortedQuantile(sortedProduction, 0.99);
  const [p50, p99All] = bootstrapQuantileShifts(production.sample, candidate.sample, LATENCY_QUANTILES, { seed, draws }) as [ShiftInterval, ShiftInterval];
  const p99 = samples >= P99_MIN_SAMPLES ? p99All : null;
  const slower50 = isSlower(p50.shift, base50, criteria);
  const slower99 = p99 !== null && isSlower(p99.shift, base99, criteria);
  const lead = slower50 || !slower99 ? { name: 'p50', interval: p50, base: base50 } : { name: 'p99', interval: p99 as ShiftInterval, base: base99 };
  const percent = lead.base > 0 ? `${lead.interval.shift >= 0 ? '+' : '−'}${formatCount(Math.abs((lead.interval.shift / lead.base) * 100))}%, ` : '';
  const other = lead.name === 'p50' && p99 !== null ? `, p99 ${signedMs(p99.shift)}` : lead.name === 'p99' ? `, p50 ${signedMs(p50.shift)}` : '';
  return {
    result: {
      criterion: 'latency', target: cell.target, route: cell.route, label: null, status: 'pass', reason: '', test, samples,
      p: mw.p, adjustedP: null, estimate: lead.interval.shift, low: lead.interval.low, high: lead.interval.high, threshold: criteria.maxLatencyIncreaseMs,
    },
    regression: (slower50 || slower99) && mw.probabilityGreater > 0.5,
    confirmed: lead.interval.low > 0,
    describe: (_status, pText) =>
      `${scope}: candidate ${lead.name} ${signedMs(lead.interval.shift)} (${percent}95% CI ${signedMs(lead.interval.low).replace(' ms', '')} ` +
      `to ${signedMs(lead.interval.high)})${other} ${baselineText(cell)}, Mann-Whitney ${pText}${delayedText(cell, criteria)}`,
  };
}

function errorsDraft(cell: CellInput, criteria: Criteria, several: boolean): Draft {
  const { candidate, production } = cell.errors;
  const scope = where(cell.target, cell.route, several);
  const test = 'two-proportion z-test';
  const samples = Math.min(candidate.total, production.total);
  if (samples < criteria.minSamples) return tooFew('errors', cell.target, cell.route, null, samples, test, scope, criteria.minSamples);
  const result = twoProportionTest(production.count, production.total, candidate.count, candidate.total);
  const candidateRate = candidate.count / candidate.total;
  const productionRate = production.count / production.total;
  const points = (result.difference * 100).toFixed(1);
  return {
    result: {
      criterion: 'errors', target: cell.target, route: cell.route, label: null, status: 'pass', reason: '', test, samples,
      p: result.p, adjustedP: null, estimate: result.difference, low: null, high: null, threshold: criteria.maxErrorIncrease,
    },
    regression: result.difference > criteria.maxErrorIncrease,
    confirmed: true,
    describe: (_status, pText) =>
      `${scope}: candidate errors ${formatPercent(candidateRate)} vs production ${formatPercent(productionRate)} ` +
      `(${result.difference >= 0 ? '+' : ''}${points} points), two-proportion ${pText}`,
  };
}

function scoreDraft(score: ScoreInput, criteria: Criteria, several: boolean): Draft {
  const scope = `${several ? `${score.target} ` : ''}${score.path}`;
  const test = 'two-sample Kolmogorov-Smirnov + PSI';
  const samples = Math.min(score.production.length, score.candidate.length);
  if (samples < criteria.minSamples) return tooFew('score_drift', score.target, null, null, samples, test, scope, criteria.minSamples);
  const ks = kolmogorovSmirnov(score.production, score.candidate);
  const psi = populationStabilityIndex(score.production, score.candidate);
  const mad = score.pairs > 0 ? score.sumAbsoluteDifference / score.pairs : 0;
  return {
    result: {
      criterion: 'score_drift', target: score.target, route: null, label: null, status: 'pass', reason: '', test, samples,
      p: ks.p, adjustedP: null, estimate: psi, low: null, high: null, threshold: criteria.maxPsi,
    },
    regression: psi >= criteria.maxPsi,
    confirmed: true,
    describe: (_status, pText) => `${scope}: PSI ${psi.toFixed(3)}, KS D = ${ks.d.toFixed(3)} ${pText}, mean |Δ| ${mad.toPrecision(3)}`,
  };
}

export interface JudgedCriteria {
  criteria: CriterionResult[];
  /** 0–100 over the criteria with enough samples; `null` when none had. */
  score: number | null;
  status: 'pass' | 'marginal' | 'fail' | 'none';
}

const SEVERITY: Record<CriterionStatus, number> = { fail: 0, marginal: 1, too_few: 2, pass: 3 };

/** Judges every criterion, adjusts the p-values together, and scores the whole. `draws`: bootstrap resamples drawn ahead. */
export function judge(input: VerdictInput, criteria: Criteria, draws?: BootstrapDraws): JudgedCriteria {
  const several = new Set(input.cells.map((c) => c.target)).size > 1;
  const drafts: Draft[] = [];
  input.cells.forEach((cell, i) => {
    drafts.push(agreementDraft(cell, criteria, several, input.unmeasuredNoise === true), latencyDraft(cell, criteria, several, latencySeed(i), draws), errorsDraft(cell, criteria, several));
  });
  for (const label of input.labels) drafts.push(labelDraft(label, criteria, several));
  for (const score of input.scores) drafts.push(scoreDraft(score, criteria, several));
  for (const similarity of input.similarity ?? []) drafts.push(similarityDraft(similarity, criteria, several));

  const tested = drafts.filter((d) => d.result.p !== null);
  const adjusted = holmAdjust(tested.map((d) => d.result.p as number));
  tested.forEach((d, i) => {
    d.result.adjustedP = adjusted[i] as number;
  });
  for (const d of drafts) {
    const r = d.result;
    if (r.status !== 'too_few') {
      const significant = (r.adjustedP as number) < criteria.alpha;
      r.status = !d.regression ? 'pass' : significant && d.confirmed ? 'fail' : 'marginal';
    }
    r.reason = d.describe(r.status, `${formatP(r.adjustedP)}${r.status === 'too_few' ? '' : ' (Holm)'}`);
  }
  const results = drafts.map((d) => d.result).sort((a, b) => SEVERITY[a.status] - SEVERITY[b.status]);
  const judged = results.filter((r) => r.status !== 'too_few');
  if (judged.length === 0) return { criteria: results, score: null, status: 'none' };
  const points = judged.reduce((sum, r) => sum + (r.status === 'pass' ? 1 : r.status === 'marginal' ? 0.5 : 0), 0);
  const score = Math.round((1000 * points) / judged.length) / 10;
  const failed = judged.some((r) => r.status === 'fail');
  const status = failed || score < criteria.marginalScore ? 'fail' : score < criteria.passScore ? 'marginal' : 'pass';
  return { criteria: results, score, status };
}

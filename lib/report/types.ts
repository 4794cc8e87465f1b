/**
 * The `Report`: everything the renderers show, computed once from the logs. Plain JSON (no Maps, no Dates), so
 * `--format json` is the report itself.
 */
import type { BreakerState } from '../types.js';
import type { Criteria } from './criteria.js';
import type { ReadStats } from '../read/types.js';
import type { SimilarityFigures } from './similarity.js';
import type { Rate } from './wilson.js';

export type { Rate };

/** Output formats of `renderReport` and of `express-shadow report --format`. */
export type ReportFormat = 'text' | 'json' | 'html';

/** Options of the summary: filters, the gate and the bounds that keep memory flat. */
export interface ReportOptions {
  /** Keep only requests of this route (`production.route`, or the path without its query when no route matched). */
  route?: string;
  /** Keep only requests at or after this time (ISO 8601 string, Date or epoch ms). */
  since?: string | number | Date;
  /** Keep only requests before this time. */
  until?: string | number | Date;
  /** JSON path of the predicted label in both response bodies, e.g. `$.label` or `$.predictions[0].class`. Turns on the confusion matrix. */
  labelPath?: string;
  /**
   * The gate, a ratio 0..1. Every candidate must reach it: the verdict fails when any candidate's match rate is below
   * it, or has no comparisons, or when nothing at all was compared. With one candidate this is the overall match rate.
   * The noise-free rate is judged for a candidate whose comparisons carry `matchWithoutNoise`; the raw rate otherwise.
   */
  failUnderMatch?: number;
  /**
   * Thresholds of the verdict's criteria; missing keys take the defaults (see `DEFAULT_CRITERIA`). With
   * `failUnderMatch`, `minMatch` is the gate's number: one threshold governs agreement (giving both, different, throws).
   */
  criteria?: Partial<Criteria>;
  /**
   * The report is a gate, so it fails closed: with too little evidence to judge (nothing compared, or a candidate
   * with fewer than `minSamples` comparisons) the verdict is `fail`, and `verdict.tooLittleEvidence` says why, instead
   * of "not judged". Default: `true` when `failUnderMatch` or any `criteria` key is given.
   */
  gate?: boolean;
  /** JSON path of a numeric score in both bodies (e.g. `$.score`): adds the score-drift criterion (KS, PSI, mean |Δ|). */
  scorePath?: string;
  /** Differing paths listed. Default 20. */
  topPaths?: number;
  /** Example requestIds kept per differing path. Default 3. */
  examplesPerPath?: number;
  /** Distinct differing paths tracked; further ones are counted together as "other paths". Default 10 000. */
  maxDistinctPaths?: number;
  /** Distinct routes tracked; further ones are counted together as `(other routes)`. Default 200. */
  maxRoutes?: number;
  /** Distinct labels tracked; further ones are counted together as `(other)`. Default 50. */
  maxLabels?: number;
}

/** Latency percentiles in ms; `null` when there were no samples. Accurate to within 2% (log-bucketed histogram); `max` is exact. */
export interface LatencyFigures {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
  /** Cumulative distribution, for charts: `[ms, fraction of requests at or below]`, at most 120 points. */
  cdf: [number, number][];
}

export interface RouteFigures {
  route: string;
  /** Production records of this route. */
  requests: number;
  /** Raw match over this route's comparisons. */
  match: Rate;
  /** `matchWithoutNoise` over the comparisons that carry it; `total` 0 without a replica. The headline figure when present. */
  withoutNoise: Rate;
  shadowErrors: number;
  timeouts: number;
  productionP50: number | null;
  shadowP50: number | null;
  productionP99: number | null;
  shadowP99: number | null;
}

/** One candidate on one route: raw and noise-free match. */
export interface RouteTargetFigures {
  route: string;
  target: string;
  match: Rate;
  withoutNoise: Rate;
}

/** One candidate (a shadow target that is not the production replica), side by side with the others. */
export interface TargetFigures {
  target: string;
  shadowCalls: number;
  /** Raw: `match` over this candidate's comparisons. */
  match: Rate;
  /**
   * `matchWithoutNoise` over this candidate's comparisons that carry it (those where the secondary answered the same
   * request): the match rate once differences production also had against its replica are ignored. `total` 0 without a replica.
   */
  withoutNoise: Rate;
  /** Calls that got no response, any code. */
  shadowErrors: number;
  timeouts: number;
  /** Answers with a 5xx status. */
  shadow5xx: number;
  /** Latency of the calls that got an answer. */
  latency: LatencyFigures;
  /** This candidate's percentile divided by production's (all production records, as in `latency.ratio`). */
  ratio: LatencyRatio;
}

/** One side's percentile divided by production's; `null` when either is missing or production's is 0. */
export interface LatencyRatio {
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

/** Streamed answers of one side: only records that carry `response.stream`. */
export interface StreamSideFigures {
  /** `production`, or the candidate's target name. */
  name: string;
  /** Answers with stream measurements. */
  answers: number;
  /** Time to first byte (`stream.ttfbMs`). */
  ttfb: LatencyFigures;
  /** Total time (`durationMs`) of the same answers. */
  total: LatencyFigures;
  /** Median (nearest rank) of `stream.chunks`; `null` without streamed answers. Within 2%, exact below 50. */
  chunksP50: number | null;
  /** Median of `stream.events` over the answers that counted events (SSE, JSON lines); `null` when none did. */
  eventsP50: number | null;
}

/** Streaming figures; the report's `streaming` is `null` when no record had stream measurements. */
export interface StreamingFigures {
  production: StreamSideFigures;
  /** Every candidate, in target-name order (answers 0 when it never streamed). The secondary is left out. */
  candidates: StreamSideFigures[];
}

/** How often production and its replica differed at one path. */
export interface NoisePath {
  path: string;
  /** `count`: secondary comparisons listing this path; `total`: secondary comparisons with known differences. */
  rate: Rate;
  /** Candidate differences at this path marked as noise (listed in a candidate comparison's `noise`). */
  markedInCandidates: number;
}

/** Production against its own replica (`role: "secondary"` records); the report's `noise` is `null` without them. */
export interface NoiseFigures {
  /** Names of the secondary targets seen. */
  targets: string[];
  /** Secondary calls, and those that got no response. */
  calls: number;
  errors: number;
  /** Secondary comparisons without a comparator error: the denominator of each path's rate. */
  comparisons: number;
  /** Most often noisy first, at most `topPaths`. */
  paths: NoisePath[];
  distinctPaths: number;
  /** Noisy differences at paths beyond `maxDistinctPaths`. */
  otherPaths: number;
}

export interface DifferingPath {
  path: string;
  /** Comparisons that listed this path. */
  count: number;
  exampleRequestIds: string[];
}

export interface NumericDifference {
  path: string;
  /** Differences at this path where both sides were numbers. */
  count: number;
  meanAbsoluteDifference: number;
  maxAbsoluteDifference: number;
}

export interface LabelFigures {
  path: string;
  /** Labels in matrix order (sorted; `(other)` last when the cap was hit). */
  labels: string[];
  /** `matrix[i][j]`: production said `labels[i]`, shadow said `labels[j]`. */
  matrix: number[][];
  agreement: Rate;
  /** Per production label: how often the shadow said the same. */
  perLabel: { label: string; agreement: Rate; shadowCount: number }[];
  /** Pairs left out because the path was missing on one side or both. */
  missing: number;
}

export interface TimelineBucket {
  /** ISO start of the bucket. */
  start: string;
  requests: number;
  comparisons: number;
  matches: number;
  shadowCalls: number;
  shadowErrors: number;
  timeouts: number;
}

export interface BreakerTransition {
  timestamp: string;
  target: string;
  state: BreakerState;
  reason: string;
}

/** How a verdict or a gate came out. `none`: nothing could be judged (not a gate, and no criterion had enough samples). */
export type VerdictStatus = 'pass' | 'marginal' | 'fail' | 'none';

/** The criteria of the verdict. */
export type CriterionKind = 'agreement' | 'label_agreement' | 'latency' | 'errors' | 'score_drift' | 'similarity';

/** `too_few`: fewer samples than `minSamples` on a side; not judged and not scored. */
export type CriterionStatus = 'pass' | 'marginal' | 'fail' | 'too_few';

/** One criterion judged for one candidate on one route (or all routes), label or score path. */
export interface CriterionResult {
  criterion: CriterionKind;
  target: string;
  /** `null`: all routes together. */
  route: string | null;
  /** The production label, for `label_agreement`. */
  label: string | null;
  status: CriterionStatus;
  /** One line for a person, naming the route, label or path. */
  reason: string;
  /** The statistical test used. */
  test: string;
  /** Samples on the smaller side. */
  samples: number;
  /** Raw p-value of the test, and after Holm's adjustment over every criterion of the report. `null` when not judged. */
  p: number | null;
  adjustedP: number | null;
  /**
   * The effect size: agreement rate (`agreement`, `label_agreement`), shift in ms of the p50 or p99 that decided
   * (`latency`), rise of the error rate (`errors`), PSI (`score_drift`); for `similarity`, P(candidate score + margin ≥
   * replica score) with a secondary (threshold 0.5), else the median score (threshold: the records' threshold). `low`/`high`: its 95% interval when there is one.
   */
  estimate: number | null;
  low: number | null;
  high: number | null;
  /** The threshold it was judged against. */
  threshold: number | null;
}

/** The legacy `failUnderMatch` gate. */
export interface MatchGate {
  status: 'pass' | 'fail';
  threshold: number;
  /** Candidates below it (or without comparisons), in target-name order. */
  failing: string[];
  headline: string;
}

export interface Verdict {
  /** Worst of the gate and the criteria. Exit code 1 when `fail`. */
  status: VerdictStatus;
  /** Kayenta-style: 100 × (passes + ½ marginals) / criteria judged; `null` when none was judged. */
  score: number | null;
  failUnderMatch: number | null;
  /** The report was used as a gate (`ReportOptions.gate`), so it fails closed. */
  gated: boolean;
  /** Set when the report is a gate and there was too little evidence to judge: why. The verdict is then `fail`. */
  tooLittleEvidence: string | null;
  /** Candidates that fail the gate or a criterion, in target-name order. */
  failing: string[];
  /** One sentence for a person: the gate's when one was set, else the match rate (noise-free when measured). */
  headline: string;
  /** One sentence on the criteria: status, score and the first failing reasons. */
  summary: string;
  gate: MatchGate | null;
  /** Every criterion, failures first. */
  criteria: CriterionResult[];
  /** The thresholds judged against. */
  thresholds: Criteria;
  /** Whether match figures lead with the noise-free rate (comparisons carry `matchWithoutNoise`). */
  noiseFree: boolean;
  /** Set when noise could not be measured (no secondary): what to do about it. */
  noiseNote: string | null;
  /** Frequently differing paths whose values look like times or ids: candidates for `ignorePaths` when there is no secondary. */
  suggestedIgnorePaths: string[];
}

export interface Report {
  /** Bumped when a field changes meaning. */
  version: 1;
  verdict: Verdict;
  filters: { route: string | null; since: string | null; until: string | null; labelPath: string | null; scorePath: string | null };
  /** First and last request time kept. */
  period: { from: string | null; to: string | null };
  totals: {
    /** mirrored + skipped + not mirrored (see docs): every request the middleware saw, as far as the logs tell. */
    requestsSeen: number;
    /** Sum of `summary.seen`, as written by the middleware; a cross-check, 0 when no summary was logged. */
    summarySeen: number;
    /** Requests with a production or shadow record. */
    mirrored: number;
    /** Production records. */
    production: number;
    shadowCalls: number;
    comparisons: number;
    /** Comparisons where a custom comparator (or transform) threw; they count as mismatches. */
    comparatorErrors: number;
    skipped: number;
    skippedByReason: Record<string, number>;
    /** From `summary` records; not per route, so left out (0) when `route` is set. */
    notMirrored: number;
    notMirroredByReason: Record<string, number>;
    shadowErrors: number;
    shadowErrorsByCode: Record<string, number>;
    /**
     * Shadow calls that failed because of the request's shape, not the model (`requestFault` on the shadow record: a
     * request the engine could not send, or the shadow's HTTP server refusing it). Kept out of `shadowCalls`,
     * `shadowErrors`, the match rates, latency and every criterion of the verdict; by error code or status here.
     */
    requestFaults: number;
    requestFaultsByReason: Record<string, number>;
    timeouts: number;
    /** Shadow answers with a 5xx status. */
    shadow5xx: number;
    orphans: { noShadow: number; noProduction: number; late: number };
  };
  match: {
    /** Over comparison records of the shadow (not of a `secondary` production replica). */
    overall: Rate;
    statusMatch: Rate;
    /** Production against its own replica (`role: "secondary"` records): the noise floor. `total` 0 without a replica. */
    secondary: Rate;
    /** `matchWithoutNoise` over the comparisons that carry it: the match rate once paths that differ between production and its replica are ignored. */
    withoutNoise: Rate;
    byRoute: RouteFigures[];
    /** Per route × candidate, routes in `byRoute` order. */
    byRouteTarget: RouteTargetFigures[];
    /** Per candidate, in target-name order; the secondary is not a candidate. */
    byTarget: TargetFigures[];
  };
  /** Rows: production status; columns: shadow status, or the error code when the shadow failed. */
  statusAgreement: { production: string[]; shadow: string[]; counts: number[][] };
  latency: {
    production: LatencyFigures;
    shadow: LatencyFigures;
    /** Shadow percentile divided by the production one. */
    ratio: LatencyRatio;
  };
  /** Time to first byte, total time, chunks and events of streamed answers; `null` when no record had stream measurements. */
  streaming: StreamingFigures | null;
  /** Text similarity (`compare.similarity` scores) and the embed and judge hooks' scores; `null` when the logs have none. */
  similarity: SimilarityFigures | null;
  /** Per-path noise from the secondary's comparisons; `null` when there were none. */
  noise: NoiseFigures | null;
  differences: {
    paths: DifferingPath[];
    distinctPaths: number;
    /** Differences at paths beyond `maxDistinctPaths`. */
    otherPaths: number;
    /** Comparisons whose list of differences was cut by the middleware. */
    truncatedLists: number;
    numeric: NumericDifference[];
  };
  labels: LabelFigures | null;
  timeline: { bucketMs: number; buckets: TimelineBucket[] };
  breakers: {
    transitions: BreakerTransition[];
    /** Transitions beyond the first 50 are counted, not listed. */
    moreTransitions: number;
    /** From `summary.breakerOpen`: requests not sent per target because its breaker was open. */
    openDrops: Record<string, number>;
  };
  reading: ReadStats | null;
}

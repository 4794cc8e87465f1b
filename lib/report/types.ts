/**
 * The `Report`: everything the renderers show, computed once from the logs. Plain JSON (no Maps, no Dates), so
 * `--format json` is the report itself.
 */
import type { BreakerState } from '../types.js';
import type { ReadStats } from '../read/types.js';

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
  /** The gate: the verdict fails when the match rate is below this ratio (0..1), or when nothing was compared. */
  failUnderMatch?: number;
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

/** A ratio with its 95% Wilson score interval. `rate`, `low` and `high` are `null` when `total` is 0. */
export interface Rate {
  count: number;
  total: number;
  rate: number | null;
  low: number | null;
  high: number | null;
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
  match: Rate;
  shadowErrors: number;
  timeouts: number;
  productionP50: number | null;
  shadowP50: number | null;
  productionP99: number | null;
  shadowP99: number | null;
}

export interface TargetFigures {
  target: string;
  shadowCalls: number;
  match: Rate;
  shadowErrors: number;
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

/** How the gate came out. `none` when no `failUnderMatch` was set. */
export type VerdictStatus = 'pass' | 'fail' | 'none';

export interface Verdict {
  status: VerdictStatus;
  failUnderMatch: number | null;
  /** One sentence for a person. */
  headline: string;
}

export interface Report {
  /** Bumped when a field changes meaning. */
  version: 1;
  verdict: Verdict;
  filters: { route: string | null; since: string | null; until: string | null; labelPath: string | null };
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
    byTarget: TargetFigures[];
  };
  /** Rows: production status; columns: shadow status, or the error code when the shadow failed. */
  statusAgreement: { production: string[]; shadow: string[]; counts: number[][] };
  latency: {
    production: LatencyFigures;
    shadow: LatencyFigures;
    /** Shadow percentile divided by the production one. */
    ratio: { p50: number | null; p90: number | null; p99: number | null; max: number | null };
  };
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

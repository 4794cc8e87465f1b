/**
 * The `Report` from the concerns' counts: each part of it is one concern's figures, except the route and candidate
 * tables, whose columns come from several (requests from totals, match from agreement, errors, latency).
 */
import type { ReadStats } from '../read/types.js';
import { assembleVerdict } from './assemble-verdict.js';
import { PRODUCTION, SECONDARY } from './keys.js';
import type { Concerns, ResolvedReportOptions } from './concerns/index.js';
import type { LatencyFigures, LatencyRatio, Report, RouteFigures, RouteTargetFigures, TargetFigures } from './types.js';
import type { BootstrapDraws } from './stats/bootstrap.js';
import { judge, latencySeed, type CellInput, type VerdictInput } from './verdict.js';
import { wilson } from './wilson.js';

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Candidates in name order: every target a candidate shadow or comparison was counted under. */
function targetsOf(c: Concerns): string[] {
  const names = new Set<string>();
  for (const [, target] of c.errors.cells.entries()) if (target !== PRODUCTION) names.add(target);
  for (const [, target] of c.agreement.cells.entries()) names.add(target);
  return [...names].sort(byName);
}

function ratiosTo(production: LatencyFigures): (side: LatencyFigures) => LatencyRatio {
  const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null || b === 0 ? null : a / b);
  return (side) => ({ p50: ratio(side.p50, production.p50), p90: ratio(side.p90, production.p90), p99: ratio(side.p99, production.p99), max: ratio(side.max, production.max) });
}

/** Routes with production records, comparisons or shadow errors; most requests first. */
function routesInOrder(c: Concerns): string[] {
  const names = new Set([...c.totals.requests.keys()]);
  for (const [route] of c.agreement.cells.entries()) names.add(route);
  for (const [route] of c.errors.cells.entries()) names.add(route);
  const requests = (route: string): number => c.totals.requests.get(route) ?? 0;
  return [...names]
    .filter((route) => requests(route) > 0 || c.agreement.totals(undefined, route).comparisons > 0 || c.errors.totals(undefined, route).errors > 0)
    .sort((a, b) => requests(b) - requests(a) || byName(a, b));
}

function routeFigures(c: Concerns): RouteFigures[] {
  return routesInOrder(c).map((route): RouteFigures => {
    const match = c.agreement.totals(undefined, route);
    const errors = c.errors.totals(undefined, route);
    const production = c.latency.cells.peek(route, PRODUCTION)?.histogram;
    const shadow = c.latency.candidates(route);
    return {
      route,
      requests: c.totals.requests.get(route) ?? 0,
      match: wilson(match.matches, match.comparisons),
      withoutNoise: wilson(match.noiseAwareMatches, match.noiseAware),
      shadowErrors: errors.errors,
      timeouts: errors.timeouts,
      productionP50: production?.quantile(0.5) ?? null,
      shadowP50: shadow.quantile(0.5),
      productionP99: production?.quantile(0.99) ?? null,
      shadowP99: shadow.quantile(0.99),
    };
  });
}

function targetFigures(c: Concerns, targets: string[], ratios: (side: LatencyFigures) => LatencyRatio): TargetFigures[] {
  return targets.map((target) => {
    const match = c.agreement.totals(target);
    const errors = c.errors.totals(target);
    const latency = c.latency.side(target).histogram.figures();
    return {
      target,
      shadowCalls: errors.calls,
      match: wilson(match.matches, match.comparisons),
      withoutNoise: wilson(match.noiseAwareMatches, match.noiseAware),
      shadowErrors: errors.errors,
      timeouts: errors.timeouts,
      shadow5xx: errors.serverErrors,
      latency,
      ratio: ratios(latency),
    };
  });
}

/** One candidate on one route (`null`: all routes) for the verdict; `undefined` when it had no call there. */
function cellInput(c: Concerns, target: string, route: string | null, minSamples: number): CellInput | undefined {
  const r = route ?? undefined;
  if (route !== null && c.errors.cells.peek(route, target) === undefined && c.agreement.cells.peek(route, target) === undefined) return undefined;
  const match = c.agreement.totals(target, r);
  const labels = c.labels === null ? undefined : r === undefined ? c.labels.cells.sum(target) : (c.labels.cells.peek(r, target) ?? { agreed: 0, total: 0 });
  const agreement =
    labels !== undefined
      ? { count: labels.agreed, total: labels.total, basis: 'label agreement' as const }
      : match.noiseAware > 0
        ? { count: match.noiseAwareMatches, total: match.noiseAware, basis: 'noise-free match' as const }
        : { count: match.matches, total: match.comparisons, basis: 'match' as const };
  const candidate = c.errors.totals(target, r);
  const production = c.errors.totals(PRODUCTION, r);
  return {
    target,
    route,
    agreement,
    latency: latencyInput(c, target, r, minSamples),
    errors: {
      candidate: { count: candidate.errors + candidate.serverErrors, total: candidate.calls },
      production: { count: production.serverErrors, total: production.calls },
    },
  };
}

/**
 * The candidate's latency and its baseline: production's replica when it has `minSamples` answers there (timed by the
 * same engine at the same moments, so like for like), else production (timed in the app: the engine's share is not in it).
 */
function latencyInput(c: Concerns, target: string, route: string | undefined, minSamples: number): CellInput['latency'] {
  const replica = c.latency.side(SECONDARY, route);
  const byReplica = replica.count >= minSamples;
  return {
    candidate: c.latency.side(target, route),
    production: byReplica ? replica : c.latency.side(PRODUCTION, route),
    baseline: byReplica ? 'replica' : 'production',
    delayed: c.latency.delayedCount(target, route),
  };
}

function verdictInput(c: Concerns, targets: string[], routes: string[], minSamples: number): VerdictInput {
  const cells = targets.flatMap((target) => [null, ...routes].flatMap((route) => cellInput(c, target, route, minSamples) ?? []));
  return { cells, labels: c.labels?.verdictInput(targets) ?? [], scores: c.scores?.verdictInput(targets) ?? [] };
}

/**
 * The latency cells the verdict would judge now whose samples are both at least `full` values: each one's bootstrap
 * seed and sample sizes (production's first), so their resamples can be drawn ahead.
 */
export function fullLatencyCells(c: Concerns, o: ResolvedReportOptions, full: number, max: number): { seed: number; nA: number; nB: number }[] {
  const routes = routesInOrder(c);
  const found: { seed: number; nA: number; nB: number }[] = [];
  // The first `max` cells only: past them, nothing is drawn, and each cell of all routes merges every route's samples.
  let i = 0;
  for (const target of targetsOf(c)) {
    for (const route of [null, ...routes]) {
      if (i >= max) return found;
      const cell = cellInput(c, target, route, o.criteria.minSamples);
      if (cell === undefined) continue;
      const nA = cell.latency.production.sample.length;
      const nB = cell.latency.candidate.sample.length;
      if (nA >= full && nB >= full) found.push({ seed: latencySeed(i), nA, nB });
      i++;
    }
  }
  return found;
}

function totalsOf(c: Concerns): Report['totals'] {
  const { totals } = c;
  const match = c.agreement.totals(undefined);
  const errors = c.errors.totals(undefined);
  return {
    requestsSeen: totals.mirrored + totals.skipped.total + totals.notMirrored.total,
    summarySeen: totals.summarySeen,
    mirrored: totals.mirrored,
    production: totals.production,
    shadowCalls: errors.calls,
    comparisons: match.comparisons,
    comparatorErrors: c.agreement.comparatorErrors,
    skipped: totals.skipped.total,
    skippedByReason: totals.skipped.sorted(),
    notMirrored: totals.notMirrored.total,
    notMirroredByReason: totals.notMirrored.sorted(),
    shadowErrors: c.errors.byCode.total,
    shadowErrorsByCode: c.errors.byCode.sorted(),
    requestFaults: totals.requestFaults.total,
    requestFaultsByReason: totals.requestFaults.sorted(),
    timeouts: errors.timeouts,
    shadow5xx: errors.serverErrors,
    orphans: { ...totals.orphans },
  };
}

export function reportOf(c: Concerns, o: ResolvedReportOptions, readStats: ReadStats | null, draws?: BootstrapDraws): Report {
  const { options } = o;
  const targets = targetsOf(c);
  const production = c.latency.side(PRODUCTION).histogram.figures();
  const ratios = ratiosTo(production);
  const shadow = c.latency.candidates().figures();
  const byRoute = routeFigures(c);
  const byRouteTarget: RouteTargetFigures[] = byRoute.flatMap((r) =>
    targets
      .map((target) => {
        const counts = c.agreement.totals(target, r.route);
        return { route: r.route, target, match: wilson(counts.matches, counts.comparisons), withoutNoise: wilson(counts.noiseAwareMatches, counts.noiseAware) };
      })
      .filter((rt) => rt.match.total > 0),
  );
  const match = c.agreement.totals(undefined);
  const totals = c.totals;
  const report: Report = {
    version: 1,
    verdict: {
      status: 'none', score: null, failUnderMatch: null, gated: false, tooLittleEvidence: null, failing: [], headline: '', summary: '', gate: null, criteria: [],
      thresholds: o.criteria, noiseFree: false, noiseNote: null, suggestedIgnorePaths: [],
    },
    filters: {
      route: options.route ?? null,
      since: o.since === null ? null : new Date(o.since).toISOString(),
      until: o.until === null ? null : new Date(o.until).toISOString(),
      labelPath: options.labelPath ?? null,
      scorePath: options.scorePath ?? null,
    },
    period: {
      from: Number.isFinite(totals.from) ? new Date(totals.from).toISOString() : null,
      to: Number.isFinite(totals.to) ? new Date(totals.to).toISOString() : null,
    },
    totals: totalsOf(c),
    match: {
      overall: wilson(match.matches, match.comparisons),
      statusMatch: wilson(c.agreement.statusMatches, match.comparisons),
      secondary: c.noise.floor(),
      withoutNoise: wilson(match.noiseAwareMatches, match.noiseAware),
      byRoute,
      byRouteTarget,
      byTarget: targetFigures(c, targets, ratios),
    },
    statusAgreement: c.status.figures(),
    latency: { production, shadow, ratio: ratios(shadow) },
    streaming: c.streaming.figures(targets),
    differences: {
      paths: c.differences.top(o.topPaths),
      distinctPaths: c.differences.paths.size,
      otherPaths: c.differences.otherPaths,
      truncatedLists: c.differences.truncatedLists,
      numeric: c.differences.numeric(o.topPaths),
    },
    similarity: c.similarity.accumulator.result(byRoute.map((r) => r.route)),
    noise: c.noise.figures(o.topPaths),
    labels: c.labels?.figures() ?? null,
    timeline: c.timeline.figures(),
    breakers: c.breakers.figures(),
    reading: readStats,
  };
  const suggestions = c.differences.volatilePaths();
  const input = verdictInput(c, targets, byRoute.map((r) => r.route), o.criteria.minSamples);
  input.unmeasuredNoise = report.noise === null && suggestions.length > 0;
  input.similarity = c.similarity.accumulator.verdictInputs(targets, byRoute.map((r) => r.route));
  const setting = { failUnderMatch: options.failUnderMatch, gated: o.gated };
  report.verdict = assembleVerdict(report, setting, judge(input, o.criteria, draws), o.criteria, suggestions);
  return report;
}

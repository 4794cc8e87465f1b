/**
 * Summarises joined log entries into a `Report`. Every structure is bounded (histograms, capped maps, a coarsening
 * timeline), so a report over a billion-line log needs no more memory than one over ten lines.
 */
import { readShadowLog } from '../read/read-shadow-log.js';
import type { AggregateRecord, ReadShadowLogOptions, ReadStats, ShadowLogEntry } from '../read/types.js';
import type { ShadowRecord } from '../types.js';
import { LatencyHistogram } from './histogram.js';
import { criteriaWithGate, isGate, resolveCriteria, type Criteria } from './criteria.js';
import { boundedJson, compileLabelPath, evaluatePath, type PathStep } from './label-path.js';
import { StreamAccumulator } from './streaming.js';
import { Timeline } from './timeline.js';
import { assembleVerdict } from './assemble-verdict.js';
import { judge } from './verdict.js';
import { VerdictAccumulator } from './verdict-accumulator.js';
import { SimilarityAccumulator } from './similarity.js';
import type {
  BreakerTransition,
  LabelFigures,
  LatencyFigures,
  LatencyRatio,
  NoiseFigures,
  Report,
  ReportOptions,
  RouteFigures,
  RouteTargetFigures,
  StreamingFigures,
  TargetFigures,
} from './types.js';
import { wilson } from './wilson.js';

const OTHER_ROUTES = '(other routes)';
const OTHER_TARGETS = '(other targets)';
/** Candidates tracked one by one (each holds a few histograms); the same bound as the reader's learned targets. */
const MAX_TARGETS = 64;
const UNKNOWN_ROUTE = '(unknown)';
const OTHER_LABEL = '(other)';
const MAX_STATUS_KEYS = 30;
const MAX_TRANSITIONS = 50;
const MAX_COUNTED_KEYS = 200;

interface RouteAccumulator {
  requests: number;
  comparisons: number;
  matches: number;
  noiseAware: number;
  noiseAwareMatches: number;
  shadowErrors: number;
  timeouts: number;
  production: LatencyHistogram;
  shadow: LatencyHistogram;
}

interface TargetAccumulator {
  shadowCalls: number;
  comparisons: number;
  matches: number;
  noiseAware: number;
  noiseAwareMatches: number;
  shadowErrors: number;
  timeouts: number;
  shadow5xx: number;
  latency: LatencyHistogram;
  stream: StreamAccumulator;
}

/** Counts of one path, bounded like the differing paths. */
class PathCounter {
  readonly counts = new Map<string, number>();
  other = 0;
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  add(path: string): void {
    const n = this.counts.get(path);
    if (n !== undefined) this.counts.set(path, n + 1);
    else if (this.counts.size < this.#max) this.counts.set(path, 1);
    else this.other++;
  }
}

function toTime(name: string, value: string | number | Date | undefined): number | null {
  if (value === undefined) return null;
  const time = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : Date.parse(value);
  if (!Number.isFinite(time)) {
    throw new TypeError(`\`${name}\` must be an ISO 8601 time, a Date or epoch ms; got ${JSON.stringify(value)}.`);
  }
  return time;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new TypeError(`\`${name}\` must be a positive integer; got ${JSON.stringify(value)}.`);
  }
  return value;
}

/** Counts by a key from the logs. A Map, so keys like `__proto__` or `constructor` are keys like any other. */
type Counts = Map<string, number>;

function increment(map: Counts, key: string, amount = 1): void {
  // Keys come from the logs; cap them so a log full of distinct error codes cannot grow the report.
  if (!map.has(key) && map.size >= MAX_COUNTED_KEYS) key = '(other)';
  map.set(key, (map.get(key) ?? 0) + amount);
}

function sum(map: Counts): number {
  let total = 0;
  for (const n of map.values()) total += n;
  return total;
}

function routeOf(entry: ShadowLogEntry): string {
  const record = entry.production ?? entry.skipped;
  if (record === null) return UNKNOWN_ROUTE;
  if (typeof record.route === 'string') return record.route;
  if (typeof record.path !== 'string') return UNKNOWN_ROUTE;
  const q = record.path.indexOf('?');
  return q === -1 ? record.path : record.path.slice(0, q);
}

function entryTime(entry: ShadowLogEntry): number {
  const record = entry.production ?? entry.skipped ?? entry.shadows[0] ?? entry.comparisons[0];
  return record === undefined ? NaN : Date.parse(record.timestamp);
}

function labelKey(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return boundedJson(value);
}

/** ISO times, epoch seconds/ms, UUIDs and long hex or token strings: values that differ on every call. */
const TIME_OR_ID = /^(?:\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|[0-9a-f]{16,}$|(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}$)/i;

function looksLikeTimeOrId(value: unknown): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && ((value >= 1e9 && value < 1e10) || (value >= 1e12 && value < 1e13));
  return typeof value === 'string' && value.length <= 200 && TIME_OR_ID.test(value);
}

/** The distinct string paths of a comparison's `differences`. */
function uniquePaths(differences: unknown): Set<string> {
  const paths = new Set<string>();
  if (!Array.isArray(differences)) return paths;
  for (const difference of differences) {
    const path = typeof difference === 'object' && difference !== null ? (difference as { path?: unknown }).path : undefined;
    if (typeof path === 'string') paths.add(path);
  }
  return paths;
}

function shadowColumn(shadow: ShadowRecord): string {
  if (shadow.error !== undefined) return String(shadow.error.code);
  return typeof shadow.status === 'number' ? String(shadow.status) : '(none)';
}

/** A plain object for the JSON report; `Object.fromEntries` defines `__proto__` as an own key, never as the prototype. */
function sortKeys(map: Counts): Record<string, number> {
  return Object.fromEntries([...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function compareStatus(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  const aNum = Number.isFinite(na);
  const bNum = Number.isFinite(nb);
  if (aNum && bNum) return na - nb;
  if (aNum !== bNum) return aNum ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Builds a {@link Report} from entries and aggregate records fed to it one by one.
 * Use it when you read the logs yourself; {@link buildReport} wires it to {@link readShadowLog}.
 *
 * @example
 * ```ts
 * const builder = new ReportBuilder({ labelPath: '$.label' });
 * const reader = readShadowLog('shadow.log', { onRecord: (r) => builder.addRecord(r) });
 * for await (const entry of reader) builder.addEntry(entry);
 * const report = builder.build(reader.stats);
 * ```
 */
export class ReportBuilder {
  readonly #options: ReportOptions;
  readonly #since: number | null;
  readonly #until: number | null;
  readonly #labelSteps: PathStep[] | null;
  readonly #scoreSteps: PathStep[] | null;
  readonly #criteria: Criteria;
  readonly #gated: boolean;
  readonly #verdictInput: VerdictAccumulator;
  readonly #topPaths: number;
  readonly #examplesPerPath: number;
  readonly #maxDistinctPaths: number;
  readonly #maxRoutes: number;
  readonly #maxLabels: number;

  #mirrored = 0;
  #production = 0;
  #shadowCalls = 0;
  #comparisons = 0;
  #matches = 0;
  #statusMatches = 0;
  #secondaryComparisons = 0;
  #secondaryMatches = 0;
  #noiseAware = 0;
  #noiseAwareMatches = 0;
  #comparatorErrors = 0;
  readonly #secondaryNames = new Set<string>();
  #secondaryCalls = 0;
  #secondaryErrors = 0;
  /** Secondary comparisons without a comparator error: their differences are known. */
  #secondaryKnown = 0;
  readonly #noisePaths: PathCounter;
  readonly #noiseMarked: PathCounter;
  readonly #productionStream = new StreamAccumulator();
  #streamed = false;
  readonly #skipped: Counts = new Map();
  readonly #notMirrored: Counts = new Map();
  #summarySeen = 0;
  readonly #errors: Counts = new Map();
  /** Calls that failed by the request's shape (`requestFault`): counted here, and nowhere else. */
  readonly #requestFaults: Counts = new Map();
  #timeouts = 0;
  #shadow5xx = 0;
  #orphans = { noShadow: 0, noProduction: 0, late: 0 };
  #from = Infinity;
  #to = -Infinity;
  readonly #productionLatency = new LatencyHistogram();
  readonly #shadowLatency = new LatencyHistogram();
  readonly #routes = new Map<string, RouteAccumulator>();
  readonly #targets = new Map<string, TargetAccumulator>();
  readonly #status = new Map<string, Map<string, number>>();
  readonly #shadowStatuses = new Set<string>();
  /** `volatile`: differences whose two values both look like times or ids. */
  readonly #paths = new Map<string, { count: number; examples: string[]; volatile: number }>();
  #otherPaths = 0;
  #truncatedLists = 0;
  readonly #numeric = new Map<string, { count: number; sum: number; max: number }>();
  readonly #labelIndex = new Map<string, Map<string, number>>();
  readonly #labelsSeen = new Set<string>();
  #labelMissing = 0;
  readonly #timeline = new Timeline();
  readonly #transitions: BreakerTransition[] = [];
  #moreTransitions = 0;
  readonly #openDrops: Counts = new Map();
  /** Similarity scores and judgements (report/similarity.ts). */
  readonly #similarity = new SimilarityAccumulator();

  constructor(options: ReportOptions = {}) {
    this.#options = { ...options };
    this.#since = toTime('since', options.since);
    this.#until = toTime('until', options.until);
    if (this.#since !== null && this.#until !== null && this.#since >= this.#until) {
      throw new TypeError(`\`since\` (${new Date(this.#since).toISOString()}) must be before \`until\` (${new Date(this.#until).toISOString()}).`);
    }
    this.#labelSteps = options.labelPath === undefined ? null : compileLabelPath(options.labelPath);
    this.#scoreSteps = options.scorePath === undefined ? null : compileLabelPath(options.scorePath);
    const gate = options.failUnderMatch;
    if (gate !== undefined && (typeof gate !== 'number' || !(gate >= 0 && gate <= 1))) {
      throw new TypeError(`\`failUnderMatch\` must be a ratio between 0 and 1, like 0.99; got ${JSON.stringify(gate)}.`);
    }
    this.#criteria = resolveCriteria(criteriaWithGate(options.criteria, gate));
    this.#gated = isGate(options);
    this.#verdictInput = new VerdictAccumulator({ labelPath: this.#labelSteps !== null, scorePath: options.scorePath ?? null });
    this.#topPaths = positiveInteger('topPaths', options.topPaths, 20);
    this.#examplesPerPath = positiveInteger('examplesPerPath', options.examplesPerPath, 3);
    this.#maxDistinctPaths = positiveInteger('maxDistinctPaths', options.maxDistinctPaths, 10_000);
    this.#maxRoutes = positiveInteger('maxRoutes', options.maxRoutes, 200);
    this.#maxLabels = positiveInteger('maxLabels', options.maxLabels, 50);
    this.#noisePaths = new PathCounter(this.#maxDistinctPaths);
    this.#noiseMarked = new PathCounter(this.#maxDistinctPaths);
  }

  #inPeriod(time: number): boolean {
    if (this.#since === null && this.#until === null) return true;
    if (!Number.isFinite(time)) return false;
    return (this.#since === null || time >= this.#since) && (this.#until === null || time < this.#until);
  }

  /** The name a route is counted under: itself, or `(other routes)` once `maxRoutes` are tracked. */
  #routeKey(name: string): string {
    return this.#routes.has(name) || this.#routes.size < this.#maxRoutes ? name : OTHER_ROUTES;
  }

  #route(name: string): RouteAccumulator {
    let route = this.#routes.get(name);
    if (route === undefined) {
      if (this.#routes.size >= this.#maxRoutes) return this.#route(OTHER_ROUTES);
      route = {
        requests: 0,
        comparisons: 0,
        matches: 0,
        noiseAware: 0,
        noiseAwareMatches: 0,
        shadowErrors: 0,
        timeouts: 0,
        production: new LatencyHistogram(),
        shadow: new LatencyHistogram(),
      };
      this.#routes.set(name, route);
    }
    return route;
  }

  #targetKey(name: string): string {
    return this.#targets.has(name) || this.#targets.size < MAX_TARGETS || name === OTHER_TARGETS ? name : OTHER_TARGETS;
  }

  #target(name: string): TargetAccumulator {
    let target = this.#targets.get(name);
    if (target === undefined) {
      if (this.#targets.size >= MAX_TARGETS && name !== OTHER_TARGETS) return this.#target(OTHER_TARGETS);
      target = {
        shadowCalls: 0,
        comparisons: 0,
        matches: 0,
        noiseAware: 0,
        noiseAwareMatches: 0,
        shadowErrors: 0,
        timeouts: 0,
        shadow5xx: 0,
        latency: new LatencyHistogram(),
        stream: new StreamAccumulator(),
      };
      this.#targets.set(name, target);
    }
    return target;
  }

  /** Adds a `summary`, `breaker`, `judgement` or `judgement_summary` record. */
  addRecord(record: AggregateRecord): void {
    const time = Date.parse(record.timestamp);
    if (!this.#inPeriod(time)) return;
    if (record.type === 'judgement' || record.type === 'judgement_summary') {
      // Summaries are not split by route, so a route filter leaves them out (as it does the request summaries).
      const route = record.type === 'judgement' ? record.route : undefined;
      if (this.#options.route === undefined || route === this.#options.route) this.#similarity.addJudgement(record);
      return;
    }
    if (record.type === 'breaker') {
      if (this.#transitions.length < MAX_TRANSITIONS) {
        this.#transitions.push({
          timestamp: record.timestamp,
          target: String(record.target),
          state: record.state,
          reason: String(record.reason ?? ''),
        });
      } else {
        this.#moreTransitions++;
      }
      return;
    }
    if (typeof record.seen === 'number') this.#summarySeen += record.seen;
    // Summary counts are not split by route, so a route filter cannot use them.
    if (this.#options.route === undefined && typeof record.notMirrored === 'object' && record.notMirrored !== null) {
      for (const [reason, n] of Object.entries(record.notMirrored)) {
        if (typeof n === 'number') increment(this.#notMirrored, reason, n);
      }
    }
    if (typeof record.breakerOpen === 'object' && record.breakerOpen !== null) {
      for (const [target, n] of Object.entries(record.breakerOpen)) {
        if (typeof n === 'number') increment(this.#openDrops, target, n);
      }
    }
  }

  /** Adds one joined request. */
  addEntry(entry: ShadowLogEntry): void {
    const time = entryTime(entry);
    if (!this.#inPeriod(time)) return;
    const routeName = routeOf(entry);
    if (this.#options.route !== undefined && routeName !== this.#options.route) return;
    if (Number.isFinite(time)) {
      if (time < this.#from) this.#from = time;
      if (time > this.#to) this.#to = time;
    }
    if (entry.orphan === 'no_shadow') this.#orphans.noShadow++;
    else if (entry.orphan === 'no_production') this.#orphans.noProduction++;
    else if (entry.orphan === 'late') this.#orphans.late++;

    if (entry.skipped !== null) {
      increment(this.#skipped, String(entry.skipped.reason));
    } else if (entry.production !== null || entry.shadows.length > 0) {
      // A late entry is the rest of a request already counted.
      if (entry.orphan !== 'late') this.#mirrored++;
    }
    const routeKey = this.#routeKey(routeName);
    const route = this.#route(routeKey);
    const production = entry.production;
    if (production !== null) {
      this.#verdictInput.addProduction(routeKey, production.durationMs, production.status);
      this.#production++;
      route.requests++;
      this.#productionLatency.add(production.durationMs);
      route.production.add(production.durationMs);
      this.#timeline.add(time, 'requests');
      if (this.#productionStream.add(production.response?.stream, production.durationMs)) this.#streamed = true;
    }

    /** Candidates whose call this request's shape made fail: their comparison says nothing about the model either. */
    let faulted: Set<string> | undefined;
    for (const shadow of entry.shadows) {
      // A production replica measures noise; it is not the model under test.
      if (shadow.role === 'secondary') {
        this.#secondaryNames.add(String(shadow.target));
        this.#secondaryCalls++;
        if (shadow.error !== undefined) this.#secondaryErrors++;
        continue;
      }
      // Not the model's doing: kept out of every criterion, rate and latency, and shown on its own.
      if (shadow.requestFault === true) {
        increment(this.#requestFaults, shadowColumn(shadow));
        (faulted ??= new Set()).add(String(shadow.target));
        continue;
      }
      this.#shadowCalls++;
      const targetKey = this.#targetKey(String(shadow.target));
      const target = this.#target(targetKey);
      target.shadowCalls++;
      const answered = shadow.error === undefined;
      const failed = !answered || (typeof shadow.status === 'number' && shadow.status >= 500);
      this.#verdictInput.addShadow(routeKey, targetKey, failed, shadow.durationMs, answered);
      const shadowTime = Date.parse(shadow.timestamp);
      this.#timeline.add(shadowTime, 'shadowCalls');
      if (shadow.error !== undefined) {
        const code = String(shadow.error.code);
        increment(this.#errors, code);
        target.shadowErrors++;
        route.shadowErrors++;
        this.#timeline.add(shadowTime, 'shadowErrors');
        if (code === 'timeout') {
          this.#timeouts++;
          target.timeouts++;
          route.timeouts++;
          this.#timeline.add(shadowTime, 'timeouts');
        }
      } else {
        this.#shadowLatency.add(shadow.durationMs);
        target.latency.add(shadow.durationMs);
        route.shadow.add(shadow.durationMs);
        if (typeof shadow.status === 'number' && shadow.status >= 500) {
          this.#shadow5xx++;
          target.shadow5xx++;
        }
        if (target.stream.add(shadow.response?.stream, shadow.durationMs)) this.#streamed = true;
      }
      if (production !== null) {
        this.#countStatus(String(production.status), shadowColumn(shadow));
        if (this.#labelSteps !== null && shadow.error === undefined) {
          this.#countLabels(production.response?.body, shadow.response?.body, this.#labelSteps, routeKey, targetKey);
        }
        if (this.#scoreSteps !== null && shadow.error === undefined) {
          const productionScore = evaluatePath(production.response?.body, this.#scoreSteps);
          const shadowScore = evaluatePath(shadow.response?.body, this.#scoreSteps);
          if (typeof productionScore === 'number' && typeof shadowScore === 'number' && Number.isFinite(productionScore) && Number.isFinite(shadowScore)) {
            this.#verdictInput.addScores(targetKey, productionScore, shadowScore);
          }
        }
      }
    }

    for (const comparison of entry.comparisons) {
      const similarityTarget = comparison.role === 'secondary' ? String(comparison.target) : this.#targetKey(String(comparison.target));
      this.#similarity.addComparison(routeKey, similarityTarget, comparison, entry);
      if (comparison.role === 'secondary') {
        this.#secondaryNames.add(String(comparison.target));
        this.#secondaryComparisons++;
        if (comparison.match === true) this.#secondaryMatches++;
        // A comparator error leaves no differences to learn from: it is not evidence that nothing was noisy.
        if (typeof comparison.error !== 'string') {
          this.#secondaryKnown++;
          for (const path of uniquePaths(comparison.differences)) this.#noisePaths.add(path);
        }
        continue;
      }
      if (faulted?.has(String(comparison.target))) continue;
      if (typeof comparison.error === 'string') this.#comparatorErrors++;
      this.#comparisons++;
      route.comparisons++;
      const targetKey = this.#targetKey(String(comparison.target));
      const target = this.#target(targetKey);
      target.comparisons++;
      const withoutNoise = typeof comparison.matchWithoutNoise === 'boolean' ? comparison.matchWithoutNoise : undefined;
      this.#verdictInput.addComparison(routeKey, targetKey, comparison.match === true, withoutNoise);
      if (withoutNoise !== undefined) {
        this.#noiseAware++;
        target.noiseAware++;
        route.noiseAware++;
        if (withoutNoise) {
          this.#noiseAwareMatches++;
          target.noiseAwareMatches++;
          route.noiseAwareMatches++;
        }
      }
      if (Array.isArray(comparison.noise)) {
        for (const path of new Set(comparison.noise)) if (typeof path === 'string') this.#noiseMarked.add(path);
      }
      const comparisonTime = Date.parse(comparison.timestamp);
      this.#timeline.add(comparisonTime, 'comparisons');
      if (comparison.match === true) {
        this.#matches++;
        route.matches++;
        target.matches++;
        this.#timeline.add(comparisonTime, 'matches');
      }
      if (comparison.statusMatch === true) this.#statusMatches++;
      if (comparison.differencesTruncated === true) this.#truncatedLists++;
      if (Array.isArray(comparison.differences)) {
        for (const difference of comparison.differences) this.#countDifference(difference, entry.requestId);
      }
    }
  }

  #countStatus(productionStatus: string, shadowStatus: string): void {
    let row = this.#status.get(productionStatus);
    if (row === undefined) {
      if (this.#status.size >= MAX_STATUS_KEYS) {
        productionStatus = '(other)';
        row = this.#status.get(productionStatus);
      }
      if (row === undefined) {
        row = new Map();
        this.#status.set(productionStatus, row);
      }
    }
    if (!this.#shadowStatuses.has(shadowStatus)) {
      if (this.#shadowStatuses.size >= MAX_STATUS_KEYS) shadowStatus = '(other)';
      this.#shadowStatuses.add(shadowStatus);
    }
    row.set(shadowStatus, (row.get(shadowStatus) ?? 0) + 1);
  }

  #countLabels(productionBody: unknown, shadowBody: unknown, steps: PathStep[], route: string, target: string): void {
    let productionLabel = labelKey(evaluatePath(productionBody, steps));
    let shadowLabel = labelKey(evaluatePath(shadowBody, steps));
    if (productionLabel === undefined || shadowLabel === undefined) {
      this.#labelMissing++;
      return;
    }
    productionLabel = this.#label(productionLabel);
    shadowLabel = this.#label(shadowLabel);
    this.#verdictInput.addLabels(route, target, productionLabel, productionLabel === shadowLabel);
    let row = this.#labelIndex.get(productionLabel);
    if (row === undefined) {
      row = new Map();
      this.#labelIndex.set(productionLabel, row);
    }
    row.set(shadowLabel, (row.get(shadowLabel) ?? 0) + 1);
  }

  #label(label: string): string {
    if (this.#labelsSeen.has(label)) return label;
    if (this.#labelsSeen.size >= this.#maxLabels) label = OTHER_LABEL;
    this.#labelsSeen.add(label);
    return label;
  }

  #countDifference(difference: unknown, requestId: string): void {
    if (typeof difference !== 'object' || difference === null) return;
    const { path, production, shadow } = difference as { path?: unknown; production?: unknown; shadow?: unknown };
    if (typeof path !== 'string') return;
    let counted = this.#paths.get(path);
    if (counted === undefined) {
      if (this.#paths.size >= this.#maxDistinctPaths) {
        this.#otherPaths++;
        return;
      }
      counted = { count: 0, examples: [], volatile: 0 };
      this.#paths.set(path, counted);
    }
    counted.count++;
    if (looksLikeTimeOrId(production) && looksLikeTimeOrId(shadow)) counted.volatile++;
    if (counted.examples.length < this.#examplesPerPath && !counted.examples.includes(requestId)) {
      counted.examples.push(requestId);
    }
    if (typeof production === 'number' && typeof shadow === 'number' && Number.isFinite(production) && Number.isFinite(shadow)) {
      const delta = Math.abs(production - shadow);
      const numeric = this.#numeric.get(path);
      if (numeric === undefined) this.#numeric.set(path, { count: 1, sum: delta, max: delta });
      else {
        numeric.count++;
        numeric.sum += delta;
        if (delta > numeric.max) numeric.max = delta;
      }
    }
  }

  /** The finished report; `readStats` (from the reader) adds the reading figures. */
  build(readStats: ReadStats | null = null): Report {
    const options = this.#options;
    const skipped = sum(this.#skipped);
    const notMirrored = sum(this.#notMirrored);
    const shadowErrors = sum(this.#errors);
    const overall = wilson(this.#matches, this.#comparisons);
    const production = this.#productionLatency.figures();
    const shadow = this.#shadowLatency.figures();
    const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null || b === 0 ? null : a / b);

    const byRoute: RouteFigures[] = [...this.#routes.entries()]
      .filter(([, r]) => r.requests > 0 || r.comparisons > 0 || r.shadowErrors > 0)
      .map(([route, r]) => ({
        route,
        requests: r.requests,
        match: wilson(r.matches, r.comparisons),
        withoutNoise: wilson(r.noiseAwareMatches, r.noiseAware),
        shadowErrors: r.shadowErrors,
        timeouts: r.timeouts,
        productionP50: r.production.quantile(0.5),
        shadowP50: r.shadow.quantile(0.5),
        productionP99: r.production.quantile(0.99),
        shadowP99: r.shadow.quantile(0.99),
      }))
      .sort((a, b) => b.requests - a.requests || (a.route < b.route ? -1 : 1));

    const ratios = (side: LatencyFigures): LatencyRatio => ({
      p50: ratio(side.p50, production.p50),
      p90: ratio(side.p90, production.p90),
      p99: ratio(side.p99, production.p99),
      max: ratio(side.max, production.max),
    });
    const targets = [...this.#targets.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const byTarget: TargetFigures[] = targets.map(([target, t]) => {
      const latency = t.latency.figures();
      return {
        target,
        shadowCalls: t.shadowCalls,
        match: wilson(t.matches, t.comparisons),
        withoutNoise: wilson(t.noiseAwareMatches, t.noiseAware),
        shadowErrors: t.shadowErrors,
        timeouts: t.timeouts,
        shadow5xx: t.shadow5xx,
        latency,
        ratio: ratios(latency),
      };
    });
    const byRouteTarget: RouteTargetFigures[] = byRoute.flatMap((r) =>
      targets.map(([target]) => {
        const counts = this.#verdictInput.rates(target, r.route);
        return { route: r.route, target, match: wilson(counts.matches, counts.comparisons), withoutNoise: wilson(counts.noiseAwareMatches, counts.noiseAware) };
      }).filter((rt) => rt.match.total > 0),
    );
    const streaming: StreamingFigures | null = this.#streamed
      ? { production: this.#productionStream.figures('production'), candidates: targets.map(([name, t]) => t.stream.figures(name)) }
      : null;

    const productionStatuses = [...this.#status.keys()].sort(compareStatus);
    const shadowStatuses = [...this.#shadowStatuses].sort(compareStatus);

    const paths = [...this.#paths.entries()]
      .sort(([pa, a], [pb, b]) => b.count - a.count || (pa < pb ? -1 : 1))
      .slice(0, this.#topPaths)
      .map(([path, p]) => ({ path, count: p.count, exampleRequestIds: [...p.examples] }));
    const numeric = [...this.#numeric.entries()]
      .sort(([pa, a], [pb, b]) => b.count - a.count || (pa < pb ? -1 : 1))
      .slice(0, this.#topPaths)
      .map(([path, n]) => ({ path, count: n.count, meanAbsoluteDifference: n.sum / n.count, maxAbsoluteDifference: n.max }));

    const report: Report = {
      version: 1,
      verdict: {
        status: 'none', score: null, failUnderMatch: null, gated: false, tooLittleEvidence: null, failing: [], headline: '', summary: '', gate: null, criteria: [],
        thresholds: this.#criteria, noiseFree: false, noiseNote: null, suggestedIgnorePaths: [],
      },
      filters: {
        route: options.route ?? null,
        since: this.#since === null ? null : new Date(this.#since).toISOString(),
        until: this.#until === null ? null : new Date(this.#until).toISOString(),
        labelPath: options.labelPath ?? null,
        scorePath: options.scorePath ?? null,
      },
      period: {
        from: Number.isFinite(this.#from) ? new Date(this.#from).toISOString() : null,
        to: Number.isFinite(this.#to) ? new Date(this.#to).toISOString() : null,
      },
      totals: {
        requestsSeen: this.#mirrored + skipped + notMirrored,
        summarySeen: this.#summarySeen,
        mirrored: this.#mirrored,
        production: this.#production,
        shadowCalls: this.#shadowCalls,
        comparisons: this.#comparisons,
        comparatorErrors: this.#comparatorErrors,
        skipped,
        skippedByReason: sortKeys(this.#skipped),
        notMirrored,
        notMirroredByReason: sortKeys(this.#notMirrored),
        shadowErrors,
        shadowErrorsByCode: sortKeys(this.#errors),
        requestFaults: sum(this.#requestFaults),
        requestFaultsByReason: sortKeys(this.#requestFaults),
        timeouts: this.#timeouts,
        shadow5xx: this.#shadow5xx,
        orphans: { ...this.#orphans },
      },
      match: {
        overall,
        statusMatch: wilson(this.#statusMatches, this.#comparisons),
        secondary: wilson(this.#secondaryMatches, this.#secondaryComparisons),
        withoutNoise: wilson(this.#noiseAwareMatches, this.#noiseAware),
        byRoute,
        byRouteTarget,
        byTarget,
      },
      statusAgreement: {
        production: productionStatuses,
        shadow: shadowStatuses,
        counts: productionStatuses.map((p) => shadowStatuses.map((s) => this.#status.get(p)?.get(s) ?? 0)),
      },
      latency: { production, shadow, ratio: ratios(shadow) },
      streaming,
      differences: {
        paths,
        distinctPaths: this.#paths.size,
        otherPaths: this.#otherPaths,
        truncatedLists: this.#truncatedLists,
        numeric,
      },
      similarity: this.#similarity.result(byRoute.map((r) => r.route)),
      noise: this.#noiseFigures(),
      labels: this.#labelFigures(),
      timeline: this.#timeline.result(),
      breakers: { transitions: [...this.#transitions].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp)), moreTransitions: this.#moreTransitions, openDrops: sortKeys(this.#openDrops) },
      reading: readStats,
    };
    const suggestions = this.#suggestIgnorePaths();
    const input = this.#verdictInput.input(targets.map(([name]) => name), byRoute.map((r) => r.route));
    input.unmeasuredNoise = report.noise === null && suggestions.length > 0;
    input.similarity = this.#similarity.verdictInputs(targets.map(([name]) => name), byRoute.map((r) => r.route));
    const judged = judge(input, this.#criteria);
    report.verdict = assembleVerdict(report, { failUnderMatch: options.failUnderMatch, gated: this.#gated }, judged, this.#criteria, suggestions);
    return report;
  }

  /** Without a secondary: the most frequent differing paths whose values look like times or ids. */
  #suggestIgnorePaths(): string[] {
    return [...this.#paths.entries()]
      .filter(([, p]) => p.count > 0 && p.volatile / p.count >= 0.8)
      .sort(([pa, a], [pb, b]) => b.count - a.count || (pa < pb ? -1 : 1))
      .slice(0, 5)
      .map(([path]) => path);
  }

  #noiseFigures(): NoiseFigures | null {
    if (this.#secondaryCalls === 0 && this.#secondaryComparisons === 0) return null;
    const known = this.#secondaryKnown;
    const paths = [...this.#noisePaths.counts.entries()]
      .sort(([pa, a], [pb, b]) => b - a || (pa < pb ? -1 : 1))
      .slice(0, this.#topPaths)
      .map(([path, count]) => ({ path, rate: wilson(count, known), markedInCandidates: this.#noiseMarked.counts.get(path) ?? 0 }));
    return {
      targets: [...this.#secondaryNames].sort(),
      calls: this.#secondaryCalls,
      errors: this.#secondaryErrors,
      comparisons: known,
      paths,
      distinctPaths: this.#noisePaths.counts.size,
      otherPaths: this.#noisePaths.other,
    };
  }

  #labelFigures(): LabelFigures | null {
    if (this.#options.labelPath === undefined) return null;
    const labels = [...this.#labelsSeen].sort((a, b) => (a === OTHER_LABEL ? 1 : b === OTHER_LABEL ? -1 : a < b ? -1 : a > b ? 1 : 0));
    const matrix = labels.map((p) => labels.map((s) => this.#labelIndex.get(p)?.get(s) ?? 0));
    let total = 0;
    let agreed = 0;
    matrix.forEach((row, i) => {
      row.forEach((n, j) => {
        total += n;
        if (i === j) agreed += n;
      });
    });
    const perLabel = labels
      .map((label, i) => {
        const row = matrix[i] ?? [];
        const rowTotal = row.reduce((a, b) => a + b, 0);
        const shadowCount = matrix.reduce((sum, r) => sum + (r[i] ?? 0), 0);
        return { label, agreement: wilson(row[i] ?? 0, rowTotal), shadowCount };
      })
      .filter((l) => l.agreement.total > 0 || l.shadowCount > 0);
    return {
      path: this.#options.labelPath,
      labels,
      matrix,
      agreement: wilson(agreed, total),
      perLabel,
      missing: this.#labelMissing,
    };
  }
}

/** Options of {@link buildReport}: the reader's and the summary's. */
export interface BuildReportOptions extends ReportOptions, Omit<ReadShadowLogOptions, 'onRecord'> {}

/**
 * Reads the logs and summarises them: `readShadowLog` + `ReportBuilder` in one call.
 * Rejects with `ShadowLogReadError` when no file matched or one cannot be opened, and with a `TypeError` for a bad option.
 *
 * @example
 * ```ts
 * const report = await buildReport(['logs/*.log*'], { failUnderMatch: 0.99 });
 * process.stdout.write(renderReport(report, 'text'));
 * ```
 */
export async function buildReport(pathsOrGlobs: string | readonly string[], options: BuildReportOptions = {}): Promise<Report> {
  const builder = new ReportBuilder(options);
  const reader = readShadowLog(pathsOrGlobs, { ...readOptions(options), onRecord: (record) => builder.addRecord(record) });
  for await (const entry of reader) builder.addEntry(entry);
  return builder.build(reader.stats);
}

function readOptions(options: BuildReportOptions): ReadShadowLogOptions {
  const { windowMs, maxOpenEntries, expectComparisons, targets, onProgress, progressEvery, maxLineLength, cwd } = options;
  const picked: ReadShadowLogOptions = { windowMs, maxOpenEntries, expectComparisons, targets, onProgress, progressEvery, maxLineLength, cwd };
  for (const key of Object.keys(picked) as (keyof ReadShadowLogOptions)[]) {
    if (picked[key] === undefined) delete picked[key];
  }
  return picked;
}

/**
 * `ReportBuilder`: filters joined requests (period, route), caps the routes and candidates they are counted under, and
 * hands each to every concern. Every concern is bounded and mergeable, so a report over a billion-line log needs no
 * more memory than one over ten lines, and builders filled in parts (one per thread) merge into the builder of the whole.
 */
import { parseTimestamp } from '../read/parse-record.js';
import type { AggregateRecord, ReadStats, ShadowLogEntry } from '../read/types.js';
import type { Concern, EntryContext } from './concerns/concern.js';
import { shadowColumn } from './concerns/status.js';
import { createConcerns, type Concerns, type ResolvedReportOptions } from './concerns/index.js';
import { criteriaWithGate, isGate, resolveCriteria } from './criteria.js';
import { fullLatencyCells, reportOf } from './figures.js';
import { KeyCap, type KeyMapper } from './keys.js';
import { LATENCY_SAMPLE } from './concerns/latency.js';
import { BootstrapDraws, RESAMPLES } from './stats/bootstrap.js';
import { LATENCY_QUANTILES } from './verdict.js';
import { compileLabelPath } from './label-path.js';
import { hashString } from '../read/hash.js';
import type { Report, ReportOptions } from './types.js';

const OTHER_ROUTES = '(other routes)';
const OTHER_TARGETS = '(other targets)';
/** Candidates tracked one by one (each holds a few histograms); the same bound as the reader's learned targets. */
const MAX_TARGETS = 64;
const UNKNOWN_ROUTE = '(unknown)';
/** Latency cells (the first in the verdict's order) whose bootstrap resamples `drawAhead` draws at most (each is a few KB). */
const MAX_DRAWN_AHEAD = 64;

/** Plain data of a builder: each concern's state and the caps' keys, to send between threads and merge. */
export interface ReportBuilderState {
  routes: string[];
  targets: string[];
  concerns: Record<string, unknown>;
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

/** Validates the options (throws a `TypeError` naming the bad one) and fills in the defaults. */
function resolveReportOptions(options: ReportOptions): ResolvedReportOptions {
  const since = toTime('since', options.since);
  const until = toTime('until', options.until);
  if (since !== null && until !== null && since >= until) {
    throw new TypeError(`\`since\` (${new Date(since).toISOString()}) must be before \`until\` (${new Date(until).toISOString()}).`);
  }
  if (options.labelPath !== undefined) compileLabelPath(options.labelPath);
  if (options.scorePath !== undefined) compileLabelPath(options.scorePath);
  const gate = options.failUnderMatch;
  if (gate !== undefined && (typeof gate !== 'number' || !(gate >= 0 && gate <= 1))) {
    throw new TypeError(`\`failUnderMatch\` must be a ratio between 0 and 1, like 0.99; got ${JSON.stringify(gate)}.`);
  }
  const criteria = resolveCriteria(criteriaWithGate(options.criteria, gate));
  return {
    options: { ...options },
    since,
    until,
    criteria,
    gated: isGate(options),
    topPaths: positiveInteger('topPaths', options.topPaths, 20),
    examplesPerPath: positiveInteger('examplesPerPath', options.examplesPerPath, 3),
    maxDistinctPaths: positiveInteger('maxDistinctPaths', options.maxDistinctPaths, 10_000),
    maxRoutes: positiveInteger('maxRoutes', options.maxRoutes, 200),
    maxLabels: positiveInteger('maxLabels', options.maxLabels, 50),
  };
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
  return record === undefined ? NaN : parseTimestamp(String(record.timestamp));
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
  readonly #resolved: ResolvedReportOptions;
  readonly #concerns: Concerns;
  readonly #all: Concern[];
  readonly #routes: KeyCap;
  readonly #targets = new KeyCap(MAX_TARGETS, OTHER_TARGETS);
  readonly #context: EntryContext = { entry: undefined as never, time: NaN, route: '', hash: 0, shadowTargets: [], comparisonTargets: [] };
  readonly #keys: KeyMapper = { route: (name) => this.#route(name), target: (name) => this.#target(name) };
  readonly #draws = new BootstrapDraws();
  #ahead: { seed: number; nA: number; nB: number }[] | undefined;

  constructor(options: ReportOptions = {}) {
    this.#resolved = resolveReportOptions(options);
    this.#routes = new KeyCap(this.#resolved.maxRoutes, OTHER_ROUTES);
    this.#concerns = createConcerns(this.#resolved);
    this.#all = Object.values(this.#concerns).filter((c): c is NonNullable<typeof c> => c !== null);
  }

  #inPeriod(time: number): boolean {
    const { since, until } = this.#resolved;
    if (since === null && until === null) return true;
    if (!Number.isFinite(time)) return false;
    return (since === null || time >= since) && (until === null || time < until);
  }

  /** The route `name` is counted under, folding the one it pushes out of the cap into `(other routes)`. */
  #route(name: string): string {
    const key = this.#routes.admit(name);
    const evicted = this.#routes.evicted;
    if (evicted !== undefined) for (const concern of this.#all) concern.foldRoute?.(evicted, OTHER_ROUTES);
    return key;
  }

  #target(name: string): string {
    const key = this.#targets.admit(name);
    const evicted = this.#targets.evicted;
    if (evicted !== undefined) for (const concern of this.#all) concern.foldTarget?.(evicted, OTHER_TARGETS);
    return key;
  }

  /** Adds a `summary`, `breaker`, `judgement` or `judgement_summary` record. */
  addRecord(record: AggregateRecord): void {
    const time = parseTimestamp(String(record.timestamp));
    if (!this.#inPeriod(time)) return;
    if (record.type === 'judgement' || record.type === 'judgement_summary') return this.#concerns.similarity.addJudgement(record);
    for (const concern of this.#all) concern.addRecord?.(record, time);
  }

  /** Adds one joined request. */
  addEntry(entry: ShadowLogEntry): void {
    const time = entryTime(entry);
    if (!this.#inPeriod(time)) return;
    const routeName = routeOf(entry);
    const filter = this.#resolved.options.route;
    if (filter !== undefined && routeName !== filter) return;
    const context = this.#context;
    context.entry = entry;
    context.time = time;
    context.route = this.#route(routeName);
    context.hash = hashString(String(entry.requestId));
    context.entry = this.#withoutRequestFaults(entry);
    this.#candidates(context.entry.shadows, context.shadowTargets);
    this.#candidates(context.entry.comparisons, context.comparisonTargets);
    for (const concern of this.#all) concern.add(context);
  }

  /**
   * The entry without the candidate calls that failed by the request's shape (`requestFault`) and their comparisons:
   * not the model's doing, so they are kept out of every criterion, rate and latency, and counted on their own.
   */
  #withoutRequestFaults(entry: ShadowLogEntry): ShadowLogEntry {
    let faulted: Set<string> | undefined;
    for (const shadow of entry.shadows) {
      if (shadow.requestFault !== true || shadow.role === 'secondary') continue;
      this.#concerns.totals.requestFaults.add(shadowColumn(shadow));
      (faulted ??= new Set()).add(String(shadow.target));
    }
    if (faulted === undefined) return entry;
    const kept = (record: { target: string; role?: string }): boolean => record.role === 'secondary' || !faulted.has(String(record.target));
    return {
      ...entry,
      shadows: entry.shadows.filter((shadow) => shadow.role === 'secondary' || shadow.requestFault !== true),
      comparisons: entry.comparisons.filter(kept),
    };
  }

  /** The candidate each record is counted under (`null`: a production replica, which only measures noise). */
  #candidates(records: readonly { target: string; role?: string }[], out: (string | null)[]): void {
    out.length = records.length;
    let evicted = false;
    for (let i = 0; i < records.length; i++) {
      const record = records[i] as { target: string; role?: string };
      out[i] = record.role === 'secondary' ? null : this.#target(String(record.target));
      if (this.#targets.evicted !== undefined) evicted = true;
    }
    // A candidate admitted late in the list may have pushed out one named earlier in it.
    if (evicted) out.forEach((t, i) => (out[i] = t === null || this.#targets.has(t) ? t : OTHER_TARGETS));
  }

  /** Everything counted so far, as plain data: hand it to another builder's `merge` (another thread's, say). */
  state(): ReportBuilderState {
    const concerns: Record<string, unknown> = {};
    for (const [name, concern] of Object.entries(this.#concerns)) if (concern !== null) concerns[name] = concern.state();
    return { routes: [...this.#routes.keys], targets: [...this.#targets.keys], concerns };
  }

  /**
   * Adds what another builder with the same options counted: the result is the builder that counted both. Its routes
   * and candidates go through this builder's caps first, so the kept ones are those a single pass would keep.
   */
  merge(state: ReportBuilderState): void {
    for (const route of state.routes) this.#route(route);
    for (const target of state.targets) this.#target(target);
    for (const [name, concern] of Object.entries(this.#concerns)) {
      if (concern !== null && state.concerns[name] !== undefined) (concern as Concern).merge(state.concerns[name], this.#keys);
    }
  }

  /**
   * Draws the latency bootstrap's resamples of one more cell the verdict will likely judge (one whose samples are full
   * already, so more requests will not change their size); `false` once there is none left. For a caller with a core
   * free while it waits for the rest of the requests (report/parallel-report.ts): the resamples depend only on the
   * samples' sizes and the cell's seed, so `build` uses them where those match and draws the others itself, and the
   * report is the same either way.
   */
  drawAhead(): boolean {
    this.#ahead ??= fullLatencyCells(this.#concerns, this.#resolved, LATENCY_SAMPLE, MAX_DRAWN_AHEAD);
    const cell = this.#ahead.shift();
    if (cell !== undefined) this.#draws.draw(cell.nA, cell.nB, LATENCY_QUANTILES, cell.seed, RESAMPLES);
    return this.#ahead.length > 0;
  }

  /** The finished report; `readStats` (from the reader) adds the reading figures. */
  build(readStats: ReadStats | null = null): Report {
    return reportOf(this.#concerns, this.#resolved, readStats, this.#draws);
  }
}

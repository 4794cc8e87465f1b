/**
 * Similarity of generated answers in the report: the scores comparison records carry (`similarity`, per text path)
 * and the `judgement` records of the embed and judge hooks, gathered while the logs stream by.
 *
 * Per target (candidates and the secondary, the production replica) and per route, each comparison's lowest score
 * goes into a 101-bin histogram (0.01 wide): the distribution, the share under the threshold, the median with a
 * distribution-free 95% interval, and the bins the similarity criterion rank-tests. Per target and path, the same
 * over all routes. The lowest-scoring pairs of each candidate keep both texts (as logged: masked, cut). Memory is
 * bounded: at most `maxCells` cells of 404 bytes, `MAX_PATHS` paths per target, `LOWEST` pairs per target.
 *
 * `add*` feed it, `merge` joins two (one per log shard, say), `result` gives the report's section and
 * `verdictInputs` what the similarity criterion judges.
 */
import type { ShadowLogEntry } from '../read/types.js';
import type { ComparisonRecord, JudgementRecord, JudgementSummaryRecord } from '../types.js';
import { boundedJson, compileLabelPath, evaluatePath } from './label-path.js';
import type { Rate } from './wilson.js';
import { hashString } from '../read/hash.js';
import { KeyedSample, type KeyedSampleState } from './stats/keyed-sample.js';
import { wilson } from './wilson.js';

const SCORE_BINS = 101;
const MAX_PATHS = 20;
const LOWEST = 5;
const MAX_TEXT = 600;
const MAX_JUDGE_SAMPLES = 2_000;
const ALL = '\u0000all';

interface ScoreHistogramState {
  bins: number[];
  count: number;
  below: number;
  thresholds: [number, number][];
}

/** Everything a `SimilarityAccumulator` counted, as plain (structured-cloneable) data. */
export interface SimilarityState {
  cells: [string, [string, ScoreHistogramState][]][];
  roles: [string, 'candidate' | 'secondary'][];
  paths: [string, [string, { role: 'candidate' | 'secondary'; measure: string; scores: ScoreHistogramState }][]][];
  otherPaths: number;
  lowest: [string, LowestPair[]][];
  judges: [string, { role: 'candidate' | 'secondary'; scores: KeyedSampleState; seen: number; failed: [string, number][]; lowest: JudgementFigures['lowest'] }][];
  judging: SimilarityFigures['judging'];
}

/** Renames a candidate's or a route's key (the report's caps); the secondary and the all-routes cell keep theirs. */
interface SimilarityKeys {
  route(name: string): string;
  target(name: string): string;
}

/** A score distribution: counts of scores rounded to 0.01 (bin i holds i/100), and how many fell under their threshold. */
export class ScoreHistogram {
  readonly bins = new Uint32Array(SCORE_BINS);
  count = 0;
  below = 0;
  /** How often each threshold was seen (a path's threshold is fixed by configuration; a change shows as two). */
  readonly thresholds = new Map<number, number>();

  add(score: number, threshold: number | undefined): void {
    const clamped = Math.min(1, Math.max(0, score));
    this.bins[Math.round(clamped * 100)]!++;
    this.count++;
    if (threshold !== undefined) {
      if (score < threshold) this.below++;
      if (this.thresholds.size < 8 || this.thresholds.has(threshold)) this.thresholds.set(threshold, (this.thresholds.get(threshold) ?? 0) + 1);
    }
  }

  merge(other: ScoreHistogram): void {
    for (let i = 0; i < SCORE_BINS; i++) this.bins[i]! += other.bins[i]!;
    this.count += other.count;
    this.below += other.below;
    for (const [threshold, n] of other.thresholds) this.thresholds.set(threshold, (this.thresholds.get(threshold) ?? 0) + n);
  }

  /** Plain data, to cross threads. */
  state(): ScoreHistogramState {
    return { bins: [...this.bins], count: this.count, below: this.below, thresholds: [...this.thresholds] };
  }

  static fromState(state: ScoreHistogramState): ScoreHistogram {
    const h = new ScoreHistogram();
    h.bins.set(state.bins);
    h.count = state.count;
    h.below = state.below;
    for (const [threshold, n] of state.thresholds) h.thresholds.set(threshold, n);
    return h;
  }

  /** The score at 1-based rank `rank` (nearest rank). */
  atRank(rank: number): number {
    let seen = 0;
    for (let i = 0; i < SCORE_BINS; i++) {
      seen += this.bins[i]!;
      if (seen >= rank) return i / 100;
    }
    return 1;
  }

  /**
   * Median with its 95% interval from order statistics (the ranks n/2 ± 1.96·√n/2): distribution-free, exact in
   * coverage for any shape, and read off the bins at no cost, where a bootstrap would only approximate it.
   */
  median(): { median: number; low: number; high: number } | null {
    const n = this.count;
    if (n === 0) return null;
    const spread = 1.96 * Math.sqrt(n) / 2;
    return {
      median: this.atRank(Math.ceil(n / 2)),
      low: this.atRank(Math.max(1, Math.floor(n / 2 - spread))),
      high: this.atRank(Math.min(n, Math.ceil(n / 2 + spread + 1))),
    };
  }

  /** The threshold most of the scores were judged by. */
  threshold(): number | null {
    let best: number | null = null;
    let most = 0;
    for (const [threshold, n] of this.thresholds) if (n > most) [best, most] = [threshold, n];
    return best;
  }

  /** Counts in 20 bins of 0.05 (the last holds 0.95–1), for a chart. */
  histogram(): number[] {
    const out = new Array<number>(20).fill(0);
    for (let i = 0; i < SCORE_BINS; i++) out[Math.min(19, Math.floor(i / 5))]! += this.bins[i]!;
    return out;
  }

  /** `[score, share at or below]` at every 0.05. */
  cdf(): [number, number][] {
    const out: [number, number][] = [];
    let seen = 0;
    for (let i = 0; i < SCORE_BINS; i++) {
      seen += this.bins[i]!;
      if (i % 5 === 0) out.push([i / 100, this.count === 0 ? 0 : seen / this.count]);
    }
    return out;
  }
}

/** One target (on one route, or all routes): its distribution as the report shows it. */
export interface SimilarityCell {
  target: string;
  role: 'candidate' | 'secondary';
  /** `null`: all routes. */
  route: string | null;
  /** Comparisons with at least one score; each counts its lowest. */
  count: number;
  median: number | null;
  /** Distribution-free 95% interval of the median. */
  low: number | null;
  high: number | null;
  /** Comparisons with a score under its path's threshold. */
  below: Rate;
  /** The threshold most scores were judged by. */
  threshold: number | null;
  /** Counts in 20 bins of 0.05. */
  histogram: number[];
  /** `[score, share at or below]` every 0.05. */
  cdf: [number, number][];
}

/** One text path of one target, all routes. */
interface SimilarityPathFigures {
  target: string;
  role: 'candidate' | 'secondary';
  path: string;
  measure: string;
  count: number;
  median: number | null;
  below: Rate;
  threshold: number | null;
}

/** One of a candidate's lowest-scoring comparisons, both texts as logged (masked, cut at 600 characters). */
interface LowestPair {
  target: string;
  requestId: string;
  route: string;
  path: string;
  score: number;
  threshold: number | null;
  production: string | null;
  candidate: string | null;
}

/** The embed or judge hook's scores for one target. */
export interface JudgementFigures {
  target: string;
  role: 'candidate' | 'secondary';
  hook: 'embed' | 'judge';
  /** Scores received. */
  count: number;
  median: number | null;
  p10: number | null;
  /** Calls that gave no score, by error code. */
  failed: Record<string, number>;
  /** The lowest scores with the judge's reasons. */
  lowest: { requestId: string; path: string; score: number; reason: string | null }[];
}

export interface SimilarityFigures {
  /** Each target over all routes first, then per route; candidates before the secondary. */
  cells: SimilarityCell[];
  paths: SimilarityPathFigures[];
  /** Paths beyond the 20 tracked per target, counted together. */
  otherPaths: number;
  lowest: LowestPair[];
  judgements: JudgementFigures[];
  /** Sums of the `judgement_summary` records; `null` without any. */
  judging: { sampled: number; calls: number; succeeded: number; failed: Record<string, number>; skipped: Record<string, number> } | null;
}

/** What the similarity criterion judges for one candidate on one route (`route` null: all routes). */
export interface SimilarityInput {
  target: string;
  route: string | null;
  candidate: ScoreHistogram;
  /** Production against its replica on the same route; `null` without a secondary (or with too few of its scores). */
  secondary: ScoreHistogram | null;
}

interface PathCell {
  role: 'candidate' | 'secondary';
  measure: string;
  scores: ScoreHistogram;
}

interface JudgeCell {
  role: 'candidate' | 'secondary';
  /** Keyed by request and path, so the sample does not depend on the order records came in (threads). */
  scores: KeyedSample;
  seen: number;
  failed: Map<string, number>;
  lowest: JudgementFigures['lowest'];
}

interface Scored {
  path: string;
  measure: string;
  score: number;
  threshold: number | undefined;
}

export class SimilarityAccumulator {
  /** target → route (or ALL) → distribution of each comparison's lowest score. */
  readonly #cells = new Map<string, Map<string, ScoreHistogram>>();
  readonly #roles = new Map<string, 'candidate' | 'secondary'>();
  readonly #paths = new Map<string, Map<string, PathCell>>();
  #otherPaths = 0;
  readonly #lowest = new Map<string, LowestPair[]>();
  readonly #judges = new Map<string, JudgeCell>();
  #judging: SimilarityFigures['judging'] = null;
  readonly #maxCells: number;
  #cellCount = 0;

  constructor(options: { maxCells?: number } = {}) {
    this.#maxCells = options.maxCells ?? 20_000;
  }

  /** A comparison of the entry (candidate or secondary) on `route` (the report's route key) under target key `target`. */
  addComparison(route: string, target: string, comparison: ComparisonRecord, entry: ShadowLogEntry): void {
    const scored = scoresOf(comparison.similarity);
    if (scored.length === 0) return;
    const role = comparison.role === 'secondary' ? 'secondary' : 'candidate';
    this.#roles.set(target, role);
    let lowest = scored[0]!;
    for (const s of scored) {
      if (s.score < lowest.score) lowest = s;
      this.#path(target, role, s.path, s.measure)?.scores.add(s.score, s.threshold);
    }
    for (const key of [ALL, route]) this.#cell(target, key)?.add(lowest.score, lowest.threshold);
    if (role === 'candidate') this.#keepLowest(target, route, lowest, comparison, entry);
  }

  /** A `judgement` or `judgement_summary` record (already filtered by period and route). */
  addJudgement(record: JudgementRecord | JudgementSummaryRecord): void {
    if (record.type === 'judgement_summary') return this.#addSummary(record);
    const hook = record.hook === 'embed' ? 'embed' : 'judge';
    const target = String(record.target);
    const key = `${hook}\u0000${target}`;
    let cell = this.#judges.get(key);
    if (cell === undefined) {
      if (this.#judges.size >= 2 * 64) return;
      cell = { role: record.role === 'secondary' ? 'secondary' : 'candidate', scores: new KeyedSample(MAX_JUDGE_SAMPLES), seen: 0, failed: new Map(), lowest: [] };
      this.#judges.set(key, cell);
    }
    if (record.error !== undefined) {
      const code = String(record.error.code);
      if (cell.failed.size < 20 || cell.failed.has(code)) cell.failed.set(code, (cell.failed.get(code) ?? 0) + 1);
      return;
    }
    if (typeof record.score !== 'number' || !Number.isFinite(record.score)) return;
    cell.seen++;
    // Every score up to the cap, then a uniform sample of them: enough for a median and a decile.
    cell.scores.add(hashString(`${String(record.requestId)}\u0000${String(record.path)}`), record.score);
    const reason = typeof record.reason === 'string' ? record.reason.slice(0, MAX_TEXT) : null;
    insertLowest(cell.lowest, { requestId: String(record.requestId), path: String(record.path), score: record.score, reason }, 3);
  }

  merge(other: SimilarityAccumulator): void {
    for (const [target, routes] of other.#cells) for (const [route, scores] of routes) this.#cell(target, route)?.merge(scores);
    for (const [target, role] of other.#roles) this.#roles.set(target, role);
    for (const [target, paths] of other.#paths) for (const [path, cell] of paths) this.#path(target, cell.role, path, cell.measure)?.scores.merge(cell.scores);
    this.#otherPaths += other.#otherPaths;
    for (const [target, pairs] of other.#lowest) for (const pair of pairs) this.#insertPair(target, pair);
    for (const [key, cell] of other.#judges) {
      const mine = this.#judges.get(key);
      if (mine === undefined) this.#judges.set(key, { ...cell, scores: sampleOf(cell.scores.state()), failed: new Map(cell.failed), lowest: [...cell.lowest] });
      else {
        mine.scores.merge(cell.scores.state());
        mine.seen += cell.seen;
        for (const [code, n] of cell.failed) mine.failed.set(code, (mine.failed.get(code) ?? 0) + n);
        for (const low of cell.lowest) insertLowest(mine.lowest, low, 3);
      }
    }
    if (other.#judging !== null) this.#addSummaryCounts(other.#judging);
  }

  /** Plain data of everything counted, to merge in another thread (`mergeState`). */
  state(): SimilarityState {
    return {
      cells: [...this.#cells].map(([target, routes]) => [target, [...routes].map(([route, h]) => [route, h.state()])]),
      roles: [...this.#roles],
      paths: [...this.#paths].map(([target, paths]) => [target, [...paths].map(([path, c]) => [path, { role: c.role, measure: c.measure, scores: c.scores.state() }])]),
      otherPaths: this.#otherPaths,
      lowest: [...this.#lowest].map(([target, pairs]) => [target, pairs.map((pair) => ({ ...pair }))]),
      judges: [...this.#judges].map(([key, c]) => [key, { role: c.role, scores: c.scores.state(), seen: c.seen, failed: [...c.failed], lowest: [...c.lowest] }]),
      judging: this.#judging === null ? null : structuredClone(this.#judging),
    };
  }

  /** Adds another accumulator's `state()`; its candidates and routes go through `keys` (the report's caps). */
  mergeState(state: SimilarityState, keys: SimilarityKeys): void {
    const roles = new Map(state.roles);
    const target = (name: string): string => (roles.get(name) === 'secondary' ? name : keys.target(name));
    const route = (name: string): string => (name === ALL ? ALL : keys.route(name));
    const other = new SimilarityAccumulator({ maxCells: Infinity });
    for (const [name, role] of state.roles) other.#roles.set(target(name), role);
    for (const [name, routes] of state.cells) for (const [r, h] of routes) other.#cell(target(name), route(r))!.merge(ScoreHistogram.fromState(h));
    for (const [name, paths] of state.paths) for (const [path, c] of paths) other.#path(target(name), c.role, path, c.measure)?.scores.merge(ScoreHistogram.fromState(c.scores));
    other.#otherPaths += state.otherPaths;
    for (const [name, pairs] of state.lowest) for (const pair of pairs) other.#insertPair(target(name), { ...pair, target: target(name), route: route(pair.route) });
    for (const [key, c] of state.judges) other.#judges.set(key, { ...c, scores: sampleOf(c.scores), failed: new Map(c.failed) });
    other.#judging = state.judging;
    this.merge(other);
  }

  /** A route or candidate left the report's cap: what was counted under `from` goes under `into`. */
  fold(kind: 'route' | 'target', from: string, into: string): void {
    const state = this.state();
    const rename = (name: string): string => (name === from ? into : name);
    const fresh = new SimilarityAccumulator({ maxCells: this.#maxCells });
    fresh.mergeState(state, kind === 'route' ? { route: rename, target: (t) => t } : { route: (r) => r, target: rename });
    this.#cells.clear();
    this.#roles.clear();
    this.#paths.clear();
    this.#lowest.clear();
    this.#judges.clear();
    this.#judging = null;
    this.#otherPaths = 0;
    this.#cellCount = 0;
    this.merge(fresh);
  }

  /** The report's section; `null` when no comparison carried a score and no hook wrote anything. */
  result(routeOrder: readonly string[]): SimilarityFigures | null {
    if (this.#cells.size === 0 && this.#judges.size === 0 && this.#judging === null) return null;
    const cells: SimilarityCell[] = [];
    for (const target of this.#targetOrder()) {
      const routes = this.#cells.get(target)!;
      for (const route of [ALL, ...routeOrder]) {
        const scores = routes.get(route);
        if (scores !== undefined) cells.push(cellFigures(target, this.#roles.get(target) ?? 'candidate', route === ALL ? null : route, scores));
      }
    }
    const paths: SimilarityPathFigures[] = [];
    for (const target of this.#targetOrder()) {
      for (const [path, cell] of [...(this.#paths.get(target) ?? [])].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const m = cell.scores.median();
        paths.push({ target, role: cell.role, path, measure: cell.measure, count: cell.scores.count, median: m?.median ?? null, below: wilson(cell.scores.below, cell.scores.count), threshold: cell.scores.threshold() });
      }
    }
    const lowest = [...this.#lowest.keys()].sort().flatMap((target) => this.#lowest.get(target)!);
    const judgements = [...this.#judges.entries()]
      .sort(([a, x], [b, y]) => (x.role === y.role ? (a < b ? -1 : 1) : x.role === 'candidate' ? -1 : 1))
      .map(([key, cell]) => judgementFigures(key, cell));
    return { cells, paths, otherPaths: this.#otherPaths, lowest, judgements, judging: this.#judging };
  }

  /** Per candidate over all routes and per route: its scores, and the secondary's on the same route when there is one. */
  verdictInputs(candidates: readonly string[], routeOrder: readonly string[]): SimilarityInput[] {
    const secondaries = [...this.#roles].filter(([, role]) => role === 'secondary').map(([name]) => name);
    const inputs: SimilarityInput[] = [];
    for (const target of candidates) {
      const routes = this.#cells.get(target);
      if (routes === undefined || this.#roles.get(target) === 'secondary') continue;
      for (const route of [ALL, ...routeOrder]) {
        const candidate = routes.get(route);
        if (candidate === undefined) continue;
        const secondary = secondaries.map((name) => this.#cells.get(name)?.get(route)).find((s) => s !== undefined) ?? null;
        inputs.push({ target, route: route === ALL ? null : route, candidate, secondary });
      }
    }
    return inputs;
  }

  #targetOrder(): string[] {
    return [...this.#cells.keys()].sort((a, b) => {
      const ra = this.#roles.get(a) === 'secondary' ? 1 : 0;
      const rb = this.#roles.get(b) === 'secondary' ? 1 : 0;
      return ra - rb || (a < b ? -1 : a > b ? 1 : 0);
    });
  }

  #cell(target: string, route: string): ScoreHistogram | undefined {
    let routes = this.#cells.get(target);
    if (routes === undefined) {
      routes = new Map();
      this.#cells.set(target, routes);
    }
    let scores = routes.get(route);
    if (scores === undefined) {
      if (this.#cellCount >= this.#maxCells) return undefined;
      scores = new ScoreHistogram();
      routes.set(route, scores);
      this.#cellCount++;
    }
    return scores;
  }

  #path(target: string, role: 'candidate' | 'secondary', path: string, measure: string): PathCell | undefined {
    let paths = this.#paths.get(target);
    if (paths === undefined) {
      paths = new Map();
      this.#paths.set(target, paths);
    }
    let cell = paths.get(path);
    if (cell === undefined) {
      if (paths.size >= MAX_PATHS) {
        this.#otherPaths++;
        return undefined;
      }
      cell = { role, measure, scores: new ScoreHistogram() };
      paths.set(path, cell);
    }
    return cell;
  }

  #keepLowest(target: string, route: string, lowest: Scored, comparison: ComparisonRecord, entry: ShadowLogEntry): void {
    const kept = this.#lowest.get(target);
    if (kept !== undefined && kept.length >= LOWEST && !before({ score: lowest.score, requestId: entry.requestId, path: lowest.path }, kept[kept.length - 1]!)) return;
    const texts = textsOf(lowest.path, comparison, entry);
    this.#insertPair(target, { target, requestId: entry.requestId, route, path: lowest.path, score: lowest.score, threshold: lowest.threshold ?? null, ...texts });
  }

  #insertPair(target: string, pair: LowestPair): void {
    let kept = this.#lowest.get(target);
    if (kept === undefined) {
      kept = [];
      this.#lowest.set(target, kept);
    }
    insertLowest(kept, pair, LOWEST);
  }

  #addSummary(record: JudgementSummaryRecord): void {
    const calls = (record.calls?.embed ?? 0) + (record.calls?.judge ?? 0);
    this.#addSummaryCounts({
      sampled: numberOr0(record.sampled),
      calls: Number.isFinite(calls) ? calls : 0,
      succeeded: numberOr0(record.succeeded),
      failed: countsOf(record.failed),
      skipped: countsOf(record.skipped),
    });
  }

  #addSummaryCounts(counts: NonNullable<SimilarityFigures['judging']>): void {
    const total = (this.#judging ??= { sampled: 0, calls: 0, succeeded: 0, failed: {}, skipped: {} });
    total.sampled += counts.sampled;
    total.calls += counts.calls;
    total.succeeded += counts.succeeded;
    for (const [code, n] of Object.entries(counts.failed)) if (code in total.failed || Object.keys(total.failed).length < 20) total.failed[code] = (total.failed[code] ?? 0) + n;
    for (const [reason, n] of Object.entries(counts.skipped)) if (reason in total.skipped || Object.keys(total.skipped).length < 20) total.skipped[reason] = (total.skipped[reason] ?? 0) + n;
  }
}

/** The well-formed entries of a record's `similarity` (it comes from a log: anything may be there). */
function scoresOf(value: unknown): Scored[] {
  if (!Array.isArray(value)) return [];
  const out: Scored[] = [];
  for (const item of value.slice(0, 100)) {
    if (typeof item !== 'object' || item === null) continue;
    const { path, measure, score, threshold } = item as Record<string, unknown>;
    if (typeof path !== 'string' || typeof score !== 'number' || !Number.isFinite(score)) continue;
    out.push({ path, measure: typeof measure === 'string' ? measure : '?', score, threshold: typeof threshold === 'number' && Number.isFinite(threshold) ? threshold : undefined });
  }
  return out;
}

/** Both texts at `path`: from the comparison's difference (what the comparator saw), else from the logged answers. */
function textsOf(path: string, comparison: ComparisonRecord, entry: ShadowLogEntry): { production: string | null; candidate: string | null } {
  const difference = Array.isArray(comparison.differences) ? comparison.differences.find((d) => typeof d === 'object' && d !== null && d.path === path) : undefined;
  if (difference !== undefined) return { production: shown(difference.production), candidate: shown(difference.shadow) };
  const shadow = entry.shadows.find((s) => s.target === comparison.target);
  return { production: loggedText(entry.production?.response, path), candidate: loggedText(shadow?.response, path) };
}

function loggedText(response: { body?: unknown; stream?: { assembled?: string } } | undefined, path: string): string | null {
  if (response === undefined) return null;
  if (typeof response.stream?.assembled === 'string') {
    if (path === '$') return shown(response.stream.assembled);
    try {
      return shown(evaluatePath(JSON.parse(response.stream.assembled), compileLabelPath(path)));
    } catch {
      return null;
    }
  }
  try {
    return shown(path === '$' ? response.body : evaluatePath(response.body, compileLabelPath(path)));
  } catch {
    return null;
  }
}

function shown(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const text = typeof value === 'string' ? value : boundedJson(value);
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text;
}

/** Lowest score first, ties by requestId and path: an order that does not depend on the order records came in (threads). */
function before(a: { score: number; requestId: string; path: string }, b: { score: number; requestId: string; path: string }): boolean {
  if (a.score !== b.score) return a.score < b.score;
  if (a.requestId !== b.requestId) return a.requestId < b.requestId;
  return a.path < b.path;
}

function insertLowest<T extends { score: number; requestId: string; path: string }>(list: T[], item: T, cap: number): void {
  if (list.length >= cap && !before(item, list[list.length - 1]!)) return;
  let at = list.findIndex((other) => before(item, other));
  if (at === -1) at = list.length;
  list.splice(at, 0, item);
  if (list.length > cap) list.length = cap;
}

function cellFigures(target: string, role: 'candidate' | 'secondary', route: string | null, scores: ScoreHistogram): SimilarityCell {
  const m = scores.median();
  return {
    target,
    role,
    route,
    count: scores.count,
    median: m?.median ?? null,
    low: m?.low ?? null,
    high: m?.high ?? null,
    below: wilson(scores.below, scores.count),
    threshold: scores.threshold(),
    histogram: scores.histogram(),
    cdf: scores.cdf(),
  };
}

function judgementFigures(key: string, cell: JudgeCell): JudgementFigures {
  const [hook, target] = key.split('\u0000') as ['embed' | 'judge', string];
  const sorted = [...cell.scores.values].sort((a, b) => a - b);
  const at = (q: number): number | null => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!);
  return { target, role: cell.role, hook, count: cell.seen, median: at(0.5), p10: at(0.1), failed: Object.fromEntries([...cell.failed].sort()), lowest: cell.lowest };
}

function sampleOf(state: KeyedSampleState): KeyedSample {
  const sample = new KeyedSample(MAX_JUDGE_SAMPLES);
  sample.merge(state);
  return sample;
}

function numberOr0(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function countsOf(value: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (typeof value !== 'object' || value === null) return out;
  for (const [key, n] of Object.entries(value).slice(0, 20)) if (typeof n === 'number' && Number.isFinite(n)) out[key] = n;
  return out;
}

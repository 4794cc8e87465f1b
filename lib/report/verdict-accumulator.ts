/**
 * What the verdict needs, gathered while the logs stream by: per candidate × route (and per candidate over all routes)
 * agreement counts, latency in a histogram (every sample, for the rank test) plus a 1,000-value seeded reservoir (for
 * the bootstrap), and error counts; per route the same for production; per candidate and production label the
 * agreement; per candidate a 5,000-value reservoir of paired scores.
 *
 * Memory is bounded: routes and candidates are capped by the builder, so at most (routes + 1) × (candidates + 1) cells
 * of about 27 KB each.
 */
import { LatencyHistogram } from './histogram.js';
import { Reservoir } from './stats/reservoir.js';
import type { CellInput, LabelInput, LatencySide, ScoreInput, VerdictInput } from './verdict.js';

const LATENCY_SAMPLE = 1_000;
const SCORE_SAMPLE = 5_000;

class Side {
  readonly histogram = new LatencyHistogram();
  readonly sample: Reservoir;
  failures = 0;
  total = 0;

  constructor(seed: number) {
    this.sample = new Reservoir(LATENCY_SAMPLE, seed);
  }

  addLatency(ms: unknown): void {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return;
    this.histogram.add(ms);
    this.sample.add(ms);
  }

  latency(): LatencySide {
    return { count: this.histogram.count, bins: this.histogram.bins, sample: this.sample.values };
  }
}

class Cell {
  readonly side: Side;
  comparisons = 0;
  matches = 0;
  noiseAware = 0;
  noiseAwareMatches = 0;
  labelPairs = 0;
  labelAgreed = 0;

  constructor(seed: number) {
    this.side = new Side(seed);
  }
}

interface Scores {
  production: Reservoir;
  candidate: Reservoir;
  pairs: number;
  sum: number;
}

const ALL = '\u0000all';

export class VerdictAccumulator {
  readonly #cells = new Map<string, Map<string, Cell>>();
  readonly #production = new Map<string, Side>();
  readonly #labels = new Map<string, Map<string, { agreed: number; total: number }>>();
  readonly #scores = new Map<string, Scores>();
  #seed = 1;
  readonly #labelPath: boolean;
  readonly #scorePath: string | null;

  constructor(options: { labelPath: boolean; scorePath: string | null }) {
    this.#labelPath = options.labelPath;
    this.#scorePath = options.scorePath;
  }

  #productionSide(route: string): Side {
    let side = this.#production.get(route);
    if (side === undefined) {
      side = new Side(this.#seed++);
      this.#production.set(route, side);
    }
    return side;
  }

  #cell(target: string, route: string): Cell {
    let routes = this.#cells.get(target);
    if (routes === undefined) {
      routes = new Map();
      this.#cells.set(target, routes);
    }
    let cell = routes.get(route);
    if (cell === undefined) {
      cell = new Cell(this.#seed++);
      routes.set(route, cell);
    }
    return cell;
  }

  #both<T>(target: string, route: string, each: (cell: Cell) => T): void {
    each(this.#cell(target, route));
    each(this.#cell(target, ALL));
  }

  addProduction(route: string, durationMs: unknown, status: unknown): void {
    for (const side of [this.#productionSide(route), this.#productionSide(ALL)]) {
      side.total++;
      if (typeof status === 'number' && status >= 500) side.failures++;
      side.addLatency(durationMs);
    }
  }

  /** A candidate's call: `failed` when it got no answer or a 5xx; latency only for answers. */
  addShadow(route: string, target: string, failed: boolean, durationMs: unknown, answered: boolean): void {
    this.#both(target, route, (cell) => {
      cell.side.total++;
      if (failed) cell.side.failures++;
      if (answered) cell.side.addLatency(durationMs);
    });
  }

  addComparison(route: string, target: string, match: boolean, withoutNoise: boolean | undefined): void {
    this.#both(target, route, (cell) => {
      cell.comparisons++;
      if (match) cell.matches++;
      if (withoutNoise !== undefined) {
        cell.noiseAware++;
        if (withoutNoise) cell.noiseAwareMatches++;
      }
    });
  }

  /** A production/candidate label pair; `productionLabel` is already capped by the builder. */
  addLabels(route: string, target: string, productionLabel: string, agreed: boolean): void {
    this.#both(target, route, (cell) => {
      cell.labelPairs++;
      if (agreed) cell.labelAgreed++;
    });
    let labels = this.#labels.get(target);
    if (labels === undefined) {
      labels = new Map();
      this.#labels.set(target, labels);
    }
    const counts = labels.get(productionLabel) ?? { agreed: 0, total: 0 };
    counts.total++;
    if (agreed) counts.agreed++;
    labels.set(productionLabel, counts);
  }

  addScores(target: string, production: number, candidate: number): void {
    let scores = this.#scores.get(target);
    if (scores === undefined) {
      scores = { production: new Reservoir(SCORE_SAMPLE, this.#seed), candidate: new Reservoir(SCORE_SAMPLE, this.#seed), pairs: 0, sum: 0 };
      this.#seed++;
      this.#scores.set(target, scores);
    }
    // The same seed on both sides keeps pairs together in the reservoirs.
    scores.production.add(production);
    scores.candidate.add(candidate);
    scores.pairs++;
    scores.sum += Math.abs(candidate - production);
  }

  /** Noise-free match of one candidate on one route (`route` undefined: all routes). */
  rates(target: string, route?: string): { comparisons: number; matches: number; noiseAware: number; noiseAwareMatches: number } {
    const cell = this.#cells.get(target)?.get(route ?? ALL);
    return cell ?? { comparisons: 0, matches: 0, noiseAware: 0, noiseAwareMatches: 0 };
  }

  /** The verdict's input; `routeOrder` lists routes in report order. */
  input(targets: readonly string[], routeOrder: readonly string[]): VerdictInput {
    const cells: CellInput[] = [];
    for (const target of targets) {
      const routes = this.#cells.get(target);
      if (routes === undefined) continue;
      for (const route of [ALL, ...routeOrder]) {
        const cell = routes.get(route);
        const production = this.#production.get(route);
        if (cell === undefined) continue;
        cells.push(this.#cellInput(target, route === ALL ? null : route, cell, production));
      }
    }
    const labels: LabelInput[] = [];
    for (const target of targets) {
      for (const [label, counts] of [...(this.#labels.get(target) ?? new Map<string, { agreed: number; total: number }>())].sort(([a], [b]) => (a < b ? -1 : 1))) {
        labels.push({ target, label, agreed: counts.agreed, total: counts.total });
      }
    }
    const scores: ScoreInput[] = [];
    for (const target of targets) {
      const s = this.#scores.get(target);
      if (s === undefined || this.#scorePath === null) continue;
      scores.push({ target, path: this.#scorePath, production: s.production.values, candidate: s.candidate.values, pairs: s.pairs, sumAbsoluteDifference: s.sum });
    }
    return { cells, labels, scores };
  }

  #cellInput(target: string, route: string | null, cell: Cell, production: Side | undefined): CellInput {
    const empty = new Side(0);
    const prod = production ?? empty;
    const agreement = this.#labelPath
      ? { count: cell.labelAgreed, total: cell.labelPairs, basis: 'label agreement' as const }
      : cell.noiseAware > 0
        ? { count: cell.noiseAwareMatches, total: cell.noiseAware, basis: 'noise-free match' as const }
        : { count: cell.matches, total: cell.comparisons, basis: 'match' as const };
    return {
      target,
      route,
      agreement,
      latency: { candidate: cell.side.latency(), production: prod.latency() },
      errors: {
        candidate: { count: cell.side.failures, total: cell.side.total },
        production: { count: prod.failures, total: prod.total },
      },
    };
  }
}

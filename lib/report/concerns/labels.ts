/**
 * Labels (with a label path): production's label against each candidate's, as a confusion matrix, per production label
 * and candidate (the label-agreement criterion), and per route and candidate (the agreement criterion). Agreement is
 * judged on the labels themselves, so two labels beyond the cap that both count as `(other)` do not agree.
 */
import { CellMap, KeyCap, type CellsState, type KeyMapper } from '../keys.js';
import { boundedJson, compileLabelPath, evaluatePath, type PathStep } from '../label-path.js';
import type { LabelFigures } from '../types.js';
import type { LabelInput } from '../verdict.js';
import { wilson } from '../wilson.js';
import type { Concern, EntryContext } from './concern.js';

const OTHER = '(other)';

interface Agreed {
  agreed: number;
  total: number;
}

interface LabelsState {
  /** [production label, candidate label, pairs, pairs whose labels were equal]. */
  matrix: [string, string, number, number][];
  perTarget: [string, string, Agreed][];
  cells: CellsState<Agreed>;
  missing: number;
}

function labelKey(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return boundedJson(value);
}

const newAgreed = (): Agreed => ({ agreed: 0, total: 0 });
function addAgreed(into: Agreed, from: Agreed): void {
  into.agreed += from.agreed;
  into.total += from.total;
}

/** Adds the counts under `from` to those under `into`. */
function moveTo(map: Map<string, Agreed>, from: string, into: string): void {
  const pair = map.get(from);
  if (pair === undefined) return;
  map.delete(from);
  const kept = map.get(into);
  if (kept === undefined) map.set(into, pair);
  else addAgreed(kept, pair);
}

/** The value at `a`, `b` of a two-level map, created on first use. */
function at<V>(map: Map<string, Map<string, V>>, a: string, b: string, create: () => V): V {
  let inner = map.get(a);
  if (inner === undefined) {
    inner = new Map();
    map.set(a, inner);
  }
  let value = inner.get(b);
  if (value === undefined) {
    value = create();
    inner.set(b, value);
  }
  return value;
}

export class LabelsConcern implements Concern<LabelsState> {
  readonly path: string;
  missing = 0;
  /** Production label → candidate label → pairs (`total`) and pairs with equal labels (`agreed`). */
  readonly #matrix = new Map<string, Map<string, Agreed>>();
  /** Candidate → production label → agreement. */
  readonly #perTarget = new Map<string, Map<string, Agreed>>();
  readonly cells = new CellMap<Agreed>(newAgreed, addAgreed);
  readonly #steps: PathStep[];
  readonly #cap: KeyCap;

  constructor(options: { labelPath: string; maxLabels: number }) {
    this.path = options.labelPath;
    this.#steps = compileLabelPath(options.labelPath);
    this.#cap = new KeyCap(options.maxLabels, OTHER);
  }

  add({ entry, route, shadowTargets }: EntryContext): void {
    const production = entry.production;
    if (production === null) return;
    entry.shadows.forEach((shadow, i) => {
      const target = shadowTargets[i];
      if (target === null || target === undefined || shadow.error !== undefined) return;
      const p = labelKey(evaluatePath(production.response?.body, this.#steps));
      const s = labelKey(evaluatePath(shadow.response?.body, this.#steps));
      if (p === undefined || s === undefined) {
        this.missing++;
        return;
      }
      const pair = { agreed: p === s ? 1 : 0, total: 1 };
      addAgreed(this.cells.get(route, target), pair);
      this.#count(p, s, target, pair);
    });
  }

  /** Counts a pair of labels (before the cap) for `target`. */
  #count(production: string, candidate: string, target: string, pair: Agreed): void {
    let p = this.#label(production);
    const s = this.#label(candidate);
    // The candidate's label, taken second, may have pushed production's out of the cap.
    if (p !== OTHER && !this.#cap.has(p)) p = OTHER;
    addAgreed(at(this.#matrix, p, s, newAgreed), pair);
    addAgreed(at(this.#perTarget, target, p, newAgreed), pair);
  }

  #label(label: string): string {
    const kept = this.#cap.admit(label);
    const evicted = this.#cap.evicted;
    if (evicted !== undefined) this.#fold(evicted);
    return kept;
  }

  /** Moves every count of `label` (as production's or the candidate's) to `(other)`. */
  #fold(label: string): void {
    const row = this.#matrix.get(label);
    this.#matrix.delete(label);
    for (const columns of this.#matrix.values()) moveTo(columns, label, OTHER);
    for (const [s, pair] of row ?? []) addAgreed(at(this.#matrix, OTHER, s === label ? OTHER : s, newAgreed), pair);
    for (const labels of this.#perTarget.values()) moveTo(labels, label, OTHER);
  }

  figures(): LabelFigures {
    const names = new Set<string>();
    for (const [p, columns] of this.#matrix) {
      names.add(p);
      for (const s of columns.keys()) names.add(s);
    }
    const labels = [...names].sort((a, b) => (a === OTHER ? 1 : b === OTHER ? -1 : a < b ? -1 : a > b ? 1 : 0));
    const matrix = labels.map((p) => labels.map((s) => this.#matrix.get(p)?.get(s)?.total ?? 0));
    const rows = labels.map((p) => {
      const row = newAgreed();
      for (const pair of this.#matrix.get(p)?.values() ?? []) addAgreed(row, pair);
      return row;
    });
    const agreed = rows.reduce((sum, r) => sum + r.agreed, 0);
    const total = rows.reduce((sum, r) => sum + r.total, 0);
    const perLabel = labels
      .map((label, i) => ({
        label,
        agreement: wilson(rows[i]?.agreed ?? 0, rows[i]?.total ?? 0),
        shadowCount: matrix.reduce((sum, r) => sum + (r[i] ?? 0), 0),
      }))
      .filter((l) => l.agreement.total > 0 || l.shadowCount > 0);
    return { path: this.path, labels, matrix, agreement: wilson(agreed, total), perLabel, missing: this.missing };
  }

  /** Per candidate (in `targets` order), per production label in code-unit order. */
  verdictInput(targets: readonly string[]): LabelInput[] {
    return targets.flatMap((target) =>
      [...(this.#perTarget.get(target) ?? new Map<string, Agreed>())]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([label, counts]) => ({ target, label, agreed: counts.agreed, total: counts.total })),
    );
  }

  foldRoute(from: string, into: string): void {
    this.cells.foldRoute(from, into);
  }

  foldTarget(from: string, into: string): void {
    this.cells.foldTarget(from, into);
    const labels = this.#perTarget.get(from);
    this.#perTarget.delete(from);
    for (const [label, pair] of labels ?? []) addAgreed(at(this.#perTarget, into, label, newAgreed), pair);
  }

  state(): LabelsState {
    const flat = (map: Map<string, Map<string, Agreed>>): [string, string, Agreed][] =>
      [...map].flatMap(([a, inner]) => [...inner].map(([b, v]): [string, string, Agreed] => [a, b, { ...v }]));
    return {
      matrix: flat(this.#matrix).map(([p, s, v]) => [p, s, v.total, v.agreed]),
      perTarget: flat(this.#perTarget),
      cells: this.cells.state((cell) => ({ ...cell })),
      missing: this.missing,
    };
  }

  merge(state: LabelsState, keys: KeyMapper): void {
    this.missing += state.missing;
    this.cells.mergeState(state.cells, keys, addAgreed);
    for (const [p, s, total, agreed] of state.matrix) {
      let pk = this.#label(p);
      const sk = this.#label(s);
      if (pk !== OTHER && !this.#cap.has(pk)) pk = OTHER;
      addAgreed(at(this.#matrix, pk, sk, newAgreed), { agreed, total });
    }
    for (const [target, p, pair] of state.perTarget) addAgreed(at(this.#perTarget, keys.target(target), this.#label(p), newAgreed), pair);
  }
}

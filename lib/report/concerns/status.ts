/**
 * Status agreement: production's status against each candidate's (or its error code when the call failed), counted
 * per pair of one request.
 */
import type { ShadowRecord } from '../../types.js';
import { KeyCap, type KeyMapper } from '../keys.js';
import type { Report } from '../types.js';
import type { Concern, EntryContext } from './concern.js';

const MAX_STATUS_KEYS = 30;
const OTHER = '(other)';

type StatusState = [production: string, shadow: string, count: number][];

export function shadowColumn(shadow: ShadowRecord): string {
  if (shadow.error !== undefined) return String(shadow.error.code);
  return typeof shadow.status === 'number' ? String(shadow.status) : '(none)';
}

/** Numbers in numeric order first, then the rest in code-unit order. */
function compareStatus(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  const aNum = Number.isFinite(na);
  const bNum = Number.isFinite(nb);
  if (aNum && bNum) return na - nb;
  if (aNum !== bNum) return aNum ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export class StatusConcern implements Concern<StatusState> {
  /** Rows: production status; columns: the candidate's. */
  readonly #counts = new Map<string, Map<string, number>>();
  readonly #rows = new KeyCap(MAX_STATUS_KEYS, OTHER);
  readonly #columns = new KeyCap(MAX_STATUS_KEYS, OTHER);

  add({ entry, shadowTargets }: EntryContext): void {
    const production = entry.production;
    if (production === null) return;
    entry.shadows.forEach((shadow, i) => {
      if (shadowTargets[i] !== null) this.#count(String(production.status), shadowColumn(shadow), 1);
    });
  }

  #count(productionStatus: string, shadowStatus: string, n: number): void {
    const row = this.#rows.admit(productionStatus);
    if (this.#rows.evicted !== undefined) this.#foldRow(this.#rows.evicted);
    const column = this.#columns.admit(shadowStatus);
    if (this.#columns.evicted !== undefined) this.#foldColumn(this.#columns.evicted);
    let counts = this.#counts.get(row);
    if (counts === undefined) {
      counts = new Map();
      this.#counts.set(row, counts);
    }
    counts.set(column, (counts.get(column) ?? 0) + n);
  }

  #foldRow(status: string): void {
    const counts = this.#counts.get(status);
    this.#counts.delete(status);
    for (const [column, n] of counts ?? []) this.#count(OTHER, column, n);
  }

  #foldColumn(status: string): void {
    for (const counts of this.#counts.values()) {
      const n = counts.get(status);
      if (n === undefined) continue;
      counts.delete(status);
      counts.set(OTHER, (counts.get(OTHER) ?? 0) + n);
    }
  }

  figures(): Report['statusAgreement'] {
    const production = [...this.#counts.keys()].sort(compareStatus);
    const shadow = [...new Set([...this.#counts.values()].flatMap((row) => [...row.keys()]))].sort(compareStatus);
    return { production, shadow, counts: production.map((p) => shadow.map((s) => this.#counts.get(p)?.get(s) ?? 0)) };
  }

  state(): StatusState {
    return [...this.#counts].flatMap(([row, counts]) => [...counts].map(([column, n]): [string, string, number] => [row, column, n]));
  }

  merge(state: StatusState, _keys: KeyMapper): void {
    for (const [row, column, n] of state) this.#count(row, column, n);
  }
}

/**
 * Circuit breakers: the transitions the middleware logged (the first 50, in log order) and, from `summary` records,
 * the requests not sent per target while a breaker was open.
 */
import type { BreakerRecord, SummaryRecord } from '../../types.js';
import { CappedCounts, type KeyMapper } from '../keys.js';
import type { BreakerTransition, Report } from '../types.js';
import type { Concern } from './concern.js';
import { MAX_COUNTED_KEYS } from './totals.js';

const MAX_TRANSITIONS = 50;

interface BreakersState {
  transitions: BreakerTransition[];
  moreTransitions: number;
  openDrops: [string, number][];
}

export class BreakersConcern implements Concern<BreakersState> {
  readonly #transitions: BreakerTransition[] = [];
  #moreTransitions = 0;
  readonly #openDrops = new CappedCounts(MAX_COUNTED_KEYS);

  add(): void {
    // Requests carry nothing about breakers.
  }

  addRecord(record: SummaryRecord | BreakerRecord): void {
    if (record.type === 'breaker') {
      this.#transition({ timestamp: record.timestamp, target: String(record.target), state: record.state, reason: String(record.reason ?? '') });
      return;
    }
    if (typeof record.breakerOpen === 'object' && record.breakerOpen !== null) {
      for (const [target, n] of Object.entries(record.breakerOpen)) {
        if (typeof n === 'number') this.#openDrops.add(target, n);
      }
    }
  }

  #transition(transition: BreakerTransition): void {
    if (this.#transitions.length < MAX_TRANSITIONS) this.#transitions.push(transition);
    else this.#moreTransitions++;
  }

  figures(): Report['breakers'] {
    return {
      transitions: [...this.#transitions].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp)),
      moreTransitions: this.#moreTransitions,
      openDrops: this.#openDrops.sorted(),
    };
  }

  state(): BreakersState {
    return { transitions: [...this.#transitions], moreTransitions: this.#moreTransitions, openDrops: this.#openDrops.state() };
  }

  merge(state: BreakersState, _keys: KeyMapper): void {
    for (const transition of state.transitions) this.#transition(transition);
    this.#moreTransitions += state.moreTransitions;
    this.#openDrops.merge(state.openDrops);
  }
}

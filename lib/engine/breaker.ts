/**
 * Circuit breaker of one shadow target: after `failureThreshold` consecutive failures it opens and nothing is sent
 * for `cooldownMs`; then one probe goes through (half-open) and its outcome closes or reopens it.
 * Ours, not opossum: opossum 10 needs Node 22+, trips on an error percentage over a rolling window (no count of
 * consecutive failures), and cannot release a probe that was admitted but never sent.
 */
import type { BreakerState } from '../types.js';

/** Breaker options with every default filled in and `isFailure` a function. */
export interface ResolvedBreaker {
  failureThreshold: number;
  cooldownMs: number;
  isFailure: (outcome: { status?: number; errorCode?: string }) => boolean;
}

export interface BreakerTransition {
  state: BreakerState;
  reason: string;
}

export class CircuitBreaker {
  #state: BreakerState = 'closed';
  #consecutiveFailures = 0;
  #openedAt = 0;
  #probeInFlight = false;

  constructor(
    private readonly options: ResolvedBreaker,
    private readonly onTransition: (transition: BreakerTransition) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): BreakerState {
    return this.#state;
  }

  /** When an open breaker lets its next probe through (`Date.now()` clock); 0 when not open. */
  get reopensAt(): number {
    return this.#state === 'open' ? this.#openedAt + this.options.cooldownMs : 0;
  }

  /**
   * May a new call be admitted? In half-open state only one (the probe) is, until it reports back.
   * Returns `'probe'` for that one so its outcome can be told apart.
   */
  admit(): 'yes' | 'probe' | 'no' {
    if (this.#state === 'open') {
      if (this.now() - this.#openedAt < this.options.cooldownMs) return 'no';
      this.#transition('half_open', `cooldown of ${this.options.cooldownMs} ms elapsed; letting one probe through`);
    }
    if (this.#state === 'half_open') {
      if (this.#probeInFlight) return 'no';
      this.#probeInFlight = true;
      return 'probe';
    }
    return 'yes';
  }

  /** A probe that was admitted but never sent (skipped later) must not leave the breaker waiting forever. */
  releaseProbe(): void {
    this.#probeInFlight = false;
  }

  /** Reports the outcome of a call that was sent. */
  record(outcome: { status?: number; errorCode?: string }, wasProbe: boolean): void {
    const failed = this.options.isFailure(outcome);
    if (wasProbe) this.#probeInFlight = false;
    const what = outcome.errorCode ?? `status ${outcome.status}`;
    if (!failed) {
      this.#consecutiveFailures = 0;
      if (this.#state !== 'closed' && wasProbe) this.#transition('closed', `probe succeeded (${what})`);
      return;
    }
    this.#consecutiveFailures++;
    if (this.#state === 'half_open' && wasProbe) {
      this.#open(`probe failed (${what})`);
    } else if (this.#state === 'closed' && this.#consecutiveFailures >= this.options.failureThreshold) {
      this.#open(`${this.#consecutiveFailures} consecutive failures, last ${what}`);
    }
  }

  #open(reason: string): void {
    this.#openedAt = this.now();
    this.#transition('open', reason);
  }

  #transition(state: BreakerState, reason: string): void {
    this.#state = state;
    this.onTransition({ state, reason });
  }
}

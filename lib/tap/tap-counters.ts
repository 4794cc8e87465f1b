/**
 * What the tap counts on its side (for `stats()` and the periodic summary record) and tells the observers (the
 * metrics). One place, so a count and its observer call can never drift apart.
 */
import type { EngineEvent, TapPeriod } from '../engine/exchange.js';
import type { ResolvedOptions } from '../engine/config.js';
import { increment } from '../counters.js';
import type { ShadowObserver } from '../observer.js';
import type { NotMirroredReason, SkipReason } from '../types.js';
import { routeOf, type AppRequest } from './app-request.js';
import { requestIdsOf } from './request-id.js';

/** Requests shed at entry keep a few ids for the summary record. */
const SHED_SAMPLE = 10;

export class TapCounters {
  readonly observers: ShadowObserver[] = [];
  readonly totals = { seen: 0 };
  readonly notMirrored: Record<string, number> = Object.create(null);
  readonly skipped: Record<string, number> = Object.create(null);
  #period: TapPeriod = newPeriod();

  constructor(private readonly config: ResolvedOptions) {}

  /** Per request: the observers' loop is inline (no callback made per request). */
  seen(): void {
    this.totals.seen++;
    this.#period.seen++;
    for (const observer of this.observers) {
      try {
        observer.seen?.();
      } catch {
        // Metrics must never break mirroring, let alone production.
      }
    }
  }

  notMirroredFor(reason: NotMirroredReason): void {
    increment(this.notMirrored, reason);
    increment(this.#period.notMirrored, reason);
    for (const observer of this.observers) {
      try {
        observer.notMirrored?.(reason);
      } catch {
        // As above.
      }
    }
  }

  /** Overload: counted (and sampled into the summary), not one record each. Ids are made only for the sample. */
  shed(req: AppRequest): void {
    increment(this.skipped, 'queue_full');
    this.#period.shed++;
    if (this.#period.shedSample.length < SHED_SAMPLE) this.#period.shedSample.push(requestIdsOf(req, this.config).requestId);
    this.#notify((o) => o.skipped?.('queue_full', routeOf(req)));
  }

  skippedFor(reason: SkipReason, route: string | null, by = 1): void {
    increment(this.skipped, reason, by);
    this.#notify((o) => o.skipped?.(reason, route));
  }

  /** Exchanges the engine had started when it went away: counted, not told (no record was written for them). */
  lostInEngine(count: number): void {
    increment(this.skipped, 'engine_lost', count);
  }

  breakerOpen(target: string): void {
    increment(this.#period.breakerOpen, target);
  }

  /** The counts of the period that ends now. */
  takePeriod(): TapPeriod {
    const period = this.#period;
    this.#period = newPeriod();
    return period;
  }

  /** What the engine reports happened, passed on to the observers. */
  engineEvent(event: EngineEvent): void {
    switch (event.kind) {
      case 'mirrored':
        return this.#notify((o) => o.mirrored?.(event.route, event.productionMs));
      case 'skipped':
        return this.#notify((o) => o.skipped?.(event.reason, event.route));
      case 'notMirrored':
        return this.#notify((o) => o.notMirrored?.(event.reason));
      case 'shadowDone':
        return this.#notify((o) =>
          o.shadowDone?.(event.target, event.route, event.status !== undefined ? { status: event.status } : { errorCode: event.errorCode ?? 'unknown' }, event.durationMs),
        );
      case 'compared':
        return this.#notify((o) => o.compared?.(event.target, event.route, event.match));
    }
  }

  #notify(event: (observer: ShadowObserver) => void): void {
    for (const observer of this.observers) {
      try {
        event(observer);
      } catch {
        // Metrics must never break mirroring, let alone production.
      }
    }
  }
}

function newPeriod(): TapPeriod {
  return { seen: 0, notMirrored: Object.create(null) as Record<string, number>, breakerOpen: Object.create(null) as Record<string, number>, shed: 0, shedSample: [] };
}

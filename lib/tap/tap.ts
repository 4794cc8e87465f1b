/**
 * The tap: what runs on the app's thread for each request. It decides (enabled, method, filter, sample, breaker,
 * room), captures the request and response bytes, snapshots the exchange and hands it to the engine. Nothing
 * heavier: no got, no winston, no comparison, no JSON of bodies. Its parts: the decision at entry (admission.ts),
 * the counts and observers (tap-counters.ts), what it knows of the engine (engine-view.ts), and what happens once
 * production has answered (hand-off.ts).
 */
import { ByteBudget } from '../byte-budget.js';
import type { ResolvedOptions } from '../engine/config.js';
import { errorMessage } from '../errors.js';
import type { SkipReason } from '../types.js';
import { Admission } from './admission.js';
import { routeOf, type AppRequest, type AppResponse } from './app-request.js';
import { EngineView } from './engine-view.js';
import { HandOff, TappedRequest } from './hand-off.js';
import { requestIdsOf } from './request-id.js';
import { TapCounters } from './tap-counters.js';

export class Tap {
  readonly config: ResolvedOptions;
  readonly budget: ByteBudget;
  readonly counters: TapCounters;
  readonly engine: EngineView;
  readonly admission: Admission;
  readonly handOff: HandOff;
  /** The requests this instance has seen, so a middleware mounted twice mirrors each once (not marked on the request: request-id.ts says why). */
  readonly #handled = new WeakSet<AppRequest>();

  constructor(config: ResolvedOptions) {
    this.config = config;
    this.budget = new ByteBudget(config.maxQueuedBytes);
    this.counters = new TapCounters(config);
    this.engine = new EngineView(config, this.budget, this.counters);
    this.admission = new Admission(config, this.engine, this.counters, this.budget);
    this.handOff = new HandOff(config, this.engine, this.counters);
  }

  /** Per request: decide, start the captures, and return; everything else waits for the response to end. */
  handle(req: AppRequest, res: AppResponse): void {
    if (this.#handled.has(req)) return;
    this.#handled.add(req);
    this.counters.seen();
    if (this.config.resLocals && res.locals && typeof res.locals === 'object') res.locals.shadowRequestId = requestIdsOf(req, this.config).requestId;
    const handOff = this.handOff;
    if (handOff.closing) return this.counters.notMirroredFor('disabled');

    let selection: ReturnType<Admission['select']>;
    try {
      selection = this.admission.select(req);
    } catch (error) {
      return this.#skipNow(req, 'hook_error', `filter/sampleBy threw: ${errorMessage(error)}`);
    }
    if (typeof selection === 'string') return this.counters.notMirroredFor(selection);
    // Admission at entry, before anything is captured: an engine with no room costs a counter, nothing more.
    if (!this.admission.hasRoom(handOff.preparing)) return this.counters.shed(req);

    let request: TappedRequest | undefined = new TappedRequest(req, res, selection, this);
    // `on`, not `once`: a response closes once, and once() would wrap the listener in two more objects per request.
    // The listener stays on `res`, so it lets go of the request when it runs (see capture-request.ts, #hook).
    res.on('close', () => {
      const closed = request!;
      request = undefined;
      try {
        handOff.afterProduction(closed);
      } catch (error) {
        handOff.failed(closed, error);
      }
    });
  }

  /** Hands the period's counts to the engine, which writes the summary record. */
  flushPeriod(): void {
    this.engine.link.summary(this.counters.takePeriod());
  }

  #skipNow(req: AppRequest, reason: SkipReason, detail: string): void {
    const ids = requestIdsOf(req, this.config);
    this.engine.skip({ ...ids, method: req.method ?? 'GET', path: req.originalUrl ?? req.url ?? '', route: routeOf(req), reason, detail });
  }
}

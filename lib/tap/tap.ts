/**
 * The tap: what runs on the app's thread for each request. It decides (enabled, method, filter, sample, breaker,
 * room), captures the request and response bytes, snapshots the exchange and hands it to the engine. Nothing
 * heavier: no got, no winston, no comparison, no JSON of bodies.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BudgetHold, ByteBudget } from '../byte-budget.js';
import type { EngineEvent, Exchange, SkippedExchange, TapPeriod } from '../engine/exchange.js';
import type { ResolvedOptions } from '../engine/config.js';
import { increment } from '../counters.js';
import type { ShadowObserver } from '../observer.js';
import type { BodySource, BreakerState, HeaderMap, NotMirroredReason, SkipReason } from '../types.js';
import { RequestCapture, type RequestCaptureOutcome } from './capture-request.js';
import { ResponseCapture, type CapturedResponse } from './capture-response.js';
import { isSampledIn, sampleBucket } from './decide.js';
import type { EngineLink, TapFeedback } from './engine-link.js';
import type { FeedbackItem } from '../engine/protocol.js';
import { reserialiseParsedBody } from './parsed-body.js';
import { assignedRequestId, clientRequestIdOf, requestIdsOf } from './request-id.js';
import { errorMessage } from '../errors.js';

/** What `req` looks like to us: Express adds these; a bare `http` server has none of them. */
export interface AppRequest extends IncomingMessage {
  originalUrl?: string;
  baseUrl?: string;
  route?: { path?: unknown };
  body?: unknown;
}
export interface AppResponse extends ServerResponse {
  locals?: Record<string, unknown>;
}

/** The request as it was when it reached the middleware: routers and method-override rewrite it later. */
interface EntrySnapshot {
  req: AppRequest;
  clientRequestId: string | undefined;
  method: string;
  path: string;
  headers: HeaderMap;
  startedAt: number;
}

interface TargetView {
  name: string;
  role: 'candidate' | 'secondary';
  sampleRate: number | undefined;
  state: BreakerState;
  reopensAt: number;
}

/** The engine sheds by lag only while it holds at least this many exchanges (about one turn's batch at saturation). */
const LAG_SHED_MIN_IN_ENGINE = 16;
/** Requests shed at entry keep a few ids for the summary record. */
const SHED_SAMPLE = 10;

export class Tap implements TapFeedback {
  readonly config: ResolvedOptions;
  readonly budget: ByteBudget;
  readonly observers: ShadowObserver[] = [];
  link!: EngineLink;
  enabled: boolean;
  sampleRate: number;
  closing = false;
  readonly totals = { seen: 0 };
  readonly notMirrored: Record<string, number> = Object.create(null);
  readonly skipped: Record<string, number> = Object.create(null);
  /** Exchanges handed to the engine and not settled yet, and the bytes of the budget they hold. */
  inEngine = 0;
  #engineBytes = 0;
  /** Requests past production whose hand-off is still being prepared (their body may still be arriving). */
  preparing = 0;
  readonly #targets: TargetView[];
  readonly #kHandled = Symbol('express-shadow.handled');
  #period: TapPeriod = newPeriod();
  #idleWaiters: (() => void)[] = [];
  readonly #awaitingBody = new Set<RequestCapture>();
  /** How far behind the engine's loop ran at its last feedback. */
  #engineLagMs = 0;

  constructor(config: ResolvedOptions) {
    this.config = config;
    this.budget = new ByteBudget(config.maxQueuedBytes);
    this.enabled = config.enabled;
    this.sampleRate = config.sampleRate;
    this.#targets = config.targets.map((t) => ({ name: t.name, role: t.role, sampleRate: t.sampleRate, state: 'closed', reopensAt: 0 }));
  }

  /** Per request: decide, start the captures, and return; everything else waits for the response to end. */
  handle(req: AppRequest, res: AppResponse): void {
    const marked = req as unknown as Record<symbol, boolean>;
    if (marked[this.#kHandled]) return;
    marked[this.#kHandled] = true;
    this.totals.seen++;
    this.#period.seen++;
    this.#notify((o) => o.seen?.());
    if (this.config.resLocals && res.locals && typeof res.locals === 'object') res.locals.shadowRequestId = this.#requestIdFor(req).requestId;
    if (this.closing) return this.#leaveOut('disabled');

    let selection: string[] | NotMirroredReason;
    try {
      selection = this.#select(req);
    } catch (error) {
      this.#skipNow(req, 'hook_error', `filter/sampleBy threw: ${errorMessage(error)}`);
      return;
    }
    if (typeof selection === 'string') return this.#leaveOut(selection);
    // Admission at entry, before anything is captured: an engine with no room costs a counter, nothing more.
    if (!this.#hasRoom()) return this.#shed(req);

    const entry = this.#snapshot(req);
    const hold = new BudgetHold(this.budget);
    const requestCapture = new RequestCapture(req, this.config.maxBodyBytes, hold);
    const responseCapture = new ResponseCapture(res, this.config.maxShadowResponseBytes, hold, this.budget);
    const targets = selection;
    res.once('close', () => {
      try {
        this.#afterProduction(req, res, entry, requestCapture, responseCapture, hold, targets);
      } catch (error) {
        hold.release();
        this.#skip(entry, req, res, 'tap_error', `preparing the hand-off failed: ${errorMessage(error)}`);
      }
    });
  }

  /** Production has answered: give up, or hand off now, or once the rest of the request body has arrived. */
  #afterProduction(
    req: AppRequest,
    res: AppResponse,
    entry: EntrySnapshot,
    requestCapture: RequestCapture,
    responseCapture: ResponseCapture,
    hold: BudgetHold,
    targets: string[],
  ): void {
    const durationMs = performance.now() - entry.startedAt;
    const response = responseCapture.finish();
    const giveUp = (reason: SkipReason | undefined, detail?: string, leftOut?: NotMirroredReason): void => {
      requestCapture.abandon();
      hold.release();
      if (leftOut) this.#leaveOut(leftOut);
      else if (reason) this.#skip(entry, req, res, reason, detail);
    };
    if (!res.writableFinished) return giveUp('aborted', 'the client closed the connection before the response finished');
    if (this.config.mirrorIf) {
      try {
        if (!this.config.mirrorIf(req, res)) return giveUp(undefined, undefined, 'production_status');
      } catch (error) {
        return giveUp('hook_error', `mirrorIf threw: ${errorMessage(error)}`);
      }
    }
    if (this.closing) return giveUp('closing', 'close() was called before this request could be handed off');
    requestCapture.productionAnswered();
    const settled = requestCapture.settledOutcome;
    const handOff = (captured: RequestCaptureOutcome) => this.#handOff(req, res, entry, captured, response, durationMs, hold, targets, giveUp);
    if (settled) return handOff(settled);
    // The body is still arriving (production answered without reading it all): wait for it, off the response path.
    this.preparing++;
    this.#awaitingBody.add(requestCapture);
    requestCapture.outcome
      .then(handOff)
      .catch((error: unknown) => {
        hold.release();
        this.#skip(entry, req, res, 'tap_error', `preparing the hand-off failed: ${errorMessage(error)}`);
      })
      .finally(() => {
        this.#awaitingBody.delete(requestCapture);
        this.preparing--;
        this.#notifyIfIdle();
      });
  }

  #handOff(
    req: AppRequest,
    res: AppResponse,
    entry: EntrySnapshot,
    captured: RequestCaptureOutcome,
    response: CapturedResponse,
    durationMs: number,
    hold: BudgetHold,
    targets: string[],
    giveUp: (reason: SkipReason | undefined, detail?: string) => void,
  ): void {
    let body: Uint8Array | undefined;
    let bodySource: BodySource;
    switch (captured.kind) {
      case 'too_large':
        return giveUp('body_too_large', `${captured.bytes} bytes > maxBodyBytes ${this.config.maxBodyBytes}`);
      case 'over_budget':
        hold.release();
        return this.#shed(req);
      case 'aborted':
        return giveUp('aborted', `the request body ended after ${captured.bytes} bytes, before it was complete`);
      case 'incomplete':
        return giveUp('body_incomplete', captured.detail);
      case 'consumed': {
        const reserialised = reserialiseParsedBody(req);
        if (!reserialised) return giveUp('body_unavailable', 'the body was read before this middleware ran and req.body cannot be re-serialised');
        if (!hold.take(reserialised.length)) {
          hold.release();
          return this.#shed(req);
        }
        body = reserialised;
        bodySource = 'parsed';
        break;
      }
      case 'complete':
        body = captured.body;
        bodySource = body.length > 0 ? 'raw' : 'none';
        break;
    }
    if (this.closing && this.link.mode === 'worker' && !this.link.available) return giveUp('closing', 'close() was called while the engine was unavailable');

    const exchange: Exchange = {
      // Made by the engine unless the app already asked for it (shadowRequestId): uuid v7 costs the app's thread.
      requestId: assignedRequestId(req),
      ...(entry.clientRequestId !== undefined ? { clientRequestId: entry.clientRequestId } : {}),
      method: entry.method,
      path: entry.path,
      headers: entry.headers,
      route: routeOf(req),
      body: body.length > 0 ? body : undefined,
      bodySource,
      status: res.statusCode,
      // getHeaders() returns a copy of its own.
      responseHeaders: res.getHeaders() as HeaderMap,
      response: { chunks: response.chunks, bytes: response.bytes, truncated: response.truncated, ttfbMs: response.ttfbMs, writes: response.writes },
      durationMs,
      targets,
      heldBytes: hold.held,
      handedOffAt: Date.now(),
    };
    this.inEngine++;
    this.#engineBytes += exchange.heldBytes;
    this.link.accept(exchange, transferList(exchange));
  }

  /** One draw (random, or the hash of the `sampleBy` key) per request, so lower rates see subsets of higher ones. */
  #select(req: IncomingMessage): string[] | NotMirroredReason {
    const config = this.config;
    if (!this.enabled) return 'disabled';
    if (config.methods && !config.methods.has(req.method ?? '')) return 'method';
    if (config.filter && !config.filter(req)) return 'filtered';
    const draw = config.sampleBy ? sampleBucket(String(config.sampleBy(req))) : Math.random();
    const now = Date.now();
    const selected: string[] = [];
    let sampledIn = false;
    for (const target of this.#targets) {
      if (target.role !== 'candidate' || !isSampledIn(target.sampleRate ?? this.sampleRate, draw)) continue;
      sampledIn = true;
      if (target.state === 'open' && now < target.reopensAt) {
        increment(this.#period.breakerOpen, target.name);
        continue;
      }
      selected.push(target.name);
    }
    if (selected.length === 0) return sampledIn ? 'breaker_open' : 'sampled_out';
    for (const target of this.#targets) {
      if (target.role === 'secondary' && !(target.state === 'open' && now < target.reopensAt)) selected.push(target.name);
    }
    return selected;
  }

  /**
   * The engine has room when it keeps up (its loop is less than `maxEngineLagMs` behind: a backlog would distort
   * the latencies it measures), what it holds plus this request fits its slots and queue, and bytes are left.
   */
  #hasRoom(): boolean {
    const config = this.config;
    // Only a backlog of our own is relieved by shedding: a loop slowed by the machine, with little in hand, is not;
    // nor is an engine in the app's thread, whose loop lag is the app's own.
    if (this.#engineLagMs > config.maxEngineLagMs && this.inEngine >= LAG_SHED_MIN_IN_ENGINE && this.link.mode === 'worker') return false;
    return this.inEngine + this.preparing < config.maxConcurrent + config.maxQueue && this.budget.used < this.budget.limit;
  }

  #snapshot(req: AppRequest): EntrySnapshot {
    return {
      req,
      clientRequestId: clientRequestIdOf(req, this.config),
      method: req.method ?? 'GET',
      path: req.originalUrl ?? req.url ?? '',
      headers: { ...(req.headers as HeaderMap) },
      startedAt: performance.now(),
    };
  }

  #requestIdFor(req: AppRequest) {
    return requestIdsOf(req, this.config);
  }

  #leaveOut(reason: NotMirroredReason): void {
    increment(this.notMirrored, reason);
    increment(this.#period.notMirrored, reason);
    this.#notify((o) => o.notMirrored?.(reason));
  }

  /** Overload: counted (and sampled into the summary), not one record each. */
  #shed(req: AppRequest): void {
    increment(this.skipped, 'queue_full');
    this.#period.shed++;
    if (this.#period.shedSample.length < SHED_SAMPLE) this.#period.shedSample.push(this.#requestIdFor(req).requestId);
    this.#notify((o) => o.skipped?.('queue_full', routeOf(req)));
  }

  #skipNow(req: AppRequest, reason: SkipReason, detail: string): void {
    const ids = this.#requestIdFor(req);
    this.#writeSkip({ ...ids, method: req.method ?? 'GET', path: req.originalUrl ?? req.url ?? '', route: routeOf(req), reason, detail });
  }

  #skip(entry: EntrySnapshot, req: AppRequest, res: AppResponse, reason: SkipReason, detail?: string): void {
    this.#writeSkip({
      requestId: this.#requestIdFor(entry.req).requestId,
      clientRequestId: entry.clientRequestId,
      method: entry.method,
      path: entry.path,
      route: routeOf(req),
      status: res.statusCode,
      reason,
      ...(detail !== undefined ? { detail } : {}),
    });
  }

  #writeSkip(skipped: SkippedExchange & { clientRequestId?: string | undefined }): void {
    increment(this.skipped, skipped.reason);
    this.#notify((o) => o.skipped?.(skipped.reason, skipped.route));
    const { clientRequestId, ...rest } = skipped;
    this.link.skip(clientRequestId === undefined ? rest : { ...rest, clientRequestId });
  }

  /** Hands the period's counts to the engine, which writes the summary record. */
  flushPeriod(): void {
    this.link.summary(this.takePeriod());
  }

  /** The counts of the period that ends now. */
  takePeriod(): TapPeriod {
    const period = this.#period;
    this.#period = newPeriod();
    return period;
  }

  // Engine feedback.
  feedback(item: FeedbackItem, lagMs: number): void {
    this.#engineLagMs = lagMs;
    if (item.settled > 0) this.#settled(item.settled, item.settledBytes);
    if (item.breakers) for (const [target, state, reopensAt] of item.breakers) this.#breaker(target, state, reopensAt);
    if (item.events) for (const event of item.events) this.#event(event);
  }

  #settled(count: number, bytes: number): void {
    this.inEngine = Math.max(0, this.inEngine - count);
    this.#engineBytes = Math.max(0, this.#engineBytes - bytes);
    this.budget.giveBack(bytes);
    this.#notifyIfIdle();
  }

  #breaker(target: string, state: BreakerState, reopensAt: number): void {
    const view = this.#targets.find((t) => t.name === target);
    if (view) Object.assign(view, { state, reopensAt });
  }

  #event(event: EngineEvent): void {
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

  lost(reason: string, count: number, bytes: number): void {
    const lost = Math.min(count, this.inEngine);
    if (lost > 0) increment(this.skipped, 'engine_lost', lost);
    this.inEngine -= lost;
    this.#engineLagMs = 0;
    const freed = Math.min(bytes, this.#engineBytes);
    this.budget.giveBack(freed);
    this.#engineBytes -= freed;
    for (const view of this.#targets) Object.assign(view, { state: 'closed', reopensAt: 0 });
    warnOnce(reason);
    this.#notifyIfIdle();
  }

  /** Resolves once nothing is being prepared on this side (the engine's side is the link's). */
  whenTapIdle(): Promise<void> {
    return new Promise((resolve) => {
      this.#idleWaiters.push(resolve);
      this.#notifyIfIdle();
    });
  }

  /** Stops waiting for request bodies still arriving (close() timed out). */
  abandonBodies(): void {
    for (const capture of this.#awaitingBody) capture.abandon();
  }

  #notifyIfIdle(): void {
    if (this.preparing > 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
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

function routeOf(req: AppRequest): string | null {
  const routePath = req.route && typeof req.route.path === 'string' ? req.route.path : undefined;
  return routePath === undefined ? null : (req.baseUrl ?? '') + routePath;
}

/**
 * Large byte arrays are transferred to the worker rather than copied (each has a buffer of its own, copied at
 * capture). Small ones are copied by postMessage, which costs about the same, and keep the exchange whole on this
 * side until the worker has taken it in, so a worker that dies first (a hook past its budget) loses none of them.
 */
const TRANSFER_FROM_BYTES = 64 * 1024;

function transferList(exchange: Exchange): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  const add = (bytes: Uint8Array | undefined) => {
    if (bytes && bytes.buffer instanceof ArrayBuffer && bytes.byteLength === bytes.buffer.byteLength) buffers.add(bytes.buffer);
  };
  if ((exchange.body?.byteLength ?? 0) + exchange.response.bytes < TRANSFER_FROM_BYTES) return [];
  add(exchange.body);
  for (const chunk of exchange.response.chunks) add(chunk);
  return [...buffers];
}

let warned = false;
function warnOnce(reason: string): void {
  if (warned) return;
  warned = true;
  process.emitWarning(`express-shadow: the mirroring engine stopped (${reason}); production is unaffected and the next mirrored request starts a new engine`, {
    code: 'EXPRESS_SHADOW_ENGINE',
  });
}

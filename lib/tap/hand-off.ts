/**
 * After production has answered: give the request up (aborted, `mirrorIf`, closing, a body we cannot mirror), or
 * hand it to the engine, now or once the rest of its body has arrived. Everything a request needs here travels in
 * one `TappedRequest`, made once at entry.
 */
import { BudgetHold, type ByteBudget } from '../byte-budget.js';
import type { Exchange } from '../engine/exchange.js';
import type { ResolvedOptions } from '../engine/config.js';
import { errorMessage } from '../errors.js';
import type { BodySource, HeaderMap, NotMirroredReason, SkipReason } from '../types.js';
import { routeOf, type AppRequest, type AppResponse } from './app-request.js';
import { RequestCapture, type RequestCaptureOutcome } from './capture-request.js';
import { ResponseCapture, type CapturedResponse } from './capture-response.js';
import type { EngineView } from './engine-view.js';
import { reserialiseParsedBody } from './parsed-body.js';
import { assignedRequestId, clientRequestIdOf, requestIdsOf } from './request-id.js';
import type { TapCounters } from './tap-counters.js';
import { IdleWaiters } from '../idle-waiters.js';

/**
 * One request chosen for mirroring, from entry to hand-off: the request as it was when it reached the middleware
 * (routers and method-override rewrite it later), its captures, the bytes they hold, and its targets. Its fields
 * are `declare`d and set in the constructor: a class field with an initializer (or a parameter property) would
 * make V8 run one more function for every request.
 */
export class TappedRequest {
  declare readonly req: AppRequest;
  declare readonly res: AppResponse;
  declare readonly targets: string[];
  declare readonly clientRequestId: string | undefined;
  declare readonly method: string;
  declare readonly path: string;
  declare readonly headers: HeaderMap;
  declare readonly startedAt: number;
  declare readonly hold: BudgetHold;
  declare readonly requestCapture: RequestCapture;
  declare readonly responseCapture: ResponseCapture;
  /** Set once production has answered. */
  declare durationMs: number;
  declare response: CapturedResponse | undefined;

  /** `tap` is the instance's settings and byte budget (the Tap itself). */
  constructor(req: AppRequest, res: AppResponse, targets: string[], tap: { readonly config: ResolvedOptions; readonly budget: ByteBudget }) {
    const { config, budget } = tap;
    // Each of req's properties read once: behind Express 5 every read of one misses V8's caches (request-id.ts).
    const headers = req.headers as HeaderMap;
    this.req = req;
    this.res = res;
    this.targets = targets;
    this.clientRequestId = clientRequestIdOf(req, config, headers);
    this.method = req.method ?? 'GET';
    this.path = req.originalUrl ?? req.url ?? '';
    this.headers = { ...headers };
    this.startedAt = performance.now();
    this.hold = new BudgetHold(budget);
    const declared = headers['content-length'];
    this.requestCapture = new RequestCapture(req, config.maxBodyBytes, this.hold, typeof declared === 'string' ? declared : undefined);
    this.responseCapture = new ResponseCapture(res, config.maxShadowResponseBytes, this.hold, budget);
    this.durationMs = 0;
    this.response = undefined;
  }
}

export class HandOff {
  /** close() was called: requests answered from now on are not handed off. */
  closing = false;
  /** Requests past production whose hand-off is still being prepared (their body may still be arriving). */
  preparing = 0;
  readonly #awaitingBody = new Set<RequestCapture>();
  readonly #idle = new IdleWaiters(() => this.preparing === 0);

  constructor(
    private readonly config: ResolvedOptions,
    private readonly engine: EngineView,
    private readonly counters: TapCounters,
  ) {}

  /** Production has answered: give up, or hand off now, or once the rest of the request body has arrived. */
  afterProduction(request: TappedRequest): void {
    request.durationMs = performance.now() - request.startedAt;
    request.response = request.responseCapture.finish();
    if (!request.res.writableFinished) return this.#giveUp(request, 'aborted', 'the client closed the connection before the response finished');
    if (this.config.mirrorIf) {
      try {
        if (!this.config.mirrorIf(request.req, request.res)) return this.#notMirrored(request, 'production_status');
      } catch (error) {
        return this.#giveUp(request, 'hook_error', `mirrorIf threw: ${errorMessage(error)}`);
      }
    }
    if (this.closing) return this.#giveUp(request, 'closing', 'close() was called before this request could be handed off');
    request.requestCapture.productionAnswered();
    const settled = request.requestCapture.settledOutcome;
    if (settled) return this.#handOff(request, settled);
    this.#awaitBody(request);
  }

  /** Preparing the hand-off threw: the request is skipped with the reason, its bytes given back. */
  failed(request: TappedRequest, error: unknown): void {
    request.hold.release();
    this.#skip(request, 'tap_error', `preparing the hand-off failed: ${errorMessage(error)}`);
  }

  /** Resolves once nothing is being prepared on this side (the engine's side is the link's). */
  whenIdle(): Promise<void> {
    return this.#idle.wait();
  }

  /** Stops waiting for request bodies still arriving (close() timed out). */
  abandonBodies(): void {
    for (const capture of this.#awaitingBody) capture.abandon();
  }

  /** The body is still arriving (production answered without reading it all): wait for it, off the response path. */
  #awaitBody(request: TappedRequest): void {
    const capture = request.requestCapture;
    this.preparing++;
    this.#awaitingBody.add(capture);
    capture.watchClose();
    capture.outcome
      .then((captured) => this.#handOff(request, captured))
      .catch((error: unknown) => this.failed(request, error))
      .finally(() => {
        this.#awaitingBody.delete(capture);
        this.preparing--;
        this.#idle.notify();
      });
  }

  #handOff(request: TappedRequest, captured: RequestCaptureOutcome): void {
    const { req, res, hold } = request;
    let body: Uint8Array | undefined;
    let bodySource: BodySource;
    switch (captured.kind) {
      case 'too_large':
        return this.#giveUp(request, 'body_too_large', `${captured.bytes} bytes > maxBodyBytes ${this.config.maxBodyBytes}`);
      case 'over_budget':
        hold.release();
        return this.counters.shed(req);
      case 'aborted':
        return this.#giveUp(request, 'aborted', `the request body ended after ${captured.bytes} bytes, before it was complete`);
      case 'incomplete':
        return this.#giveUp(request, 'body_incomplete', captured.detail);
      case 'consumed': {
        const reserialised = reserialiseParsedBody(req);
        if (!reserialised) return this.#giveUp(request, 'body_unavailable', 'the body was read before this middleware ran and req.body cannot be re-serialised');
        if (!hold.take(reserialised.length)) {
          hold.release();
          return this.counters.shed(req);
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
    const link = this.engine.link;
    if (this.closing && link.mode === 'worker' && !link.available) return this.#giveUp(request, 'closing', 'close() was called while the engine was unavailable');

    const response = request.response!;
    const exchange: Exchange = {
      // Made by the engine unless the app already asked for it (shadowRequestId): uuid v7 costs the app's thread.
      requestId: assignedRequestId(req),
      // Always present (undefined when the client sent none): one shape for every exchange, built without a spread.
      clientRequestId: request.clientRequestId,
      method: request.method,
      path: request.path,
      headers: request.headers,
      route: routeOf(req),
      body: body.length > 0 ? body : undefined,
      bodySource,
      status: res.statusCode,
      // getHeaders() returns a copy of its own.
      responseHeaders: res.getHeaders() as HeaderMap,
      response,
      durationMs: request.durationMs,
      targets: request.targets,
      heldBytes: hold.held,
      handedOffAt: Date.now(),
    };
    this.engine.accept(exchange);
  }

  /** Not mirrored, with a record saying why; what the request held is given back. */
  #giveUp(request: TappedRequest, reason: SkipReason, detail: string): void {
    request.requestCapture.abandon();
    request.hold.release();
    this.#skip(request, reason, detail);
  }

  /** Not mirrored by choice (`mirrorIf`): counted, no record; what the request held is given back. */
  #notMirrored(request: TappedRequest, reason: NotMirroredReason): void {
    request.requestCapture.abandon();
    request.hold.release();
    this.counters.notMirroredFor(reason);
  }

  #skip(request: TappedRequest, reason: SkipReason, detail?: string): void {
    const { req, res } = request;
    this.engine.skip({
      requestId: requestIdsOf(req, this.config).requestId,
      clientRequestId: request.clientRequestId,
      method: request.method,
      path: request.path,
      route: routeOf(req),
      status: res.statusCode,
      reason,
      ...(detail !== undefined ? { detail } : {}),
    });
  }
}

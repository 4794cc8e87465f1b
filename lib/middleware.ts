/**
 * `shadowMiddleware(options)`: the glue between the stages. Per request it only decides, starts the captures and
 * calls `next()`; everything else happens after production's response has finished, off the response path.
 */
import { setMaxListeners } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CircuitBreaker } from './breaker.js';
import { BudgetHold, ByteBudget } from './byte-budget.js';
import { RequestCapture } from './capture-request.js';
import { ResponseCapture, type CapturedResponse } from './capture-response.js';
import { isSampledIn, sampleBucket } from './decide.js';
import { BoundedQueue, callFunctionTarget, createShadowClient, type ShadowOutcome } from './dispatch.js';
import { ShadowOptionsError, ShadowUsageError, showValue } from './errors.js';
import { droppedHeaderSet, headersForLog, shadowRequestHeaders } from './headers.js';
import { createMetrics, type MetricsOptions } from './metrics.js';
import { parsePath, redactPaths, type PathPattern, type PathSegment } from './json-path.js';
import { bodyForLog, decodeBody, decodeContent, isJsonContentType, type DecodedBody } from './logged-body.js';
import { resolveOptions, validateSampleRate, type ResolvedTarget } from './options.js';
import { appLoggerSink, checkLogFile, openFileSink, type RecordSink } from './engine/sink.js';
import { requestIdFor } from './request-id.js';
import { increment, LatencyWindow } from './stats.js';
import { concatenatePayloads, eventPayloads, streamFormatOf } from './stream-events.js';
import { shadowUrlFor } from './target-url.js';
import type {
  BodySource,
  CloseOptions,
  ComparedAnswer,
  ComparisonRecord,
  Difference,
  HeaderMap,
  NotMirroredReason,
  ProductionRecord,
  ShadowLogRecord,
  ShadowMiddleware,
  ShadowOptions,
  ShadowRecord,
  ShadowRequest,
  ShadowRequestChange,
  ShadowStats,
  ShadowUpdate,
  SkipReason,
  StreamMeasurements,
} from './types.js';

/** What `req` looks like to us: Express adds these; a bare `http` server has none of them. */
interface AppRequest extends IncomingMessage {
  originalUrl?: string;
  baseUrl?: string;
  route?: { path?: unknown };
  body?: unknown;
}
interface AppResponse extends ServerResponse {
  locals?: Record<string, unknown>;
}

/** Receives what happens, for metrics. Every call is guarded: an observer that throws changes nothing. */
export interface ShadowObserver {
  seen?(): void;
  notMirrored?(reason: NotMirroredReason): void;
  skipped?(reason: SkipReason, route: string | null): void;
  mirrored?(route: string | null, productionDurationMs: number): void;
  shadowDone?(target: string, route: string | null, outcome: { status?: number; errorCode?: string }, durationMs: number): void;
  compared?(target: string, route: string | null, match: boolean): void;
}

/** One target's live state. */
interface TargetRuntime {
  config: ResolvedTarget;
  breaker: CircuitBreaker;
  latency: LatencyWindow;
  mirrored: number;
  succeeded: number;
  failed: Record<string, number>;
  breakerOpenInPeriod: number;
  /** `url`: the shadow URL already built for this request's own path (URL targets), if the path was not transformed. */
  send(request: ShadowRequest, signal: AbortSignal, url?: URL): Promise<ShadowOutcome>;
}

/** A request accepted for mirroring: its production side, and its shadow calls until all have ended. */
interface RequestGroup {
  requestId: string;
  route: string | null;
  request: ShadowRequest;
  production: ComparedAnswer;
  /** Production's answer was longer than the capture cap: no comparison on a partial body. */
  productionTruncated: boolean;
  productionDurationMs: number;
  hold: BudgetHold;
  pending: number;
  /** Answers kept for comparison once every target has answered. */
  answers: { target: TargetRuntime; answer: ComparedAnswer | undefined; durationMs: number; error?: string }[];
}

interface ShadowJob {
  group: RequestGroup;
  target: TargetRuntime;
  isProbe: boolean;
  /** Built (and checked) once when the request was accepted; URL targets only. */
  url: URL | undefined;
}

/** Facts about the production exchange, kept for records written later. */
interface ExchangeInfo {
  requestId: string;
  method: string;
  path: string;
  route: string | null;
  status?: number;
}

interface Selection {
  target: TargetRuntime;
  isProbe: boolean;
}

/** The most close() gives the log beyond its timeout (see drain). */
const LOG_CLOSE_GRACE_MS = 1000;

/** The app's logger as given, or the log file: checked now, opened on the first record. */
function recordSinkFor(config: ReturnType<typeof resolveOptions>): RecordSink {
  if (config.logger !== undefined) return appLoggerSink(config.logger);
  checkLogFile(config.logFile);
  return openFileSink(config.logFile, { maxPendingBytes: config.maxPendingLogBytes });
}

export function shadowMiddleware(options: ShadowOptions): ShadowMiddleware {
  // eslint-disable-next-line prefer-rest-params
  if (arguments.length >= 3 && typeof arguments[2] === 'function') {
    throw new ShadowUsageError(
      'express-shadow: shadowMiddleware was mounted without being called. Use app.use(shadowMiddleware({ target: "http://..." })), not app.use(shadowMiddleware).',
    );
  }
  const config = resolveOptions(options);
  const sink = recordSinkFor(config);
  const budget = new ByteBudget(config.maxQueuedBytes);
  const client = createShadowClient({
    timeoutMs: config.timeoutMs,
    maxConcurrent: config.maxConcurrent,
    maxResponseBytes: config.maxShadowResponseBytes,
  });
  const cancel = new AbortController();
  // Each call in flight listens for cancellation until it settles: up to maxConcurrent listeners at once is expected,
  // more would be a leak worth the warning.
  setMaxListeners(config.maxConcurrent + 1, cancel.signal);
  const droppedHeaders = droppedHeaderSet(config.forwardCredentials, config.stripHeaders);
  const assemble = config.assemble ?? concatenatePayloads;
  // Each instance marks requests with its own symbol, so mounting the same instance twice mirrors once.
  const kHandled = Symbol('express-shadow.handled');
  const observers: ShadowObserver[] = [];

  let enabled = config.enabled;
  let sampleRate = config.sampleRate;
  let closing = false;
  let sinkClosed = false;

  const totals = { seen: 0, mirrored: 0, succeeded: 0 };
  const notMirrored: Record<string, number> = {};
  const skipped: Record<string, number> = {};
  const failed: Record<string, number> = {};
  const latency = new LatencyWindow();
  // What the next summary record covers.
  let period = newPeriod();

  const queue = new BoundedQueue<ShadowJob>(config.maxQueue);
  const inFlight = new Set<ShadowJob>();
  let finishing = 0;
  /** Request bodies still arriving after production answered; close() stops waiting for them when it times out. */
  const awaitingBody = new Set<RequestCapture>();
  let idleWaiters: (() => void)[] = [];

  const targets: TargetRuntime[] = config.targets.map((target) => ({
    config: target,
    breaker: new CircuitBreaker(target.breaker, ({ state, reason }) => {
      write({ type: 'breaker', timestamp: new Date().toISOString(), target: target.name, state, reason });
    }),
    latency: new LatencyWindow(),
    mirrored: 0,
    succeeded: 0,
    failed: {},
    breakerOpenInPeriod: 0,
    send: sender(target),
  }));
  const candidates = targets.filter((t) => t.config.role === 'candidate');
  const secondary = targets.find((t) => t.config.role === 'secondary');

  const summaryTimer = config.summaryIntervalMs > 0 ? setInterval(writeSummary, config.summaryIntervalMs) : undefined;
  summaryTimer?.unref();

  /** How a target is called: got for URLs (host fixed by configuration), the user's function otherwise. */
  function sender(target: ResolvedTarget): TargetRuntime['send'] {
    const endpoint = target.endpoint;
    if (endpoint.kind === 'function') {
      return (request, signal) => callFunctionTarget(endpoint.call, request, signal, config.timeoutMs, config.maxShadowResponseBytes);
    }
    return async (request, signal, url = shadowUrlFor(endpoint.url, request.path)) => {
      if (!url) return { ok: false, code: 'bad_url', message: `path ${showValue(request.path)} cannot be sent to ${target.name}`, durationMs: 0 };
      return client.send({ method: request.method, url, headers: request.headers, body: request.body }, signal);
    };
  }

  function notify(event: (observer: ShadowObserver) => void): void {
    for (const observer of observers) {
      try {
        event(observer);
      } catch {
        // Metrics must never break mirroring, let alone production.
      }
    }
  }

  function write(record: ShadowLogRecord): void {
    if (sinkClosed) return;
    try {
      sink.write(record);
    } catch {
      // A logger that throws must not reach the app.
    }
  }

  function newPeriod() {
    return { startedAt: Date.now(), seen: 0, mirrored: 0, notMirrored: {} as Record<string, number> };
  }

  function writeSummary(): void {
    const ended = period;
    period = newPeriod();
    const breakerOpen: Record<string, number> = {};
    for (const target of targets) {
      if (target.breakerOpenInPeriod > 0) breakerOpen[target.config.name] = target.breakerOpenInPeriod;
      target.breakerOpenInPeriod = 0;
    }
    if (ended.seen === 0 && ended.mirrored === 0) return;
    write({
      type: 'summary',
      timestamp: new Date().toISOString(),
      intervalMs: Date.now() - ended.startedAt,
      seen: ended.seen,
      mirrored: ended.mirrored,
      notMirrored: ended.notMirrored,
      ...(Object.keys(breakerOpen).length > 0 ? { breakerOpen } : {}),
    });
  }

  function leaveOut(reason: NotMirroredReason): void {
    increment(notMirrored, reason);
    increment(period.notMirrored, reason);
    notify((o) => o.notMirrored?.(reason));
  }

  function skip(info: ExchangeInfo, reason: SkipReason, detail?: string): void {
    increment(skipped, reason);
    notify((o) => o.skipped?.(reason, info.route));
    write({
      type: 'skipped',
      requestId: info.requestId,
      timestamp: new Date().toISOString(),
      reason,
      method: info.method,
      path: info.path,
      route: info.route,
      ...(info.status !== undefined ? { status: info.status } : {}),
      ...(detail !== undefined ? { detail } : {}),
    });
  }

  /**
   * The up-front decision, before anything is buffered: global rules, then each candidate's sample rate and
   * breaker. One random draw (or one hash of the `sampleBy` key) per request, so a candidate at 10% sees a subset
   * of the requests a candidate at 50% sees. The secondary goes along with any selected candidate.
   */
  function select(req: IncomingMessage): Selection[] | NotMirroredReason {
    if (!enabled) return 'disabled';
    if (config.methods && !config.methods.has(req.method ?? '')) return 'method';
    if (config.filter && !config.filter(req)) return 'filtered';
    const draw = config.sampleBy ? sampleBucket(String(config.sampleBy(req))) : Math.random();
    const selected: Selection[] = [];
    let sampledIn = false;
    for (const target of candidates) {
      if (!isSampledIn(target.config.sampleRate ?? sampleRate, draw)) continue;
      sampledIn = true;
      const admission = target.breaker.admit();
      if (admission === 'no') {
        target.breakerOpenInPeriod++;
        continue;
      }
      selected.push({ target, isProbe: admission === 'probe' });
    }
    if (selected.length === 0) return sampledIn ? 'breaker_open' : 'sampled_out';
    if (secondary) {
      const admission = secondary.breaker.admit();
      if (admission !== 'no') selected.push({ target: secondary, isProbe: admission === 'probe' });
    }
    return selected;
  }

  function handle(req: AppRequest, res: AppResponse): void {
    const marked = req as unknown as Record<symbol, boolean>;
    if (marked[kHandled]) return;
    marked[kHandled] = true;

    const startedAt = performance.now();
    const requestId = requestIdFor(req.headers['x-request-id']);
    if (res.locals && typeof res.locals === 'object') res.locals.shadowRequestId = requestId;
    totals.seen++;
    period.seen++;
    notify((o) => o.seen?.());
    if (closing) return leaveOut('disabled');

    let selection: Selection[] | NotMirroredReason;
    try {
      selection = select(req);
    } catch (error) {
      skip(exchangeInfo(req, requestId), 'hook_error', `filter/sampleBy threw: ${errorMessage(error)}`);
      return;
    }
    if (typeof selection === 'string') return leaveOut(selection);

    const hold = new BudgetHold(budget);
    const requestCapture = new RequestCapture(req, config.maxBodyBytes, hold);
    const responseCapture = new ResponseCapture(res, config.maxShadowResponseBytes, hold);
    const chosen = selection;
    res.once('close', () => {
      finishing++;
      afterProduction(req, res, requestId, startedAt, requestCapture, responseCapture, hold, chosen)
        .catch(() => {
          // Nothing on the shadow path may surface as an unhandled rejection.
          hold.release();
        })
        .finally(() => {
          finishing--;
          notifyIfIdle();
        });
    });
  }

  async function afterProduction(
    req: AppRequest,
    res: AppResponse,
    requestId: string,
    startedAt: number,
    requestCapture: RequestCapture,
    responseCapture: ResponseCapture,
    hold: BudgetHold,
    selection: Selection[],
  ): Promise<void> {
    const productionDurationMs = performance.now() - startedAt;
    const response = responseCapture.finish();
    const info = exchangeInfo(req, requestId, res.statusCode);
    const giveUp = (reason: SkipReason | undefined, detail?: string, leftOut?: NotMirroredReason): void => {
      requestCapture.abandon();
      hold.release();
      for (const { target, isProbe } of selection) if (isProbe) target.breaker.releaseProbe();
      if (leftOut) leaveOut(leftOut);
      else if (reason) skip(info, reason, detail);
    };

    if (!res.writableFinished) return giveUp('aborted', 'the client closed the connection before the response finished');
    if (config.mirrorIf) {
      try {
        if (!config.mirrorIf(req, res)) return giveUp(undefined, undefined, 'production_status');
      } catch (error) {
        return giveUp('hook_error', `mirrorIf threw: ${errorMessage(error)}`);
      }
    }
    if (closing) return giveUp('closing', 'close() was called before this request could be queued');

    awaitingBody.add(requestCapture);
    const captured = await requestCapture.outcome;
    awaitingBody.delete(requestCapture);
    if (cancel.signal.aborted) return giveUp('closing', 'close() timed out while the request body was still arriving');
    let body: Buffer;
    let bodySource: BodySource;
    switch (captured.kind) {
      case 'too_large':
        return giveUp('body_too_large', `${captured.bytes} bytes > maxBodyBytes ${config.maxBodyBytes}`);
      case 'over_budget':
        return giveUp('queue_full', `captured bodies reached maxQueuedBytes ${config.maxQueuedBytes}`);
      case 'aborted':
        return giveUp('aborted', `the request body ended after ${captured.bytes} bytes, before it was complete`);
      case 'consumed': {
        const reserialised = reserialiseParsedBody(req);
        if (!reserialised) return giveUp('body_unavailable', 'the body was read before this middleware ran and req.body cannot be re-serialised');
        if (!hold.take(reserialised.length)) return giveUp('queue_full', `captured bodies reached maxQueuedBytes ${config.maxQueuedBytes}`);
        body = reserialised;
        bodySource = 'parsed';
        break;
      }
      case 'complete':
        body = captured.body;
        bodySource = body.length > 0 ? 'raw' : 'none';
        break;
    }

    const path = req.originalUrl ?? req.url ?? '';
    // Built once per URL target up front, so a hostile path is one `skipped` record, not one error per target.
    const urls = new Map<TargetRuntime, URL>();
    for (const { target } of selection) {
      const endpoint = target.config.endpoint;
      if (endpoint.kind !== 'url') continue;
      const url = shadowUrlFor(endpoint.url, path);
      if (!url) return giveUp('bad_url', 'the request target cannot be mirrored to the configured target');
      urls.set(target, url);
    }

    // Room for every call of this request, counting free slots and free queue places.
    const hasRoom = (): boolean => Math.max(0, config.maxConcurrent - inFlight.size) + (config.maxQueue - queue.length) >= selection.length;
    // Shed before spending anything on a request that cannot be queued anyway.
    if (!hasRoom()) return giveUp('queue_full', `${config.maxQueue} requests already waiting (maxQueue)`);

    const hasBody = body.length > 0 || req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    const requestContentType = headerString(req.headers['content-type']);
    const requestDecoded = await decodeContent(body, headerString(req.headers['content-encoding']), config.maxShadowResponseBytes);
    const requestBody = decodeBody(requestDecoded.bytes, requestDecoded.bytes.length, requestDecoded.cut, requestContentType);
    const request: ShadowRequest = {
      requestId,
      method: req.method ?? 'GET',
      path,
      headers: shadowRequestHeaders(req.headers, droppedHeaders, requestId, hasBody ? body : undefined, bodySource === 'parsed'),
      body: hasBody ? body : undefined,
      ...(requestBody.isJson ? { json: requestBody.json } : {}),
    };
    const productionHeaders = res.getHeaders() as HeaderMap;
    const production = await decodeAnswer(res.statusCode, productionHeaders, response, response.firstWriteAt === undefined ? undefined : response.firstWriteAt - startedAt);
    const record = productionRecord(req, productionHeaders, info, productionDurationMs, bodySource, requestBody, production);
    record.targets = selection.map(({ target }) => target.config.name);
    // close() waits for requests past this point (`finishing`); only its timeout makes us give up here.
    if (cancel.signal.aborted) return giveUp('closing', 'close() timed out before this request could be queued');
    if (!hasRoom()) return giveUp('queue_full', `${config.maxQueue} requests already waiting (maxQueue)`);

    const group: RequestGroup = {
      requestId,
      route: info.route,
      request,
      production: production.answer,
      productionTruncated: production.truncated,
      productionDurationMs,
      hold,
      pending: selection.length,
      answers: [],
    };
    totals.mirrored++;
    period.mirrored++;
    notify((o) => o.mirrored?.(info.route, productionDurationMs));
    write(record);
    for (const { target, isProbe } of selection) {
      target.mirrored++;
      const job: ShadowJob = { group, target, isProbe, url: urls.get(target) };
      if (inFlight.size < config.maxConcurrent) void run(job);
      else queue.push(job);
    }
  }

  /** Starts queued jobs while there are free slots. */
  function pump(): void {
    while (inFlight.size < config.maxConcurrent && queue.length > 0) void run(queue.shift()!);
  }

  async function run(job: ShadowJob): Promise<void> {
    inFlight.add(job);
    try {
      await recordOutcome(job, await callTarget(job));
    } catch {
      // Recording failed; the app never hears of it.
    } finally {
      inFlight.delete(job);
      finishJob(job);
      pump();
      notifyIfIdle();
    }
  }

  async function callTarget(job: ShadowJob): Promise<ShadowOutcome> {
    const { target } = job;
    let isProbe = job.isProbe;
    if (!isProbe && target.breaker.state !== 'closed') {
      // Accepted before the breaker opened: not sent to a target known to be failing; after the cooldown it is the
      // probe, and must report back as one or the breaker would wait for it forever.
      const admission = target.breaker.admit();
      if (admission === 'no') return { ok: false, code: 'breaker_open', message: 'circuit open; not sent', durationMs: 0 };
      isProbe = admission === 'probe';
    }
    let request = job.group.request;
    if (target.config.transformRequest) {
      try {
        request = applyRequestChange(request, await target.config.transformRequest(request));
      } catch (error) {
        if (isProbe) target.breaker.releaseProbe();
        return { ok: false, code: 'transform_error', message: `transformRequest threw: ${errorMessage(error)}`, durationMs: 0 };
      }
    }
    const outcome = await target.send(request, cancel.signal, request.path === job.group.request.path ? job.url : undefined);
    // A call close() cancelled says nothing about the target: neither a breaker failure nor a latency.
    if (outcome.ok || (outcome.code !== 'bad_url' && outcome.code !== 'cancelled')) {
      // An answer over maxShadowResponseBytes counts as a failure: a shadow sending huge bodies costs production CPU.
      const reported = outcome.ok ? (outcome.truncated ? { status: outcome.status, errorCode: 'response_too_large' } : { status: outcome.status }) : { errorCode: outcome.code };
      target.breaker.record(reported, isProbe);
      target.latency.add(outcome.durationMs);
      latency.add(outcome.durationMs);
    } else if (isProbe) {
      target.breaker.releaseProbe();
    }
    return outcome;
  }

  async function recordOutcome(job: ShadowJob, outcome: ShadowOutcome): Promise<void> {
    const { target, group } = job;
    const name = target.config.name;
    const timestamp = new Date().toISOString();
    const base = {
      type: 'shadow' as const,
      requestId: group.requestId,
      timestamp,
      target: name,
      durationMs: round(outcome.durationMs),
      ...(target.config.role === 'secondary' ? { role: 'secondary' as const } : {}),
    };
    if (!outcome.ok) {
      increment(failed, outcome.code);
      increment(target.failed, outcome.code);
      notify((o) => o.shadowDone?.(name, group.route, { errorCode: outcome.code }, outcome.durationMs));
      write({ ...base, error: { code: outcome.code, message: outcome.message } });
      return;
    }
    if (target.config.breaker.isFailure({ status: outcome.status })) {
      const code = `status_${Math.floor(outcome.status / 100)}xx`;
      increment(failed, code);
      increment(target.failed, code);
    } else {
      totals.succeeded++;
      target.succeeded++;
    }
    notify((o) => o.shadowDone?.(name, group.route, { status: outcome.status }, outcome.durationMs));
    const contentType = headerString(outcome.headers['content-type']);
    const shadowBody = decodeBody(outcome.body, outcome.bytesRead, outcome.truncated, contentType);
    const stream = streamMeasurements(contentType, outcome.headers, outcome.body, outcome.ttfbMs, outcome.chunks);
    const record: ShadowRecord = {
      ...base,
      status: outcome.status,
      response: {
        headers: headersForLog(outcome.headers, config.redactHeaders, config.logHeaders),
        ...bodyForLog(shadowBody, contentType, config.maxLoggedBodyBytes, config.redactPaths),
        ...(outcome.truncated ? { responseTruncated: true as const } : {}),
        ...(stream ? { stream: stream.measurements } : {}),
      },
    };
    write(record);
    if (!config.comparator || outcome.truncated || group.productionTruncated) return;

    let answer: ComparedAnswer = stream?.answer
      ? { ...stream.answer, status: outcome.status, headers: outcome.headers as HeaderMap }
      : { status: outcome.status, headers: outcome.headers as HeaderMap, isJson: shadowBody.isJson, json: shadowBody.json, bytes: shadowBody.bytes };
    let error: string | undefined;
    if (target.config.transformResponse) {
      try {
        answer = target.config.transformResponse(answer);
      } catch (thrown) {
        error = `transformResponse threw: ${errorMessage(thrown)}`;
        increment(failed, 'transform_error');
        increment(target.failed, 'transform_error');
      }
    }
    const kept = { target, answer: error ? undefined : answer, durationMs: outcome.durationMs, ...(error ? { error } : {}) };
    if (group.pending === 1 && group.answers.length === 0) {
      // The only (or last, alone) answer: compare now, nothing to keep.
      writeComparisons(group, [kept]);
    } else if (group.hold.take(answer.bytes.length)) {
      group.answers.push(kept);
    }
  }

  /** Counts a job as done; the last one of a request writes the comparisons and frees what the request held. */
  function finishJob(job: ShadowJob): void {
    const group = job.group;
    group.pending--;
    if (group.pending > 0) return;
    if (group.answers.length > 0) {
      try {
        writeComparisons(group, group.answers);
      } catch {
        // Never let a comparison fault escape.
      }
    }
    group.answers = [];
    group.hold.release();
  }

  /** The secondary first: its differences from production are this request's noise, marked in the candidates'. */
  function writeComparisons(group: RequestGroup, answers: RequestGroup['answers']): void {
    const ordered = [...answers].sort((a, b) => (a.target.config.role === 'secondary' ? -1 : b.target.config.role === 'secondary' ? 1 : 0));
    let noise: Set<string> | undefined;
    for (const kept of ordered) {
      const record = compareAnswers(group, kept, noise);
      if (kept.target.config.role === 'secondary') noise = new Set(record.error ? [] : record.differences.map((d) => d.path));
      notify((o) => o.compared?.(kept.target.config.name, group.route, record.match));
      write(record);
    }
  }

  function compareAnswers(group: RequestGroup, kept: RequestGroup['answers'][number], noise: Set<string> | undefined): ComparisonRecord {
    const { target, answer } = kept;
    const base = {
      type: 'comparison' as const,
      requestId: group.requestId,
      timestamp: new Date().toISOString(),
      target: target.config.name,
      statusMatch: answer !== undefined && group.production.status === answer.status,
      latencyDeltaMs: round(kept.durationMs - group.productionDurationMs),
      ...(target.config.role === 'secondary' ? { role: 'secondary' as const } : {}),
    };
    if (!answer) return { ...base, match: false, differences: [], error: kept.error ?? 'no answer to compare' };
    // A shadow that answered with another status (an error page, say) gave no answer to compare field by field.
    if (!base.statusMatch) return { ...base, match: false, differences: [] };
    try {
      const result = config.comparator!(group.production, answer);
      const listed = result.differences ?? [];
      const total = (result as { differenceCount?: number }).differenceCount ?? listed.length;
      // A field masked by `redact` must not come back through a difference's values.
      const differences = config.redactPaths.length > 0 ? listed.map((d) => redactDifference(d, config.redactPaths)) : listed;
      const record: ComparisonRecord = {
        ...base,
        match: Boolean(result.match),
        differences,
        ...(total > listed.length ? { differencesTruncated: true as const } : {}),
        ...(typeof result.score === 'number' ? { score: result.score } : {}),
      };
      if (noise && target.config.role === 'candidate') {
        const noisy = differences.filter((d) => noise.has(d.path)).map((d) => d.path);
        record.noise = noisy;
        record.matchWithoutNoise = record.match || (noisy.length === differences.length && total === listed.length);
      }
      return record;
    } catch (error) {
      return { ...base, match: false, differences: [], error: `compare threw: ${errorMessage(error)}` };
    }
  }

  function productionRecord(
    req: AppRequest,
    headers: HeaderMap,
    info: ExchangeInfo,
    durationMs: number,
    bodySource: BodySource,
    requestBody: DecodedBody,
    production: Awaited<ReturnType<typeof decodeAnswer>>,
  ): ProductionRecord {
    const requestType = headerString(req.headers['content-type']);
    return {
      type: 'production',
      requestId: info.requestId,
      timestamp: new Date().toISOString(),
      method: info.method,
      path: info.path,
      route: info.route,
      status: info.status ?? 0,
      durationMs: round(durationMs),
      request: {
        headers: headersForLog(req.headers, config.redactHeaders, config.logHeaders),
        bodySource,
        ...bodyForLog(requestBody, requestType, config.maxLoggedBodyBytes, config.redactPaths),
      },
      response: {
        headers: headersForLog(headers, config.redactHeaders, config.logHeaders),
        ...bodyForLog(production.decoded, headerString(headers['content-type']), config.maxLoggedBodyBytes, config.redactPaths),
        ...(production.stream ? { stream: production.stream } : {}),
      },
    };
  }

  /** Production's answer decoded (content-encoding undone, JSON parsed, stream assembled) once, for the log and the comparator. */
  async function decodeAnswer(status: number, headers: HeaderMap, response: CapturedResponse, ttfbMs: number | undefined) {
    const contentType = headerString(headers['content-type']);
    const content = await decodeContent(response.body, headerString(headers['content-encoding']), config.maxShadowResponseBytes);
    const truncated = response.truncated || content.cut;
    const decoded = decodeBody(content.bytes, content.decoded ? content.bytes.length : response.bytes, truncated, contentType);
    const stream = streamMeasurements(contentType, headers, decoded.bytes, ttfbMs ?? 0, response.chunks);
    const answer: ComparedAnswer = stream?.answer
      ? { ...stream.answer, status, headers }
      : { status, headers, isJson: decoded.isJson, json: decoded.json, bytes: decoded.bytes };
    return { answer, decoded, truncated, stream: stream?.measurements };
  }

  /**
   * For a streamed answer (no content-length, or an event-stream type): time to first byte, chunks, events, and the
   * assembled output that comparison looks at. `undefined` for an ordinary answer.
   */
  function streamMeasurements(
    contentType: string | undefined,
    headers: HeaderMap | NodeJS.Dict<string | string[]>,
    bytes: Buffer,
    ttfbMs: number,
    chunks: number,
  ): { measurements: StreamMeasurements; answer?: Omit<ComparedAnswer, 'status' | 'headers'> } | undefined {
    const format = streamFormatOf(contentType);
    const chunked = headers['content-length'] === undefined && bytes.length > 0;
    if (!format && !chunked) return undefined;
    const measurements: StreamMeasurements = { ttfbMs: round(ttfbMs), chunks };
    if (!format) return { measurements };
    const events = eventPayloads(bytes.toString('utf8'), format);
    let assembled: string;
    try {
      assembled = assemble(events);
    } catch (error) {
      assembled = `[assemble threw: ${errorMessage(error)}]`;
    }
    measurements.events = events.length;
    measurements.assembled = assembled.length > config.maxLoggedBodyBytes ? assembled.slice(0, config.maxLoggedBodyBytes) : assembled;
    const assembledBytes = Buffer.from(assembled, 'utf8');
    let json: unknown;
    let isJson = false;
    try {
      json = JSON.parse(assembled);
      isJson = true;
    } catch {
      // Assembled text that is not JSON is compared as text.
    }
    return { measurements, answer: { bytes: assembledBytes, isJson, ...(isJson ? { json } : {}) } };
  }

  function notifyIfIdle(): void {
    if (inFlight.size > 0 || queue.length > 0 || finishing > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  function whenIdle(): Promise<void> {
    return new Promise((resolve) => {
      idleWaiters.push(resolve);
      notifyIfIdle();
    });
  }

  let closed: Promise<void> | undefined;
  async function drain(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    closing = true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const result = await Promise.race([whenIdle(), timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      // Cancel what is left: queued jobs are never sent, in-flight calls are aborted; each gets its record.
      cancel.abort();
      for (const capture of awaitingBody) capture.abandon();
      for (let job = queue.shift(); job; job = queue.shift()) {
        await recordOutcome(job, { ok: false, code: 'cancelled', message: 'cancelled by close() before it was sent', durationMs: 0 }).catch(() => {});
        finishJob(job);
      }
      await whenIdle();
    }
    if (summaryTimer) clearInterval(summaryTimer);
    writeSummary();
    sinkClosed = true;
    client.destroy();
    // What is left of timeoutMs, and at least min(timeoutMs, 1 s): the records of cancelled calls are written
    // after the timeout, and a healthy disk needs a moment to take them; a stuck one cannot hold close() longer.
    await sink.close(Math.max(deadline - performance.now(), Math.min(timeoutMs, LOG_CLOSE_GRACE_MS)));
  }

  const middleware = function shadow(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void {
    try {
      handle(req as AppRequest, res as AppResponse);
    } catch {
      // A fault of ours never reaches production: the request simply is not mirrored.
    }
    next();
  } as ShadowMiddleware;

  middleware.close = (closeOptions: CloseOptions = {}) => {
    const timeoutMs = closeOptions.timeoutMs ?? 10_000;
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
      return Promise.reject(new ShadowOptionsError('close.timeoutMs', `must be a number of 0 or more, got ${showValue(timeoutMs)}`));
    }
    closed ??= drain(timeoutMs);
    return closed;
  };

  middleware.update = (update: ShadowUpdate) => {
    if (typeof update !== 'object' || update === null) throw new ShadowOptionsError('update', `takes { enabled?, sampleRate? }, got ${showValue(update)}`);
    for (const key of Object.keys(update)) {
      if (key !== 'enabled' && key !== 'sampleRate') throw new ShadowOptionsError(key, `cannot be changed at run time; update() takes enabled and sampleRate`);
    }
    if (update.enabled !== undefined && typeof update.enabled !== 'boolean') {
      throw new ShadowOptionsError('enabled', `must be true or false, got ${showValue(update.enabled)}`);
    }
    const nextRate = update.sampleRate === undefined ? sampleRate : validateSampleRate('sampleRate', update.sampleRate);
    if (update.enabled !== undefined) enabled = update.enabled;
    sampleRate = nextRate;
  };

  middleware.stats = (): ShadowStats => {
    const breakers: ShadowStats['breakers'] = {};
    const perTarget: ShadowStats['targets'] = {};
    for (const target of targets) {
      breakers[target.config.name] = target.breaker.state;
      perTarget[target.config.name] = {
        role: target.config.role,
        sampleRate: target.config.sampleRate ?? sampleRate,
        mirrored: target.mirrored,
        succeeded: target.succeeded,
        failed: { ...target.failed },
        breaker: target.breaker.state,
        latencyMs: target.latency.summary(),
      };
    }
    return {
      enabled: enabled && !closing,
      sampleRate,
      seen: totals.seen,
      mirrored: totals.mirrored,
      notMirrored: { ...notMirrored },
      skipped: { ...skipped },
      succeeded: totals.succeeded,
      failed: { ...failed },
      inFlight: inFlight.size,
      queued: queue.length,
      queuedBytes: budget.used,
      breakers,
      latencyMs: latency.summary(),
      targets: perTarget,
      log: sink.stats(),
    };
  };

  middleware.registerMetrics = (registry?: unknown, metricsOptions: MetricsOptions = {}) => {
    observers.push(createMetrics(registry, metricsOptions, middleware.stats));
  };

  return middleware;
}

/** A `transformRequest` result applied to the request it was given. Non-Buffer, non-string bodies become JSON. */
function applyRequestChange(request: ShadowRequest, change: ShadowRequestChange | undefined): ShadowRequest {
  if (!change || typeof change !== 'object') throw new TypeError('transformRequest must return an object like { path?, headers?, body? }');
  const next: ShadowRequest = { ...request };
  if (change.method !== undefined) next.method = String(change.method).toUpperCase();
  if (change.path !== undefined) {
    if (typeof change.path !== 'string' || !change.path.startsWith('/')) throw new TypeError(`transformRequest returned path ${showValue(change.path)}; it must start with "/"`);
    next.path = change.path;
  }
  if (change.headers !== undefined) next.headers = { ...change.headers, 'x-request-id': request.requestId, 'x-shadow-request': '1' };
  if ('body' in change) {
    const body = change.body;
    if (body === undefined) next.body = undefined;
    else if (Buffer.isBuffer(body)) next.body = body;
    else if (typeof body === 'string') next.body = Buffer.from(body, 'utf8');
    else {
      next.body = Buffer.from(JSON.stringify(body), 'utf8');
      next.json = body;
      if (change.headers === undefined) {
        const { 'content-encoding': _encoding, ...rest } = next.headers;
        next.headers = { ...rest, 'content-type': 'application/json' };
      }
    }
  }
  // content-length always describes the bytes sent (the untransformed request has it from shadowRequestHeaders).
  if (change.headers !== undefined || 'body' in change) {
    const { 'content-length': _length, ...headers } = next.headers;
    next.headers = next.body === undefined ? headers : { ...headers, 'content-length': String(next.body.length) };
  }
  return next;
}

function exchangeInfo(req: AppRequest, requestId: string, status?: number): ExchangeInfo {
  const routePath = req.route && typeof req.route.path === 'string' ? req.route.path : undefined;
  return {
    requestId,
    method: req.method ?? 'GET',
    path: req.originalUrl ?? req.url ?? '',
    route: routePath === undefined ? null : (req.baseUrl ?? '') + routePath,
    ...(status !== undefined ? { status } : {}),
  };
}

/**
 * After a parser consumed the stream, the best we can send is `req.body` re-serialised: bytes as they are,
 * text as UTF-8, JSON as JSON, flat forms as urlencoded. `undefined` when none of these fits.
 */
function reserialiseParsedBody(req: AppRequest): Buffer | undefined {
  const parsed = req.body;
  if (Buffer.isBuffer(parsed)) return parsed;
  if (typeof parsed === 'string') return Buffer.from(parsed, 'utf8');
  if (parsed === undefined || parsed === null || typeof parsed !== 'object') return undefined;
  const contentType = headerString(req.headers['content-type']);
  if (isJsonContentType(contentType)) return Buffer.from(JSON.stringify(parsed), 'utf8');
  if (contentType?.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    const form = new URLSearchParams();
    for (const [key, value] of Object.entries(parsed)) {
      const values: unknown[] = Array.isArray(value) ? value : [value];
      if (!values.every((item) => typeof item === 'string')) return undefined;
      for (const item of values as string[]) form.append(key, item);
    }
    return Buffer.from(form.toString(), 'utf8');
  }
  return undefined;
}

function redactDifference(difference: Difference, patterns: readonly PathPattern[]): Difference {
  let segments: PathSegment[];
  try {
    segments = parsePath(difference.path);
  } catch {
    return difference;
  }
  if (patterns.some((pattern) => pattern.covers(segments))) {
    return { path: difference.path, production: '[REDACTED]', shadow: '[REDACTED]' };
  }
  // A difference at a parent path carries the subtree: mask inside it.
  const relative = patterns.filter((pattern) => pattern.matchesPrefix(segments));
  if (relative.length === 0) return difference;
  return {
    path: difference.path,
    ...('production' in difference ? { production: redactBelow(difference.production, segments, relative) } : {}),
    ...('shadow' in difference ? { shadow: redactBelow(difference.shadow, segments, relative) } : {}),
  };
}

/** Redacts `value`, which sits at `at` in the document, with patterns written for the whole document. */
function redactBelow(value: unknown, at: PathSegment[], patterns: readonly PathPattern[]): unknown {
  let wrapped: unknown = value;
  for (let i = at.length - 1; i >= 0; i--) {
    const segment = at[i]!;
    if (typeof segment === 'number') {
      const array: unknown[] = [];
      array[segment] = wrapped;
      wrapped = array;
    } else {
      wrapped = { [segment]: wrapped };
    }
  }
  let redacted = redactPaths(wrapped, patterns);
  for (const segment of at) redacted = (redacted as Record<string | number, unknown>)[segment];
  return redacted;
}

function headerString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  if (typeof value === 'number') return String(value);
  return undefined;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

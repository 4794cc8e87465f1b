/**
 * `shadowMiddleware(options)`: the glue between the stages. Per request it only decides, starts the captures and
 * calls `next()`; everything else happens after production's response has finished, off the response path.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CircuitBreaker } from './breaker.js';
import { BudgetHold, ByteBudget } from './byte-budget.js';
import { RequestCapture } from './capture-request.js';
import { ResponseCapture, type CapturedResponse } from './capture-response.js';
import { isSampledIn } from './decide.js';
import { BoundedQueue, createShadowClient, type ShadowCall, type ShadowOutcome } from './dispatch.js';
import { ShadowOptionsError, ShadowUsageError, showValue } from './errors.js';
import { droppedHeaderSet, headersForLog, shadowRequestHeaders } from './headers.js';
import { bodyForLog, decodeBody, decodeContent, isJsonContentType, type DecodedBody } from './logged-body.js';
import { resolveOptions, validateSampleRate } from './options.js';
import { createRecordSink } from './record.js';
import { requestIdFor } from './request-id.js';
import { increment, LatencyWindow } from './stats.js';
import { shadowUrlFor } from './target-url.js';
import { parsePath, redactPaths, type PathPattern, type PathSegment } from './json-path.js';
import type {
  BodySource,
  Difference,
  CloseOptions,
  ComparedAnswer,
  ComparisonRecord,
  NotMirroredReason,
  ProductionRecord,
  ShadowLogRecord,
  ShadowMiddleware,
  ShadowOptions,
  ShadowRecord,
  ShadowStats,
  ShadowUpdate,
  SkipReason,
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

/** A request accepted for mirroring, waiting for or holding a slot. */
interface ShadowJob {
  requestId: string;
  call: ShadowCall;
  production: ComparedAnswer;
  /** Production's answer was longer than the capture cap: no comparison on a partial body. */
  productionTruncated: boolean;
  productionDurationMs: number;
  hold: BudgetHold;
  isProbe: boolean;
}

/** Facts about the production exchange, kept for records written later. */
interface ExchangeInfo {
  requestId: string;
  method: string;
  path: string;
  route: string | null;
  status: number;
}

export function shadowMiddleware(options: ShadowOptions): ShadowMiddleware {
  // eslint-disable-next-line prefer-rest-params
  if (arguments.length >= 3 && typeof arguments[2] === 'function') {
    throw new ShadowUsageError(
      'express-shadow: shadowMiddleware was mounted without being called. Use app.use(shadowMiddleware({ target: "http://..." })), not app.use(shadowMiddleware).',
    );
  }
  const config = resolveOptions(options);
  const targetName = config.targetName;
  const sink = createRecordSink(config.logger, config.logFile);
  const budget = new ByteBudget(config.maxQueuedBytes);
  const client = createShadowClient({
    timeoutMs: config.timeoutMs,
    maxConcurrent: config.maxConcurrent,
    maxResponseBytes: config.maxShadowResponseBytes,
  });
  const cancel = new AbortController();
  const droppedHeaders = droppedHeaderSet(config.forwardCredentials, config.stripHeaders);
  // Each instance marks requests with its own symbol, so mounting the same instance twice mirrors once.
  const kHandled = Symbol('express-shadow.handled');

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
  let idleWaiters: (() => void)[] = [];

  const breaker = new CircuitBreaker(config.breaker, ({ state, reason }) => {
    write({ type: 'breaker', timestamp: new Date().toISOString(), target: targetName, state, reason });
  });

  const summaryTimer = config.summaryIntervalMs > 0 ? setInterval(writeSummary, config.summaryIntervalMs) : undefined;
  summaryTimer?.unref();

  function write(record: ShadowLogRecord): void {
    if (sinkClosed) return;
    try {
      sink.write(record);
    } catch {
      // A logger that throws must not reach the app.
    }
  }

  function newPeriod() {
    return { startedAt: Date.now(), seen: 0, mirrored: 0, notMirrored: {} as Record<string, number>, breakerOpen: 0 };
  }

  function writeSummary(): void {
    const ended = period;
    period = newPeriod();
    if (ended.seen === 0 && ended.mirrored === 0) return;
    write({
      type: 'summary',
      timestamp: new Date().toISOString(),
      intervalMs: Date.now() - ended.startedAt,
      seen: ended.seen,
      mirrored: ended.mirrored,
      notMirrored: ended.notMirrored,
      ...(ended.breakerOpen > 0 ? { breakerOpen: { [targetName]: ended.breakerOpen } } : {}),
    });
  }

  function leaveOut(reason: NotMirroredReason): void {
    increment(notMirrored, reason);
    increment(period.notMirrored, reason);
    if (reason === 'breaker_open') period.breakerOpen++;
  }

  function skip(info: ExchangeInfo | (Omit<ExchangeInfo, 'status'> & { status?: number }), reason: SkipReason, detail?: string): void {
    increment(skipped, reason);
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

  /** The up-front decision, before anything is buffered. */
  function reasonToLeaveOut(req: IncomingMessage): NotMirroredReason | undefined {
    if (!enabled) return 'disabled';
    if (config.methods && !config.methods.has(req.method ?? '')) return 'method';
    if (config.filter && !config.filter(req)) return 'filtered';
    if (!isSampledIn(sampleRate, config.sampleBy ? String(config.sampleBy(req)) : undefined)) return 'sampled_out';
    return undefined;
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
    if (closing) return leaveOut('disabled');

    let reason: NotMirroredReason | undefined;
    try {
      reason = reasonToLeaveOut(req);
    } catch (error) {
      skip(exchangeInfo(req, requestId), 'hook_error', `filter/sampleBy threw: ${errorMessage(error)}`);
      return;
    }
    if (reason) return leaveOut(reason);
    const admission = breaker.admit();
    if (admission === 'no') return leaveOut('breaker_open');

    const hold = new BudgetHold(budget);
    const requestCapture = new RequestCapture(req, config.maxBodyBytes, hold);
    const responseCapture = new ResponseCapture(res, config.maxShadowResponseBytes, hold);
    res.once('close', () => {
      finishing++;
      afterProduction(req, res, requestId, startedAt, requestCapture, responseCapture, hold, admission === 'probe')
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
    isProbe: boolean,
  ): Promise<void> {
    const productionDurationMs = performance.now() - startedAt;
    const response = responseCapture.finish();
    const info = exchangeInfo(req, requestId, res.statusCode);
    const giveUp = (reason: SkipReason | undefined, detail?: string, leftOut?: NotMirroredReason): void => {
      requestCapture.abandon();
      hold.release();
      if (isProbe) breaker.releaseProbe();
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

    const captured = await requestCapture.outcome;
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

    const url = shadowUrlFor(config.target, req.originalUrl ?? req.url ?? '');
    if (!url) return giveUp('bad_url', 'the request target cannot be mirrored to the configured target');

    const hasBody = body.length > 0 || req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    const call: ShadowCall = {
      method: req.method ?? 'GET',
      url,
      headers: shadowRequestHeaders(req.headers, droppedHeaders, requestId, hasBody ? body : undefined, bodySource === 'parsed'),
      body: hasBody ? body : undefined,
    };
    const hasRoom = (): boolean => inFlight.size < config.maxConcurrent || queue.length < config.maxQueue;
    // Shed before spending anything on a request that cannot be queued anyway.
    if (!hasRoom()) return giveUp('queue_full', `${config.maxQueue} requests already waiting (maxQueue)`);
    const productionAnswer = await decodeAnswer(res.statusCode, res.getHeaders() as ComparedAnswer['headers'], response);
    const record = await productionRecord(req, res, info, productionDurationMs, bodySource, body, productionAnswer.decoded);
    if (closing) return giveUp('closing', 'close() was called before this request could be queued');
    if (!hasRoom()) return giveUp('queue_full', `${config.maxQueue} requests already waiting (maxQueue)`);

    const job: ShadowJob = {
      requestId,
      call,
      production: productionAnswer.answer,
      productionTruncated: productionAnswer.decoded.truncated,
      productionDurationMs,
      hold,
      isProbe,
    };
    totals.mirrored++;
    period.mirrored++;
    write(record);
    if (inFlight.size < config.maxConcurrent) void run(job);
    else queue.push(job);
  }

  /** Starts queued jobs while there are free slots. */
  function pump(): void {
    while (inFlight.size < config.maxConcurrent && queue.length > 0) void run(queue.shift()!);
  }

  async function run(job: ShadowJob): Promise<void> {
    inFlight.add(job);
    try {
      let outcome: ShadowOutcome;
      if (!job.isProbe && breaker.state !== 'closed' && breaker.admit() === 'no') {
        // Queued before the breaker opened: not sent to a target known to be failing.
        outcome = { ok: false, code: 'breaker_open', message: 'circuit open; not sent', durationMs: 0 };
      } else {
        outcome = await client.send(job.call, cancel.signal);
        breaker.record(outcome.ok ? { status: outcome.status } : { errorCode: outcome.code }, job.isProbe);
        latency.add(outcome.durationMs);
      }
      await recordOutcome(job, outcome);
    } catch {
      // Recording failed (a throwing comparator is handled inside); the app never hears of it.
    } finally {
      inFlight.delete(job);
      job.hold.release();
      pump();
      notifyIfIdle();
    }
  }

  async function recordOutcome(job: ShadowJob, outcome: ShadowOutcome): Promise<void> {
    const timestamp = new Date().toISOString();
    const base = { type: 'shadow' as const, requestId: job.requestId, timestamp, target: targetName, durationMs: round(outcome.durationMs) };
    if (!outcome.ok) {
      increment(failed, outcome.code);
      write({ ...base, error: { code: outcome.code, message: outcome.message } });
      return;
    }
    if (config.breaker.isFailure({ status: outcome.status })) increment(failed, `status_${Math.floor(outcome.status / 100)}xx`);
    else totals.succeeded++;
    const contentType = headerString(outcome.headers['content-type']);
    const shadowBody = decodeBody(outcome.body, outcome.bytesRead, outcome.truncated, contentType);
    const record: ShadowRecord = {
      ...base,
      status: outcome.status,
      response: {
        headers: headersForLog(outcome.headers, config.redactHeaders),
        ...bodyForLog(shadowBody, contentType, config.maxLoggedBodyBytes, config.redactPaths),
        ...(outcome.truncated ? { responseTruncated: true as const } : {}),
      },
    };
    write(record);
    if (config.comparator && !outcome.truncated && !job.productionTruncated) write(compareAnswers(job, outcome, shadowBody, timestamp));
  }

  function compareAnswers(job: ShadowJob, outcome: Extract<ShadowOutcome, { ok: true }>, shadowBody: DecodedBody, timestamp: string): ComparisonRecord {
    const shadowAnswer: ComparedAnswer = {
      status: outcome.status,
      headers: outcome.headers as ComparedAnswer['headers'],
      isJson: shadowBody.isJson,
      json: shadowBody.json,
      bytes: shadowBody.bytes,
    };
    const base = {
      type: 'comparison' as const,
      requestId: job.requestId,
      timestamp,
      target: targetName,
      statusMatch: job.production.status === outcome.status,
      latencyDeltaMs: round(outcome.durationMs - job.productionDurationMs),
    };
    try {
      const result = config.comparator!(job.production, shadowAnswer);
      const listed = result.differences ?? [];
      const total = (result as { differenceCount?: number }).differenceCount ?? listed.length;
      // A field masked by `redact` must not come back through a difference's values.
      const differences = config.redactPaths.length > 0 ? listed.map((d) => redactDifference(d, config.redactPaths)) : listed;
      return {
        ...base,
        match: Boolean(result.match),
        differences,
        ...(total > listed.length ? { differencesTruncated: true as const } : {}),
        ...(typeof result.score === 'number' ? { score: result.score } : {}),
      };
    } catch (error) {
      return { ...base, match: false, differences: [], error: `compare threw: ${errorMessage(error)}` };
    }
  }

  async function productionRecord(
    req: AppRequest,
    res: AppResponse,
    info: ExchangeInfo,
    durationMs: number,
    bodySource: BodySource,
    requestBody: Buffer,
    responseBody: DecodedBody,
  ): Promise<ProductionRecord> {
    const requestType = headerString(req.headers['content-type']);
    const requestDecoded = await decodeContent(requestBody, headerString(req.headers['content-encoding']), config.maxShadowResponseBytes);
    const loggedRequest = decodeBody(requestDecoded.bytes, requestDecoded.bytes.length, requestDecoded.cut, requestType);
    return {
      type: 'production',
      requestId: info.requestId,
      timestamp: new Date().toISOString(),
      method: info.method,
      path: info.path,
      route: info.route,
      status: info.status,
      durationMs: round(durationMs),
      request: {
        headers: headersForLog(req.headers, config.redactHeaders),
        bodySource,
        ...bodyForLog(loggedRequest, requestType, config.maxLoggedBodyBytes, config.redactPaths),
      },
      response: {
        headers: headersForLog(res.getHeaders(), config.redactHeaders),
        ...bodyForLog(responseBody, headerString(res.getHeader('content-type')), config.maxLoggedBodyBytes, config.redactPaths),
      },
    };
  }

  /** Production's answer decoded (content-encoding undone, JSON parsed) once, for the log and the comparator. */
  async function decodeAnswer(status: number, headers: ComparedAnswer['headers'], response: CapturedResponse) {
    const contentType = headerString(headers['content-type']);
    const content = await decodeContent(response.body, headerString(headers['content-encoding']), config.maxShadowResponseBytes);
    const truncated = response.truncated || content.cut;
    const decoded = decodeBody(content.bytes, content.decoded ? content.bytes.length : response.bytes, truncated, contentType);
    const answer: ComparedAnswer = { status, headers, isJson: decoded.isJson, json: decoded.json, bytes: decoded.bytes };
    return { answer, decoded };
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
    closing = true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const result = await Promise.race([whenIdle(), timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      // Cancel what is left: queued jobs are never sent, in-flight calls are aborted; each gets its record.
      cancel.abort();
      for (let job = queue.shift(); job; job = queue.shift()) {
        await recordOutcome(job, { ok: false, code: 'cancelled', message: 'cancelled by close() before it was sent', durationMs: 0 }).catch(() => {});
        job.hold.release();
      }
      await whenIdle();
    }
    if (summaryTimer) clearInterval(summaryTimer);
    writeSummary();
    sinkClosed = true;
    client.destroy();
    await sink.close();
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

  middleware.stats = (): ShadowStats => ({
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
    breakers: { [targetName]: breaker.state },
    latencyMs: latency.summary(),
  });

  return middleware;
}

function exchangeInfo(req: AppRequest, requestId: string): Omit<ExchangeInfo, 'status'>;
function exchangeInfo(req: AppRequest, requestId: string, status: number): ExchangeInfo;
function exchangeInfo(req: AppRequest, requestId: string, status?: number) {
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

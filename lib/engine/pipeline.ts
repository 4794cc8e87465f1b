/**
 * The engine of one `shadowMiddleware()` instance: takes the exchanges the tap hands off, and for each one writes
 * the production record, calls every selected target (bounded, queued, breaker-guarded), writes the shadow
 * records, compares the answers and writes the comparisons. Runs on the engine's worker thread, or in the app's
 * thread when a hook cannot cross threads. Nothing here ever throws into its caller.
 */
import { setMaxListeners } from 'node:events';
import { BudgetHold, ByteBudget } from '../byte-budget.js';
import type { ResolvedOptions } from './config.js';
import { errorMessage } from '../errors.js';
import { increment, LatencyWindow } from '../counters.js';
import type {
  BreakerState,
  ComparedAnswer,
  ComparisonRecord,
  LatencySummary,
  ShadowLogRecord,
  SinkStats,
  ShadowRecord,
  ShadowRequest,
  SkipReason,
  TargetStats,
} from '../types.js';
import { decodeProductionAnswer, joinChunks, type AnswerLimits } from './answers.js';
import { BoundedQueue, type ShadowOutcome } from './dispatch.js';
import type { EngineFeedback, Exchange, SkippedExchange, TapPeriod } from './exchange.js';
import { concatenatePayloads } from './stream-events.js';
import { createTargetRuntime, type TargetRuntime } from './target-runtime.js';
import type { RecordSink } from './sink-types.js';
import { droppedHeaderSet } from './headers.js';
import { shadowUrlFor } from './target-url.js';
import { createShadowClient } from './dispatch.js';
import { safeRecord } from './safe-record.js';
import { newRequestId } from '../request-id.js';
import { maskQuery, removeQueryParams } from './redact-query.js';
import { createShadowLookup } from './resolve-host.js';
import { hookContext, timedHook, workingOn } from './watchdog.js';
import { comparisonOf, markNoise, productionRecordOf, shadowOutcomeFields } from './records.js';
import { prepareShadowRequest } from './shadow-request.js';
import { Judging } from './judging.js'; // [judging]
import { engineWork } from './work-loop.js';

/** An exchange once the engine has it: its id is made if the tap did not have one. */
type Accepted = Exchange & { requestId: string; hookContext?: string };

/** A request accepted for mirroring: its production side, and its shadow calls until all have ended. */
interface RequestGroup {
  exchange: Accepted;
  request: ShadowRequest;
  production: ComparedAnswer;
  /** Production's answer was longer than the capture cap: no comparison on a partial body. */
  productionTruncated: boolean;
  hold: BudgetHold;
  pending: number;
  /** Answers kept for comparison once every target has answered. */
  answers: KeptAnswer[];
}

interface KeptAnswer {
  target: TargetRuntime;
  answer: ComparedAnswer | undefined;
  durationMs: number;
  error?: string;
}

interface ShadowJob {
  group: RequestGroup;
  target: TargetRuntime;
  isProbe: boolean;
  url: URL | undefined;
  queuedAt: number;
}

/** The engine's side of `stats()`. */
export interface EngineStats {
  mirrored: number;
  succeeded: number;
  failed: Record<string, number>;
  skipped: Record<string, number>;
  notMirrored: Record<string, number>;
  inFlight: number;
  queued: number;
  breakers: Record<string, BreakerState>;
  latencyMs: LatencySummary;
  targets: Record<string, Omit<TargetStats, 'sampleRate'>>;
  /** The log sink's counters (added by the host, which owns the sink). */
  log?: SinkStats;
  /** How far behind the engine's loop runs (ms), and why the instance could not be set up, if it could not. */
  engine?: { lagMs: number; failed?: string };
}

export class ShadowPipeline {
  readonly #config: ResolvedOptions;
  readonly #sink: RecordSink;
  readonly #feedback: EngineFeedback;
  readonly #targets: Map<string, TargetRuntime>;
  readonly #queue: BoundedQueue<ShadowJob>;
  readonly #inFlight = new Set<ShadowJob>();
  /** Answers kept for comparison until every target of the request answered. */
  readonly #answers: ByteBudget;
  readonly #cancel = new AbortController();
  readonly #limits: AnswerLimits;
  readonly #droppedHeaders: ReturnType<typeof droppedHeaderSet>;
  readonly #client;
  readonly #latency = new LatencyWindow();
  readonly #totals = { mirrored: 0, succeeded: 0 };
  readonly #failed: Record<string, number> = Object.create(null);
  readonly #skipped: Record<string, number> = Object.create(null);
  readonly #notMirrored: Record<string, number> = Object.create(null);
  #period = newPeriod();
  /** Exchanges accepted and not yet queued (decoding), so idleness waits for them too. */
  #preparing = 0;
  #idleWaiters: (() => void)[] = [];
  #expiryTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** [judging] The embed and judge hooks, when set: run after each comparison record, never before it. */
  readonly #judging: Judging | undefined;

  /** The instance's id in its host, for the record a hook past its budget needs. */
  readonly #instanceId: number;

  constructor(config: ResolvedOptions, sink: RecordSink, feedback: EngineFeedback, instanceId = 0) {
    this.#instanceId = instanceId;
    this.#config = config;
    this.#sink = sink;
    this.#feedback = feedback;
    this.#queue = new BoundedQueue<ShadowJob>(config.maxQueue);
    this.#answers = new ByteBudget(config.maxQueuedBytes);
    this.#limits = {
      maxBytes: config.maxShadowResponseBytes,
      maxLoggedBodyBytes: config.maxLoggedBodyBytes,
      assemble: config.assemble ?? concatenatePayloads,
      bodies: config.secrets.bodies,
      logResponseBodies: config.secrets.logBodies.response,
    };
    this.#droppedHeaders = droppedHeaderSet(config.secrets.withheldHeaders, config.stripHeaders);
    // [judging]
    this.#judging = config.judging && new Judging(config.judging, { write: (record) => this.#write(record), maskText: config.secrets.maskText });
    this.#client = createShadowClient({
      timeoutMs: config.timeoutMs,
      maxConcurrent: config.maxConcurrent,
      maxResponseBytes: config.maxShadowResponseBytes,
      lookup: createShadowLookup({ timeoutMs: config.timeoutMs, servers: config.dnsServers }),
    });
    // Each call in flight listens for cancellation until it settles: up to maxConcurrent listeners is expected.
    setMaxListeners(config.maxConcurrent + 1, this.#cancel.signal);
    this.#targets = new Map(
      config.targets.map((target) => [
        target.name,
        createTargetRuntime(target, this.#client, config, (state, reason, reopensAt) => {
          this.#write({ type: 'breaker', timestamp: new Date().toISOString(), target: target.name, state, reason });
          this.#feedback.breaker(target.name, state, reopensAt);
        }),
      ]),
    );
  }

  /** Takes one exchange; whatever happens, it is settled exactly once and every exit writes a record. */
  /** `takenIn` is told when the engine starts on it (the worker's crash recovery counts it as taken in then). */
  accept(handedOff: Exchange, takenIn?: () => void): void {
    // The engine's own from here (a copy from the tap's thread, or an object the tap let go of): taken as it is.
    const exchange = handedOff as Accepted;
    exchange.requestId ??= newRequestId();
    this.#preparing++;
    // Prepared in a coming slice of the engine's loop (work-loop.ts), after the answers already in.
    engineWork.intake(() => {
      takenIn?.();
      this.#prepare(exchange)
        .catch((error: unknown) => this.#skipAccepted(exchange, 'engine_error', `the engine failed on this request: ${errorMessage(error)}`))
        .finally(() => {
          this.#preparing--;
          this.#notifyIfIdle();
        });
      this.#feedback.started?.();
    });
  }

  /** A request the tap gave up on after production answered (the tap counted it): one `skipped` record. */
  skip(skipped: SkippedExchange): void {
    this.#write({
      type: 'skipped',
      requestId: skipped.requestId,
      ...(skipped.clientRequestId !== undefined ? { clientRequestId: skipped.clientRequestId } : {}),
      timestamp: new Date().toISOString(),
      reason: skipped.reason,
      method: skipped.method,
      path: this.#loggedPath(skipped.path),
      route: skipped.route,
      ...(skipped.status !== undefined ? { status: skipped.status } : {}),
      ...(skipped.detail !== undefined ? { detail: skipped.detail } : {}),
    });
  }

  /** Writes the summary of a period: the tap's counts with the engine's. */
  writeSummary(tap: TapPeriod): void {
    const ended = this.#period;
    this.#period = newPeriod();
    const breakerOpen: Record<string, number> = { ...tap.breakerOpen };
    for (const target of this.#targets.values()) {
      if (target.breakerOpenInPeriod > 0) increment(breakerOpen, target.config.name, target.breakerOpenInPeriod);
      target.breakerOpenInPeriod = 0;
    }
    const notMirrored = { ...tap.notMirrored };
    for (const [reason, count] of Object.entries(ended.notMirrored)) increment(notMirrored, reason, count);
    if (tap.seen === 0 && ended.mirrored === 0 && tap.shed === 0 && ended.shed === 0) return;
    const shed = tap.shed + ended.shed;
    this.#write({
      type: 'summary',
      timestamp: new Date().toISOString(),
      intervalMs: Date.now() - ended.startedAt,
      seen: tap.seen,
      mirrored: ended.mirrored,
      notMirrored,
      ...(shed > 0 ? { shed: { queue_full: shed, sampleRequestIds: [...tap.shedSample, ...ended.shedSample].slice(0, 10) } } : {}),
      ...(Object.keys(breakerOpen).length > 0 ? { breakerOpen } : {}),
    } as ShadowLogRecord);
  }

  stats(): EngineStats {
    const breakers: Record<string, BreakerState> = {};
    const targets: EngineStats['targets'] = {};
    for (const target of this.#targets.values()) {
      breakers[target.config.name] = target.breaker.state;
      targets[target.config.name] = {
        role: target.config.role,
        mirrored: target.mirrored,
        succeeded: target.succeeded,
        failed: { ...target.failed },
        breaker: target.breaker.state,
        latencyMs: target.latency.summary(),
      };
    }
    return {
      mirrored: this.#totals.mirrored,
      succeeded: this.#totals.succeeded,
      failed: { ...this.#failed },
      skipped: { ...this.#skipped },
      notMirrored: { ...this.#notMirrored },
      inFlight: this.#inFlight.size,
      queued: this.#queue.length,
      breakers,
      latencyMs: this.#latency.summary(),
      targets,
    };
  }

  /** Resolves once nothing is being prepared, queued or in flight (and every judgement started is written). */
  async whenIdle(): Promise<void> {
    await this.#idle();
    await this.#judging?.whenIdle(); // [judging]
  }

  /** Waits for the work in hand up to `timeoutMs`, then cancels the rest; each cancelled call gets its record. */
  async drain(timeoutMs: number): Promise<void> {
    const started = Date.now(); // [judging]
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const result = await Promise.race([this.#idle(), timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.#cancel.abort();
      this.#client.cancelAll();
      for (let job = this.#queue.shift(); job; job = this.#queue.shift()) {
        this.#recordOutcome(job, { ok: false, code: 'cancelled', message: 'cancelled by close() before it was sent', durationMs: 0 });
        this.#finishJob(job);
      }
      await this.#idle();
    }
    await this.#judging?.drain(Math.max(0, timeoutMs - (Date.now() - started))); // [judging] what is left of the timeout
    this.#closed = true;
    clearTimeout(this.#expiryTimer);
    this.#client.destroy();
  }

  /**
   * Admits the exchange at the breakers, then prepares its calls. Whatever is thrown before the calls are handed
   * to their jobs, the probes admitted for it are released, or a half-open breaker would wait for them forever.
   */
  async #prepare(exchange: Accepted): Promise<void> {
    const selection = this.#admit(exchange);
    if (selection.length === 0) return this.#settle(exchange);
    let handedToJobs = false;
    const releaseProbes = () => {
      if (handedToJobs) return;
      handedToJobs = true;
      for (const { target, isProbe } of selection) if (isProbe) target.breaker.releaseProbe();
    };
    try {
      await this.#prepareAdmitted(exchange, selection, releaseProbes, () => (handedToJobs = true));
    } catch (error) {
      releaseProbes();
      throw error;
    }
  }

  async #prepareAdmitted(
    exchange: Accepted,
    selection: { target: TargetRuntime; isProbe: boolean }[],
    releaseProbes: () => void,
    handOver: () => void,
  ): Promise<void> {
    const config = this.#config;
    if (this.#cancel.signal.aborted) {
      releaseProbes();
      return this.#skipAccepted(exchange, 'closing', 'close() timed out before this request could be queued');
    }
    // Credentials in the query go only where forwarded by choice; every other byte of the target is kept.
    const shadowPath = removeQueryParams(exchange.path, config.secrets.withheldQuery);
    // Built once per URL target up front, so a hostile path is one `skipped` record, not one error per target.
    const urls = new Map<TargetRuntime, URL>();
    for (const { target } of selection) {
      if (target.config.endpoint.kind !== 'url') continue;
      const url = shadowUrlFor(target.config.endpoint.url, shadowPath);
      if (!url) {
        releaseProbes();
        return this.#skipAccepted(exchange, 'bad_url', 'the request target cannot be mirrored to the configured target');
      }
      urls.set(target, url);
    }
    if (!this.#hasRoom(selection.length)) {
      releaseProbes();
      return this.#shed(exchange);
    }
    const prepared = prepareShadowRequest(exchange, shadowPath, this.#droppedHeaders, config);
    const { request, requestBody, body } = prepared instanceof Promise ? await prepared : prepared;
    const responseBody = joinChunks(exchange.response.chunks);
    const productionAnswer = decodeProductionAnswer(exchange.status, exchange.responseHeaders, responseBody, exchange.response, this.#limits);
    const production = productionAnswer instanceof Promise ? await productionAnswer : productionAnswer;
    if (this.#cancel.signal.aborted) {
      releaseProbes();
      return this.#skipAccepted(exchange, 'closing', 'close() timed out before this request could be queued');
    }
    if (!this.#hasRoom(selection.length)) {
      releaseProbes();
      return this.#shed(exchange);
    }
    const record = productionRecordOf(exchange, requestBody, production, body, config, this.#loggedPath(exchange.path));
    record.targets = selection.map(({ target }) => target.config.name);
    const group: RequestGroup = {
      exchange,
      request,
      production: production.answer,
      productionTruncated: production.truncated,
      hold: new BudgetHold(this.#answers),
      pending: selection.length,
      answers: [],
    };
    this.#totals.mirrored++;
    this.#period.mirrored++;
    this.#event({ kind: 'mirrored', route: exchange.route, productionMs: exchange.durationMs });
    this.#write(record);
    // From here each job owns its probe: it settles it when it runs, or when it expires in the queue.
    handOver();
    const queuedAt = Date.now();
    for (const { target, isProbe } of selection) {
      target.mirrored++;
      const job: ShadowJob = { group, target, isProbe, url: urls.get(target), queuedAt };
      if (this.#inFlight.size < config.maxConcurrent) void this.#run(job);
      else this.#queue.push(job);
    }
    this.#scheduleExpiry();
  }

  /** The authoritative breaker admission (the tap decided on a view that may be a moment old). */
  #admit(exchange: Accepted): { target: TargetRuntime; isProbe: boolean }[] {
    const selected: { target: TargetRuntime; isProbe: boolean }[] = [];
    let candidates = 0;
    for (const name of exchange.targets) {
      const target = this.#targets.get(name);
      if (!target) continue;
      const admission = target.breaker.admit();
      if (admission === 'no') {
        target.breakerOpenInPeriod++;
        continue;
      }
      if (target.config.role === 'candidate') candidates++;
      selected.push({ target, isProbe: admission === 'probe' });
    }
    if (candidates > 0) return selected;
    for (const { target, isProbe } of selected) if (isProbe) target.breaker.releaseProbe();
    increment(this.#notMirrored, 'breaker_open');
    increment(this.#period.notMirrored, 'breaker_open');
    this.#event({ kind: 'notMirrored', reason: 'breaker_open' });
    return [];
  }

  /** Room for every call of this request, counting free slots and free queue places. */
  #hasRoom(calls: number): boolean {
    const config = this.#config;
    return Math.max(0, config.maxConcurrent - this.#inFlight.size) + (config.maxQueue - this.#queue.length) >= calls;
  }

  /** Overload: counted in the summary (with a sample of ids), not one record each. */
  #shed(exchange: Accepted): void {
    increment(this.#skipped, 'queue_full');
    this.#period.shed++;
    if (this.#period.shedSample.length < 10) this.#period.shedSample.push(exchange.requestId);
    this.#event({ kind: 'skipped', reason: 'queue_full', route: exchange.route });
    this.#settle(exchange);
  }

  #skipAccepted(exchange: Accepted, reason: SkipReason, detail: string): void {
    increment(this.#skipped, reason);
    this.#event({ kind: 'skipped', reason, route: exchange.route });
    this.skip({ ...exchangeInfo(exchange), reason, detail });
    this.#settle(exchange);
  }

  /** Tells the tap the exchange's bytes are free. Exactly once per exchange. */
  #settle(exchange: Accepted): void {
    const held = exchange.heldBytes;
    exchange.heldBytes = 0;
    exchange.body = undefined;
    exchange.response.chunks = [];
    this.#feedback.settled(held);
  }

  /** Starts queued jobs while there are free slots; jobs that waited past `maxQueueWaitMs` end as `queue_timeout`. */
  #pump(): void {
    while (this.#inFlight.size < this.#config.maxConcurrent && this.#queue.length > 0) {
      const job = this.#queue.shift()!;
      if (this.#expired(job)) continue;
      void this.#run(job);
    }
  }

  #expired(job: ShadowJob): boolean {
    const waited = Date.now() - job.queuedAt;
    if (waited <= this.#config.maxQueueWaitMs) return false;
    if (job.isProbe) job.target.breaker.releaseProbe();
    this.#recordOutcome(job, { ok: false, code: 'queue_timeout', message: `waited ${waited} ms for a free slot (maxQueueWaitMs ${this.#config.maxQueueWaitMs})`, durationMs: 0 });
    this.#finishJob(job);
    return true;
  }

  /** While jobs wait, look again when the oldest would pass `maxQueueWaitMs`, even if no call ends meanwhile. */
  #scheduleExpiry(): void {
    if (this.#expiryTimer || this.#queue.length === 0 || this.#closed) return;
    this.#expiryTimer = setTimeout(() => {
      this.#expiryTimer = undefined;
      const kept: ShadowJob[] = [];
      for (let job = this.#queue.shift(); job; job = this.#queue.shift()) if (!this.#expired(job)) kept.push(job);
      for (const job of kept) this.#queue.push(job);
      this.#notifyIfIdle();
      this.#scheduleExpiry();
    }, this.#config.maxQueueWaitMs + 1);
    this.#expiryTimer.unref();
  }

  async #run(job: ShadowJob): Promise<void> {
    this.#inFlight.add(job);
    let outcome: ShadowOutcome | Error;
    try {
      if (job.target.config.transformRequest) this.#workingOn(job.group.exchange);
      outcome = await job.target.call(job, this.#cancel.signal);
    } catch (error) {
      outcome = error instanceof Error ? error : new Error(String(error));
    }
    // The answer was read (and timed) as it came; its records are made in a coming slice of the engine's loop,
    // so the answers arriving meanwhile are read, and timed, without waiting for this one's work.
    engineWork.finished(() => this.#called(job, outcome));
  }

  #called(job: ShadowJob, outcome: ShadowOutcome | Error): void {
    try {
      if (outcome instanceof Error) throw outcome;
      this.#account(job, outcome);
      this.#recordOutcome(job, outcome);
    } catch (error) {
      if (job.isProbe) job.target.breaker.releaseProbe();
      this.#skipAccepted(job.group.exchange, 'engine_error', `recording the shadow answer failed: ${errorMessage(error)}`);
    } finally {
      this.#inFlight.delete(job);
      this.#finishJob(job);
      this.#pump();
      this.#notifyIfIdle();
    }
  }

  /** Latency and breaker bookkeeping: calls that never reached the target, or failed by the request's own fault, say nothing about it. */
  #account(job: ShadowJob, outcome: ShadowOutcome): void {
    if (!outcome.ok && outcome.requestFault) return;
    if (!outcome.ok && outcome.code === 'cancelled') return;
    job.target.latency.add(outcome.durationMs);
    this.#latency.add(outcome.durationMs);
  }

  #recordOutcome(job: ShadowJob, outcome: ShadowOutcome): void {
    const { target, group } = job;
    const config = this.#config;
    const name = target.config.name;
    const route = group.exchange.route;
    const { fields, answer: shadowAnswer } = shadowOutcomeFields(outcome, config, this.#limits);
    const record: ShadowRecord = {
      type: 'shadow',
      requestId: group.exchange.requestId,
      timestamp: new Date().toISOString(),
      target: name,
      ...fields,
      ...(target.config.role === 'secondary' ? { role: 'secondary' as const } : {}),
    };
    if (!outcome.ok) {
      increment(this.#failed, outcome.code);
      increment(target.failed, outcome.code);
      this.#event({ kind: 'shadowDone', target: name, route, errorCode: outcome.code, durationMs: outcome.durationMs });
      this.#write(record);
      return;
    }
    if (target.config.breaker.isFailure({ status: outcome.status })) {
      const code = `status_${Math.floor(outcome.status / 100)}xx`;
      increment(this.#failed, code);
      increment(target.failed, code);
    } else {
      this.#totals.succeeded++;
      target.succeeded++;
    }
    this.#event({ kind: 'shadowDone', target: name, route, status: outcome.status, durationMs: outcome.durationMs });
    this.#write(record);
    if (!config.comparator || outcome.truncated || group.productionTruncated) return;

    let answer = shadowAnswer!;
    let error: string | undefined;
    if (target.config.transformResponse) {
      const transform = target.config.transformResponse;
      try {
        this.#workingOn(group.exchange);
        answer = timedHook('transformResponse', config.hookTimeoutMs, () => transform(answer));
      } catch (thrown) {
        error = `transformResponse threw: ${errorMessage(thrown)}`;
        increment(this.#failed, 'transform_error');
        increment(target.failed, 'transform_error');
      }
    }
    const kept: KeptAnswer = { target, answer: error ? undefined : answer, durationMs: outcome.durationMs, ...(error ? { error } : {}) };
    if (group.pending === 1 && group.answers.length === 0) {
      // The only (or last, alone) answer: compare now, nothing to keep.
      this.#writeComparisons(group, [kept]);
    } else if (group.hold.take(answer.bytes.length)) {
      group.answers.push(kept);
    }
  }

  /** Counts a job as done; the last one of a request writes the comparisons and frees what the request held. */
  #finishJob(job: ShadowJob): void {
    const group = job.group;
    group.pending--;
    if (group.pending > 0) return;
    if (group.answers.length > 0) {
      try {
        this.#writeComparisons(group, group.answers);
      } catch {
        // Never let a comparison fault escape.
      }
    }
    group.answers = [];
    group.hold.release();
    this.#settle(group.exchange);
  }

  /** The secondary first: its differences from production are this request's noise, marked in the candidates'. */
  #writeComparisons(group: RequestGroup, answers: KeptAnswer[]): void {
    const ordered = [...answers].sort((a, b) => (a.target.config.role === 'secondary' ? -1 : b.target.config.role === 'secondary' ? 1 : 0));
    let noise: Set<string> | undefined;
    for (const kept of ordered) {
      const record = this.#compare(group, kept, noise);
      if (kept.target.config.role === 'secondary') noise = new Set(record.error ? [] : record.differences.map((d) => d.path));
      this.#event({ kind: 'compared', target: kept.target.config.name, route: group.exchange.route, match: record.match });
      this.#write(record);
      // [judging] after the record is written; samples, bounds and runs the hooks on later turns.
      this.#judging?.afterComparison(record, { route: group.exchange.route, request: group.request, production: group.production, candidate: kept.answer });
    }
  }

  #compare(group: RequestGroup, kept: KeptAnswer, noise: Set<string> | undefined): ComparisonRecord {
    const { target } = kept;
    const config = this.#config;
    if (kept.answer && kept.answer.status === group.production.status) this.#workingOn(group.exchange);
    const { record, complete } = comparisonOf(
      {
        requestId: group.exchange.requestId,
        timestamp: new Date().toISOString(),
        target: target.config.name,
        role: target.config.role,
        production: group.production,
        productionDurationMs: group.exchange.durationMs,
        answer: kept.answer,
        durationMs: kept.durationMs,
        error: kept.error,
      },
      config,
      (compare) => timedHook('compare', config.hookTimeoutMs, compare),
    );
    if (noise && target.config.role === 'candidate') markNoise(record, noise, complete);
    return record;
  }

  /** What a hook past its time budget is working on (watchdog.ts): enough for its `skipped` record, made once. */
  #workingOn(exchange: Accepted): void {
    exchange.hookContext ??= hookContext({
      instance: this.#instanceId,
      requestId: exchange.requestId,
      clientRequestId: exchange.clientRequestId,
      method: exchange.method,
      path: this.#loggedPath(exchange.path).slice(0, 1024),
      route: exchange.route,
      status: exchange.status,
    });
    workingOn(exchange.hookContext);
  }

  /** A path as logged: credential query values masked, other values through value masking. */
  #loggedPath(path: string): string {
    const masked = maskQuery(path, this.#config.secrets.redactQuery);
    return this.#config.secrets.maskText ? this.#config.secrets.maskText(masked) : masked;
  }

  #write(record: ShadowLogRecord): void {
    try {
      this.#sink.write(safeRecord(record, this.#config.maxLoggedBodyBytes));
    } catch {
      // A logger that throws must not reach the app.
    }
  }

  #event(event: Parameters<NonNullable<EngineFeedback['event']>>[0]): void {
    if (!this.#feedback.event) return;
    try {
      this.#feedback.event(event);
    } catch {
      // Metrics must never break mirroring.
    }
  }

  /** Nothing being prepared, queued or in flight (judgements aside: drain() gives them what is left of its timeout). */
  #idle(): Promise<void> {
    return new Promise((resolve) => {
      this.#idleWaiters.push(resolve);
      this.#notifyIfIdle();
    });
  }

  #notifyIfIdle(): void {
    if (this.#inFlight.size > 0 || this.#queue.length > 0 || this.#preparing > 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

function newPeriod() {
  return { startedAt: Date.now(), mirrored: 0, notMirrored: Object.create(null) as Record<string, number>, shed: 0, shedSample: [] as string[] };
}

function exchangeInfo(exchange: Accepted) {
  return {
    requestId: exchange.requestId,
    ...(exchange.clientRequestId !== undefined ? { clientRequestId: exchange.clientRequestId } : {}),
    method: exchange.method,
    path: exchange.path,
    route: exchange.route,
    status: exchange.status,
  };
}


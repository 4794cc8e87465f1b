/**
 * The engine of one `shadowMiddleware()` instance, as a flow: take the exchanges the tap hands off; for each, admit
 * it at the breakers, prepare its shadow request and production's answer, write the production record and start
 * (or queue) a call per target; as each call ends, write its records. The parts live beside it: request-targets.ts,
 * shadow-request.ts, answers.ts, call-slots.ts, answer-records.ts, engine-counts.ts, engine-output.ts. Runs on the
 * engine's worker thread, or in the app's thread when a hook cannot cross threads. Nothing here ever throws into
 * its caller.
 */
import { setMaxListeners } from 'node:events';
import { BudgetHold, ByteBudget } from '../byte-budget.js';
import type { ResolvedOptions } from './config.js';
import { errorMessage } from '../errors.js';
import { decodeProductionAnswer, joinChunks, type DecodedAnswer } from './answers.js';
import type { EngineFeedback, Exchange, SkippedExchange, TapPeriod } from './exchange.js';
import { concatenatePayloads } from './stream-events.js';
import { createTargetRuntime, type TargetRuntime } from './target-runtime.js';
import type { RecordSink } from './sink-types.js';
import { droppedHeaderSet } from './headers.js';
import { createShadowClient } from './dispatch.js';
import { newRequestId } from '../request-id.js';
import { removeQueryParams } from './redact-query.js';
import { createShadowLookup } from './resolve-host.js';
import { productionRecordOf } from './records.js';
import { prepareShadowRequest, type PreparedRequest } from './shadow-request.js';
import { Judging } from './judging.js'; // [judging]
import { engineWork } from './work-loop.js';
import { IdleWaiters } from '../idle-waiters.js';
import { admitAtBreakers, releaseProbes, shadowUrls } from './request-targets.js';
import { AnswerRecords } from './answer-records.js';
import { EngineCounts, type EngineStats } from './engine-counts.js';
import { EngineOutput } from './engine-output.js';
import { ShadowCalls } from './shadow-calls.js';
import type { Accepted, Admitted, RequestGroup } from './request-group.js';

/** A request ready for its calls: its shadow request, production's answer decoded, each URL target's URL. */
interface Ready extends PreparedRequest {
  production: DecodedAnswer;
  /** Each selected target's URL, in the selection's order (undefined for a function target). */
  urls: (URL | undefined)[];
}

export class ShadowPipeline {
  readonly #config: ResolvedOptions;
  readonly #output: EngineOutput;
  readonly #counts = new EngineCounts();
  readonly #records: AnswerRecords;
  readonly #calls: ShadowCalls;
  readonly #targets: Map<string, TargetRuntime>;
  /** The bytes of the answers kept until every target of their request has answered. */
  readonly #answers: ByteBudget;
  readonly #droppedHeaders: ReturnType<typeof droppedHeaderSet>;
  /** Exchanges taken and not yet prepared (waiting for their slice, or inflating a body). */
  #preparing = 0;
  readonly #idle = new IdleWaiters(() => this.#preparing === 0 && this.#calls.inFlight === 0 && this.#calls.queued === 0);

  constructor(config: ResolvedOptions, sink: RecordSink, feedback: EngineFeedback, instanceId = 0) {
    this.#config = config;
    this.#output = new EngineOutput(config, sink, feedback, instanceId, this.#counts);
    this.#answers = new ByteBudget(config.maxQueuedBytes);
    const limits = {
      maxBytes: config.maxShadowResponseBytes,
      maxLoggedBodyBytes: config.maxLoggedBodyBytes,
      assemble: config.assemble ?? concatenatePayloads,
      bodies: config.secrets.bodies,
      logResponseBodies: config.secrets.logBodies.response,
    };
    // [judging]
    const judging = config.judging && new Judging(config.judging, { write: (record) => this.#output.write(record), maskText: config.secrets.maskText });
    this.#records = new AnswerRecords(config, limits, this.#output, this.#counts, judging);
    this.#droppedHeaders = droppedHeaderSet(config.secrets.withheldHeaders, config.stripHeaders);
    const client = createShadowClient({
      timeoutMs: config.timeoutMs,
      maxConcurrent: config.maxConcurrent,
      maxResponseBytes: config.maxShadowResponseBytes,
      lookup: createShadowLookup({ timeoutMs: config.timeoutMs, servers: config.dnsServers }),
    });
    this.#calls = new ShadowCalls(config, client, this.#records, this.#output, this.#counts, () => this.#idle.notify());
    // Each call in flight listens for cancellation until it settles: up to maxConcurrent listeners is expected.
    setMaxListeners(config.maxConcurrent + 1, this.#calls.signal);
    this.#targets = new Map(
      config.targets.map((target) => [
        target.name,
        createTargetRuntime(target, client, config, (state, reason, reopensAt) => {
          this.#output.write({ type: 'breaker', timestamp: new Date().toISOString(), target: target.name, state, reason });
          feedback.breaker(target.name, state, reopensAt);
        }),
      ]),
    );
  }

  /**
   * Takes one exchange; whatever happens, it is settled exactly once and every exit writes a record. `takenIn` is
   * told when the engine starts on it (the worker's crash recovery counts it as taken in then).
   */
  accept(handedOff: Exchange, takenIn?: () => void): void {
    // The engine's own from here (a copy from the tap's thread, or an object the tap let go of): taken as it is.
    const exchange = handedOff as Accepted;
    exchange.requestId ??= newRequestId();
    this.#preparing++;
    // Prepared in a coming slice of the engine's loop (work-loop.ts), after the answers already in.
    engineWork.intake(() => {
      takenIn?.();
      this.#takeIn(exchange);
      this.#output.feedback.started?.();
    });
  }

  /** A request the tap gave up on after production answered (the tap counted it): one `skipped` record. */
  skip(skipped: SkippedExchange): void {
    this.#output.skipped(skipped);
  }

  /** Writes the summary of a period: the tap's counts with the engine's. */
  writeSummary(tap: TapPeriod): void {
    const record = this.#counts.summary(tap, this.#targets.values());
    if (record) this.#output.write(record);
  }

  stats(): EngineStats {
    return this.#counts.stats(this.#targets.values(), this.#calls.inFlight, this.#calls.queued);
  }

  /** Resolves once nothing is being prepared, queued or in flight (and every judgement started is written). */
  async whenIdle(): Promise<void> {
    await this.#idle.wait();
    await this.#records.judging?.whenIdle(); // [judging]
  }

  /** Waits for the work in hand up to `timeoutMs`, then cancels the rest; each cancelled call gets its record. */
  async drain(timeoutMs: number): Promise<void> {
    const started = Date.now(); // [judging]
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const result = await Promise.race([this.#idle.wait(), timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.#calls.cancel();
      await this.#idle.wait();
    }
    await this.#records.judging?.drain(Math.max(0, timeoutMs - (Date.now() - started))); // [judging] what is left of the timeout
    this.#calls.close();
  }

  /** Prepares an exchange: at once, or once a compressed body is inflated; a fault is its `engine_error` record. */
  #takeIn(exchange: Accepted): void {
    let preparing: void | Promise<void>;
    try {
      preparing = this.#prepare(exchange);
    } catch (error) {
      preparing = Promise.reject(error as Error);
    }
    if (!preparing) {
      this.#preparing--;
      return this.#idle.notify();
    }
    preparing
      .catch((error: unknown) => this.#output.gaveUp(exchange, 'engine_error', `the engine failed on this request: ${errorMessage(error)}`))
      .finally(() => {
        this.#preparing--;
        this.#idle.notify();
      });
  }

  /**
   * Admits the exchange at the breakers, then prepares its calls. Whatever is thrown before the calls are handed
   * to their jobs, the probes admitted for it are released, or a half-open breaker would wait for them forever.
   */
  #prepare(exchange: Accepted): void | Promise<void> {
    const selection = admitAtBreakers(this.#targets, exchange.targets);
    if (selection.length === 0) {
      this.#counts.notMirrored('breaker_open');
      this.#output.event({ kind: 'notMirrored', reason: 'breaker_open' });
      return this.#output.settle(exchange);
    }
    let ready: Ready | undefined | Promise<Ready | undefined>;
    try {
      ready = this.#ready(exchange, selection);
      if (!(ready instanceof Promise)) return this.#start(exchange, selection, ready);
    } catch (error) {
      releaseProbes(selection);
      throw error;
    }
    return ready.then(
      (prepared) => this.#startOrRelease(exchange, selection, prepared),
      (error: unknown) => {
        releaseProbes(selection);
        throw error;
      },
    );
  }

  /** After inflating a body: close() and other requests had time to change both checks `#ready` made, so again. */
  #startOrRelease(exchange: Accepted, selection: Admitted[], ready: Ready | undefined): void {
    try {
      if (ready && this.#open(exchange, selection) && this.#hasRoom(exchange, selection)) this.#start(exchange, selection, ready);
    } catch (error) {
      releaseProbes(selection);
      throw error;
    }
  }

  /** The request's shadow request and production's answer, or undefined when it ended here (skipped or shed). */
  #ready(exchange: Accepted, selection: Admitted[]): Ready | undefined | Promise<Ready | undefined> {
    if (!this.#open(exchange, selection)) return undefined;
    // Credentials in the query go only where forwarded by choice; every other byte of the target is kept.
    const shadowPath = removeQueryParams(exchange.path, this.#config.secrets.withheldQuery);
    const urls = shadowUrls(selection, shadowPath);
    if (!urls) {
      releaseProbes(selection);
      return this.#output.gaveUp(exchange, 'bad_url', 'the request target cannot be mirrored to the configured target');
    }
    if (!this.#hasRoom(exchange, selection)) return undefined;
    const prepared = prepareShadowRequest(exchange, shadowPath, this.#droppedHeaders, this.#config);
    if (prepared instanceof Promise) return prepared.then((request) => this.#withProduction(exchange, request, urls));
    return this.#withProduction(exchange, prepared, urls);
  }

  #withProduction(exchange: Accepted, prepared: PreparedRequest, urls: (URL | undefined)[]): Ready | Promise<Ready> {
    const body = joinChunks(exchange.response.chunks);
    const production = decodeProductionAnswer(exchange.status, exchange.responseHeaders, body, exchange.response, this.#records.limits);
    if (production instanceof Promise) return production.then((decoded) => readyOf(prepared, decoded, urls));
    return readyOf(prepared, production, urls);
  }

  /** Writes the production record and hands each target's call to the slots. */
  #start(exchange: Accepted, selection: Admitted[], ready: Ready | undefined): void {
    if (!ready) return;
    const record = productionRecordOf(exchange, ready.requestBody, ready.production, ready.body, this.#config, this.#output.loggedPath(exchange.path));
    record.targets = selection.map(({ target }) => target.config.name);
    const group: RequestGroup = {
      exchange,
      request: ready.request,
      production: ready.production.answer,
      productionTruncated: ready.production.truncated,
      hold: new BudgetHold(this.#answers),
      pending: selection.length,
      answers: [],
    };
    this.#counts.mirrored();
    this.#output.event({ kind: 'mirrored', route: exchange.route, productionMs: exchange.durationMs });
    this.#output.write(record);
    // From here each job owns its probe: it settles it when it runs, or when it expires in the queue.
    const queuedAt = Date.now();
    for (let i = 0; i < selection.length; i++) {
      const { target, isProbe } = selection[i]!;
      target.mirrored++;
      this.#calls.add({ group, target, isProbe, url: ready.urls[i], queuedAt });
    }
  }

  /** False, with the request's `closing` record, once close() has cancelled what is still in hand. */
  #open(exchange: Accepted, selection: Admitted[]): boolean {
    if (!this.#calls.cancelled) return true;
    releaseProbes(selection);
    this.#output.gaveUp(exchange, 'closing', 'close() timed out before this request could be queued');
    return false;
  }

  /** False, the request shed (counted in the summary, with a sample of ids), when its calls find no room. */
  #hasRoom(exchange: Accepted, selection: Admitted[]): boolean {
    if (this.#calls.hasRoom(selection.length)) return true;
    releaseProbes(selection);
    this.#output.shed(exchange);
    return false;
  }
}

/** Spelled out rather than spread: one object of a fixed shape per request. */
function readyOf(prepared: PreparedRequest, production: DecodedAnswer, urls: (URL | undefined)[]): Ready {
  return { request: prepared.request, requestBody: prepared.requestBody, body: prepared.body, production, urls };
}

/**
 * `replayShadowLog`: sends the requests of a shadow log to a new candidate and writes its `shadow` and
 * `comparison` records against the answers production gave at the time, so the whole report works on yesterday's
 * traffic. Built from the engine's own pieces: the shadow client (no retries, no redirects, timeout, byte cap), the
 * SSRF-safe target URL, the breaker, the comparator and the record sink.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ShadowOptionsError, showValue, errorMessage } from '../errors.js';
import type { ShadowOutcome } from '../engine/dispatch.js';
import type { TargetRuntime } from '../engine/target-runtime.js';
import { readShadowLog, type ReadStats, type ShadowLogEntry } from '../read/index.js';
import { sampleBucket } from '../tap/decide.js';
import type { ComparedAnswer, ProductionRecord } from '../types.js';
import { ShadowReplayError } from './errors.js';
import { loggedProductionAnswer } from './production-answer.js';
import { rebuildRequest, type RebuiltRequest } from './rebuild-request.js';
import { comparisonRecordOf, productionCopy, shadowRecordOf } from './records.js';
import { resolveReplayOptions, type ReplaySettings } from './replay-options.js';
import { ReplayOutput } from './replay-output.js';
import { ReplayWindow } from './replay-window.js';
import type { NotReplayableReason, ReplayEnd, ReplayOptions, ReplayOutcome, ReplayRun, ReplayStats, ReplaySummary, ReplayTransformRequest } from './types.js';

/**
 * Replays the requests logged in `paths` (files or globs, plain or gzip) against `options.target`.
 * Options are checked at once (a `ShadowOptionsError` names the bad one); `done` rejects only when the logs or the
 * output cannot be used (`ShadowLogReadError`, `ShadowReplayError`).
 *
 * @example
 * ```ts
 * const run = replayShadowLog('logs/shadow.log.gz', { target: 'http://127.0.0.1:9003', name: 'v3', out: 'replay.log', methods: ['POST'], rate: 50 });
 * process.once('SIGINT', () => run.stop());
 * const { end, stats } = await run.done; // end: 'completed' | 'stopped' | 'breaker_open'
 * ```
 */
export function replayShadowLog(paths: string | readonly string[], options: ReplayOptions): ReplayRun {
  const settings = resolveReplayOptions(options);
  const sources = typeof paths === 'string' ? [paths] : [...paths];
  const out = settings.out === undefined ? undefined : resolve(settings.cwd, settings.out);
  if (out !== undefined && sources.some((source) => resolve(settings.cwd, source) === out)) {
    throw new ShadowOptionsError('out', `must not be one of the logs being replayed (${showValue(settings.out)}): records would be appended to the file being read`);
  }
  const stop = new AbortController();
  if (options.signal) {
    if (options.signal.aborted) stop.abort();
    else options.signal.addEventListener('abort', () => stop.abort(), { once: true });
  }
  const runner = new Replayer(settings, sources, options, stop.signal);
  return { stats: runner.stats, done: runner.run(), stop: () => stop.abort() };
}

/** A fresh, zeroed `ReplayStats`. */
export function emptyReplayStats(): ReplayStats {
  return {
    read: 0,
    filtered: { route: 0, time: 0, sample: 0, already_replayed: 0, duplicate: 0 },
    limitReached: false,
    notReplayable: {},
    methodsLeftOut: {},
    replayed: 0,
    approximate: 0,
    credentialsDropped: 0,
    succeeded: 0,
    failed: {},
    compared: 0,
    matched: 0,
    inFlight: 0,
    peakBytesInFlight: 0,
  };
}

interface Job {
  record: ProductionRecord;
  production: ComparedAnswer;
  rebuilt: RebuiltRequest;
  bytes: number;
}

/** One run: reads the logs, chooses what to send (`#prepare`), sends it within the window, and records each answer. */
class Replayer {
  readonly stats = emptyReplayStats();
  readonly #settings: ReplaySettings;
  readonly #sources: string[];
  readonly #options: ReplayOptions;
  readonly #stop: AbortSignal;
  readonly #window: ReplayWindow;
  /** Made when the replay runs, with the engine's modules (see `loadEngine`). */
  #output!: ReplayOutput;
  #launched = 0;
  /** requestIds taken in this run. */
  readonly #seen = new Set<string>();
  #breakerReason: string | undefined;
  /** Original timestamp of the request sent last. */
  #lastTimestamp: string | undefined;

  constructor(settings: ReplaySettings, sources: string[], options: ReplayOptions, stop: AbortSignal) {
    this.#settings = settings;
    this.#sources = sources;
    this.#options = options;
    this.#stop = stop;
    this.#window = new ReplayWindow(settings, this.stats, stop, () => this.#stopping());
  }

  async run(): Promise<ReplaySummary> {
    const settings = this.#settings;
    const target = settings.engine.targets[0]!;
    if (settings.transformRequest !== undefined) target.transformRequest = await loadHook<ReplayTransformRequest>(settings.transformRequest, 'transformRequest', settings.cwd);
    if (settings.assemble !== undefined) settings.engine.assemble = await loadHook<(events: string[]) => string>(settings.assemble, 'assemble', settings.cwd);
    const { createShadowClient, createTargetRuntime, openFileSink } = await loadEngine();
    this.#output = new ReplayOutput(settings, this.#sources, openFileSink);
    const done = await this.#alreadyReplayed();
    const client = createShadowClient({ timeoutMs: settings.engine.timeoutMs, maxConcurrent: settings.concurrency, maxResponseBytes: settings.engine.maxShadowResponseBytes });
    const runtime = createTargetRuntime(target, client, settings.engine, (state, reason) => {
      // Stamped in the traffic's time, like the other records: a reader's join window follows log time.
      this.#output.write({ type: 'breaker', timestamp: this.#lastTimestamp ?? new Date().toISOString(), target: settings.name, state, reason });
      if (state === 'open') {
        this.#breakerReason ??= reason;
        this.#window.wake();
      }
    });
    const reader = readShadowLog(this.#sources, {
      cwd: settings.cwd,
      ...(settings.windowMs !== undefined ? { windowMs: settings.windowMs } : {}),
      ...(this.#options.onProgress ? { onProgress: this.#options.onProgress, progressEvery: 2_000 } : {}),
    });
    try {
      for await (const entry of reader) {
        if (this.#stopping()) break;
        const job = this.#prepare(entry, done);
        if (job === 'limit') break;
        if (job === undefined) continue;
        await this.#output.keepUp();
        if (!(await this.#window.waitForTurn(Date.parse(job.record.timestamp) - (job.record.durationMs || 0), job.bytes))) break;
        this.#launch(job, runtime);
      }
      await this.#window.idle();
    } finally {
      await this.#window.idle();
      client.destroy();
      await this.#output.close();
    }
    const log = this.#output.stats();
    const end: ReplayEnd = this.#breakerReason !== undefined ? 'breaker_open' : this.#stop.aborted ? 'stopped' : 'completed';
    return {
      end,
      ...(this.#breakerReason !== undefined ? { breakerReason: this.#breakerReason } : {}),
      stats: this.stats,
      reading: reader.stats as ReadStats,
      ...(log !== undefined ? { log } : {}),
    };
  }

  #stopping(): boolean {
    return this.#stop.aborted || this.#breakerReason !== undefined;
  }

  /** requestIds this candidate already has a shadow record for in `out` (with `resume`); refuses to mix runs otherwise. */
  async #alreadyReplayed(): Promise<Set<string>> {
    const { out, resume, dryRun, name, cwd } = this.#settings;
    const ids = new Set<string>();
    if (out === undefined) return ids;
    const existing = await stat(resolve(cwd, out)).catch(() => undefined);
    if (existing === undefined || existing.size === 0) return ids;
    if (!resume && !dryRun) {
      throw new ShadowReplayError('ERR_SHADOW_REPLAY_OUTPUT_EXISTS', `${out} already holds records; pass resume (--resume) to continue that replay, or choose another output.`);
    }
    for await (const entry of readShadowLog([out], { cwd, expectComparisons: false })) {
      if (entry.shadows.some((shadow) => shadow.target === name)) ids.add(entry.requestId);
    }
    return ids;
  }

  /** The job for an entry, or `undefined` when it is left out (counted), or `'limit'` when enough were sent. */
  #prepare(entry: ShadowLogEntry, done: ReadonlySet<string>): Job | undefined | 'limit' {
    const settings = this.#settings;
    const stats = this.stats;
    stats.read++;
    const record = entry.production;
    if (record === null) return this.#refuse(entry.requestId, entry.skipped !== null ? 'not_mirrored' : 'no_production_record');
    if (settings.route !== undefined && record.route !== settings.route) return void stats.filtered.route++;
    const time = Date.parse(record.timestamp);
    if ((settings.sinceMs !== undefined && !(time >= settings.sinceMs)) || (settings.untilMs !== undefined && !(time < settings.untilMs))) return void stats.filtered.time++;
    if (settings.sample < 1 && !(sampleBucket(record.requestId) < settings.sample)) return void stats.filtered.sample++;
    if (done.has(record.requestId)) return void stats.filtered.already_replayed++;
    // A production record repeated in the logs (a rewritten batch, the same file given twice) is sent once.
    if (this.#seen.has(record.requestId)) return void stats.filtered.duplicate++;
    this.#seen.add(record.requestId);
    const rebuilt = rebuildRequest(record, { target: endpointOf(settings), dropped: settings.dropped, methods: settings.methods, extraHeaders: settings.headers });
    if (!rebuilt.ok) {
      if (rebuilt.reason === 'method_not_allowed') {
        const method = record.method.toUpperCase();
        stats.methodsLeftOut[method] = (stats.methodsLeftOut[method] ?? 0) + 1;
      }
      return this.#refuse(record.requestId, rebuilt.reason);
    }
    const production = loggedProductionAnswer(record);
    if (!production.ok) return this.#refuse(record.requestId, production.reason);
    if (settings.limit !== undefined && this.#launched >= settings.limit) {
      stats.limitReached = true;
      return 'limit';
    }
    return { record, production: production.answer, rebuilt: rebuilt.value, bytes: rebuilt.value.request.body?.length ?? 0 };
  }

  #refuse(requestId: string, reason: NotReplayableReason): undefined {
    this.stats.notReplayable[reason] = (this.stats.notReplayable[reason] ?? 0) + 1;
    this.#emit({ kind: 'not_replayable', requestId, reason });
    return undefined;
  }

  #launch(job: Job, runtime: TargetRuntime): void {
    this.#launched++;
    this.#lastTimestamp = job.record.timestamp;
    const { request, url, approximate } = job.rebuilt;
    if (this.#settings.dryRun) {
      this.stats.replayed++;
      if (approximate) this.stats.approximate++;
      this.#emit({ kind: 'dry_run', requestId: request.requestId, method: request.method, url: url.href, headers: request.headers, bodyBytes: job.bytes, approximate });
      return;
    }
    const call = runtime.call({ group: { request }, isProbe: false, url }, new AbortController().signal).then((outcome) => this.#record(job, outcome));
    this.#window.carry(job.bytes, call);
  }

  /** Writes the three records of a request that was sent. One never sent (breaker already open) writes nothing, so `resume` sends it later. */
  #record(job: Job, outcome: ShadowOutcome): void {
    if (!outcome.ok && (outcome.code === 'breaker_open' || outcome.code === 'cancelled')) return;
    const stats = this.stats;
    const { approximate, credentialsDropped } = job.rebuilt;
    const ctx = this.#output.context(job.record.timestamp, approximate);
    const shadow = shadowRecordOf(job.record.requestId, outcome, ctx);
    this.#output.write(productionCopy(job.record, ctx));
    this.#output.write(shadow.record);
    stats.replayed++;
    if (approximate) stats.approximate++;
    if (credentialsDropped) stats.credentialsDropped++;
    const breaker = this.#settings.engine.targets[0]!.breaker;
    const failure = outcome.ok ? (breaker.isFailure({ status: outcome.status }) ? `status_${Math.floor(outcome.status / 100)}xx` : undefined) : outcome.code;
    if (failure === undefined) stats.succeeded++;
    else stats.failed[failure] = (stats.failed[failure] ?? 0) + 1;
    this.#window.counted(breakerVerdict(outcome, breaker.isFailure));
    let match: boolean | undefined;
    if (shadow.answer !== undefined && !shadow.truncated) {
      const comparison = comparisonRecordOf({ record: job.record, answer: job.production }, { answer: shadow.answer, durationMs: outcome.durationMs }, ctx);
      this.#output.write(comparison);
      stats.compared++;
      if (comparison.match) stats.matched++;
      match = comparison.match;
    }
    const request = job.rebuilt.request;
    this.#emit({
      kind: 'replayed',
      requestId: request.requestId,
      method: request.method,
      path: request.path,
      approximate,
      ...(outcome.ok ? { status: outcome.status } : { error: outcome.code }),
      ...(match !== undefined ? { match } : {}),
    });
  }

  #emit(outcome: ReplayOutcome): void {
    try {
      this.#options.onOutcome?.(outcome);
    } catch {
      // A throwing callback must not stop the replay.
    }
  }
}

/** Whether the breaker counts an outcome as a failure (as the engine reports it), or `null` when it does not count it. */
function breakerVerdict(outcome: ShadowOutcome, isFailure: (outcome: { status?: number; errorCode?: string }) => boolean): boolean | null {
  if (!outcome.ok) return outcome.code === 'bad_url' || outcome.requestFault === true ? null : isFailure({ errorCode: outcome.code });
  return outcome.truncated === true || isFailure({ status: outcome.status });
}

function endpointOf(settings: ReplaySettings) {
  const endpoint = settings.engine.targets[0]!.endpoint;
  if (endpoint.kind !== 'url') throw new TypeError('replay target must be a URL');
  return endpoint.url;
}

/** A hook given as a function, or a module's default export (or its export named after the option). */
async function loadHook<T>(hook: T | string, option: string, cwd: string): Promise<T> {
  if (typeof hook !== 'string') return hook;
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(pathToFileURL(resolve(cwd, hook)).href)) as Record<string, unknown>;
  } catch (error) {
    throw new ShadowReplayError('ERR_SHADOW_REPLAY_HOOK', `cannot load the ${option} module ${hook}: ${errorMessage(error)}`, { cause: error });
  }
  const fn = typeof loaded.default === 'function' ? loaded.default : loaded[option];
  if (typeof fn !== 'function') throw new ShadowReplayError('ERR_SHADOW_REPLAY_HOOK', `${hook} must export a function (default export, or one named ${option})`);
  return fn as T;
}

/**
 * The engine's client, targets and log writer, loaded when a replay runs rather than when the package is imported:
 * an app imports the package for its middleware, and undici and winston (some 10 MB) belong in the engine's worker.
 */
async function loadEngine() {
  const [dispatch, targets, sink] = await Promise.all([import('../engine/dispatch.js'), import('../engine/target-runtime.js'), import('../engine/sink.js')]);
  return { createShadowClient: dispatch.createShadowClient, createTargetRuntime: targets.createTargetRuntime, openFileSink: sink.openFileSink };
}

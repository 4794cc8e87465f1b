/**
 * The `embed` and `judge` hooks, run after a comparison record is written: for a sample of requests (the same ones for
 * every target, so a candidate and the secondary are judged on the same requests), each text is sent to the hooks,
 * bounded by a number of calls in flight, a timeout per call and a budget of calls per minute. Each call ends as a
 * `judgement` record (a score, or an error code); what was not called is counted by reason in `judgement_summary`
 * records. Nothing here delays or changes the comparison record, and nothing throws into the pipeline.
 *
 * The pipeline owns one `Judging`: it calls `afterComparison` once per comparison record written, `whenIdle` from its
 * own, and `drain` from close().
 */
import { isUtf8 } from 'node:buffer';
import { parsePath, type PathSegment } from '../json-path.js';
import type {
  ComparedAnswer,
  ComparisonRecord,
  JudgeInput,
  JudgementErrorCode,
  JudgementRecord,
  JudgementSummaryRecord,
  ShadowLogRecord,
  ShadowRequest,
} from '../types.js';
import type { ResolvedJudging } from './judging-options.js';
import type { TextMasker } from './redact-values.js';
import { errorMessage } from '../errors.js';
import { IdleWaiters } from '../idle-waiters.js';

/** Text paths of one comparison sent to the hooks (a wildcard may have scored many). */
const MAX_JUDGED_PATHS = 4;
const MAX_REASON_CHARS = 1024;

/** What the pipeline knows of a comparison besides its record. */
export interface JudgingContext {
  route: string | null;
  request: ShadowRequest;
  production: ComparedAnswer;
  /** The target's answer as compared; `undefined` when it had none. */
  candidate: ComparedAnswer | undefined;
}

export interface JudgingOutput {
  write(record: ShadowLogRecord): void;
  /** Value masking of the log (`redactValues`), applied to the judge's reasons. */
  maskText?: TextMasker | undefined;
}

interface Subject {
  path: string;
  production: string;
  candidate: string;
}

interface Call {
  controller: AbortController;
  /** Set once the call's record is written (its answer, its timeout, or its cancellation). */
  recorded: boolean;
  cancel(): void;
}

type Counts = Omit<JudgementSummaryRecord, 'type' | 'timestamp' | 'intervalMs'>;

export class Judging {
  readonly #settings: ResolvedJudging;
  readonly #output: JudgingOutput;
  /** Hooks still running, timed out or not: each holds a slot until it settles, so a hook that hangs cannot pile up calls. */
  #running = 0;
  /** Calls whose record is not written yet. */
  readonly #pending = new Set<Call>();
  readonly #budget: CallBudget;
  readonly #tally = new JudgementTally();
  #timer: NodeJS.Timeout | undefined;
  readonly #idle = new IdleWaiters(() => this.#pending.size === 0);
  #closing = false;

  constructor(settings: ResolvedJudging, output: JudgingOutput) {
    this.#settings = settings;
    this.#output = output;
    this.#budget = new CallBudget(settings.maxCallsPerMinute);
    if (settings.summaryIntervalMs > 0) {
      this.#timer = setInterval(() => this.#writeSummary(), settings.summaryIntervalMs);
      this.#timer.unref();
    }
  }

  /** After a comparison record was written: sample, pick the texts, start the calls that fit the bounds. Never throws. */
  afterComparison(record: ComparisonRecord, context: JudgingContext): void {
    try {
      if (record.error !== undefined || !record.statusMatch || context.candidate === undefined) return;
      if (!inSample(record.requestId, this.#settings.sampleRate)) return;
      this.#tally.count('sampled');
      if (this.#closing) return this.#skip('closing');
      const subjects = subjectsOf(record, context.production, context.candidate);
      if (subjects.length === 0) return this.#skip('no_text');
      const input = judgeInputOf(context.request);
      for (const subject of subjects) {
        if (this.#settings.embed) this.#start('embed', record, context.route, subject, input);
        if (this.#settings.judge) this.#start('judge', record, context.route, subject, input);
      }
    } catch {
      // A judging fault must never reach the comparison or the app.
    }
  }

  /** Resolves once every call started so far has its record written. */
  whenIdle(): Promise<void> {
    return this.#idle.wait();
  }

  /** Waits up to `timeoutMs` for calls in flight, then cancels the rest (each gets its record), and writes the last counts. */
  async drain(timeoutMs: number): Promise<void> {
    this.#closing = true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([this.whenIdle(), timedOut]);
    clearTimeout(timer);
    for (const call of [...this.#pending]) call.cancel();
    clearInterval(this.#timer);
    this.#writeSummary();
  }

  #start(hook: 'embed' | 'judge', record: ComparisonRecord, route: string | null, subject: Subject, input: JudgeInput): void {
    if (this.#running >= this.#settings.maxConcurrent) return this.#skip('busy');
    if (!this.#budget.take()) return this.#skip('budget');
    this.#tally.count('calls', hook);
    const controller = new AbortController();
    const started = performance.now();
    const base = {
      type: 'judgement' as const,
      requestId: record.requestId,
      target: record.target,
      ...(record.role === 'secondary' ? { role: 'secondary' as const } : {}),
      route,
      path: subject.path,
      hook,
    };
    const finish = (outcome: { score: number; reason?: string } | { error: JudgementErrorCode; message: string }): void => {
      if (call.recorded) return;
      call.recorded = true;
      clearTimeout(timer);
      this.#pending.delete(call);
      const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      if ('error' in outcome) this.#tally.count('failed', outcome.error);
      else this.#tally.count('succeeded');
      const result = 'error' in outcome ? { error: { code: outcome.error, message: outcome.message } } : { score: outcome.score, ...(outcome.reason !== undefined ? { reason: outcome.reason } : {}) };
      this.#write({ ...base, timestamp: new Date().toISOString(), ...result, durationMs } satisfies JudgementRecord);
      this.#idle.notify();
    };
    const call: Call = {
      controller,
      recorded: false,
      cancel: () => {
        controller.abort();
        finish({ error: 'cancelled', message: 'close() timed out while the call was running' });
      },
    };
    this.#pending.add(call);
    this.#running++;
    const timer = setTimeout(() => {
      controller.abort();
      finish({ error: 'timeout', message: `no answer within ${this.#settings.timeoutMs} ms` });
    }, this.#settings.timeoutMs);
    timer.unref();
    // Started on a later turn: the comparison records of this turn are all written first, whatever the hook does.
    setImmediate(() => {
      this.#invoke(hook, subject, input, controller.signal)
        .then(finish, (error: unknown) => finish({ error: 'hook_error', message: this.#masked(messageOf(error)) }))
        .finally(() => {
          this.#running--;
        });
    });
  }

  async #invoke(hook: 'embed' | 'judge', subject: Subject, input: JudgeInput, signal: AbortSignal): Promise<{ score: number; reason?: string } | { error: JudgementErrorCode; message: string }> {
    if (hook === 'embed') {
      const vectors: unknown = await this.#settings.embed!([subject.production, subject.candidate], { signal });
      const score = cosineOf(vectors);
      return score === undefined ? { error: 'bad_result', message: 'embed must return two vectors of the same length of finite numbers, neither all zeros' } : { score };
    }
    const verdict: unknown = await this.#settings.judge!(input, subject.production, subject.candidate, { signal });
    const score = (verdict as { score?: unknown } | null)?.score;
    if (typeof score !== 'number' || !Number.isFinite(score)) return { error: 'bad_result', message: 'judge must return { score: number, reason?: string }' };
    const reason = (verdict as { reason?: unknown }).reason;
    return { score, ...(typeof reason === 'string' ? { reason: this.#reasonForLog(reason) } : {}) };
  }

  #reasonForLog(reason: string): string {
    return this.#masked(reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS)}…` : reason);
  }

  /** Hooks' words may quote the answers: the log's value masking applies to them as to any logged text. */
  #masked(text: string): string {
    return this.#output.maskText ? this.#output.maskText(text) : text;
  }

  #skip(reason: string): void {
    this.#tally.count('skipped', reason);
  }

  #writeSummary(): void {
    const summary = this.#tally.endPeriod();
    if (summary) this.#write(summary);
  }

  #write(record: ShadowLogRecord): void {
    try {
      this.#output.write(record);
    } catch {
      // The sink counts its own failures.
    }
  }

}

/** The call budget: a token bucket of `maxCallsPerMinute` tokens, refilled continuously. */
class CallBudget {
  readonly #perMinute: number;
  #tokens: number;
  #refilledAt = Date.now();

  constructor(perMinute: number) {
    this.#perMinute = perMinute;
    this.#tokens = perMinute;
  }

  /** Takes a token if one is left. */
  take(): boolean {
    const now = Date.now();
    this.#tokens = Math.min(this.#perMinute, this.#tokens + (now - this.#refilledAt) * (this.#perMinute / 60_000));
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** What judging did in the current period (samples, calls, results, skips by reason): one `judgement_summary` per period. */
class JudgementTally {
  #counts: Counts = emptyCounts();
  #periodStart = Date.now();

  count(kind: 'sampled' | 'succeeded' | 'calls' | 'failed' | 'skipped', key?: string): void {
    const counts = this.#counts;
    if (kind === 'sampled') counts.sampled++;
    else if (kind === 'succeeded') counts.succeeded++;
    else if (kind === 'calls') counts.calls[key as 'embed' | 'judge']++;
    else {
      const map = counts[kind] as Record<string, number>;
      map[key!] = (map[key!] ?? 0) + 1;
    }
  }

  /** Starts a new period; returns the summary of the one that ended, or `undefined` when nothing happened in it. */
  endPeriod(): JudgementSummaryRecord | undefined {
    const counts = this.#counts;
    const now = Date.now();
    const intervalMs = now - this.#periodStart;
    this.#counts = emptyCounts();
    this.#periodStart = now;
    const any = counts.sampled > 0 || counts.calls.embed + counts.calls.judge > 0 || Object.keys(counts.skipped).length > 0 || Object.keys(counts.failed).length > 0;
    return any ? { type: 'judgement_summary', timestamp: new Date(now).toISOString(), intervalMs, ...counts } : undefined;
  }
}

function emptyCounts(): Counts {
  return { sampled: 0, calls: { embed: 0, judge: 0 }, succeeded: 0, failed: {}, skipped: {} };
}

/** The same decision for every target of a request: FNV-1a of its id against the rate. */
function inSample(requestId: string, rate: number): boolean {
  if (rate >= 1) return true;
  if (rate <= 0) return false;
  let hash = 0x811c9dc5;
  for (let i = 0; i < requestId.length; i++) hash = Math.imul(hash ^ requestId.charCodeAt(i), 0x01000193);
  return (hash >>> 0) / 0x100000000 < rate;
}

/** The texts to judge: those the comparison scored (`similarity`), else each whole answer as text. */
function subjectsOf(record: ComparisonRecord, production: ComparedAnswer, candidate: ComparedAnswer): Subject[] {
  const subjects: Subject[] = [];
  const paths = Array.isArray(record.similarity) && record.similarity.length > 0 ? record.similarity.map((s) => s.path) : ['$'];
  for (const path of paths.slice(0, MAX_JUDGED_PATHS)) {
    const segments = safeParsePath(path);
    if (!segments) continue;
    const left = textAt(production, segments);
    const right = textAt(candidate, segments);
    if (left !== undefined && right !== undefined && (left.length > 0 || right.length > 0)) subjects.push({ path, production: left, candidate: right });
  }
  return subjects;
}

function safeParsePath(path: string): PathSegment[] | undefined {
  try {
    return parsePath(path);
  } catch {
    return undefined;
  }
}

function textAt(answer: ComparedAnswer, path: readonly PathSegment[]): string | undefined {
  if (!answer.isJson) return path.length === 0 && isUtf8(answer.bytes) ? answer.bytes.toString('utf8') : undefined;
  let node: unknown = answer.json;
  for (const segment of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string | number, unknown>)[segment];
  }
  if (typeof node === 'string') return node;
  // A whole JSON answer is judged as its JSON text.
  return path.length === 0 && node !== undefined ? JSON.stringify(node) : undefined;
}

function judgeInputOf(request: ShadowRequest): JudgeInput {
  let body: unknown;
  if (request.json !== undefined) body = request.json;
  else if (request.body !== undefined && request.body.length > 0 && isUtf8(request.body)) body = request.body.toString('utf8');
  return { method: request.method, path: request.path, body };
}

/** Cosine of the first two vectors, or `undefined` when they are not two same-length lists of finite numbers. */
function cosineOf(vectors: unknown): number | undefined {
  if (!Array.isArray(vectors) || vectors.length < 2) return undefined;
  const [a, b] = vectors as unknown[];
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length || a.length === 0) return undefined;
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (typeof x !== 'number' || typeof y !== 'number' || !Number.isFinite(x) || !Number.isFinite(y)) return undefined;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  if (normA === 0 || normB === 0) return undefined;
  return Math.max(-1, Math.min(1, Math.round((dot / Math.sqrt(normA * normB)) * 10_000) / 10_000));
}

function messageOf(error: unknown): string {
  const message = errorMessage(error);
  return message.length > 300 ? `${message.slice(0, 300)}…` : message;
}

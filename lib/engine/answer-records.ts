/**
 * The records of a request's answers: each call's `shadow` record as it ends, and the comparisons once every target
 * of the request has answered (the secondary's first: its differences from production are the request's noise).
 */
import { errorMessage } from '../errors.js';
import type { ComparisonRecord, ShadowRecord } from '../types.js';
import type { AnswerLimits } from './answers.js';
import type { ResolvedOptions } from './config.js';
import type { ShadowOutcome } from './dispatch.js';
import type { EngineCounts } from './engine-counts.js';
import type { EngineOutput } from './engine-output.js';
import type { Judging } from './judging.js';
import { isBuiltInComparator } from './compare.js';
import { comparisonOf, markNoise, shadowOutcomeFields } from './records.js';
import type { KeptAnswer, RequestGroup, ShadowJob } from './request-group.js';
import { timedHook } from './watchdog.js';

export class AnswerRecords {
  /** The comparator is the user's code (a hook that may block the thread), not the built-in one: decided once. */
  readonly #userComparator: boolean;

  constructor(
    private readonly config: ResolvedOptions,
    readonly limits: AnswerLimits,
    private readonly output: EngineOutput,
    private readonly counts: EngineCounts,
    readonly judging: Judging | undefined,
  ) {
    this.#userComparator = !isBuiltInComparator(config.comparator);
  }

  /** The call's `shadow` record; its answer is compared now when it is the request's only one, else kept. */
  answered(job: ShadowJob, outcome: ShadowOutcome): void {
    const { target, group } = job;
    const name = target.config.name;
    const route = group.exchange.route;
    const { fields, answer } = shadowOutcomeFields(outcome, this.config, this.limits);
    const record: ShadowRecord = {
      type: 'shadow',
      requestId: group.exchange.requestId,
      timestamp: new Date().toISOString(),
      target: name,
      ...fields,
      ...(target.config.role === 'secondary' ? { role: 'secondary' as const } : {}),
    };
    if (!outcome.ok) {
      this.counts.failed(target, outcome.code);
      this.output.event({ kind: 'shadowDone', target: name, route, errorCode: outcome.code, durationMs: outcome.durationMs });
      return this.output.write(record);
    }
    if (target.config.breaker.isFailure({ status: outcome.status })) this.counts.failed(target, `status_${Math.floor(outcome.status / 100)}xx`);
    else this.counts.succeeded(target);
    this.output.event({ kind: 'shadowDone', target: name, route, status: outcome.status, durationMs: outcome.durationMs });
    this.output.write(record);
    if (!this.config.comparator || outcome.truncated || group.productionTruncated) return;
    const kept = this.#transformed(job, answer!, outcome.durationMs);
    if (group.pending === 1 && group.answers.length === 0) {
      // The only (or last, alone) answer: compare now, nothing to keep.
      this.compared(group, [kept]);
    } else if (group.hold.take((kept.answer ?? answer!).bytes.length)) {
      group.answers.push(kept);
    }
  }

  /** The answer as the comparison sees it: through the target's `transformResponse`, which may throw. */
  #transformed(job: ShadowJob, answer: NonNullable<KeptAnswer['answer']>, durationMs: number): KeptAnswer {
    const transform = job.target.config.transformResponse;
    if (!transform) return { target: job.target, answer, durationMs };
    try {
      this.output.workingOn(job.group.exchange);
      return { target: job.target, answer: timedHook('transformResponse', this.config.hookTimeoutMs, () => transform(answer)), durationMs };
    } catch (thrown) {
      this.counts.failed(job.target, 'transform_error');
      return { target: job.target, answer: undefined, durationMs, error: `transformResponse threw: ${errorMessage(thrown)}` };
    }
  }

  /** Writes the comparisons of `answers`, the secondary's first: its differences are the candidates' noise. */
  compared(group: RequestGroup, answers: KeptAnswer[]): void {
    const ordered = answers.length === 1 ? answers : [...answers].sort((a, b) => (a.target.config.role === 'secondary' ? -1 : b.target.config.role === 'secondary' ? 1 : 0));
    let noise: Set<string> | undefined;
    for (const kept of ordered) {
      const record = this.#comparison(group, kept, noise);
      if (kept.target.config.role === 'secondary') noise = new Set(record.error ? [] : record.differences.map((d) => d.path));
      this.output.event({ kind: 'compared', target: kept.target.config.name, route: group.exchange.route, match: record.match });
      this.output.write(record);
      // [judging] after the record is written; samples, bounds and runs the hooks on later turns.
      this.judging?.afterComparison(record, { route: group.exchange.route, request: group.request, production: group.production, candidate: kept.answer });
    }
  }

  #comparison(group: RequestGroup, kept: KeptAnswer, noise: Set<string> | undefined): ComparisonRecord {
    const { target } = kept;
    const config = this.config;
    if (kept.answer && kept.answer.status === group.production.status) this.output.workingOn(group.exchange, this.#userComparator);
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
}

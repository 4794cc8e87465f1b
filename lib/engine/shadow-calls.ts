/**
 * The shadow calls of one engine instance, from the moment a request's calls are handed over until the last one
 * ends: each call is started in a free slot (call-slots.ts), its answer is timed as it arrives and recorded in a
 * coming slice of the engine's loop (work-loop.ts), and the request's last call writes the comparisons and frees
 * what the request held. close() cancels what is still queued or in flight, each with its record.
 */
import { errorMessage } from '../errors.js';
import type { AnswerRecords } from './answer-records.js';
import { CallSlots, type SlotLimits } from './call-slots.js';
import type { ShadowClient, ShadowOutcome } from './dispatch.js';
import type { EngineCounts } from './engine-counts.js';
import type { EngineOutput } from './engine-output.js';
import type { ShadowJob } from './request-group.js';
import { engineWork } from './work-loop.js';

export class ShadowCalls {
  readonly #slots: CallSlots;
  readonly #cancel = new AbortController();

  constructor(
    limits: SlotLimits,
    private readonly client: ShadowClient,
    private readonly records: AnswerRecords,
    private readonly output: EngineOutput,
    private readonly counts: EngineCounts,
    /** Told whenever a call ends: the pipeline may have become idle. */
    private readonly ended: () => void,
  ) {
    this.#slots = new CallSlots(limits, (job) => void this.#run(job), (job, waitedMs) => this.#expired(job, waitedMs, limits.maxQueueWaitMs));
  }

  get inFlight(): number {
    return this.#slots.inFlight;
  }

  get queued(): number {
    return this.#slots.queued;
  }

  /** Set once close() has run out of time: nothing new may start. */
  get cancelled(): boolean {
    return this.#cancel.signal.aborted;
  }

  /** The cancellation every call in flight listens to (one listener per call). */
  get signal(): AbortSignal {
    return this.#cancel.signal;
  }

  hasRoom(calls: number): boolean {
    return this.#slots.hasRoom(calls);
  }

  /** Starts the job's call, or queues it; from here the job owns its breaker probe. */
  add(job: ShadowJob): void {
    this.#slots.add(job);
  }

  /** close() ran out of time: every call is cancelled, every queued job ends as `cancelled` with its record. */
  cancel(): void {
    this.#cancel.abort();
    this.client.cancelAll();
    for (const job of this.#slots.takeQueued()) {
      this.records.answered(job, { ok: false, code: 'cancelled', message: 'cancelled by close() before it was sent', durationMs: 0 });
      this.#finish(job);
    }
  }

  close(): void {
    this.#slots.close();
    this.client.destroy();
  }

  async #run(job: ShadowJob): Promise<void> {
    let outcome: ShadowOutcome | Error;
    try {
      if (job.target.config.transformRequest) this.output.workingOn(job.group.exchange);
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
      // Latency and breakers: calls that never reached the target, or failed by the request's own fault, say nothing about it.
      if (outcome.ok || (!outcome.requestFault && outcome.code !== 'cancelled')) this.counts.latency(job.target, outcome.durationMs);
      this.records.answered(job, outcome);
    } catch (error) {
      if (job.isProbe) job.target.breaker.releaseProbe();
      this.output.gaveUp(job.group.exchange, 'engine_error', `recording the shadow answer failed: ${errorMessage(error)}`);
    } finally {
      this.#finish(job);
      this.#slots.ended(job);
      this.ended();
    }
  }

  #expired(job: ShadowJob, waitedMs: number, maxQueueWaitMs: number): void {
    if (job.isProbe) job.target.breaker.releaseProbe();
    this.records.answered(job, { ok: false, code: 'queue_timeout', message: `waited ${waitedMs} ms for a free slot (maxQueueWaitMs ${maxQueueWaitMs})`, durationMs: 0 });
    this.#finish(job);
    this.ended();
  }

  /** Counts a job as done; the last one of a request writes the comparisons and frees what the request held. */
  #finish(job: ShadowJob): void {
    const group = job.group;
    group.pending--;
    if (group.pending > 0) return;
    if (group.answers.length > 0) {
      try {
        this.records.compared(group, group.answers);
      } catch {
        // Never let a comparison fault escape.
      }
    }
    group.answers = [];
    group.hold.release();
    this.output.settle(group.exchange);
  }
}

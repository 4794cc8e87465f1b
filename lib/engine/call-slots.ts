/**
 * The shadow calls of one engine instance: at most `maxConcurrent` in flight, then up to `maxQueue` waiting in
 * order, each for at most `maxQueueWaitMs`. A call that waited longer ends as `queue_timeout` (told to `expired`)
 * when a slot frees up, or when the oldest would pass the wait even if no call ends meanwhile.
 */
import { BoundedQueue } from './dispatch.js';
import type { ShadowJob } from './request-group.js';

export interface SlotLimits {
  maxConcurrent: number;
  maxQueue: number;
  maxQueueWaitMs: number;
}

export class CallSlots {
  readonly #queue: BoundedQueue<ShadowJob>;
  readonly #inFlight = new Set<ShadowJob>();
  #expiryTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    private readonly limits: SlotLimits,
    /** Starts a job's call; the job is in flight until `ended(job)`. */
    private readonly start: (job: ShadowJob) => void,
    /** A job that waited past `maxQueueWaitMs`, taken out of the queue: it is never started. */
    private readonly expired: (job: ShadowJob, waitedMs: number) => void,
  ) {
    this.#queue = new BoundedQueue<ShadowJob>(limits.maxQueue);
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** Room for `calls` more, counting free slots and free queue places. */
  hasRoom(calls: number): boolean {
    return Math.max(0, this.limits.maxConcurrent - this.#inFlight.size) + (this.limits.maxQueue - this.#queue.length) >= calls;
  }

  /** Starts the job now if a slot is free, or queues it (the caller checked `hasRoom`). */
  add(job: ShadowJob): void {
    if (this.#inFlight.size < this.limits.maxConcurrent) this.#start(job);
    else {
      this.#queue.push(job);
      this.#scheduleExpiry();
    }
  }

  /** A call has ended: its slot goes to the next job still within its wait. */
  ended(job: ShadowJob): void {
    this.#inFlight.delete(job);
    while (this.#inFlight.size < this.limits.maxConcurrent && this.#queue.length > 0) {
      const next = this.#queue.shift()!;
      if (!this.#expire(next)) this.#start(next);
    }
  }

  /** Takes every queued job out (close() ran out of time): none of them will start. */
  takeQueued(): ShadowJob[] {
    const jobs: ShadowJob[] = [];
    for (let job = this.#queue.shift(); job; job = this.#queue.shift()) jobs.push(job);
    return jobs;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#expiryTimer);
  }

  #start(job: ShadowJob): void {
    this.#inFlight.add(job);
    this.start(job);
  }

  #expire(job: ShadowJob): boolean {
    const waited = Date.now() - job.queuedAt;
    if (waited <= this.limits.maxQueueWaitMs) return false;
    this.expired(job, waited);
    return true;
  }

  /** While jobs wait, look again when the oldest would pass `maxQueueWaitMs`, even if no call ends meanwhile. */
  #scheduleExpiry(): void {
    if (this.#expiryTimer || this.#queue.length === 0 || this.#closed) return;
    this.#expiryTimer = setTimeout(() => {
      this.#expiryTimer = undefined;
      const kept: ShadowJob[] = [];
      for (let job = this.#queue.shift(); job; job = this.#queue.shift()) if (!this.#expire(job)) kept.push(job);
      for (const job of kept) this.#queue.push(job);
      this.#scheduleExpiry();
    }, this.limits.maxQueueWaitMs + 1);
    this.#expiryTimer.unref();
  }
}

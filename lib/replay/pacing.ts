/**
 * When the next request may go: a token bucket for `rate` and the original inter-arrival times scaled by `speed`.
 * Times are absolute (scheduled from the start), so a timer firing late or a busy event loop does not slow the whole
 * run down; a wait for a free slot (a candidate slower than the rate) rebases the schedule instead of bursting.
 * Not bottleneck: it spaces jobs by a minimum time or a reservoir only, with no schedule from the logged arrival times
 * scaled by speed and no rebase after a wait for a slot.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export class Pacer {
  readonly #intervalMs: number | undefined;
  readonly #speed: number | undefined;
  #nextAt: number | undefined;
  #startedAt: number | undefined;
  #firstOriginal: number | undefined;

  constructor(rate: number | undefined, speed: number | undefined) {
    this.#intervalMs = rate === undefined ? undefined : 1000 / rate;
    this.#speed = speed;
  }

  /**
   * The run waited for a free slot (the candidate is slower than the rate): the schedule restarts from now, so the
   * time lost is not made up by a burst. `speed` schedules keep their timeline shifted by the wait.
   */
  rebase(now: number, waitedMs: number): void {
    if (this.#intervalMs !== undefined && this.#nextAt !== undefined && this.#nextAt < now) this.#nextAt = now;
    if (this.#startedAt !== undefined) this.#startedAt += waitedMs;
  }

  /** Milliseconds to wait before sending a request that originally arrived at `originalMs` (epoch ms). */
  delayFor(originalMs: number, now: number): number {
    this.#startedAt ??= now;
    this.#firstOriginal ??= originalMs;
    let at = now;
    if (this.#intervalMs !== undefined) {
      // Late timers and a busy event loop are caught up on (the average rate holds), but never more than a second's
      // worth: a process that was suspended does not come back with a burst. Waiting for a slot rebases instead.
      const burstMs = Math.max(2 * this.#intervalMs, 1000);
      if (this.#nextAt === undefined) this.#nextAt = now;
      else if (now - this.#nextAt > burstMs) this.#nextAt = now - burstMs;
      at = Math.max(at, this.#nextAt);
      this.#nextAt += this.#intervalMs;
    }
    if (this.#speed !== undefined) at = Math.max(at, this.#startedAt + (originalMs - this.#firstOriginal) / this.#speed);
    return at - now;
  }
}

/** Waits `ms`; resolves early (without throwing) when `signal` aborts. */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return;
  await sleep(ms, undefined, { signal }).catch(() => undefined);
}

/**
 * When the next request may go: a token bucket for `rate` and the original inter-arrival times scaled by `speed`.
 * Times are absolute (scheduled from the start), so a timer firing late does not slow the whole run down.
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

  /** Milliseconds to wait before sending a request that originally arrived at `originalMs` (epoch ms). */
  delayFor(originalMs: number, now: number): number {
    this.#startedAt ??= now;
    this.#firstOriginal ??= originalMs;
    let at = now;
    if (this.#intervalMs !== undefined) {
      // The bucket holds a tenth of a second's worth of tokens (at least two): late timers on a busy machine are
      // caught up on, a long stall (every slot busy) is not made up by a longer burst.
      const burstMs = Math.max(2 * this.#intervalMs, 100);
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

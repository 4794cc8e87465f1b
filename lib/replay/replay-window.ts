/**
 * How much of the replay is in flight, and when the next request may go: the pace (`rate`, `speed`), the slots (full
 * `concurrency` only once the candidate answers well) and the bytes of the bodies on their way. The run waits here
 * instead of queueing, so memory follows `maxBytesInFlight`, not the size of the log.
 */
import { Pacer, pause } from './pacing.js';
import type { ReplaySettings } from './replay-options.js';
import type { ReplayStats } from './types.js';

export class ReplayWindow {
  readonly #settings: ReplaySettings;
  readonly #stats: ReplayStats;
  readonly #stop: AbortSignal;
  /** True once the run must send nothing more (stopped, or the breaker opened). */
  readonly #stopping: () => boolean;
  readonly #pacer: Pacer;
  readonly #inFlight = new Set<Promise<void>>();
  #bytesInFlight = 0;
  #slotFreed: (() => void) | undefined;
  /** Failures in a row, as the breaker counts them, and whether the candidate has answered once without one. */
  #consecutiveFailures = 0;
  #answered = false;

  constructor(settings: ReplaySettings, stats: ReplayStats, stop: AbortSignal, stopping: () => boolean) {
    this.#settings = settings;
    this.#stats = stats;
    this.#stop = stop;
    this.#stopping = stopping;
    this.#pacer = new Pacer(settings.rate, settings.speed);
    stop.addEventListener('abort', () => this.wake(), { once: true });
  }

  /** Wakes the reading loop waiting for a slot: one was freed, or the replay is stopping. */
  wake(): void {
    const wake = this.#slotFreed;
    this.#slotFreed = undefined;
    wake?.();
  }

  /**
   * Waits for the pace (the request `arrived` at that time in the log), a free slot and room for `bytes` of body.
   * False when the replay is stopping.
   */
  async waitForTurn(arrived: number, bytes: number): Promise<boolean> {
    await pause(this.#pacer.delayFor(arrived, Date.now()), this.#stop);
    const { maxBytesInFlight } = this.#settings;
    const waitStarted = Date.now();
    let waited = false;
    while (!this.#stopping() && (this.#inFlight.size >= this.#slots() || (this.#inFlight.size > 0 && this.#bytesInFlight + bytes > maxBytesInFlight))) {
      waited = true;
      await new Promise<void>((resolve) => (this.#slotFreed = resolve));
    }
    if (waited) this.#pacer.rebase(Date.now(), Date.now() - waitStarted);
    return !this.#stopping();
  }

  /** Holds a slot and `bytes` until `call` settles (a rejection is swallowed: the call records its own failures). */
  carry(bytes: number, call: Promise<void>): void {
    this.#bytesInFlight += bytes;
    this.#stats.peakBytesInFlight = Math.max(this.#stats.peakBytesInFlight, this.#bytesInFlight);
    const carried = call
      .catch(() => undefined)
      .finally(() => {
        this.#bytesInFlight -= bytes;
        this.#inFlight.delete(carried);
        this.#stats.inFlight = this.#inFlight.size;
        this.wake();
      });
    this.#inFlight.add(carried);
    this.#stats.inFlight = this.#inFlight.size;
  }

  /** The breaker's verdict on an answer: `true` a failure, `false` a success, `null` not counted. */
  counted(failed: boolean | null): void {
    if (failed === null) return;
    this.#consecutiveFailures = failed ? this.#consecutiveFailures + 1 : 0;
    if (!failed) this.#answered = true;
  }

  /** Resolves once every call carried so far has settled. */
  async idle(): Promise<void> {
    await Promise.all(this.#inFlight);
  }

  /**
   * Requests allowed in flight. Full concurrency once the candidate answers well; before its first answer and after a
   * failure, only as many as failures are still allowed before the breaker opens, so a candidate that is down gets
   * `failureThreshold` requests, not `concurrency` plus those sent while the first failures were on their way.
   */
  #slots(): number {
    const { concurrency, engine } = this.#settings;
    if (this.#answered && this.#consecutiveFailures === 0) return concurrency;
    const threshold = engine.targets[0]!.breaker.failureThreshold;
    return Math.max(1, Math.min(concurrency, threshold - this.#consecutiveFailures));
  }
}

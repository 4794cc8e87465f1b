/**
 * How far behind this thread's event loop runs: while the engine has work in hand, a timer re-armed every few
 * milliseconds, whose lateness is the lag. The tap sheds new exchanges while the engine stays behind (a backlog
 * would add its own delay to every latency it measures); each shadow record says how late the engine was when the
 * answer was read (`engineDelayMs`).
 */
import { engineWork } from './work-loop.js';

const PROBE_EVERY_MS = 5;
/**
 * A backlog, not a burst (a GC pause, a batch of a hundred requests): the lag is the probes' mean lateness over this
 * long a window, and counts only once the window is full.
 */
const SUSTAINED_MS = 1000;

export class LagMonitor {
  /** How far behind the loop has stayed (ms): the probes' mean over the last SUSTAINED_MS, or the last probe's if less. */
  lagMs = 0;
  /** The last probe's lateness, ms. */
  latestMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #due = 0;
  /** Probes of the last window: when each fired, and how late, with the sum of the latter (no tuple per probe and
   * no walk of the window per probe: a probe every 5 ms is on the engine's budget). */
  #firedAt: number[] = [];
  #late: number[] = [];
  #lateSum = 0;

  start(): void {
    if (this.#timer) return;
    this.#arm();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.lagMs = 0;
    this.latestMs = 0;
    this.#firedAt = [];
    this.#late = [];
    this.#lateSum = 0;
  }

  /** How late the loop is now: the last probe's lateness, or more when the next probe is already overdue. */
  delayNow(now = performance.now()): number {
    if (!this.#timer) return 0;
    return Math.max(this.latestMs, now - this.#due);
  }

  #arm(): void {
    this.#due = performance.now() + PROBE_EVERY_MS;
    // One timer, re-armed in place: a new Timeout per probe costs more than the probe.
    if (this.#timer) this.#timer.refresh();
    else {
      this.#timer = setTimeout(this.#tick, PROBE_EVERY_MS);
      this.#timer.unref();
    }
  }

  readonly #tick = (): void => {
    const now = performance.now();
    // Timers fire up to a millisecond late on an idle loop: that much is the clock, not the engine.
    const late = Math.max(0, now - this.#due - 1);
    this.latestMs = late;
    // Behind is the loop running late, or keeping its turns but not its intake (work-loop.ts): both count.
    this.record(now, Math.max(late, engineWork.waitingMs()));
    this.#arm();
  };

  /** One probe: at `now`, the engine was `behind` ms behind. Updates `lagMs`. */
  record(now: number, behind: number): void {
    const firedAt = this.#firedAt;
    firedAt.push(now);
    this.#late.push(behind);
    this.#lateSum += behind;
    while (firedAt.length > 1 && now - firedAt[1]! >= SUSTAINED_MS) {
      firedAt.shift();
      this.#lateSum -= this.#late.shift()!;
    }
    // Behind means behind for a while *and* still: the mean alone would keep the tap shedding for most of a window
    // after a backlog has cleared (after a cold start's, a few hundred requests were shed once the engine had caught
    // up).
    this.lagMs = now - firedAt[0]! >= SUSTAINED_MS * 0.9 ? Math.min(Math.max(0, this.#lateSum / firedAt.length), behind) : 0;
  }
}

/** The engine thread's one monitor (a worker's, or the app thread's when the engine runs in it). */
export const engineLag = new LagMonitor();

/**
 * The main side of the hook watchdog (engine/watchdog.ts): a buffer shared with the worker, where it notes the
 * hook it is in and the last exchange it took in. A hook that runs past its budget blocks the worker's thread, so
 * only this side can see it: it looks every 100 ms while the worker has work, and says so.
 */
import { WATCHDOG_BYTES, clearHook, overdueHook, takenInUpTo, type HookContext } from '../engine/watchdog.js';

const HOOK_WATCH_EVERY_MS = 100;

export class HookWatch {
  /** Shared with the worker; absent where SharedArrayBuffer is (then nothing is watched, nothing resent). */
  readonly clock = typeof SharedArrayBuffer === 'function' ? new SharedArrayBuffer(WATCHDOG_BYTES) : undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly onOverdue: (overdue: HookContext | 'unknown') => void) {}

  /** Starts looking (if not already): the worker has work that a blocked hook would hold up. */
  watch(): void {
    const clock = this.clock;
    if (this.#timer || !clock) return;
    this.#timer = setInterval(() => {
      const overdue = overdueHook(clock);
      if (overdue) this.onOverdue(overdue);
    }, HOOK_WATCH_EVERY_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The highest exchange number the worker has taken in; `otherwise` when nothing is shared to tell. */
  takenInUpTo(otherwise: number): number {
    return this.clock ? takenInUpTo(this.clock) : otherwise;
  }

  /** A new worker starts with no hook in progress. */
  clearHook(): void {
    if (this.clock) clearHook(this.clock);
  }
}

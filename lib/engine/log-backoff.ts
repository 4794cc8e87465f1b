/**
 * Retrying a log path that cannot be opened or written: after a failure nothing is tried until a delay has passed
 * (lines arriving meanwhile are dropped), and the delay doubles, up to a cap, until a write succeeds again.
 */
export class RetryBackoff {
  /** Set while waiting before the next attempt. */
  timer: NodeJS.Timeout | undefined;
  /** Failing since the last successful write. */
  failing = false;
  readonly #firstDelayMs: number;
  readonly #maxDelayMs: number;
  #delayMs: number;

  constructor(firstDelayMs: number, maxDelayMs: number) {
    this.#firstDelayMs = firstDelayMs;
    this.#maxDelayMs = maxDelayMs;
    this.#delayMs = firstDelayMs;
  }

  /** A failure: the next attempt waits. True for the first failure since the path last worked (the one to warn about). */
  failed(): boolean {
    if (!this.timer) {
      this.timer = setTimeout(() => {
        // The next batch opens the path again.
        this.timer = undefined;
      }, this.#delayMs);
      this.timer.unref();
      this.#delayMs = Math.min(this.#delayMs * 2, this.#maxDelayMs);
    }
    if (this.failing) return false;
    this.failing = true;
    return true;
  }

  /** A write succeeded: the next failure waits the first delay again. */
  recovered(): void {
    this.failing = false;
    this.#delayMs = this.#firstDelayMs;
  }

  /** The next attempt may be made at once (an operator reopened the file). */
  retryNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

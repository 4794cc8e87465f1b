/**
 * The engine's work, done in short slices between turns of its event loop, so that its clock stays honest.
 *
 * A shadow call's duration ends when the engine reads the answer. Were the engine to build records for thirty
 * answers, or prepare a batch of fifty new requests, in one go, every answer arriving meanwhile would wait in the
 * socket and be timed late: a busy engine would log its own backlog as the model's latency. Here, the socket reads
 * (which stamp the time) run between slices of at most SLICE_MS of work, so an answer is read at most about that
 * late. Finished calls are recorded before new requests are prepared: they free the slots and the memory.
 *
 * The age of the oldest request waiting to be prepared is how far behind the engine is (`waitingMs`): the tap sheds
 * new requests while it stays above `maxEngineLagMs`, so the backlog never grows past the bound.
 */
const SLICE_MS = 1;

interface Waiting {
  run: () => void;
  since: number;
}

export class WorkLoop {
  #finished: (() => void)[] = [];
  #intake: Waiting[] = [];
  #scheduled = false;

  /** Runs `run` in a coming slice, after the finished calls waiting then. */
  intake(run: () => void): void {
    this.#intake.push({ run, since: performance.now() });
    this.#schedule();
  }

  /** Runs `run` in a coming slice, before any new request is prepared: where a finished call's records are made. */
  finished(run: () => void): void {
    this.#finished.push(run);
    this.#schedule();
  }

  /** How long the oldest request waiting to be prepared has waited (ms), 0 when none waits. */
  waitingMs(now = performance.now()): number {
    const oldest = this.#intake[0];
    return oldest ? now - oldest.since : 0;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#slice);
  }

  readonly #slice = (): void => {
    this.#scheduled = false;
    const end = performance.now() + SLICE_MS;
    do {
      const next = this.#finished.length > 0 ? this.#finished.shift()! : this.#intake.shift()?.run;
      if (!next) break;
      try {
        next();
      } catch {
        // Each piece of work guards itself; a fault in one must not stop the others.
      }
    } while (performance.now() < end);
    if (this.#intake.length > 0 || this.#finished.length > 0) this.#schedule();
  };
}

/** One per thread: the bound holds for all the middleware instances the thread's engine serves. */
export const engineWork = new WorkLoop();

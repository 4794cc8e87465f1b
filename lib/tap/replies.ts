/**
 * The operations the tap waits for (whenIdle, close), by sequence number. Each settles exactly once, whatever the
 * worker does: replied, ended (the worker went away first), or timed out (the worker is taken as stuck).
 */

export type ReplyOutcome = 'replied' | 'ended' | 'timeout';

export class Replies {
  #seq = 0;
  readonly #waiting = new Map<number, (outcome: ReplyOutcome) => void>();

  /** Whether a reply is awaited (the worker then keeps the process alive). */
  get pending(): boolean {
    return this.#waiting.size > 0;
  }

  /** Sends with a new sequence number; after `stuckAfterMs` with no reply, `onStuck` runs and it settles 'timeout'. */
  expect(send: (seq: number) => void, stuckAfterMs: number, onStuck: () => void): Promise<ReplyOutcome> {
    const seq = ++this.#seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(seq);
        onStuck();
        resolve('timeout');
      }, stuckAfterMs);
      this.#waiting.set(seq, (outcome) => {
        clearTimeout(timer);
        resolve(outcome);
      });
      send(seq);
    });
  }

  /** The worker's reply: an operation that failed there counts as ended (its work may have gone to a new worker). */
  settle(seq: number, error: string | undefined): void {
    const waiter = this.#waiting.get(seq);
    this.#waiting.delete(seq);
    waiter?.(error ? 'ended' : 'replied');
  }

  /** The worker is gone: nothing it was asked will be answered. */
  endAll(): void {
    for (const waiter of this.#waiting.values()) waiter('ended');
    this.#waiting.clear();
  }
}

/**
 * Promises that resolve once their owner has nothing in hand: `wait()` resolves at once when `isIdle()` already
 * holds, else at the first `notify()` that finds it so. The owner calls `notify()` whenever its work shrinks.
 */
export class IdleWaiters {
  #waiters: (() => void)[] = [];

  constructor(private readonly isIdle: () => boolean) {}

  wait(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.notify();
    });
  }

  notify(): void {
    if (this.#waiters.length === 0 || !this.isIdle()) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}

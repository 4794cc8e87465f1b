/**
 * One shared allowance of bytes held for mirroring (request bodies being captured or waiting, production answers
 * kept for comparison). It is what keeps memory bounded when the shadow is slow or black-holes connections.
 */
export class ByteBudget {
  #used = 0;

  constructor(readonly limit: number) {}

  get used(): number {
    return this.#used;
  }

  /** Takes `bytes` if they fit; false (and nothing taken) when they do not. */
  tryTake(bytes: number): boolean {
    if (this.#used + bytes > this.limit) return false;
    this.#used += bytes;
    return true;
  }

  giveBack(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }
}

/** What one request holds of the budget; gives it all back exactly once. */
export class BudgetHold {
  #held = 0;

  constructor(private readonly budget: ByteBudget) {}

  get held(): number {
    return this.#held;
  }

  take(bytes: number): boolean {
    if (!this.budget.tryTake(bytes)) return false;
    this.#held += bytes;
    return true;
  }

  release(): void {
    this.budget.giveBack(this.#held);
    this.#held = 0;
  }
}

/**
 * A growing list of numbers in fixed blocks of doubles: no array growing to twice what it holds, no copy as it grows,
 * and one copy at the end. A split read keeps a hash per request it joined and every watermark it read in these.
 */
const BLOCK = 64 * 1024;

export class DoubleBlocks {
  readonly #blocks: Float64Array[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(value: number): void {
    const offset = this.#length++ % BLOCK;
    if (offset === 0) this.#blocks.push(new Float64Array(BLOCK));
    (this.#blocks[this.#blocks.length - 1] as Float64Array)[offset] = value;
  }

  /** The numbers in one array. */
  toArray(): Float64Array {
    const all = new Float64Array(this.#length);
    this.#blocks.forEach((block, i) => all.set(block.subarray(0, Math.min(BLOCK, this.#length - i * BLOCK)), i * BLOCK));
    return all;
  }
}

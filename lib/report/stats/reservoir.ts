/**
 * Uniform sample of at most `capacity` values from a stream of any length (Vitter's algorithm R), seeded so a report is
 * reproducible. Memory: 8 bytes per kept value.
 */
import { seededRandom } from './random.js';

export class Reservoir {
  seen = 0;
  readonly values: number[] = [];
  readonly #capacity: number;
  readonly #random: () => number;

  constructor(capacity: number, seed = 1) {
    this.#capacity = capacity;
    this.#random = seededRandom(seed);
  }

  add(value: number): void {
    this.seen++;
    if (this.values.length < this.#capacity) {
      this.values.push(value);
      return;
    }
    const slot = Math.floor(this.#random() * this.seen);
    if (slot < this.#capacity) this.values[slot] = value;
  }
}

/**
 * Streaming: time to first byte, total time, chunks and events of streamed answers, for production and each candidate.
 */
import type { KeyMapper } from '../keys.js';
import { StreamAccumulator, type StreamState } from '../streaming.js';
import type { StreamingFigures } from '../types.js';
import type { Concern, EntryContext } from './concern.js';

interface StreamingState {
  production: StreamState;
  targets: [string, StreamState][];
}

export class StreamingConcern implements Concern<StreamingState> {
  readonly #production = new StreamAccumulator();
  readonly #targets = new Map<string, StreamAccumulator>();

  #target(name: string): StreamAccumulator {
    let stream = this.#targets.get(name);
    if (stream === undefined) {
      stream = new StreamAccumulator();
      this.#targets.set(name, stream);
    }
    return stream;
  }

  add({ entry, shadowTargets }: EntryContext): void {
    const production = entry.production;
    if (production !== null) this.#production.add(production.response?.stream, production.durationMs);
    entry.shadows.forEach((shadow, i) => {
      const target = shadowTargets[i];
      if (target === null || target === undefined || shadow.error !== undefined) return;
      this.#target(target).add(shadow.response?.stream, shadow.durationMs);
    });
  }

  /** `null` when no answer carried stream measurements; candidates in `targets` order. */
  figures(targets: readonly string[]): StreamingFigures | null {
    const streamed = this.#production.answers > 0 || [...this.#targets.values()].some((t) => t.answers > 0);
    if (!streamed) return null;
    return { production: this.#production.figures('production'), candidates: targets.map((name) => (this.#targets.get(name) ?? new StreamAccumulator()).figures(name)) };
  }

  foldTarget(from: string, into: string): void {
    const stream = this.#targets.get(from);
    if (stream === undefined) return;
    this.#targets.delete(from);
    this.#target(into).merge(stream.state());
  }

  state(): StreamingState {
    return { production: this.#production.state(), targets: [...this.#targets].map(([name, s]) => [name, s.state()]) };
  }

  merge(state: StreamingState, keys: KeyMapper): void {
    this.#production.merge(state.production);
    for (const [name, s] of state.targets) this.#target(keys.target(name)).merge(s);
  }
}

/**
 * Figures of streamed answers (LLM token streams and the like) for one side: time to first byte, total time, chunks and
 * events, from the `response.stream` measurements the middleware writes. Histograms are made on the first streamed
 * answer, so a side that never streams costs nothing.
 */
import { LatencyHistogram, type HistogramState } from './histogram.js';
import type { StreamSideFigures } from './types.js';

interface Histograms {
  ttfb: LatencyHistogram;
  total: LatencyHistogram;
  chunks: LatencyHistogram;
  events: LatencyHistogram;
}

/** Plain data of a side's streamed answers. */
export interface StreamState {
  answers: number;
  histograms: Record<keyof Histograms, HistogramState> | null;
}

const KINDS = ['ttfb', 'total', 'chunks', 'events'] as const;

function newHistograms(): Histograms {
  return { ttfb: new LatencyHistogram(), total: new LatencyHistogram(), chunks: new LatencyHistogram(), events: new LatencyHistogram() };
}

export class StreamAccumulator {
  answers = 0;
  #histograms: Histograms | undefined;

  /** Adds one answer when it carries stream measurements; returns whether it did. */
  add(stream: unknown, durationMs: unknown): boolean {
    // Records come from files: check the shape rather than trust the type.
    if (typeof stream !== 'object' || stream === null) return false;
    const { ttfbMs, chunks, events } = stream as { ttfbMs?: unknown; chunks?: unknown; events?: unknown };
    if (typeof ttfbMs !== 'number' || !Number.isFinite(ttfbMs)) return false;
    const h = (this.#histograms ??= newHistograms());
    this.answers++;
    h.ttfb.add(ttfbMs);
    h.total.add(durationMs);
    h.chunks.add(chunks);
    h.events.add(events);
    return true;
  }

  figures(name: string): StreamSideFigures {
    const h = this.#histograms ?? newHistograms();
    return {
      name,
      answers: this.answers,
      ttfb: h.ttfb.figures(),
      total: h.total.figures(),
      chunksP50: h.chunks.quantile(0.5),
      eventsP50: h.events.quantile(0.5),
    };
  }

  state(): StreamState {
    const h = this.#histograms;
    return { answers: this.answers, histograms: h === undefined ? null : { ttfb: h.ttfb.state(), total: h.total.state(), chunks: h.chunks.state(), events: h.events.state() } };
  }

  merge(state: StreamState): void {
    this.answers += state.answers;
    const from = state.histograms;
    if (from === null) return;
    const h = (this.#histograms ??= newHistograms());
    for (const kind of KINDS) h[kind].merge(from[kind]);
  }
}

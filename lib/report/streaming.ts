/**
 * Figures of streamed answers (LLM token streams and the like) for one side: time to first byte, total time, chunks and
 * events, from the `response.stream` measurements the middleware writes. Histograms are made on the first streamed
 * answer, so a side that never streams costs nothing.
 */
import { LatencyHistogram } from './histogram.js';
import type { StreamSideFigures } from './types.js';

interface Histograms {
  ttfb: LatencyHistogram;
  total: LatencyHistogram;
  chunks: LatencyHistogram;
  events: LatencyHistogram;
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
    const h = (this.#histograms ??= {
      ttfb: new LatencyHistogram(),
      total: new LatencyHistogram(),
      chunks: new LatencyHistogram(),
      events: new LatencyHistogram(),
    });
    this.answers++;
    h.ttfb.add(ttfbMs);
    h.total.add(durationMs);
    h.chunks.add(chunks);
    h.events.add(events);
    return true;
  }

  figures(name: string): StreamSideFigures {
    const h = this.#histograms ?? { ttfb: new LatencyHistogram(), total: new LatencyHistogram(), chunks: new LatencyHistogram(), events: new LatencyHistogram() };
    return {
      name,
      answers: this.answers,
      ttfb: h.ttfb.figures(),
      total: h.total.figures(),
      chunksP50: h.chunks.quantile(0.5),
      eventsP50: h.events.quantile(0.5),
    };
  }
}

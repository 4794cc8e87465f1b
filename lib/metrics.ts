/**
 * Prometheus metrics through prom-client, an optional peer: loaded only when `registerMetrics` is called.
 * Labels stay low-cardinality: route patterns (never raw URLs), target names, reasons, codes, status classes.
 */
import { createRequire } from 'node:module';
import { ShadowMissingPeerError, ShadowOptionsError, showValue } from './errors.js';
import type { ShadowObserver } from './observer.js';
import type { BreakerState, ShadowStats } from './types.js';

/** Options of `shadow.registerMetrics()`. */
export interface MetricsOptions {
  /** Prefix of every metric name. Default `express_shadow_`. */
  prefix?: string;
  /** Histogram buckets in seconds. Default suits model latencies: 5 ms to 30 s. */
  buckets?: number[];
}

/**
 * Histogram buckets of the latency metrics, in seconds: 5 ms to 30 s, suited to model latencies.
 *
 * @example
 * ```ts
 * import { DEFAULT_LATENCY_BUCKETS, shadowMiddleware } from 'express-shadow';
 *
 * const shadow = shadowMiddleware({ target: 'http://127.0.0.1:9000' });
 * shadow.registerMetrics(undefined, { buckets: [0.001, 0.002, ...DEFAULT_LATENCY_BUCKETS] });
 * ```
 */
export const DEFAULT_LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 0.5, open: 1 };

type PromClient = typeof import('prom-client');

function loadPromClient(): PromClient {
  try {
    return createRequire(import.meta.url)('prom-client') as PromClient;
  } catch {
    throw new ShadowMissingPeerError('express-shadow: registerMetrics() needs prom-client, an optional peer dependency. Install it: npm install prom-client');
  }
}

/** Label value of a route: its pattern, or `unmatched` when no Express route matched (never the raw URL). */
function routeLabel(route: string | null): string {
  return route ?? 'unmatched';
}

/**
 * Registers the metrics on `registry` (prom-client's default registry when omitted) and returns the observer
 * that feeds them. Gauges read `stats()` at scrape time.
 */
export function createMetrics(registry: unknown, options: MetricsOptions, stats: () => ShadowStats): ShadowObserver {
  const prom = loadPromClient();
  const register = (registry ?? prom.register) as InstanceType<PromClient['Registry']>;
  if (typeof register !== 'object' || register === null || typeof (register as { registerMetric?: unknown }).registerMetric !== 'function') {
    throw new ShadowOptionsError('registerMetrics(registry)', `must be a prom-client Registry, got ${showValue(registry)}`);
  }
  const prefix = options.prefix ?? 'express_shadow_';
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) {
    throw new ShadowOptionsError('registerMetrics.prefix', `must be a valid Prometheus metric name prefix, got ${showValue(prefix)}`);
  }
  const buckets = options.buckets ?? DEFAULT_LATENCY_BUCKETS;
  const registers = [register];
  registerGauges(prom, prefix, registers, stats);
  return observerOf(eventMetrics(prom, prefix, registers, buckets));
}

type Registers = InstanceType<PromClient['Registry']>[];

/** The counters and histograms fed by what happens, request by request. */
function eventMetrics(prom: PromClient, prefix: string, registers: Registers, buckets: number[]) {
  const seen = new prom.Counter({ name: `${prefix}requests_seen_total`, help: 'Requests the middleware saw.', registers });
  const mirrored = new prom.Counter({ name: `${prefix}requests_mirrored_total`, help: 'Requests mirrored to the shadow targets.', labelNames: ['route'], registers });
  const notMirrored = new prom.Counter({
    name: `${prefix}requests_not_mirrored_total`,
    help: 'Requests left out on purpose (sampled_out, filtered, method, production_status, disabled, breaker_open).',
    labelNames: ['reason'],
    registers,
  });
  const skipped = new prom.Counter({
    name: `${prefix}requests_skipped_total`,
    help: 'Requests that were to be mirrored but could not be (body_too_large, aborted, queue_full, ...).',
    labelNames: ['reason', 'route'],
    registers,
  });
  const responses = new prom.Counter({
    name: `${prefix}shadow_responses_total`,
    help: 'Shadow answers by target and status class.',
    labelNames: ['target', 'route', 'status_class'],
    registers,
  });
  const errors = new prom.Counter({
    name: `${prefix}shadow_errors_total`,
    help: 'Shadow calls that ended without an answer, by error code (timeout, ECONNREFUSED, cancelled, ...).',
    labelNames: ['target', 'route', 'code'],
    registers,
  });
  const comparisons = new prom.Counter({
    name: `${prefix}comparisons_total`,
    help: 'Comparisons of production and shadow answers, by outcome (match, mismatch).',
    labelNames: ['target', 'route', 'outcome'],
    registers,
  });
  const productionDuration = new prom.Histogram({
    name: `${prefix}production_duration_seconds`,
    help: 'Production response time of mirrored requests.',
    labelNames: ['route'],
    buckets,
    registers,
  });
  const shadowDuration = new prom.Histogram({
    name: `${prefix}shadow_duration_seconds`,
    help: 'Shadow response time (or time to error), by target.',
    labelNames: ['target', 'route'],
    buckets,
    registers,
  });
  return { seen, mirrored, notMirrored, skipped, responses, errors, comparisons, productionDuration, shadowDuration };
}

/** Gauges (and the dropped-records counter) read from `stats()` at scrape time. */
function registerGauges(prom: PromClient, prefix: string, registers: Registers, stats: () => ShadowStats): void {
  new prom.Gauge({
    name: `${prefix}in_flight`,
    help: 'Shadow calls in flight.',
    registers,
    collect() {
      this.set(stats().inFlight);
    },
  });
  new prom.Gauge({
    name: `${prefix}queued`,
    help: 'Shadow calls waiting for a free slot.',
    registers,
    collect() {
      this.set(stats().queued);
    },
  });
  new prom.Gauge({
    name: `${prefix}queued_bytes`,
    help: 'Bytes of captured bodies held for mirroring.',
    registers,
    collect() {
      this.set(stats().queuedBytes);
    },
  });
  const droppedSeen: Record<string, number> = {};
  new prom.Counter({
    name: `${prefix}records_dropped_total`,
    help: 'Log records lost, by reason (write_error, backpressure, unserialisable, logger_error, closed).',
    labelNames: ['reason'],
    registers,
    collect() {
      // The sink counts; a scrape adds what it counted since the last one.
      for (const [reason, count] of Object.entries(stats().log.dropped)) {
        const added = count - (droppedSeen[reason] ?? 0);
        if (added > 0) this.inc({ reason }, added);
        droppedSeen[reason] = count;
      }
    },
  });
  new prom.Gauge({
    name: `${prefix}breaker_state`,
    help: 'Circuit breaker per target: 0 closed, 0.5 half-open, 1 open.',
    labelNames: ['target'],
    registers,
    collect() {
      for (const [target, state] of Object.entries(stats().breakers)) this.set({ target }, BREAKER_VALUE[state]);
    },
  });
}

/** The observer the tap calls: each event feeds its metrics. */
function observerOf(metrics: ReturnType<typeof eventMetrics>): ShadowObserver {
  const { seen, mirrored, notMirrored, skipped, responses, errors, comparisons, productionDuration, shadowDuration } = metrics;
  return {
    seen: () => seen.inc(),
    notMirrored: (reason) => notMirrored.inc({ reason }),
    skipped: (reason, route) => skipped.inc({ reason, route: routeLabel(route) }),
    mirrored: (route, productionDurationMs) => {
      mirrored.inc({ route: routeLabel(route) });
      productionDuration.observe({ route: routeLabel(route) }, productionDurationMs / 1000);
    },
    shadowDone: (target, route, outcome, durationMs) => {
      const labels = { target, route: routeLabel(route) };
      shadowDuration.observe(labels, durationMs / 1000);
      if (outcome.status !== undefined) responses.inc({ ...labels, status_class: `${Math.floor(outcome.status / 100)}xx` });
      else errors.inc({ ...labels, code: outcome.errorCode ?? 'unknown' });
    },
    compared: (target, route, match) => comparisons.inc({ target, route: routeLabel(route), outcome: match ? 'match' : 'mismatch' }),
  };
}

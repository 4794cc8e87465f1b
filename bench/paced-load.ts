/**
 * Open-loop load at a fixed rate: request i is sent at start + i/rate whatever happened to the earlier ones, on
 * keep-alive connections that grow in number only when the app falls behind. Latency is measured per request from
 * the moment it was written to the moment its last byte came back, in floating-point milliseconds.
 *
 * Why not autocannon's `overallRate`: autocannon spreads the rate over its connections and lets each connection
 * send back-to-back until its quota for the current second is used up, then idle until the next second. The load is
 * a burst at full concurrency at the start of every second, not a steady rate, and its latency histogram has 1 ms
 * resolution. `bench/run.ts --fixed-driver autocannon` keeps it available for comparison.
 */
import http from 'node:http';
import { sortedCopy, percentile } from './stats.js';

interface PacedOptions {
  url: string;
  rate: number;
  durationS: number;
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: Buffer;
  /** A request taking longer than this counts as an error. */
  timeoutMs?: number;
  /** Called with each completed request's latency (ms) and the time it finished (performance.now()). */
  onSample?: (latencyMs: number, finishedAt: number, ok: boolean) => void;
}

export interface PacedResult {
  /** Requests sent. */
  sent: number;
  /** Answered with 2xx. */
  ok: number;
  /** Answered with another status. */
  non2xx: number;
  /** Socket errors and timeouts. */
  errors: number;
  /** 2xx latencies in ms, sorted ascending. */
  latencies: Float64Array;
  /** The same 2xx latencies in the order they were sent, with when each was sent (ms after the start). */
  bySendTime?: { sentAtMs: Float64Array; latencyMs: Float64Array };
  /** Rate actually achieved: sent / seconds spent sending. */
  achievedRate: number;
  /** How late the generator was against the schedule (ms): p99 and max. Small values mean it kept up. */
  lagP99Ms: number;
  lagMaxMs: number;
  /** Most connections open at once. */
  connections: number;
}

export async function pacedLoad(options: PacedOptions): Promise<PacedResult> {
  const target = new URL(options.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2048, maxFreeSockets: 2048 });
  const interval = 1000 / options.rate;
  const total = Math.round(options.rate * options.durationS);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const headers = { ...options.headers, ...(options.body ? { 'content-length': options.body.length } : {}) };
  const latencies = new Float64Array(total);
  const sentAt = new Float64Array(total);
  const lags = new Float64Array(total);
  let okCount = 0;
  let non2xx = 0;
  let errors = 0;
  let sent = 0;
  let outstanding = 0;
  let connections = 0;

  let finish!: () => void;
  const allDone = new Promise<void>((resolve) => (finish = resolve));
  const settle = () => {
    outstanding--;
    if (sent === total && outstanding === 0) finish();
  };

  function fire(): void {
    const startedAt = performance.now();
    outstanding++;
    let settled = false;
    const done = (kind: 'ok' | 'non2xx' | 'error') => {
      if (settled) return;
      settled = true;
      const finishedAt = performance.now();
      if (kind === 'ok') {
        sentAt[okCount] = startedAt - start;
        latencies[okCount++] = finishedAt - startedAt;
      }
      else if (kind === 'non2xx') non2xx++;
      else errors++;
      options.onSample?.(finishedAt - startedAt, finishedAt, kind === 'ok');
      settle();
    };
    const req = http.request({
      agent,
      host: target.hostname,
      port: target.port,
      path: target.pathname + target.search,
      method: options.method ?? 'GET',
      headers,
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('response', (res) => {
      res.on('data', () => {});
      res.on('end', () => done(res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300 ? 'ok' : 'non2xx'));
      res.on('error', () => done('error'));
    });
    req.on('error', () => done('error'));
    req.end(options.body);
  }

  const countSockets = () => {
    let open = 0;
    for (const list of Object.values(agent.sockets)) open += list?.length ?? 0;
    for (const list of Object.values(agent.freeSockets)) open += list?.length ?? 0;
    if (open > connections) connections = open;
  };

  const start = performance.now();
  let sendingEndedAt = start;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor((now - start) / interval) + 1);
      while (sent < due) {
        lags[sent] = performance.now() - (start + sent * interval);
        sent++;
        fire();
      }
      countSockets();
      if (sent >= total) {
        sendingEndedAt = performance.now();
        resolve();
        return;
      }
      setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
    };
    tick();
  });
  if (outstanding > 0) await allDone;
  agent.destroy();

  const sendingSeconds = Math.max(1e-9, (sendingEndedAt - start) / 1000 + interval / 1000);
  const sortedLags = sortedCopy(lags.subarray(0, sent));
  const inSendOrder = latencies.slice(0, okCount);
  return {
    bySendTime: { sentAtMs: sentAt.slice(0, okCount), latencyMs: inSendOrder },
    sent,
    ok: okCount,
    non2xx,
    errors,
    latencies: latencies.subarray(0, okCount).sort(),
    achievedRate: sent / sendingSeconds,
    lagP99Ms: percentile(sortedLags, 0.99),
    lagMaxMs: sortedLags[sortedLags.length - 1] ?? 0,
    connections,
  };
}

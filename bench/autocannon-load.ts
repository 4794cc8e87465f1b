/**
 * autocannon runs: closed-loop saturation (N connections sending back-to-back), and its `overallRate` mode, kept for
 * comparison with the paced driver (`--fixed-driver autocannon`).
 */
import autocannon from 'autocannon';
import type { PacedResult } from './paced-load.js';

export interface SaturationResult {
  /** Completed requests per second over the run. */
  requestsPerSecond: number;
  total: number;
  errors: number;
  non2xx: number;
  timeouts: number;
  /** autocannon's latency percentiles (ms, 1 ms resolution). */
  latencyP50: number;
  latencyP99: number;
}

export async function saturate(url: string, connections: number, durationS: number, body: Buffer, headers: Record<string, string>): Promise<SaturationResult> {
  const result = await autocannon({ url, method: 'POST', body, headers, connections, duration: durationS });
  return {
    requestsPerSecond: result.requests.total / result.duration,
    total: result.requests.total,
    errors: result.errors,
    non2xx: result.non2xx,
    timeouts: result.timeouts,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
  };
}

/**
 * autocannon at a fixed overall rate, with latencies taken from its `response` events (float ms) rather than its
 * histogram. Each connection sends back-to-back until its share of the rate for the current second is used up.
 */
export async function autocannonFixedRate(
  url: string,
  rate: number,
  durationS: number,
  connections: number,
  body: Buffer,
  headers: Record<string, string>,
): Promise<PacedResult> {
  const latencies: number[] = [];
  let non2xx = 0;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      { url, method: 'POST', body, headers, connections, overallRate: rate, duration: durationS, ignoreCoordinatedOmission: true },
      (error, done) => (error ? reject(error as Error) : resolve(done)),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
      else non2xx++;
    });
  });
  return {
    sent: result.requests.sent,
    ok: latencies.length,
    non2xx,
    errors: result.errors + result.timeouts,
    latencies: Float64Array.from(latencies).sort(),
    achievedRate: result.requests.total / result.duration,
    lagP99Ms: Number.NaN,
    lagMaxMs: Number.NaN,
    connections,
  };
}

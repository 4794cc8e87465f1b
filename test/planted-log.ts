/**
 * A shadow log with known truth, written as the middleware writes it: production answers carrying noisy fields (a time
 * and a nonce), a secondary replica of production, and one candidate. Flaws can be planted: a class flip (a share of
 * one label turned into another) and a latency shift on one route. Seeded, so every run writes the same lines.
 */
import { seededRandom } from '../lib/report/stats/random.js';

export interface PlantedOptions {
  seed: number;
  requests?: number;
  /** Share of `negative` answers the candidate turns into `positive`. Default 0. */
  flip?: number;
  /** Added to the candidate's latency on `/embed`, in ms. Default 0. */
  embedShiftMs?: number;
  /** Added to every candidate score. Default 0. */
  scoreShift?: number;
  /** Write the secondary replica's records. Default true. */
  secondary?: boolean;
  /** Time of the first request, epoch ms. Default 2026-03-02T10:00:00Z. */
  start?: number;
}

const ROUTES = ['/classify', '/embed'];
const LABELS = ['negative', 'neutral', 'positive'];

export function plantedLog(options: PlantedOptions): string {
  const random = seededRandom(options.seed);
  const requests = options.requests ?? 1_200;
  const flip = options.flip ?? 0;
  const shift = options.embedShiftMs ?? 0;
  const secondary = options.secondary ?? true;
  const latency = (base: number): number => Math.round((base * Math.exp((random() - 0.5) * 0.6) + random() * 2) * 10) / 10;
  const hex = (): string => Math.floor(random() * 2 ** 48).toString(16).padStart(12, '0') + Math.floor(random() * 2 ** 32).toString(16).padStart(8, '0');
  const lines: string[] = [];
  const start = options.start ?? Date.parse('2026-03-02T10:00:00Z');
  for (let i = 0; i < requests; i++) {
    const requestId = `req-${options.seed}-${i}`;
    const route = ROUTES[i % ROUTES.length] as string;
    const t = start + i * 50;
    const time = (offset: number): string => new Date(t + offset).toISOString();
    const label = LABELS[Math.floor(random() * LABELS.length)] as string;
    const score = Math.round(random() * 1000) / 1000;
    const candidateLabel = label === 'negative' && random() < flip ? 'positive' : label;
    const candidateScore = Math.round((score + (options.scoreShift ?? 0)) * 1000) / 1000;
    const body = (l: string, s: number) => ({ label: l, score: s, servedAt: time(Math.floor(random() * 1000)), nonce: hex() });
    const production = body(label, score);
    const replica = body(label, score);
    const candidate = body(candidateLabel, candidateScore);
    const productionMs = latency(route === '/embed' ? 6 : 20);
    const candidateMs = latency(route === '/embed' ? 6 : 20) + (route === '/embed' ? shift : 0);
    const targets = secondary ? ['candidate', 'replica'] : ['candidate'];
    lines.push(JSON.stringify({
      type: 'production', requestId, timestamp: time(0), method: 'POST', path: route, route, status: 200, durationMs: productionMs, targets,
      request: { headers: {}, bodySource: 'raw' }, response: { headers: {}, body: production },
    }));
    lines.push(JSON.stringify({ type: 'shadow', requestId, timestamp: time(5), target: 'candidate', status: 200, durationMs: candidateMs, response: { headers: {}, body: candidate } }));
    const noisy = ['$.servedAt', '$.nonce'];
    const differences = (a: typeof production, b: typeof production) =>
      (['label', 'score', 'servedAt', 'nonce'] as const).filter((k) => a[k] !== b[k]).map((k) => ({ path: `$.${k}`, production: a[k], shadow: b[k] }));
    const candidateDiffs = differences(production, candidate);
    const replicaDiffs = differences(production, replica);
    if (secondary) {
      lines.push(JSON.stringify({ type: 'shadow', requestId, timestamp: time(6), target: 'replica', role: 'secondary', status: 200, durationMs: latency(route === '/embed' ? 6 : 20), response: { headers: {}, body: replica } }));
      lines.push(JSON.stringify({
        type: 'comparison', requestId, timestamp: time(7), target: 'replica', role: 'secondary', statusMatch: true,
        match: replicaDiffs.length === 0, differences: replicaDiffs, latencyDeltaMs: 0,
      }));
    }
    const noise = secondary ? candidateDiffs.map((d) => d.path).filter((p) => replicaDiffs.some((r) => r.path === p) && noisy.includes(p)) : undefined;
    lines.push(JSON.stringify({
      type: 'comparison', requestId, timestamp: time(8), target: 'candidate', statusMatch: true, match: candidateDiffs.length === 0, differences: candidateDiffs,
      ...(noise === undefined ? {} : { noise, matchWithoutNoise: candidateDiffs.every((d) => noise.includes(d.path)) }),
      latencyDeltaMs: candidateMs - productionMs,
    }));
  }
  return `${lines.join('\n')}\n`;
}

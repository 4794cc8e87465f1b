/**
 * A record cut down to the fields the report reads, so the requests held open in the join window keep no request,
 * headers or (unless a label or score path needs them) bodies. Each type gets one object shape (fields it lacks are
 * `undefined`), which keeps the code that reads them fast.
 */
import type { ShadowLogRecord } from '../types.js';

type Loose = Record<string, unknown>;

function response(value: unknown, bodies: boolean): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const r = value as Loose;
  return { stream: r.stream, body: bodies ? r.body : undefined };
}

export function slimRecord(record: ShadowLogRecord, bodies: boolean): ShadowLogRecord {
  const r = record as unknown as Loose;
  let slim: Loose;
  switch (record.type) {
    case 'production':
      slim = { type: r.type, requestId: r.requestId, timestamp: r.timestamp, route: r.route, path: r.path, status: r.status, durationMs: r.durationMs, targets: r.targets, response: response(r.response, bodies) };
      break;
    case 'shadow':
      slim = { type: r.type, requestId: r.requestId, timestamp: r.timestamp, target: r.target, role: r.role, status: r.status, durationMs: r.durationMs, error: r.error, requestFault: r.requestFault, engineDelayMs: r.engineDelayMs, response: response(r.response, bodies) };
      break;
    case 'comparison':
      slim = {
        type: r.type, requestId: r.requestId, timestamp: r.timestamp, target: r.target, role: r.role, match: r.match, matchWithoutNoise: r.matchWithoutNoise,
        statusMatch: r.statusMatch, error: r.error, differences: r.differences, differencesTruncated: r.differencesTruncated, noise: r.noise, similarity: r.similarity,
      };
      break;
    case 'skipped':
      slim = { type: r.type, requestId: r.requestId, timestamp: r.timestamp, reason: r.reason, route: r.route, path: r.path };
      break;
    default:
      // summary, breaker and judgement records are few (or sampled) and read whole.
      return record;
  }
  return slim as unknown as ShadowLogRecord;
}

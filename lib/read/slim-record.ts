/**
 * A record cut down to the fields the report reads, so the requests held open in the join window keep no request,
 * headers or (unless a label or score path needs them) bodies.
 */
import type { ShadowLogRecord } from '../types.js';

/** Top-level fields the report reads (see report/concerns) and the join needs. */
const FIELDS = [
  'type', 'requestId', 'timestamp', 'target', 'role', 'route', 'path', 'status', 'durationMs', 'targets', 'error', 'reason', 'match',
  'matchWithoutNoise', 'statusMatch', 'differences', 'differencesTruncated', 'noise', 'seen', 'notMirrored', 'breakerOpen', 'state',
] as const;

export function slimRecord(record: ShadowLogRecord, bodies: boolean): ShadowLogRecord {
  const full = record as unknown as Record<string, unknown>;
  const slim: Record<string, unknown> = {};
  for (const field of FIELDS) if (Object.hasOwn(full, field)) slim[field] = full[field];
  const response = full.response;
  if (typeof response === 'object' && response !== null && !Array.isArray(response)) {
    const { stream, body } = response as { stream?: unknown; body?: unknown };
    const kept: Record<string, unknown> = {};
    if (Object.hasOwn(response, 'stream')) kept.stream = stream;
    if (bodies && Object.hasOwn(response, 'body')) kept.body = body;
    slim.response = kept;
  } else if (Object.hasOwn(full, 'response')) {
    slim.response = response;
  }
  return slim as unknown as ShadowLogRecord;
}

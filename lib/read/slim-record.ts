/**
 * A record cut down to the fields the report reads, so the requests held open in the join window keep no request,
 * headers or (unless a label or score path needs them) bodies. Each type gets one object shape (fields it lacks are
 * `undefined`), which keeps the code that reads them fast.
 */
import type { PathSegment } from '../json-path.js';
import type { ShadowLogRecord } from '../types.js';

type Loose = Record<string, unknown>;

/** The paths of response bodies the report reads (a label path, a score path); empty when it reads none. */
export type BodyPaths = readonly (readonly PathSegment[])[];

/**
 * The parts of `body` on `paths`: walking any of the paths in it finds what walking it in `body` finds (the value at its
 * end whole, `undefined` where `body` has no such path), and nothing else is kept. A whole body is several objects per
 * record; the report reads one value.
 */
function pruneBody(body: unknown, paths: BodyPaths): unknown {
  let pruned: unknown;
  for (const steps of paths) {
    if (steps.length === 0) return body;
    const end = endOf(body, steps);
    if (end === ABSENT) continue;
    // Rebuild the trail from the top, reusing what an earlier path built.
    let from = body;
    let into = (pruned ??= Array.isArray(body) ? [] : {}) as Record<string | number, unknown>;
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i] as PathSegment;
      from = (from as Record<string | number, unknown>)[step];
      if (i === steps.length - 1) put(into, step, end);
      else {
        if (!Object.hasOwn(into, step)) put(into, step, Array.isArray(from) ? [] : {});
        into = into[step] as Record<string | number, unknown>;
      }
    }
  }
  return pruned;
}

const ABSENT = Symbol('absent');

/** The value at the end of `steps` in `body`, or `ABSENT` (a step into a non-container, or an own key missing). */
function endOf(body: unknown, steps: readonly PathSegment[]): unknown {
  let from = body;
  for (const step of steps) {
    if (typeof step === 'number' ? !Array.isArray(from) : typeof from !== 'object' || from === null || Array.isArray(from) || !Object.hasOwn(from, step)) return ABSENT;
    from = (from as Record<string | number, unknown>)[step];
  }
  return from;
}

/**
 * Sets an own property. Plain objects with plain assignment (an object without prototype, or `defineProperty` for
 * every key, cost a split read about 3 % of its CPU); only a key named `__proto__`, which assignment would take as the
 * prototype, is defined.
 */
function put(container: Record<string | number, unknown>, step: PathSegment, value: unknown): void {
  if (step === '__proto__') Object.defineProperty(container, step, { value, enumerable: true, writable: true, configurable: true });
  else container[step] = value;
}

function response(value: unknown, paths: BodyPaths): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const r = value as Loose;
  return { stream: r.stream, body: paths.length === 0 ? undefined : pruneBody(r.body, paths) };
}

export function slimRecord(record: ShadowLogRecord, bodies: BodyPaths): ShadowLogRecord {
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

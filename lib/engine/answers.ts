/**
 * Turning captured bytes into what is compared and logged: production's and the shadow's answers decoded once
 * (content-encoding undone, JSON parsed, streams assembled), and the records built from them.
 */
import type { ResolvedOptions } from './config.js';
import type { ComparedAnswer, HeaderMap, ShadowRecord, ShadowRequest, ShadowRequestChange, StreamMeasurements } from '../types.js';
import type { ShadowOutcome } from './dispatch.js';
import { headersForLog } from './headers.js';
import { redactText, type BodyRules } from './redact-body.js';
import { errorMessage, showValue } from '../errors.js';
import { bodyForLog, decodeBody, decodeContent, type DecodedBody, type DecodedContent } from './logged-body.js';
import { eventPayloads, streamFormatOf } from './stream-events.js';

export interface DecodedAnswer {
  answer: ComparedAnswer;
  decoded: DecodedBody;
  truncated: boolean;
  stream: StreamMeasurements | undefined;
}

export interface AnswerLimits {
  maxBytes: number;
  maxLoggedBodyBytes: number;
  assemble: (events: string[]) => string;
  /** What is masked in logged bodies and events. */
  bodies: BodyRules;
  /** Whether response bodies (and the assembled stream) are logged at all. */
  logResponseBodies: boolean;
}

/** Production's answer decoded once, for the log and the comparator. */
export function decodeProductionAnswer(
  status: number,
  headers: HeaderMap,
  body: Buffer,
  captured: { bytes: number; truncated: boolean; writes: number; ttfbMs: number | undefined },
  limits: AnswerLimits,
): DecodedAnswer | Promise<DecodedAnswer> {
  const content = decodeContent(body, headerString(headers['content-encoding']), limits.maxBytes);
  // Synchronous unless there is something to inflate (work-loop.ts).
  if (content instanceof Promise) return content.then((decoded) => productionAnswer(status, headers, decoded, captured, limits));
  return productionAnswer(status, headers, content, captured, limits);
}

function productionAnswer(
  status: number,
  headers: HeaderMap,
  content: DecodedContent,
  captured: { bytes: number; truncated: boolean; writes: number; ttfbMs: number | undefined },
  limits: AnswerLimits,
): DecodedAnswer {
  const contentType = headerString(headers['content-type']);
  const truncated = captured.truncated || content.cut;
  const decoded = decodeBody(content.bytes, content.decoded ? content.bytes.length : captured.bytes, truncated, contentType);
  const stream = streamMeasurements(contentType, headers, decoded.bytes, captured.ttfbMs ?? 0, captured.writes, limits);
  const answer: ComparedAnswer = stream?.answer
    ? { ...stream.answer, status, headers }
    : { status, headers, isJson: decoded.isJson, json: decoded.json, bytes: decoded.bytes };
  return { answer, decoded, truncated, stream: stream?.measurements };
}

/**
 * For a streamed answer (no content-length, or an event-stream type): time to first byte, chunks, events, and the
 * assembled output that comparison looks at. `undefined` for an ordinary answer.
 */
function streamMeasurements(
  contentType: string | undefined,
  headers: HeaderMap | NodeJS.Dict<string | string[]>,
  bytes: Buffer,
  ttfbMs: number,
  chunks: number,
  limits: AnswerLimits,
): { measurements: StreamMeasurements; answer?: Omit<ComparedAnswer, 'status' | 'headers'> } | undefined {
  const format = streamFormatOf(contentType);
  const chunked = headers['content-length'] === undefined && bytes.length > 0;
  if (!format && !chunked) return undefined;
  const measurements: StreamMeasurements = { ttfbMs: round(ttfbMs), chunks };
  if (!format) return { measurements };
  // Masked before assembly, so neither the assembled text nor a difference in it can carry a masked field.
  const events = eventPayloads(bytes.toString('utf8'), format).map((payload) => redactText(payload, limits.bodies));
  let assembled: string;
  try {
    assembled = limits.assemble(events);
  } catch (error) {
    assembled = `[assemble threw: ${errorMessage(error)}]`;
  }
  measurements.events = events.length;
  if (limits.logResponseBodies) {
    const logged = redactText(assembled, limits.bodies);
    measurements.assembled = logged.length > limits.maxLoggedBodyBytes ? logged.slice(0, limits.maxLoggedBodyBytes) : logged;
  }
  const assembledBytes = Buffer.from(assembled, 'utf8');
  let json: unknown;
  let isJson = false;
  try {
    json = JSON.parse(assembled);
    isJson = true;
  } catch {
    // Assembled text that is not JSON is compared as text.
  }
  return { measurements, answer: { bytes: assembledBytes, isJson, ...(isJson ? { json } : {}) } };
}

/**
 * A shadow's answer decoded once: the `response` of its shadow record (headers and body as the secret rules allow)
 * and the answer the comparator sees (the assembled output for a stream). Shared by live mirroring and replay.
 */
export function shadowAnswerOf(
  outcome: Extract<ShadowOutcome, { ok: true }>,
  logging: Pick<ResolvedOptions, 'secrets' | 'logHeaders'>,
  limits: AnswerLimits,
): { response: ShadowRecord['response']; answer: ComparedAnswer } {
  const contentType = headerString(outcome.headers['content-type']);
  const body = decodeBody(outcome.body, outcome.bytesRead, outcome.truncated, contentType);
  const stream = streamMeasurements(contentType, outcome.headers, outcome.body, outcome.ttfbMs, outcome.chunks, limits);
  const response: ShadowRecord['response'] = {
    headers: headersForLog(outcome.headers, logging.secrets.redactHeaders, logging.logHeaders, logging.secrets.maskText, logging.secrets.redactQuery),
    ...bodyForLog(body, contentType, logging.secrets.bodies, logging.secrets.logBodies.response),
    ...(outcome.truncated ? { responseTruncated: true as const } : {}),
    ...(stream ? { stream: stream.measurements } : {}),
  };
  const headers = outcome.headers as ComparedAnswer['headers'];
  const answer: ComparedAnswer = stream?.answer
    ? { ...stream.answer, status: outcome.status, headers }
    : { status: outcome.status, headers, isJson: body.isJson, json: body.json, bytes: body.bytes };
  return { response, answer };
}

/** A `transformRequest` result applied to the request it was given. Non-Buffer, non-string bodies become JSON. */
export function applyRequestChange(request: ShadowRequest, change: ShadowRequestChange | undefined): ShadowRequest {
  if (!change || typeof change !== 'object') throw new TypeError('transformRequest must return an object like { path?, headers?, body? }');
  const next: ShadowRequest = { ...request };
  if (change.method !== undefined) next.method = String(change.method).toUpperCase();
  if (change.path !== undefined) {
    if (typeof change.path !== 'string' || !change.path.startsWith('/')) throw new TypeError(`transformRequest returned path ${showValue(change.path)}; it must start with "/"`);
    next.path = change.path;
  }
  if (change.headers !== undefined) next.headers = { ...change.headers, 'x-request-id': request.requestId, 'x-shadow-request': '1' };
  if ('body' in change) {
    const body = change.body;
    if (body === undefined) next.body = undefined;
    else if (Buffer.isBuffer(body)) next.body = body;
    else if (typeof body === 'string') next.body = Buffer.from(body, 'utf8');
    else {
      next.body = Buffer.from(JSON.stringify(body), 'utf8');
      next.json = body;
      if (change.headers === undefined) {
        const { 'content-encoding': _encoding, ...rest } = next.headers;
        next.headers = { ...rest, 'content-type': 'application/json' };
      }
    }
  }
  // content-length always describes the bytes sent (the untransformed request has it from shadowRequestHeaders).
  if (change.headers !== undefined || 'body' in change) {
    const { 'content-length': _length, ...headers } = next.headers;
    next.headers = next.body === undefined ? headers : { ...headers, 'content-length': String(next.body.length) };
  }
  return next;
}

export function headerString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  if (typeof value === 'number') return String(value);
  return undefined;
}


export function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** A view of transferred bytes as a Buffer, without copying. */
export function asBuffer(bytes: Uint8Array | undefined): Buffer {
  if (bytes === undefined) return Buffer.alloc(0);
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Chunks joined into one Buffer (no copy for a single chunk). */
export function joinChunks(chunks: readonly Uint8Array[], total?: number): Buffer {
  if (chunks.length === 1) return asBuffer(chunks[0]);
  return Buffer.concat(chunks, total);
}

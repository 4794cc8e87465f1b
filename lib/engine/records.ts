/**
 * The parts of the shadow and comparison records that live mirroring and replay build alike: what the shadow answered
 * (or why it did not), and how its answer compares with production's. Pure functions of their inputs.
 */
import { errorMessage } from '../errors.js';
import type { ResolvedOptions } from './config.js';
import type { ComparedAnswer, ComparisonRecord, ProductionRecord, ShadowRecord } from '../types.js';
import { headerString, round, shadowAnswerOf, type AnswerLimits, type DecodedAnswer } from './answers.js';
import type { Exchange } from './exchange.js';
import { headersForLog } from './headers.js';
import { bodyForLog, type DecodedBody } from './logged-body.js';
import type { ShadowOutcome } from './dispatch.js';
import { redactDifference } from './redact-body.js';
import { isRequestFault } from './request-fault.js';

/**
 * Records are built field by field, never by spreading an object that already holds a fractional number: V8 (Node
 * 20) gives every copy of such an object a hidden class of its own, so each record was a new class, every property
 * access on it a miss of V8's caches, and each a little more for the collector (the comparison record's
 * `latencyDeltaMs`: a new class for 1,646 of 1,657 records at saturation). The key order is the log's.
 */

/** A shadow record's outcome fields, and the answer as the comparator sees it (`undefined` when the call failed). */
export function shadowOutcomeFields(
  outcome: ShadowOutcome,
  config: Pick<ResolvedOptions, 'secrets' | 'logHeaders'>,
  limits: AnswerLimits,
): { fields: Pick<ShadowRecord, 'durationMs' | 'engineDelayMs' | 'status' | 'response' | 'error' | 'requestFault'>; answer: ComparedAnswer | undefined } {
  const fields: Pick<ShadowRecord, 'durationMs' | 'engineDelayMs' | 'status' | 'response' | 'error' | 'requestFault'> = { durationMs: round(outcome.durationMs) };
  if (outcome.ok && outcome.engineDelayMs !== undefined) fields.engineDelayMs = round(outcome.engineDelayMs);
  let answer: ComparedAnswer | undefined;
  if (outcome.ok) {
    const shown = shadowAnswerOf(outcome, config, limits);
    fields.status = outcome.status;
    fields.response = shown.response;
    answer = shown.answer;
  } else {
    fields.error = { code: outcome.code, message: outcome.message };
  }
  if (isRequestFault(outcome)) fields.requestFault = true;
  return { fields, answer };
}

/** What the comparator said about one answer against production's: the comparison record's verdict fields. */
type ComparisonFields = Pick<ComparisonRecord, 'match' | 'differences' | 'differencesTruncated' | 'score' | 'similarity' | 'error'> & {
  /** Every difference was listed (none cut by the comparator's own limit). */
  complete: boolean;
};

/**
 * Runs the comparator (through `run`, which may time it) and masks what `redact` hides from the differences' values.
 * A comparator that throws is a comparison with an error, never a fault of the caller's.
 */
function compareWithProduction(
  production: ComparedAnswer,
  answer: ComparedAnswer,
  config: Pick<ResolvedOptions, 'comparator' | 'secrets'>,
  run: <T>(compare: () => T) => T = (compare) => compare(),
): ComparisonFields {
  try {
    const result = run(() => config.comparator!(production, answer));
    const listed = result.differences ?? [];
    const total = (result as { differenceCount?: number }).differenceCount ?? listed.length;
    return {
      match: Boolean(result.match),
      differences: listed.map((d) => redactDifference(d, config.secrets.bodies, config.secrets.logBodies.response)),
      ...(total > listed.length ? { differencesTruncated: true as const } : {}),
      ...(typeof result.score === 'number' ? { score: result.score } : {}),
      // Text paths' scores (compare.similarity), as the comparator gave them.
      ...(Array.isArray(result.similarity) ? { similarity: result.similarity } : {}),
      complete: total === listed.length,
    };
  } catch (error) {
    return { match: false, differences: [], error: `compare threw: ${errorMessage(error)}`, complete: true };
  }
}

/** The production record of an exchange: what the client sent and what production answered, as the log may show them. */
export function productionRecordOf(
  exchange: Exchange & { requestId: string },
  requestBody: DecodedBody,
  production: DecodedAnswer,
  raw: Buffer | undefined,
  config: Pick<ResolvedOptions, 'secrets' | 'logHeaders' | 'maxReplayableBodyBytes'>,
  loggedPath: string,
): ProductionRecord {
  const { secrets } = config;
  const loggedRequest = bodyForLog(requestBody, headerString(exchange.headers['content-type']), secrets.bodies, secrets.logBodies.request);
  const replayable = config.maxReplayableBodyBytes > 0 && raw && raw.length > 0 ? replayableBody(raw, exchange, loggedRequest, requestBody.json, config.maxReplayableBodyBytes) : undefined;
  return {
    type: 'production',
    requestId: exchange.requestId,
    ...(exchange.clientRequestId !== undefined ? { clientRequestId: exchange.clientRequestId } : {}),
    timestamp: new Date().toISOString(),
    method: exchange.method,
    path: loggedPath,
    route: exchange.route,
    status: exchange.status,
    durationMs: round(exchange.durationMs),
    request: {
      headers: headersForLog(exchange.headers, secrets.redactHeaders, config.logHeaders, secrets.maskText, secrets.redactQuery),
      bodySource: exchange.bodySource,
      ...loggedRequest,
      ...(replayable ? { replayable } : {}),
    },
    response: {
      headers: headersForLog(exchange.responseHeaders, secrets.redactHeaders, config.logHeaders, secrets.maskText, secrets.redactQuery),
      ...bodyForLog(production.decoded, headerString(exchange.responseHeaders['content-type']), secrets.bodies, secrets.logBodies.response),
      ...(production.stream ? { stream: production.stream } : {}),
    },
  };
}

/**
 * The raw request bytes for replay, unless they would say more than the log may: over the cap, re-serialised rather
 * than raw, or a body whose logged form needed masking (or was not logged at all).
 */
function replayableBody(
  raw: Buffer,
  exchange: Exchange,
  logged: ReturnType<typeof bodyForLog>,
  parsed: unknown,
  cap: number,
): NonNullable<ProductionRecord['request']['replayable']> {
  if (exchange.bodySource !== 'raw') return { withheld: 'not_raw' };
  if (raw.length > cap) return { withheld: 'too_large' };
  // Masking copies what it changes: a logged body that is the parsed body itself had nothing masked, and need not be
  // serialised once more to look for the mask.
  if (parsed !== undefined && logged.body === parsed) return { base64: raw.toString('base64') };
  const shown = logged.body === undefined ? '' : typeof logged.body === 'string' ? logged.body : JSON.stringify(logged.body);
  if (logged.body === undefined || shown.includes('[REDACTED]')) return { withheld: 'redacted' };
  return { base64: raw.toString('base64') };
}

/** One answer to compare with production's, and what the comparison record says about where it came from. */
export interface ComparisonInput {
  requestId: string;
  timestamp: string;
  target: string;
  role: 'candidate' | 'secondary';
  production: ComparedAnswer;
  productionDurationMs: number;
  /** `undefined` when there is no answer to compare (`error` says why). */
  answer: ComparedAnswer | undefined;
  durationMs: number;
  error?: string | undefined;
}

/**
 * The comparison record of one answer (live or replayed). A shadow that answered with another status (an error
 * page, say) gave no answer to compare field by field. `complete` (beside the record): every difference was listed.
 */
export function comparisonOf(
  input: ComparisonInput,
  config: Pick<ResolvedOptions, 'comparator' | 'secrets'>,
  run?: <T>(compare: () => T) => T,
): { record: ComparisonRecord; complete: boolean } {
  const { answer } = input;
  const statusMatch = answer !== undefined && input.production.status === answer.status;
  const record = {
    type: 'comparison',
    requestId: input.requestId,
    timestamp: input.timestamp,
    target: input.target,
    statusMatch,
    latencyDeltaMs: round(input.durationMs - input.productionDurationMs),
  } as ComparisonRecord;
  if (input.role === 'secondary') record.role = 'secondary';
  if (!answer || !statusMatch) {
    record.match = false;
    record.differences = [];
    if (!answer) record.error = input.error ?? 'no answer to compare';
    return { record, complete: true };
  }
  const verdict = compareWithProduction(input.production, answer, config, run);
  record.match = verdict.match;
  record.differences = verdict.differences;
  if (verdict.differencesTruncated) record.differencesTruncated = true;
  if (verdict.score !== undefined) record.score = verdict.score;
  if (verdict.similarity !== undefined) record.similarity = verdict.similarity;
  if (verdict.error !== undefined) record.error = verdict.error;
  return { record, complete: verdict.complete };
}

/**
 * Marks a candidate's differences that the secondary (a replica of production) shows too: this request's noise.
 * `matchWithoutNoise` when noise is all that differs.
 */
export function markNoise(record: ComparisonRecord, noise: ReadonlySet<string>, complete: boolean): void {
  if (record.error) return;
  const noisy = record.differences.filter((d) => noise.has(d.path)).map((d) => d.path);
  record.noise = noisy;
  record.matchWithoutNoise = record.match || (noisy.length === record.differences.length && complete);
}

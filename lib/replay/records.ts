/**
 * The records a replay writes, in the middleware's format: a copy of the source production record, the candidate's
 * `shadow` record, and its `comparison` with the logged production answer. All three carry the original production
 * record's `timestamp` (the time of the traffic, which keeps them inside the reader's join window next to each other
 * and next to other replays of the same log) and `replay: { at, source, originalTimestamp }` (when it was replayed).
 * The copy names no `targets`, so a reader given several replay logs waits for every candidate it has seen.
 */
import type { ShadowOutcome } from '../engine/dispatch.js';
import type { AnswerLimits } from '../engine/answers.js';
import { comparisonOf, shadowOutcomeFields } from '../engine/records.js';
import { redactJson } from '../json-path.js';
import type { ResolvedOptions } from '../engine/config.js';
import type { ComparedAnswer, ComparisonRecord, ProductionRecord, ShadowRecord } from '../types.js';
import type { ReplayMarker } from './types.js';

/** A record of ours: the middleware's shape plus where it came from. */
type Replayed<T> = T & { replay: ReplayMarker };

export interface RecordContext {
  config: ResolvedOptions;
  limits: AnswerLimits;
  name: string;
  marker: ReplayMarker;
}

/** The source production record, without the targets it was mirrored to then. */
export function productionCopy(record: ProductionRecord, ctx: RecordContext): Replayed<ProductionRecord> {
  const { targets: _targets, ...copy } = record;
  return { ...copy, replay: ctx.marker };
}

/** The candidate's record, and its answer as the comparator sees it (`undefined` when it failed). */
export function shadowRecordOf(
  requestId: string,
  outcome: ShadowOutcome,
  ctx: RecordContext,
): { record: Replayed<ShadowRecord>; answer: ComparedAnswer | undefined; truncated: boolean } {
  const { fields, answer } = shadowOutcomeFields(outcome, ctx.config, ctx.limits);
  const record: Replayed<ShadowRecord> = { type: 'shadow', requestId, timestamp: ctx.marker.originalTimestamp, target: ctx.name, ...fields, replay: ctx.marker };
  return { record, answer, truncated: outcome.ok && outcome.truncated };
}

/**
 * The comparison with production's logged answer. That answer had its secret fields masked before it was logged,
 * so the candidate's is masked the same way first: masked fields compare equal instead of differing every time.
 */
export function comparisonRecordOf(
  production: { record: ProductionRecord; answer: ComparedAnswer },
  shadow: { answer: ComparedAnswer; durationMs: number },
  ctx: RecordContext,
): Replayed<ComparisonRecord> {
  const { config } = ctx;
  const candidate = shadow.answer.isJson ? { ...shadow.answer, json: redactJson(shadow.answer.json, config.secrets.bodies.paths) } : shadow.answer;
  const { record } = comparisonOf(
    {
      requestId: production.record.requestId,
      timestamp: production.record.timestamp,
      target: ctx.name,
      role: 'candidate',
      production: production.answer,
      productionDurationMs: production.record.durationMs,
      answer: candidate,
      durationMs: shadow.durationMs,
    },
    config,
  );
  return { ...record, replay: ctx.marker };
}

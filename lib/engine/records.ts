/**
 * The parts of the shadow and comparison records that live mirroring and replay build alike: what the shadow answered
 * (or why it did not), and how its answer compares with production's. Pure functions of their inputs.
 */
import { errorMessage } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import type { ComparedAnswer, ComparisonRecord, ShadowRecord } from '../types.js';
import { round, shadowAnswerOf, type AnswerLimits } from './answers.js';
import type { ShadowOutcome } from './dispatch.js';
import { redactDifference } from './redact-body.js';
import { requestFaultOf } from './request-fault.js';

/** A shadow record's outcome fields, and the answer as the comparator sees it (`undefined` when the call failed). */
export function shadowOutcomeFields(
  outcome: ShadowOutcome,
  config: Pick<ResolvedOptions, 'secrets' | 'logHeaders'>,
  limits: AnswerLimits,
): { fields: Pick<ShadowRecord, 'durationMs' | 'engineDelayMs' | 'status' | 'response' | 'error' | 'requestFault'>; answer: ComparedAnswer | undefined } {
  const timing = {
    durationMs: round(outcome.durationMs),
    ...(outcome.ok && outcome.engineDelayMs !== undefined ? { engineDelayMs: round(outcome.engineDelayMs) } : {}),
  };
  if (!outcome.ok) return { fields: { ...timing, error: { code: outcome.code, message: outcome.message }, ...requestFaultOf(outcome) }, answer: undefined };
  const { response, answer } = shadowAnswerOf(outcome, config, limits);
  return { fields: { ...timing, status: outcome.status, response, ...requestFaultOf(outcome) }, answer };
}

/** What the comparator said about one answer against production's: the comparison record's verdict fields. */
export type ComparisonFields = Pick<ComparisonRecord, 'match' | 'differences' | 'differencesTruncated' | 'score' | 'similarity' | 'error'> & {
  /** Every difference was listed (none cut by the comparator's own limit). */
  complete: boolean;
};

/**
 * Runs the comparator (through `run`, which may time it) and masks what `redact` hides from the differences' values.
 * A comparator that throws is a comparison with an error, never a fault of the caller's.
 */
export function compareWithProduction(
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

/**
 * The thresholds the verdict judges against: documented defaults, overridable per key by flags or a criteria file.
 * Validated once, with errors that name the key, show the value and say what would be right.
 */

/** Thresholds of the verdict. Every key is optional in `ReportOptions.criteria` and in a `--criteria` file. */
export interface Criteria {
  /** Lowest acceptable agreement (noise-free match rate, or label agreement with a label path), a ratio. Default 0.95. */
  minMatch: number;
  /** Lowest acceptable agreement on each production label (with a label path). Default 0.9. */
  minLabelAgreement: number;
  /** A p50 or p99 slower than production by at least this many ms is a latency regression. Default 25. */
  maxLatencyIncreaseMs: number;
  /** … or by at least this share of production's (0.5 = +50%), once it is at least 1 ms. Default 0.5. */
  maxLatencyIncreaseRatio: number;
  /** Largest acceptable rise of the error rate (no answer or 5xx) over production's 5xx rate, in absolute terms (0.01 = 1 point). Default 0.01. */
  maxErrorIncrease: number;
  /**
   * Practical margin of the similarity criterion, on the probability that a candidate's similarity score beats the
   * replica's (0.5 when alike): below 0.5 minus this, the candidate is further from production than production is from
   * itself. Default 0.05.
   */
  similarityMargin: number;
  /** Population stability index of the score (with a score path) at or above which the distribution has drifted. Default 0.25. */
  maxPsi: number;
  /** Samples each side needs before a criterion is judged; below it the criterion says "too few samples". Default 30. */
  minSamples: number;
  /**
   * Latency of a shadow call whose answer the engine read more than this many ms late (`engineDelayMs`: its loop was
   * busy) is left out of the latency criterion and figures: it measures the engine, not the model. Default 5.
   */
  maxEngineDelayMs: number;
  /** Family-wise error rate across all tests (Holm). Default 0.05. */
  alpha: number;
  /** Overall score (0–100) at or above which the verdict passes. Default 95. */
  passScore: number;
  /** Overall score below which the verdict fails. Default 75. */
  marginalScore: number;
}

export const DEFAULT_CRITERIA: Readonly<Criteria> = Object.freeze({
  minMatch: 0.95,
  minLabelAgreement: 0.9,
  maxLatencyIncreaseMs: 25,
  maxLatencyIncreaseRatio: 0.5,
  maxErrorIncrease: 0.01,
  similarityMargin: 0.05,
  maxPsi: 0.25,
  minSamples: 30,
  maxEngineDelayMs: 5,
  alpha: 0.05,
  passScore: 95,
  marginalScore: 75,
});

type Range = { min: number; max: number; minExclusive?: boolean; integer?: boolean; hint: string };

const RANGES: Record<keyof Criteria, Range> = {
  minMatch: { min: 0, max: 1, hint: 'a ratio between 0 and 1, like 0.95' },
  minLabelAgreement: { min: 0, max: 1, hint: 'a ratio between 0 and 1, like 0.9' },
  maxLatencyIncreaseMs: { min: 0, max: 86_400_000, hint: 'a number of milliseconds ≥ 0, like 25' },
  maxLatencyIncreaseRatio: { min: 0, max: 1_000, hint: 'a ratio ≥ 0, like 0.5 for +50%' },
  maxErrorIncrease: { min: 0, max: 1, hint: 'a ratio between 0 and 1, like 0.01 for one point' },
  similarityMargin: { min: 0, max: 0.5, hint: 'a probability between 0 and 0.5, like 0.05' },
  maxPsi: { min: 0, max: 100, minExclusive: true, hint: 'a number > 0, like 0.25' },
  minSamples: { min: 2, max: 1e9, integer: true, hint: 'a whole number ≥ 2, like 30' },
  maxEngineDelayMs: { min: 0, max: 86_400_000, hint: 'a number of milliseconds ≥ 0, like 5' },
  alpha: { min: 0, max: 0.5, minExclusive: true, hint: 'a probability in (0, 0.5], like 0.05' },
  passScore: { min: 0, max: 100, hint: 'a score between 0 and 100, like 95' },
  marginalScore: { min: 0, max: 100, hint: 'a score between 0 and 100, like 75' },
};

export const CRITERIA_KEYS = Object.keys(RANGES) as (keyof Criteria)[];

function closest(name: string): string | undefined {
  const lower = name.toLowerCase();
  return CRITERIA_KEYS.find((key) => key.toLowerCase() === lower || key.toLowerCase().includes(lower) || lower.includes(key.toLowerCase()));
}

/**
 * `partial` over the defaults; throws a `TypeError` naming the first bad key. `source` prefixes messages
 * (e.g. the criteria file's name).
 */
export function resolveCriteria(partial: unknown, source = 'criteria'): Criteria {
  if (partial === undefined) return { ...DEFAULT_CRITERIA };
  if (typeof partial !== 'object' || partial === null || Array.isArray(partial)) {
    throw new TypeError(`${source} must be a JSON object like {"minMatch": 0.95}; got ${JSON.stringify(partial)}.`);
  }
  const criteria: Criteria = { ...DEFAULT_CRITERIA };
  for (const [key, value] of Object.entries(partial)) {
    if (!Object.hasOwn(RANGES, key)) {
      const suggestion = closest(key);
      throw new TypeError(
        `${source}: unknown key ${JSON.stringify(key)}.${suggestion === undefined ? '' : ` Did you mean "${suggestion}"?`} Known keys: ${CRITERIA_KEYS.join(', ')}.`,
      );
    }
    if (value === undefined) continue;
    const range = RANGES[key as keyof Criteria];
    const ok =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      (range.minExclusive === true ? value > range.min : value >= range.min) &&
      value <= range.max &&
      (range.integer !== true || Number.isInteger(value));
    if (!ok) throw new TypeError(`${source}: \`${key}\` must be ${range.hint}; got ${JSON.stringify(value)}.`);
    criteria[key as keyof Criteria] = value as number;
  }
  if (criteria.marginalScore > criteria.passScore) {
    throw new TypeError(`${source}: \`marginalScore\` (${criteria.marginalScore}) must not be above \`passScore\` (${criteria.passScore}).`);
  }
  return criteria;
}

/** What makes a report a gate: the options that say so, set a match gate or set thresholds. */
interface GateOptions {
  gate?: boolean | undefined;
  failUnderMatch?: number | undefined;
  criteria?: Partial<Criteria> | undefined;
}

/**
 * Whether the report is used as a gate, so fails closed when there is too little evidence to judge: `gate` when given,
 * else whenever a match gate or any threshold is set (a threshold is only set to be held to).
 */
export function isGate(options: GateOptions): boolean {
  if (options.gate !== undefined && typeof options.gate !== 'boolean') {
    throw new TypeError(`\`gate\` must be true or false; got ${JSON.stringify(options.gate)}.`);
  }
  return options.gate ?? (options.failUnderMatch !== undefined || (options.criteria !== undefined && Object.keys(options.criteria).length > 0));
}

/**
 * The thresholds once the match gate is in: one number governs agreement, so `failUnderMatch` is `minMatch` too.
 * Throws a `TypeError` when both are given and differ, rather than judging agreement against two thresholds.
 */
export function criteriaWithGate(criteria: Partial<Criteria> | undefined, failUnderMatch: number | undefined): Partial<Criteria> | undefined {
  // A criteria value that is not an object is left for `resolveCriteria` to reject.
  if (failUnderMatch === undefined || (criteria !== undefined && (typeof criteria !== 'object' || criteria === null || Array.isArray(criteria)))) return criteria;
  const minMatch = criteria?.minMatch;
  if (minMatch !== undefined && minMatch !== failUnderMatch) {
    throw new TypeError(
      `\`failUnderMatch\` (${failUnderMatch}) and \`criteria.minMatch\` (${String(minMatch)}) are both agreement thresholds; give one of them ` +
        `(failUnderMatch sets minMatch too).`,
    );
  }
  return { ...criteria, minMatch: failUnderMatch };
}

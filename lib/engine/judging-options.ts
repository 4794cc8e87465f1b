/**
 * Options of the embedding and judge hooks (`embed`, `judge`, `judgeSampleRate`, `judgeLimits`), validated once into
 * plain settings. A leaf: it imports only the errors and the hooks' types.
 */
import { rejectUnknownKeys } from '../options.js';
import { ShadowOptionsError, showValue } from '../errors.js';
import type { EmbedHook, JudgeHook } from '../types.js';

/** The hooks with their bounds, as the engine's `Judging` takes them. */
export interface ResolvedJudging {
  embed: EmbedHook | undefined;
  judge: JudgeHook | undefined;
  /** Share of compared requests whose answers go to the hooks (the same requests for every target). */
  sampleRate: number;
  /** Hook calls in flight at once; a sampled comparison that finds no free slot is skipped (`busy`). */
  maxConcurrent: number;
  /** Per hook call; past it the call is recorded as `timeout` and its signal aborted. */
  timeoutMs: number;
  /** Hook calls started per minute, embed and judge together (a token bucket refilled continuously). */
  maxCallsPerMinute: number;
  /** How often the counts of calls, failures and skips are written (`judgement_summary`); 0: only at close(). */
  summaryIntervalMs: number;
}

const DEFAULT_JUDGE_LIMITS = Object.freeze({ maxConcurrent: 4, timeoutMs: 30_000, maxCallsPerMinute: 60 });
const DEFAULT_JUDGE_SAMPLE_RATE = 0.1;

const LIMIT_KEYS = Object.keys(DEFAULT_JUDGE_LIMITS);

/** `undefined` when neither hook is set (the other judging options are then refused, so a typo cannot pass silently). */
export function resolveJudging(options: Record<string, unknown>, summaryIntervalMs: number): ResolvedJudging | undefined {
  const embed = optionalHook(options.embed, 'embed') as EmbedHook | undefined;
  const judge = optionalHook(options.judge, 'judge') as JudgeHook | undefined;
  if (!embed && !judge) {
    for (const key of ['judgeSampleRate', 'judgeLimits']) {
      if (options[key] !== undefined) throw new ShadowOptionsError(key, 'applies to the `embed` and `judge` hooks; set one of them, or leave it out');
    }
    return undefined;
  }
  const limits = readLimits(options.judgeLimits);
  return { embed, judge, sampleRate: readSampleRate(options.judgeSampleRate), ...limits, summaryIntervalMs };
}

function optionalHook(value: unknown, option: string): unknown {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') {
    throw new ShadowOptionsError(option, `must be a function or a module hook such as { module: './hooks.js', export: '${option}' }, got ${showValue(value)}`);
  }
  return value;
}

function readSampleRate(value: unknown): number {
  if (value === undefined) return DEFAULT_JUDGE_SAMPLE_RATE;
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new ShadowOptionsError('judgeSampleRate', `must be a number from 0 to 1 (the share of compared requests sent to the hooks), got ${showValue(value)}`);
  }
  return value;
}

function readLimits(value: unknown): Pick<ResolvedJudging, 'maxConcurrent' | 'timeoutMs' | 'maxCallsPerMinute'> {
  if (value === undefined) return { ...DEFAULT_JUDGE_LIMITS };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ShadowOptionsError('judgeLimits', `must be an object such as { maxConcurrent: 4, timeoutMs: 30000, maxCallsPerMinute: 60 }, got ${showValue(value)}`);
  }
  const limits = value as Record<string, unknown>;
  rejectUnknownKeys(limits, LIMIT_KEYS, 'judgeLimits.');
  const read = (key: keyof typeof DEFAULT_JUDGE_LIMITS): number => {
    const given = limits[key] ?? DEFAULT_JUDGE_LIMITS[key];
    if (typeof given !== 'number' || !Number.isInteger(given) || given <= 0) {
      throw new ShadowOptionsError(`judgeLimits.${key}`, `must be a positive integer (default ${DEFAULT_JUDGE_LIMITS[key]}), got ${showValue(given)}`);
    }
    return given;
  };
  return { maxConcurrent: read('maxConcurrent'), timeoutMs: read('timeoutMs'), maxCallsPerMinute: read('maxCallsPerMinute') };
}

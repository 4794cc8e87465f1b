/**
 * The default comparator's options, validated once and turned into plain settings: compiled `ignorePaths`, the
 * numeric tolerance, the cap on listed differences, and the text paths judged by similarity (`similarity`, with
 * `normalize`). A bad option throws `ShadowOptionsError` naming it (`compare.similarity['$.text'].threshold`), showing
 * the value, and suggesting the name meant when it was misspelt.
 */
import { closestName } from '../did-you-mean.js';
import { ShadowOptionsError, showValue } from '../errors.js';
import type { PathPattern } from '../json-path.js';
import { compileOptionPath, rejectUnknownKeys } from '../options.js';
import type { SimilarityMeasure } from '../types.js';
import { createMeasure, DEFAULT_NORMALIZATION, MEASURES, type TextMeasure, type TextNormalization } from './similarity.js';

export const DEFAULT_MAX_DIFFERENCES = 20;

/**
 * The score below which a text path counts as a mismatch when no `threshold` is given. Chosen on the sentence pairs
 * of test/fixtures/sentence-pairs.json: every paraphrase at or above it, every wrong answer below.
 */
export const DEFAULT_THRESHOLDS: Readonly<Record<SimilarityMeasure, number>> = Object.freeze({ 'rouge-l': 0.4, 'token-f1': 0.4, levenshtein: 0.7 });

export interface Tolerance {
  absolute: number;
  relative: number;
}

/** One text path: how it is measured, and the score under which it is a mismatch. */
export interface TextRule {
  /** The path as written in `compare.similarity`. */
  source: string;
  measure: SimilarityMeasure;
  threshold: number;
  score: TextMeasure;
}

export interface CompareSettings {
  /** Compiled `ignorePaths` other than `$`. */
  ignore: readonly PathPattern[];
  /** `$` is among `ignorePaths`: nothing is compared. */
  ignoresEverything: boolean;
  tolerance: Tolerance;
  maxDifferences: number;
  /** Compiled `similarity` paths other than `$`, each with its rule. */
  text: readonly PathPattern[];
  rules: ReadonlyMap<PathPattern, TextRule>;
  /** The rule for the whole answer (`$`), when there is one: text answers, or a JSON string at the root. */
  root: TextRule | undefined;
}

const COMPARE_KEYS = ['ignorePaths', 'numericTolerance', 'maxDifferences', 'similarity', 'normalize'];
const TOLERANCE_KEYS = ['absolute', 'relative'];
const RULE_KEYS = ['measure', 'threshold', 'normalize'];
const NORMALIZE_KEYS = ['case', 'punctuation', 'whitespace', 'unicode'];
const UNICODE_FORMS = ['NFC', 'NFKC'];

export function resolveCompareOptions(options: unknown): CompareSettings {
  if (!isRecord(options)) {
    throw new ShadowOptionsError('compare', `must be an options object such as { ignorePaths: ['$.id'] }, got ${showValue(options)}`);
  }
  rejectUnknownKeys(options, COMPARE_KEYS, 'compare.');
  const patterns = compileIgnorePaths(options.ignorePaths);
  const normalization = readNormalization(options.normalize, 'compare.normalize', DEFAULT_NORMALIZATION);
  const rules = readSimilarity(options.similarity, normalization);
  const root = rules.find(([pattern]) => pattern.segments.length === 0)?.[1];
  const text = rules.map(([pattern]) => pattern).filter((pattern) => pattern.segments.length > 0);
  return {
    ignore: patterns.filter((pattern) => pattern.segments.length > 0),
    ignoresEverything: patterns.some((pattern) => pattern.segments.length === 0),
    tolerance: readTolerance(options.numericTolerance),
    maxDifferences: readMaxDifferences(options.maxDifferences),
    text,
    rules: new Map(rules),
    root,
  };
}

function compileIgnorePaths(value: unknown): PathPattern[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new ShadowOptionsError('compare.ignorePaths', `must be an array of JSON paths such as ['$.id', '$.items[*].ts'], got ${showValue(value)}`);
  }
  return value.map((pattern: unknown, index) => compileOptionPath(`compare.ignorePaths[${index}]`, pattern));
}

/** `{ '$.choices[0].message.content': 'rouge-l' }` or `{ path: { measure, threshold?, normalize? } }`. */
function readSimilarity(value: unknown, normalization: TextNormalization): [PathPattern, TextRule][] {
  if (value === undefined) return [];
  if (!isRecord(value)) {
    throw new ShadowOptionsError(
      'compare.similarity',
      `must map JSON paths to a measure, such as { '$.choices[0].message.content': { measure: 'rouge-l', threshold: 0.5 } }, got ${showValue(value)}`,
    );
  }
  return Object.entries(value).map(([path, entry]) => {
    const option = `compare.similarity[${JSON.stringify(path)}]`;
    const pattern = compileOptionPath(option, path);
    const rule = isRecord(entry) ? entry : { measure: entry };
    if (isRecord(entry)) rejectUnknownKeys(entry, RULE_KEYS, `${option}.`);
    const measure = readMeasure(rule.measure, isRecord(entry) ? `${option}.measure` : option);
    const threshold = readThreshold(rule.threshold, `${option}.threshold`, measure);
    const own = readNormalization(rule.normalize, `${option}.normalize`, normalization);
    return [pattern, { source: path, measure, threshold, score: createMeasure(measure, own) }];
  });
}

function readMeasure(value: unknown, option: string): SimilarityMeasure {
  if (typeof value === 'string' && (MEASURES as readonly string[]).includes(value)) return value as SimilarityMeasure;
  const suggestion = typeof value === 'string' ? closestName(value, MEASURES) : undefined;
  throw new ShadowOptionsError(
    option,
    `must name a measure: ${MEASURES.map((m) => `'${m}'`).join(', ')}; got ${showValue(value)}${suggestion ? `. Did you mean '${suggestion}'?` : ''}`,
  );
}

function readThreshold(value: unknown, option: string, measure: SimilarityMeasure): number {
  if (value === undefined) return DEFAULT_THRESHOLDS[measure];
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new ShadowOptionsError(option, `must be a score from 0 to 1 (below it the text is a mismatch; default ${DEFAULT_THRESHOLDS[measure]} for ${measure}), got ${showValue(value)}`);
  }
  return value;
}

function readNormalization(value: unknown, option: string, defaults: Readonly<TextNormalization>): TextNormalization {
  if (value === undefined) return { ...defaults };
  if (!isRecord(value)) {
    throw new ShadowOptionsError(option, `must be an object such as { case: true, punctuation: true, whitespace: true, unicode: 'NFC' }, got ${showValue(value)}`);
  }
  rejectUnknownKeys(value, NORMALIZE_KEYS, `${option}.`);
  const normalization = { ...defaults };
  for (const key of ['case', 'punctuation', 'whitespace'] as const) {
    const flag = value[key];
    if (flag === undefined) continue;
    if (typeof flag !== 'boolean') throw new ShadowOptionsError(`${option}.${key}`, `must be true or false, got ${showValue(flag)}`);
    normalization[key] = flag;
  }
  const unicode = value.unicode;
  if (unicode !== undefined) {
    if (unicode !== false && !UNICODE_FORMS.includes(unicode as string)) {
      const suggestion = typeof unicode === 'string' ? closestName(unicode, UNICODE_FORMS) : undefined;
      throw new ShadowOptionsError(`${option}.unicode`, `must be 'NFC', 'NFKC' or false, got ${showValue(unicode)}${suggestion ? `. Did you mean '${suggestion}'?` : ''}`);
    }
    normalization.unicode = unicode as TextNormalization['unicode'];
  }
  return normalization;
}

function readTolerance(value: unknown): Tolerance {
  if (value === undefined) return { absolute: 0, relative: 0 };
  if (!isRecord(value)) {
    throw new ShadowOptionsError('compare.numericTolerance', `must be an object such as { absolute: 0.001, relative: 0.01 }, got ${showValue(value)}`);
  }
  rejectUnknownKeys(value, TOLERANCE_KEYS, 'compare.numericTolerance.');
  return {
    absolute: readNonNegative(value.absolute, 'compare.numericTolerance.absolute'),
    relative: readNonNegative(value.relative, 'compare.numericTolerance.relative'),
  };
}

function readNonNegative(value: unknown, option: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ShadowOptionsError(option, `must be a finite number >= 0 (0, the default, means exact), got ${showValue(value)}`);
  }
  return value;
}

function readMaxDifferences(value: unknown): number {
  if (value === undefined) return DEFAULT_MAX_DIFFERENCES;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ShadowOptionsError('compare.maxDifferences', `must be a whole number >= 0 (default ${DEFAULT_MAX_DIFFERENCES}), got ${showValue(value)}`);
  }
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

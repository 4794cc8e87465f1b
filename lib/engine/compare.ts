/**
 * The default comparator: structural equality of two JSON answers (with ignored paths and a
 * numeric tolerance), byte equality otherwise. It runs on the production event loop for every
 * mirrored request, so options are validated and patterns compiled once, in `createComparator`,
 * and the walk itself only compares values and segment arrays.
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import {
  advanceStates,
  compilePathPattern,
  formatPath,
  isComplete,
  startStates,
  type PathPattern,
  type PathSegment,
  type PatternStates,
} from '../json-path.js';
import { closestName } from '../did-you-mean.js';
import type { ComparedAnswer, CompareOptions, ComparisonResult, Difference } from '../types.js';

export const DEFAULT_MAX_DIFFERENCES = 20;

/**
 * Arrays and objects nested this deep (the root being depth 0) are not walked recursively: they
 * are compared by an iterative exact check (numeric tolerance applies, `ignorePaths` do not) and,
 * when unequal, reported as one difference at that path with short summaries instead of values.
 * This bounds the stack on hostile or pathological input.
 */
export const MAX_COMPARE_DEPTH = 64;

export interface DefaultComparisonResult extends ComparisonResult {
  match: boolean;
  /** At most `maxDifferences` of them, in document order. */
  differences: Difference[];
  /** How many differences were found in all; more than `differences.length` when the list was cut. */
  differenceCount: number;
}

export type DefaultComparator = (production: ComparedAnswer, shadow: ComparedAnswer) => DefaultComparisonResult;

interface Tolerance {
  absolute: number;
  relative: number;
}

interface CompareSettings {
  /** Compiled `ignorePaths` other than `$`. */
  ignore: readonly PathPattern[];
  /** `$` is among `ignorePaths`: nothing is compared. */
  ignoresEverything: boolean;
  tolerance: Tolerance;
  maxDifferences: number;
}

type ValueKind = 'array' | 'object' | 'null' | 'number' | 'string' | 'boolean' | 'other';

/** Which sides hold a value at a path; a member or element can be missing from one side. */
const BOTH = 0;
const PRODUCTION_ONLY = 1;
const SHADOW_ONLY = 2;
type Presence = typeof BOTH | typeof PRODUCTION_ONLY | typeof SHADOW_ONLY;

const COMPARE_KEYS = ['ignorePaths', 'numericTolerance', 'maxDifferences'];
const TOLERANCE_KEYS = ['absolute', 'relative'];

/**
 * Builds the default comparator. Validates `options` and compiles `ignorePaths` once; throws a
 * `TypeError` naming the option (`compare.ignorePaths[1]`, `compare.numericTolerance.absolute`,
 * ...) and the bad value. The caller's options object is neither kept nor changed.
 *
 * @example
 * const compare = createComparator({ ignorePaths: ['$.id', '$.items[*].ts'], numericTolerance: { relative: 1e-6 } });
 * compare(productionAnswer, shadowAnswer); // { match: false, differences: [{ path: '$.score', production: 0.9, shadow: 0.7 }], differenceCount: 1 }
 */
export function createComparator(options: CompareOptions = {}): DefaultComparator {
  const settings = normalizeCompareOptions(options);
  return (production, shadow) => compareAnswers(production, shadow, settings);
}

function compareAnswers(production: ComparedAnswer, shadow: ComparedAnswer, settings: CompareSettings): DefaultComparisonResult {
  if (settings.ignoresEverything) return { match: true, differences: [], differenceCount: 0 };
  if (production.isJson && shadow.isJson) {
    const walk = new JsonDiff(settings);
    walk.compare(production.json, shadow.json, startStates(settings.ignore));
    return { match: walk.count === 0, differences: walk.differences, differenceCount: walk.count };
  }
  if (production.bytes.equals(shadow.bytes)) return { match: true, differences: [], differenceCount: 0 };
  const differences: Difference[] =
    settings.maxDifferences > 0 ? [{ path: '$', production: describeBytes(production.bytes), shadow: describeBytes(shadow.bytes) }] : [];
  return { match: false, differences, differenceCount: 1 };
}

/** Short texts (an assembled LLM answer, say) are worth reading in the difference itself. */
const MAX_SHOWN_TEXT_BYTES = 1024;

/** A body in a difference: short UTF-8 text as it is; anything else by its size and hash, never its content. */
function describeBytes(bytes: Buffer): string | { bytes: number; sha256: string } {
  if (bytes.length <= MAX_SHOWN_TEXT_BYTES && isUtf8(bytes)) return bytes.toString('utf8');
  return hashOf(bytes);
}

function hashOf(bytes: Buffer): { bytes: number; sha256: string } {
  return { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** One comparison: walks both trees depth first, keeping the current path as a segment stack. */
class JsonDiff {
  readonly differences: Difference[] = [];
  count = 0;
  private readonly path: PathSegment[] = [];

  constructor(private readonly settings: CompareSettings) {}

  /** Compares the values at the current path; `ignore` holds the patterns that can still match below it. */
  compare(production: unknown, shadow: unknown, ignore: PatternStates): void {
    if (production === shadow) return;
    const kind = kindOf(production);
    if (kind !== kindOf(shadow)) {
      this.record(production, shadow, BOTH);
    } else if (kind === 'number') {
      if (!numbersClose(production as number, shadow as number, this.settings.tolerance)) this.record(production, shadow, BOTH);
    } else if (kind === 'array' || kind === 'object') {
      if (this.path.length >= MAX_COMPARE_DEPTH) {
        if (!equalWithoutRecursion(production, shadow, this.settings.tolerance)) this.record(production, shadow, BOTH);
      } else if (kind === 'array') {
        this.compareArrays(production as unknown[], shadow as unknown[], ignore);
      } else {
        this.compareObjects(production as Record<string, unknown>, shadow as Record<string, unknown>, ignore);
      }
    } else {
      // Same kind, not identical: strings or booleans that differ.
      this.record(production, shadow, BOTH);
    }
  }

  private compareArrays(production: unknown[], shadow: unknown[], ignore: PatternStates): void {
    const shared = Math.min(production.length, shadow.length);
    for (let index = 0; index < shared; index++) this.child(index, production[index], shadow[index], BOTH, ignore);
    for (let index = shared; index < production.length; index++) this.child(index, production[index], undefined, PRODUCTION_ONLY, ignore);
    for (let index = shared; index < shadow.length; index++) this.child(index, undefined, shadow[index], SHADOW_ONLY, ignore);
  }

  /** Production's keys in its order, then the keys only the shadow has, in the shadow's order. */
  private compareObjects(production: Record<string, unknown>, shadow: Record<string, unknown>, ignore: PatternStates): void {
    for (const key of Object.keys(production)) {
      if (Object.hasOwn(shadow, key)) this.child(key, production[key], shadow[key], BOTH, ignore);
      else this.child(key, production[key], undefined, PRODUCTION_ONLY, ignore);
    }
    for (const key of Object.keys(shadow)) {
      if (!Object.hasOwn(production, key)) this.child(key, undefined, shadow[key], SHADOW_ONLY, ignore);
    }
  }

  private child(segment: PathSegment, production: unknown, shadow: unknown, presence: Presence, ignore: PatternStates): void {
    const childIgnore = advanceStates(ignore, segment);
    if (isComplete(childIgnore)) return;
    this.path.push(segment);
    if (presence === BOTH) this.compare(production, shadow, childIgnore);
    else this.record(production, shadow, presence);
    this.path.pop();
  }

  /** Counts every difference; lists (and formats the path of) only the first `maxDifferences`. */
  private record(production: unknown, shadow: unknown, presence: Presence): void {
    this.count += 1;
    if (this.differences.length >= this.settings.maxDifferences) return;
    // Past the depth limit a subtree may be arbitrarily deep; a summary keeps the log line serialisable.
    const shown = this.path.length >= MAX_COMPARE_DEPTH ? summarize : identity;
    const difference: Difference = { path: formatPath(this.path) };
    if (presence !== SHADOW_ONLY) difference.production = shown(production);
    if (presence !== PRODUCTION_ONLY) difference.shadow = shown(shadow);
    this.differences.push(difference);
  }
}

function kindOf(value: unknown): ValueKind {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  switch (typeof value) {
    case 'object':
      return 'object';
    case 'number':
      return 'number';
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    default:
      return 'other';
  }
}

/** Either tolerance is enough; both 0 means exact. */
function numbersClose(production: number, shadow: number, tolerance: Tolerance): boolean {
  const delta = Math.abs(production - shadow);
  return delta <= tolerance.absolute || delta <= tolerance.relative * Math.max(Math.abs(production), Math.abs(shadow));
}

/** Deep equality with an explicit stack instead of recursion, for subtrees past `MAX_COMPARE_DEPTH`. */
function equalWithoutRecursion(production: unknown, shadow: unknown, tolerance: Tolerance): boolean {
  const pending: unknown[] = [production, shadow];
  while (pending.length > 0) {
    const right = pending.pop();
    const left = pending.pop();
    if (left === right) continue;
    const kind = kindOf(left);
    if (kind !== kindOf(right)) return false;
    if (kind === 'number') {
      if (!numbersClose(left as number, right as number, tolerance)) return false;
    } else if (kind === 'array') {
      const leftArray = left as unknown[];
      const rightArray = right as unknown[];
      if (leftArray.length !== rightArray.length) return false;
      for (let index = 0; index < leftArray.length; index++) pending.push(leftArray[index], rightArray[index]);
    } else if (kind === 'object') {
      const leftObject = left as Record<string, unknown>;
      const rightObject = right as Record<string, unknown>;
      const keys = Object.keys(leftObject);
      if (keys.length !== Object.keys(rightObject).length) return false;
      for (const key of keys) {
        if (!Object.hasOwn(rightObject, key)) return false;
        pending.push(leftObject[key], rightObject[key]);
      }
    } else {
      return false;
    }
  }
  return true;
}

function identity(value: unknown): unknown {
  return value;
}

/** A container as a short description (`{ type: 'array', length: 3 }`); other values as they are. */
function summarize(value: unknown): unknown {
  if (Array.isArray(value)) return { type: 'array', length: value.length };
  if (typeof value === 'object' && value !== null) return { type: 'object', keys: Object.keys(value).length };
  return value;
}

// ---- option validation (once, at start-up) ----

function normalizeCompareOptions(options: unknown): CompareSettings {
  if (!isRecord(options)) {
    throw new TypeError(`compare must be an options object such as { ignorePaths: ['$.id'] }, got ${show(options)}.`);
  }
  rejectUnknownKeys(options, COMPARE_KEYS, 'compare');
  const patterns = compileIgnorePaths(options.ignorePaths);
  return {
    ignore: patterns.filter((pattern) => pattern.segments.length > 0),
    ignoresEverything: patterns.some((pattern) => pattern.segments.length === 0),
    tolerance: readTolerance(options.numericTolerance),
    maxDifferences: readMaxDifferences(options.maxDifferences),
  };
}

function compileIgnorePaths(value: unknown): PathPattern[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new TypeError(`compare.ignorePaths must be an array of JSON paths such as ['$.id', '$.items[*].ts'], got ${show(value)}.`);
  }
  // compilePathPattern checks non-strings too, so raw user values can be passed as they are.
  return value.map((pattern: unknown, index) => compilePathPattern(pattern as string, `compare.ignorePaths[${index}]`));
}

function readTolerance(value: unknown): Tolerance {
  if (value === undefined) return { absolute: 0, relative: 0 };
  if (!isRecord(value)) {
    throw new TypeError(`compare.numericTolerance must be an object such as { absolute: 0.001, relative: 0.01 }, got ${show(value)}.`);
  }
  rejectUnknownKeys(value, TOLERANCE_KEYS, 'compare.numericTolerance');
  return {
    absolute: readNonNegative(value.absolute, 'compare.numericTolerance.absolute'),
    relative: readNonNegative(value.relative, 'compare.numericTolerance.relative'),
  };
}

function readNonNegative(value: unknown, name: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`${name} must be a finite number >= 0 (0, the default, means exact), got ${show(value)}.`);
  }
  return value;
}

function readMaxDifferences(value: unknown): number {
  if (value === undefined) return DEFAULT_MAX_DIFFERENCES;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`compare.maxDifferences must be a whole number >= 0 (default ${DEFAULT_MAX_DIFFERENCES}), got ${show(value)}.`);
  }
  return value;
}

function rejectUnknownKeys(options: Record<string, unknown>, known: readonly string[], name: string): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const suggestion = closestName(key, known);
    const hint = suggestion === undefined ? `${name} accepts ${known.join(', ')}.` : `Did you mean ${name}.${suggestion}?`;
    throw new TypeError(`Unknown option ${name}.${key}. ${hint}`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  return inspect(value, { depth: 2, breakLength: Infinity, maxArrayLength: 10, maxStringLength: 100 });
}

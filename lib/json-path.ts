/**
 * The small JSON-path dialect of `compare.ignorePaths` and `redact`.
 *
 * A pattern is `$` (the root) followed by any number of `.name`, `['name']` or `["name"]`
 * (members), `[0]` (indices) and `*` as `.*` or `[*]` (any one member or index), for example
 * `$.id`, `$.meta.*`, `$.items[*].ts`, `$['x-request-id']`. There are no filters, slices or `..`,
 * so a pattern compiles once into an array of segments and matching a path is a comparison of
 * segments, never a regex.
 */
import { inspect } from 'node:util';

/** One step of a concrete path: a member name, or an array index. */
export type PathSegment = string | number;

/** Stands for `*` in a compiled pattern: any one member name or index. */
export const WILDCARD: unique symbol = Symbol('*');

export type PatternSegment = PathSegment | typeof WILDCARD;

/** A compiled pattern. Paths are given as segment arrays, `[]` being the root `$`. */
export interface PathPattern {
  /** The pattern as written. */
  readonly source: string;
  readonly segments: readonly PatternSegment[];
  /** True when `path` is one of the paths the pattern names (same length, every segment accepted). */
  matches(path: readonly PathSegment[]): boolean;
  /** True when `path` is, or leads to, a path the pattern names: walking further down may still match. */
  matchesPrefix(path: readonly PathSegment[]): boolean;
  /** True when `path` is named by the pattern or lies under a path it names. */
  covers(path: readonly PathSegment[]): boolean;
}

// Names that can be written after a dot; anything else is written `['name']`.
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const IDENTIFIER_AT = /[A-Za-z_$][A-Za-z0-9_$]*/y;
const DIGITS_AT = /[0-9]+/y;

const ACCEPTED =
  'Accepted: "$" for the root, then .name, [\'name\'] or ["name"] for members, [0] for indices, ' +
  'and .* or [*] for any one member or index, e.g. "$.items[*].ts" or "$[\'x-request-id\']".';

const NO_PATTERNS: readonly PathPattern[] = Object.freeze([]);

/** Writes a concrete path: `$`, `$.a.b`, `$.items[0].ts`, `$['weird key']`. */
export function formatPath(path: readonly PathSegment[]): string {
  let text = '$';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) text += `.${segment}`;
    else text += `['${segment.replace(/[\\']/g, '\\$&')}']`;
  }
  return text;
}

/**
 * Checks a pattern without throwing: `null` when it is valid, otherwise a message naming the
 * pattern, what is wrong and what is accepted. Callers prefix the option name.
 */
export function validatePathPattern(pattern: unknown): string | null {
  const parsed = parseAny(pattern);
  return typeof parsed === 'string' ? parsed : null;
}

/**
 * Parses a pattern once, at option-validation time.
 * Throws a `TypeError` when the syntax is wrong; the message starts with `optionName` when given
 * (`redact[2]: "$..a" is not a valid JSON path: ...`).
 */
export function compilePathPattern(pattern: string, optionName?: string): PathPattern {
  const parsed = parseAny(pattern);
  if (typeof parsed === 'string') throw new TypeError(optionName === undefined ? parsed : `${optionName}: ${parsed}`);
  return createPattern(pattern, parsed);
}

/** Parses a concrete path as written by `formatPath` (no wildcards). Throws a `TypeError` otherwise. */
export function parsePath(path: string): PathSegment[] {
  const parsed = parseAny(path);
  if (typeof parsed === 'string') throw new TypeError(parsed);
  if (parsed.includes(WILDCARD)) throw new TypeError(`${JSON.stringify(path)} names a set of paths; a single path without * was expected.`);
  return parsed as PathSegment[];
}

/**
 * The patterns of `candidates` whose segment at `depth` accepts `segment`, i.e. those still in
 * play once `segment` is appended to a path of length `depth`. Returns `candidates` itself when
 * all are kept, so walking a tree allocates only where patterns drop out.
 */
export function narrowPatterns(
  candidates: readonly PathPattern[],
  depth: number,
  segment: PathSegment,
): readonly PathPattern[] {
  let kept: PathPattern[] | null = null;
  for (let index = 0; index < candidates.length; index++) {
    const pattern = candidates[index]!;
    if (acceptsAt(pattern, depth, segment)) kept?.push(pattern);
    else kept ??= candidates.slice(0, index);
  }
  if (kept === null) return candidates;
  return kept.length === 0 ? NO_PATTERNS : kept;
}

/** True when one of `patterns` ends at `length`: with `narrowPatterns` output, the path of that length is matched. */
export function someEndsAt(patterns: readonly PathPattern[], length: number): boolean {
  for (const pattern of patterns) if (pattern.segments.length === length) return true;
  return false;
}

/**
 * A copy of `value` with every value at a path named by one of `patterns` replaced by `mask`.
 * Never mutates `value`: only the arrays and plain objects along a changed path are copied, the
 * rest is shared with the input, and when nothing matches `value` itself is returned. Only
 * existing members and elements are masked; nothing is added. Non-plain objects (Buffer, Date,
 * class instances) are not walked into.
 */
export function redactPaths(value: unknown, patterns: readonly PathPattern[], mask: unknown = '[REDACTED]'): unknown {
  if (patterns.length === 0) return value;
  if (someEndsAt(patterns, 0)) return mask;
  return redactBelow(value, patterns, 0, mask);
}

function redactBelow(value: unknown, live: readonly PathPattern[], depth: number, mask: unknown): unknown {
  if (Array.isArray(value)) {
    let copy: unknown[] | null = null;
    for (let index = 0; index < value.length; index++) {
      const child: unknown = value[index];
      const replaced = redactChild(child, live, depth, index, mask);
      if (replaced !== child) {
        copy ??= value.slice();
        copy[index] = replaced;
      }
    }
    return copy ?? value;
  }
  if (isPlainObject(value)) {
    let copy: Record<string, unknown> | null = null;
    for (const key of Object.keys(value)) {
      const child = value[key];
      const replaced = redactChild(child, live, depth, key, mask);
      if (replaced !== child) {
        // Spread defines own properties, so a parsed "__proto__" key stays an own data property
        // and the assignment below sets it rather than the prototype.
        copy ??= { ...value };
        copy[key] = replaced;
      }
    }
    return copy ?? value;
  }
  return value;
}

function redactChild(child: unknown, live: readonly PathPattern[], depth: number, segment: PathSegment, mask: unknown): unknown {
  const narrowed = narrowPatterns(live, depth, segment);
  if (narrowed.length === 0) return child;
  if (someEndsAt(narrowed, depth + 1)) return mask;
  return redactBelow(child, narrowed, depth + 1, mask);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function acceptsAt(pattern: PathPattern, depth: number, segment: PathSegment): boolean {
  const expected = pattern.segments[depth];
  return expected === WILDCARD || (expected !== undefined && expected === segment);
}

function createPattern(source: string, segments: readonly PatternSegment[]): PathPattern {
  const frozen = Object.freeze([...segments]);
  const acceptsPrefix = (path: readonly PathSegment[], length: number): boolean => {
    for (let depth = 0; depth < length; depth++) {
      const expected = frozen[depth];
      if (expected !== WILDCARD && expected !== path[depth]) return false;
    }
    return true;
  };
  return Object.freeze({
    source,
    segments: frozen,
    matches: (path: readonly PathSegment[]) => path.length === frozen.length && acceptsPrefix(path, path.length),
    matchesPrefix: (path: readonly PathSegment[]) => path.length <= frozen.length && acceptsPrefix(path, path.length),
    covers: (path: readonly PathSegment[]) => path.length >= frozen.length && acceptsPrefix(path, frozen.length),
  });
}

/** The segments of `pattern`, or an error message; values that are not strings are checked too, for callers holding raw options. */
function parseAny(pattern: unknown): PatternSegment[] | string {
  if (typeof pattern === 'string') return parsePattern(pattern);
  return `expected a JSON path string such as "$.id", got ${inspect(pattern, { depth: 1, breakLength: Infinity })}. ${ACCEPTED}`;
}

/** The segments of `source`, or an error message. */
function parsePattern(source: string): PatternSegment[] | string {
  const fail = (problem: string): string => `${JSON.stringify(source)} is not a valid JSON path: ${problem}. ${ACCEPTED}`;
  const after = (at: number): string => `after ${JSON.stringify(source.slice(0, at))}`;
  if (!source.startsWith('$')) return fail('it must start with "$"');

  const segments: PatternSegment[] = [];
  let at = 1;
  while (at < source.length) {
    const char = source[at];
    if (char === '.') {
      at += 1;
      if (source[at] === '*') {
        segments.push(WILDCARD);
        at += 1;
        continue;
      }
      IDENTIFIER_AT.lastIndex = at;
      const name = IDENTIFIER_AT.exec(source)?.[0];
      if (name === undefined) return fail(`expected a name or * ${after(at)} (write other names as ['name'])`);
      segments.push(name);
      at += name.length;
    } else if (char === '[') {
      const bracket = parseBracket(source, at + 1, after);
      if (typeof bracket === 'string') return fail(bracket);
      segments.push(bracket.segment);
      at = bracket.end;
    } else {
      return fail(`unexpected ${JSON.stringify(char)} ${after(at)} (expected "." or "[")`);
    }
  }
  return segments;
}

/** Parses what follows `[` up to and including `]`: `*`, an index or a quoted name. */
function parseBracket(
  source: string,
  start: number,
  after: (at: number) => string,
): { segment: PatternSegment; end: number } | string {
  const char = source[start];
  let segment: PatternSegment;
  let at: number;
  if (char === '*') {
    segment = WILDCARD;
    at = start + 1;
  } else if (char === "'" || char === '"') {
    const quoted = parseQuoted(source, start + 1, char);
    if (typeof quoted === 'string') return `${quoted} ${after(start)}`;
    segment = quoted.name;
    at = quoted.end;
  } else {
    DIGITS_AT.lastIndex = start;
    const digits = DIGITS_AT.exec(source)?.[0];
    if (digits === undefined) return `expected an index, * or a quoted name ${after(start)}`;
    const index = Number(digits);
    if ((digits.length > 1 && digits.startsWith('0')) || !Number.isSafeInteger(index)) {
      return `index ${digits} ${after(start)} must be a whole number without leading zeros`;
    }
    segment = index;
    at = start + digits.length;
  }
  if (source[at] !== ']') return `expected "]" ${after(at)}`;
  return { segment, end: at + 1 };
}

/** Reads a quoted name from `start` (just past the opening quote) to past the closing one. */
function parseQuoted(source: string, start: number, quote: string): { name: string; end: number } | string {
  let name = '';
  for (let at = start; at < source.length; at++) {
    const char = source[at]!;
    if (char === quote) return { name, end: at + 1 };
    if (char === '\\') {
      const escaped = source[at + 1];
      if (escaped !== '\\' && escaped !== "'" && escaped !== '"') return 'only \\\\, \\\' and \\" may be escaped in a quoted name';
      name += escaped;
      at += 1;
    } else {
      name += char;
    }
  }
  return `unterminated quoted name (missing ${quote})`;
}

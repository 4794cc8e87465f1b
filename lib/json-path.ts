/**
 * The one JSON-path dialect of every option that takes a path: `compare.ignorePaths`, `redact`, the report's
 * `--label-path` and its score path.
 *
 * A pattern is `$` (the root) followed by any number of steps:
 * - `.name` or `['name']` / `["name"]`: a member (`.name` takes letters, digits, `_`, `$` and `-`, not a digit or
 *   `-` first; write other names in brackets);
 * - `[0]`: an array index;
 * - `.*` or `[*]`: any one member or index;
 * - `..name`, `..*`, `..[0]`, `..['name']`: recursive descent, that step at any depth below (or right here).
 *
 * Examples: `$.id`, `$.meta.*`, `$.items[*].ts`, `$.x-request-id`, `$['weird key']`, `$..password`.
 * There are no filters or slices, so a pattern compiles once into steps and matching walks them like a small
 * automaton, never a regex. Options that need one value (a label path) take a single path: no `*`, no `..`.
 *
 * Not jsonpath-plus: v11 needs Node 22, and v10 evaluates a path over a whole document (35 µs to mask 4 paths in a
 * 30-node body against 8 µs here, Node 20, 2 cores), with no path-by-path matching for the comparator's walk and with
 * filter expressions an option should not run per request.
 */
import { inspect } from 'node:util';

/** One step of a concrete path: a member name, or an array index. */
export type PathSegment = string | number;

/** Stands for `*` in a compiled pattern: any one member name or index. */
const WILDCARD: unique symbol = Symbol('*');

type PatternSegment = PathSegment | typeof WILDCARD;

/** One step of a pattern: with `descendant` (`..`), any number of segments may come first. */
interface PatternStep {
  readonly accepts: PatternSegment;
  readonly descendant: boolean;
}

/** A compiled pattern. Paths are given as segment arrays, `[]` being the root `$`. */
export interface PathPattern {
  /** The pattern as written. */
  readonly source: string;
  /** What each step accepts, in order (whether it is a `..` step is on `steps`). */
  readonly segments: readonly PatternSegment[];
  readonly steps: readonly PatternStep[];
  /**
   * Redaction masks only scalars at the paths this pattern names, and walks on into objects and arrays there.
   * Default rules use it, so `$..token` masks `{ "token": "abc" }` but not a streamed `{ "token": { "text": "Hi" } }`.
   */
  readonly scalarsOnly: boolean;
  /** True when `path` is one of the paths the pattern names. */
  matches(path: readonly PathSegment[]): boolean;
  /** True when `path` is, or leads to, a path the pattern names: walking further down may still match. */
  matchesPrefix(path: readonly PathSegment[]): boolean;
  /** True when `path` is named by the pattern or lies under a path it names. */
  covers(path: readonly PathSegment[]): boolean;
}

/** Where the walk of one pattern stands: `step` is the index of the next step to satisfy. */
interface PatternState {
  readonly pattern: PathPattern;
  readonly step: number;
}

/** The states of a walk: every pattern position still in play at the current path. */
export type PatternStates = readonly PatternState[];

/** What a redaction walk does: the mask, and a rewrite of every scalar it keeps. */
interface RedactOptions {
  /** What a masked value becomes. Default `"[REDACTED]"`. */
  mask?: unknown;
  /** Applied to every string and number that is not masked (value masking: card numbers, emails, JWTs). */
  mapScalar?: (value: string | number) => unknown;
}

/**
 * Objects and arrays nested this deep are not walked by redaction: while a pattern is still in play there, the
 * whole subtree is masked. Fails closed, and bounds the stack on hostile input.
 */
export const MAX_REDACT_DEPTH = 256;

// Names that formatPath writes after a dot; anything else is written `['name']`. The parser also takes `-`.
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const NAME_AT = /[A-Za-z_$][A-Za-z0-9_$-]*/y;
const DIGITS_AT = /[0-9]+/y;

const ACCEPTED =
  'Accepted: "$" for the root, then .name, [\'name\'] or ["name"] for members, [0] for indices, .* or [*] for any ' +
  'one member or index, and ..name for a name at any depth, e.g. "$.items[*].ts", "$.x-request-id" or "$..password".';

const NO_STATES: PatternStates = Object.freeze([]);
const COVERED: PatternStates = Object.freeze([]);
const CONTAINER: object = Object.freeze({});

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
 * (`redact[2]: "$.a[" is not a valid JSON path: ...`).
 */
export function compilePathPattern(pattern: string, optionName?: string, options: { scalarsOnly?: boolean } = {}): PathPattern {
  const parsed = parseAny(pattern);
  if (typeof parsed === 'string') throw new TypeError(optionName === undefined ? parsed : `${optionName}: ${parsed}`);
  return createPattern(pattern, parsed, options.scalarsOnly ?? false);
}

/** Parses a single path (no `*`, no `..`), such as `formatPath` writes. Throws a `TypeError` otherwise. */
export function parsePath(path: string): PathSegment[] {
  const parsed = parseAny(path);
  if (typeof parsed === 'string') throw new TypeError(parsed);
  if (parsed.some((step) => step.accepts === WILDCARD || step.descendant)) {
    throw new TypeError(`${JSON.stringify(path)} names a set of paths; a single path without * or .. was expected, e.g. "$.predictions[0].label".`);
  }
  return parsed.map((step) => step.accepts as PathSegment);
}

/** The states of a walk standing at the root. */
export function startStates(patterns: readonly PathPattern[]): PatternStates {
  if (patterns.length === 0) return NO_STATES;
  return patterns.map((pattern) => ({ pattern, step: 0 }));
}

/**
 * The states once `segment` is appended to the current path; a shared empty array when none is left. When nothing
 * changes (a `..` pattern still waiting for its name, the usual case deep in a body) `states` itself is returned,
 * so walking a document allocates only where a pattern moves.
 */
export function advanceStates(states: PatternStates, segment: PathSegment): PatternStates {
  if (states.length === 0) return NO_STATES;
  let next: PatternState[] | null = null;
  for (let index = 0; index < states.length; index++) {
    const state = states[index]!;
    const step = state.pattern.steps[state.step];
    const accepted = step !== undefined && (step.accepts === WILDCARD || step.accepts === segment);
    const stays = step !== undefined && step.descendant;
    if (stays && !accepted) {
      if (next) addState(next, state);
      continue;
    }
    next ??= states.slice(0, index);
    if (stays) addState(next, state);
    if (accepted) addState(next, { pattern: state.pattern, step: state.step + 1 });
  }
  if (next === null) return states;
  return next.length === 0 ? NO_STATES : next;
}

/** True when one of the patterns names the current path. */
export function isComplete(states: PatternStates): boolean {
  for (const state of states) if (state.step === state.pattern.steps.length) return true;
  return false;
}

/**
 * A copy of `value` with every value at a path named by one of `patterns` replaced by `mask`.
 * Never mutates `value`: only the arrays and plain objects along a changed path are copied, the
 * rest is shared with the input, and when nothing changes `value` itself is returned. Only
 * existing members and elements are masked; nothing is added. Non-plain objects (Buffer, Date,
 * class instances) are not walked into. Past `MAX_REDACT_DEPTH` a subtree still in play is masked whole.
 */
export function redactPaths(value: unknown, patterns: readonly PathPattern[], mask: unknown = '[REDACTED]'): unknown {
  return redactJson(value, patterns, { mask });
}

/** `redactPaths` with options: the mask, and a rewrite of every scalar kept. */
export function redactJson(value: unknown, patterns: readonly PathPattern[], options: RedactOptions = {}): unknown {
  return redactAt(value, [], patterns, options);
}

/**
 * Redacts `value`, which sits at `at` in a document, with patterns written for the whole document: what a
 * comparison difference at `$.user` needs so that `$..password` still masks `user.password` inside it.
 */
export function redactAt(value: unknown, at: readonly PathSegment[], patterns: readonly PathPattern[], options: RedactOptions = {}): unknown {
  if (patterns.length === 0 && !options.mapScalar) return value;
  const split = splitPatterns(patterns);
  const walk: Walk = { mask: options.mask ?? '[REDACTED]', mapScalar: options.mapScalar, anyDepth: split.anyDepth };
  let states = startStates(split.general);
  if (at.length === 0 && masks(states, value)) return walk.mask;
  for (let index = 0; index < at.length; index++) {
    const segment = at[index]!;
    // A pattern that named a parent masks this value too, unless it spares containers (the parent was one).
    const here = index === at.length - 1 ? value : CONTAINER;
    states = advanceStates(states, segment);
    if (masks(states, here) || masksByName(walk, segment, here)) return walk.mask;
  }
  return redactBelow(value, states, 0, walk);
}

interface Walk {
  mask: unknown;
  mapScalar: ((value: string | number) => unknown) | undefined;
  /** `$..name` patterns by name (the defaults): one map lookup per member instead of a state each. */
  anyDepth: ReadonlyMap<string, { scalarsOnly: boolean }> | undefined;
}

interface SplitPatterns {
  anyDepth: ReadonlyMap<string, { scalarsOnly: boolean }> | undefined;
  general: readonly PathPattern[];
}

const splitCache = new WeakMap<readonly PathPattern[], SplitPatterns>();

/** `$..name` patterns apart from the rest; cached per array, as options hold one array for the middleware's life. */
function splitPatterns(patterns: readonly PathPattern[]): SplitPatterns {
  const cached = splitCache.get(patterns);
  if (cached) return cached;
  const anyDepth = new Map<string, { scalarsOnly: boolean }>();
  const general: PathPattern[] = [];
  for (const pattern of patterns) {
    const [only, ...more] = pattern.steps;
    if (only && more.length === 0 && only.descendant && typeof only.accepts === 'string') {
      // Two patterns for one name: the one that also masks containers wins.
      const scalarsOnly = pattern.scalarsOnly && (anyDepth.get(only.accepts)?.scalarsOnly ?? true);
      anyDepth.set(only.accepts, { scalarsOnly });
    } else {
      general.push(pattern);
    }
  }
  const split = { anyDepth: anyDepth.size > 0 ? anyDepth : undefined, general };
  splitCache.set(patterns, split);
  return split;
}

function masksByName(walk: Walk, segment: PathSegment, value: unknown): boolean {
  if (walk.anyDepth === undefined || typeof segment !== 'string') return false;
  const named = walk.anyDepth.get(segment);
  return named !== undefined && (!named.scalarsOnly || !isContainer(value));
}

/** Adds a state unless the same pattern already stands at the same step (two `..` paths can meet). */
function addState(states: PatternState[], state: PatternState): void {
  for (const kept of states) if (kept.pattern === state.pattern && kept.step === state.step) return;
  states.push(state);
}

/** True when a pattern that names the current path masks `value` there (scalars-only patterns spare containers). */
function masks(states: PatternStates, value: unknown): boolean {
  for (const state of states) {
    if (state.step !== state.pattern.steps.length) continue;
    if (!state.pattern.scalarsOnly || !isContainer(value)) return true;
  }
  return false;
}

function redactBelow(value: unknown, live: PatternStates, depth: number, walk: Walk): unknown {
  if (typeof value === 'string' || typeof value === 'number') return walk.mapScalar ? walk.mapScalar(value) : value;
  if (!isContainer(value) || (live.length === 0 && !walk.mapScalar && !walk.anyDepth)) return value;
  if (depth >= MAX_REDACT_DEPTH) return walk.mask;
  if (Array.isArray(value)) {
    let copy: unknown[] | null = null;
    for (let index = 0; index < value.length; index++) {
      const child: unknown = value[index];
      const replaced = redactChild(child, live, depth, index, walk);
      if (replaced !== child) {
        copy ??= value.slice();
        copy[index] = replaced;
      }
    }
    return copy ?? value;
  }
  let copy: Record<string, unknown> | null = null;
  for (const key of Object.keys(value)) {
    const child = value[key];
    const replaced = redactChild(child, live, depth, key, walk);
    if (replaced !== child) {
      // Spread defines own properties, so a parsed "__proto__" key stays an own data property
      // and the assignment below sets it rather than the prototype.
      copy ??= { ...value };
      copy[key] = replaced;
    }
  }
  return copy ?? value;
}

function redactChild(child: unknown, live: PatternStates, depth: number, segment: PathSegment, walk: Walk): unknown {
  if (masksByName(walk, segment, child)) return walk.mask;
  const narrowed = advanceStates(live, segment);
  if (masks(narrowed, child)) return walk.mask;
  return redactBelow(child, narrowed, depth + 1, walk);
}

function isContainer(value: unknown): value is Record<string, unknown> | unknown[] {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return true;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function createPattern(source: string, parsed: readonly PatternStep[], scalarsOnly: boolean): PathPattern {
  const steps = Object.freeze(parsed.map((step) => Object.freeze({ ...step })));
  const pattern: PathPattern = Object.freeze({
    source,
    segments: Object.freeze(steps.map((step) => step.accepts)),
    steps,
    scalarsOnly,
    matches: (path: readonly PathSegment[]) => isComplete(walkPath(pattern, path, false)),
    matchesPrefix: (path: readonly PathSegment[]) => walkPath(pattern, path, false).length > 0,
    covers: (path: readonly PathSegment[]) => walkPath(pattern, path, true) === COVERED,
  });
  return pattern;
}

/** The states after `path`; with `stopWhenNamed`, `COVERED` as soon as the path or a prefix of it is named. */
function walkPath(pattern: PathPattern, path: readonly PathSegment[], stopWhenNamed: boolean): PatternStates {
  let states = startStates([pattern]);
  for (const segment of path) {
    if (stopWhenNamed && isComplete(states)) return COVERED;
    states = advanceStates(states, segment);
  }
  if (stopWhenNamed && isComplete(states)) return COVERED;
  return states;
}

/** The steps of `pattern`, or an error message; values that are not strings are checked too, for callers holding raw options. */
function parseAny(pattern: unknown): PatternStep[] | string {
  if (typeof pattern === 'string') return parsePattern(pattern);
  return `expected a JSON path string such as "$.id", got ${inspect(pattern, { depth: 1, breakLength: Infinity })}. ${ACCEPTED}`;
}

/** The steps of `source`, or an error message. */
function parsePattern(source: string): PatternStep[] | string {
  const fail = (problem: string): string => `${JSON.stringify(source)} is not a valid JSON path: ${problem}. ${ACCEPTED}`;
  const after = (at: number): string => `after ${JSON.stringify(source.slice(0, at))}`;
  if (!source.startsWith('$')) return fail('it must start with "$"');

  const steps: PatternStep[] = [];
  let at = 1;
  while (at < source.length) {
    const char = source[at];
    const descendant = char === '.' && source[at + 1] === '.';
    if (char === '[' || (descendant && source[at + 2] === '[')) {
      // `[...]`, and `..[0]` / `..['name']` with the bracket right after the two dots.
      const open = descendant ? at + 2 : at;
      const bracket = parseBracket(source, open + 1, after);
      if (typeof bracket === 'string') return fail(bracket);
      steps.push({ accepts: bracket.segment, descendant });
      at = bracket.end;
      continue;
    }
    if (char !== '.') return fail(`unexpected ${JSON.stringify(char)} ${after(at)} (expected "." or "[")`);
    at += descendant ? 2 : 1;
    if (source[at] === '*') {
      steps.push({ accepts: WILDCARD, descendant });
      at += 1;
      continue;
    }
    NAME_AT.lastIndex = at;
    const name = NAME_AT.exec(source)?.[0];
    if (name === undefined) return fail(`expected a name or * ${after(at)} (write other names as ['name'])`);
    steps.push({ accepts: name, descendant });
    at += name.length;
  }
  return steps;
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

/**
 * Label (and score) paths of the report: one value per body, so a single path in the shared dialect of
 * `lib/json-path.ts` (`$.label`, `$.predictions[0].class`, `$.x-label`, `$['weird key']`; no `*` or `..`).
 * Compiled once; evaluation is a walk over the steps.
 */
import { parsePath, type PathSegment } from '../json-path.js';

export type PathStep = PathSegment;

/** Parses `$.a.b[0]`; throws a `TypeError` saying what is wrong and what is accepted. */
export function compileLabelPath(path: string): PathStep[] {
  if (typeof path !== 'string' || !path.startsWith('$')) {
    throw new TypeError(`Label path must start with "$", like "$.label" or "$.predictions[0].class"; got ${JSON.stringify(path)}.`);
  }
  try {
    return parsePath(path);
  } catch (error) {
    throw new TypeError(`Label path ${(error as Error).message}`);
  }
}

/** The compiled label and score paths: the parts of response bodies the reader keeps. */
export function bodyPathsOf(options: { labelPath?: string | undefined; scorePath?: string | undefined }): PathStep[][] {
  return [options.labelPath, options.scorePath].filter((p): p is string => p !== undefined).map(compileLabelPath);
}

/** The value at `steps` in `value`, or `undefined` when the path does not exist. */
export function evaluatePath(value: unknown, steps: readonly PathStep[]): unknown {
  let current = value;
  for (const step of steps) {
    if (typeof step === 'number') {
      if (!Array.isArray(current)) return undefined;
      current = current[step];
    } else {
      if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
      if (!Object.prototype.hasOwnProperty.call(current, step)) return undefined;
      current = (current as Record<string, unknown>)[step];
    }
  }
  return current;
}

/** Nesting kept by {@link boundedJson}; deeper values are cut, so a hostile 100k-deep label cannot overflow the stack. */
const MAX_DEPTH = 32;
/** Characters kept by {@link boundedJson}. */
const MAX_LENGTH = 200;

/** JSON text of `value`, cut at depth 32 and 200 characters (iterative over the depth bound: never recursion deeper than 32). */
export function boundedJson(value: unknown): string {
  const out: string[] = [];
  let length = 0;
  const push = (text: string): boolean => {
    out.push(text);
    length += text.length;
    return length < MAX_LENGTH;
  };
  const walk = (v: unknown, depth: number): boolean => {
    if (v === null || typeof v !== 'object') {
      const text = JSON.stringify(v);
      return push(text === undefined ? 'null' : text);
    }
    if (depth >= MAX_DEPTH) return push('…');
    const array = Array.isArray(v);
    if (!push(array ? '[' : '{')) return false;
    let first = true;
    for (const [key, item] of array ? v.map((x, i) => [String(i), x] as const) : Object.entries(v)) {
      if (!first && !push(',')) return false;
      first = false;
      if (!array && !push(`${JSON.stringify(key)}:`)) return false;
      if (!walk(item, depth + 1)) return false;
    }
    return push(array ? ']' : '}');
  };
  walk(value, 0);
  const text = out.join('');
  return text.length > MAX_LENGTH ? `${text.slice(0, MAX_LENGTH)}…` : text;
}

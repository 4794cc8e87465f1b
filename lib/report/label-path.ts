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

/**
 * Checks of plain option values, shared by every part that takes options (the middleware, replay, compare,
 * judging): each throws a `ShadowOptionsError` naming the option, with a "did you mean" for a misspelt key. A leaf:
 * it knows nothing of what the options turn into (engine/config.ts compiles them, once).
 */
import { closestName } from './did-you-mean.js';
import { ShadowOptionsError, showValue } from './errors.js';
import { compilePathPattern, type PathPattern } from './json-path.js';

export function validateSampleRate(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new ShadowOptionsError(option, `must be a number from 0 to 1 (the fraction of requests mirrored), got ${showValue(value)}`);
  }
  return value;
}

export function positiveInteger(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ShadowOptionsError(option, `must be a positive integer, got ${showValue(value)}`);
  }
  return value;
}

export function nonNegativeInteger(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new ShadowOptionsError(option, `must be an integer of 0 or more, got ${showValue(value)}`);
  }
  return value;
}

export function optionalString(options: Record<string, unknown>, key: string): string | undefined {
  const value = options[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw new ShadowOptionsError(key, `must be a non-empty string, got ${showValue(value)}`);
  return value;
}

export function optionalBoolean(options: Record<string, unknown>, key: string): boolean | undefined {
  const value = options[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw new ShadowOptionsError(key, `must be true or false, got ${showValue(value)}`);
  return value;
}

export function optionalFunction<F>(options: Record<string, unknown>, key: string, prefix = ''): F | undefined {
  const value = options[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new ShadowOptionsError(prefix + key, `must be a function, got ${showValue(value)}`);
  return value as F;
}

export function stringList(options: Record<string, unknown>, key: string, prefix = ''): string[] {
  const value = options[key];
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item.length === 0)) {
    throw new ShadowOptionsError(prefix + key, `must be an array of non-empty strings, got ${showValue(value)}`);
  }
  return [...(value as string[])];
}

/**
 * Throws on the first key of `options` not in `known`. `prefix` is where the object sits (`''` for the top level,
 * `'compare.'` inside `compare`), so the error names the whole path and suggests the closest known key.
 */
export function rejectUnknownKeys(options: Record<string, unknown>, known: readonly string[], prefix: string): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const suggestion = closestName(key, known);
    const hint = suggestion ? `Did you mean \`${prefix}${suggestion}\`?` : prefix ? `${prefix.slice(0, -1)} accepts ${known.join(', ')}.` : `Known options: ${known.join(', ')}`;
    throw new ShadowOptionsError(prefix + key, `${prefix ? 'is not an option here' : 'is not an option of express-shadow'}. ${hint}`);
  }
}

/** A JSON path given as an option, compiled; a bad one throws naming the option. */
export function compileOptionPath(option: string, pattern: unknown, scalarsOnly = false): PathPattern {
  try {
    // compilePathPattern checks non-strings too, so raw user values can be passed as they are.
    return compilePathPattern(pattern as string, undefined, { scalarsOnly });
  } catch (error) {
    throw new ShadowOptionsError(option, `is not a valid JSON path: ${(error as Error).message}`);
  }
}

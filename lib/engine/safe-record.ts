/**
 * Every record must be writable, and no bigger than the log allows. `JSON.stringify` throws a RangeError on
 * structures nested a few thousand levels deep (a hostile JSON body), and a record that cannot be serialised would
 * be lost: values nested deeper than the limit are replaced by a marker. Then the parts of a record that nothing
 * else bounds are cut, with the cut stated in the record:
 * - a comparison's `differences` (values of whole subtrees, or whatever a custom comparator returns): their values
 *   together stay within `maxLoggedBodyBytes`, the list within that or 4 KiB, whichever is more; a value past it is
 *   replaced by `"[too large to log: N bytes]"`, differences past it are left out, and `differencesTruncated` is set;
 * - messages (`error`, `detail`, `reason`, which may quote a hook's error): 1,024 characters, then `… [N more]`.
 * Bodies are cut where they are made (logged-body.ts); headers and paths are bounded by the HTTP server's header
 * limit. A record within its bounds is left as it is, without a copy.
 */
import type { ComparisonRecord, Difference } from '../types.js';

/** Nesting levels of one record kept as they are; JSON bodies rarely pass 20. */
const MAX_LOGGED_DEPTH = 64;
const DEPTH_MARKER = '[nested too deep to log]';
/** Characters of a message (an error, a skip detail, a breaker reason) kept. */
const MAX_MESSAGE_CHARS = 1024;
/** The list of differences may always take this much for paths, even when `maxLoggedBodyBytes` is smaller. */
const MIN_DIFFERENCES_BYTES = 4096;

export function safeRecord<T>(record: T, maxLoggedBodyBytes?: number): T {
  const shallow = withinDepth(record, MAX_LOGGED_DEPTH) ? record : (cutDeeper(record, MAX_LOGGED_DEPTH) as T);
  return maxLoggedBodyBytes === undefined ? shallow : withinSize(shallow, maxLoggedBodyBytes);
}

/** The record with its differences and messages cut to size (a copy, only when something had to be cut). */
function withinSize<T>(record: T, maxLoggedBodyBytes: number): T {
  if (record === null || typeof record !== 'object') return record;
  const fields = record as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  // No array or closure per record: this runs on every record, on the engine's budget.
  for (let i = 0; i < MESSAGE_FIELDS.length; i++) {
    const key = MESSAGE_FIELDS[i]!;
    const cut = cutMessageField(fields[key]);
    if (cut !== undefined) (copy ??= { ...fields })[key] = cut;
  }
  if (fields.type === 'comparison' && Array.isArray(fields.differences) && fields.differences.length > 0) {
    const capped = capDifferences(fields.differences as Difference[], maxLoggedBodyBytes);
    if (capped.cut) {
      const kept = new Set(capped.differences.map((difference) => difference.path));
      copy ??= { ...fields };
      copy.differences = capped.differences;
      copy.differencesTruncated = true;
      if (Array.isArray(fields.noise)) copy.noise = (fields.noise as ComparisonRecord['noise'])!.filter((path) => kept.has(path));
    }
  }
  return (copy ?? record) as T;
}

/** Fields that may quote a hook's error, cut past `MAX_MESSAGE_CHARS`. */
const MESSAGE_FIELDS = ['detail', 'reason', 'error'] as const;

/** The field's value cut to size, or undefined when it is within the bound (or not a message). */
function cutMessageField(value: unknown): unknown {
  if (typeof value === 'string') return value.length > MAX_MESSAGE_CHARS ? cutMessage(value) : undefined;
  if (isMessageObject(value) && value.message.length > MAX_MESSAGE_CHARS) return { ...value, message: cutMessage(value.message) };
  return undefined;
}

/**
 * Differences within the budgets, in order: whole while their values fit in `maxLoggedBodyBytes`, with their values
 * replaced by their size past it, and left out once even that does not fit the list's budget.
 */
function capDifferences(differences: Difference[], maxLoggedBodyBytes: number): { differences: Difference[]; cut: boolean } {
  const listBudget = Math.max(maxLoggedBodyBytes, MIN_DIFFERENCES_BYTES);
  // The usual case, in one serialisation: the whole list fits both budgets (its values are part of it).
  if (jsonBytes(differences) <= Math.min(listBudget, maxLoggedBodyBytes)) return { differences, cut: false };
  const kept: Difference[] = [];
  let listBytes = 2;
  let valueBytes = 0;
  let cut = false;
  for (const difference of differences) {
    const whole = jsonBytes(difference);
    const bare = { path: String(difference.path) };
    const values = whole - jsonBytes(bare);
    if (valueBytes + values <= maxLoggedBodyBytes && listBytes + whole + 1 <= listBudget) {
      kept.push(difference);
      listBytes += whole + 1;
      valueBytes += values;
      continue;
    }
    cut = true;
    const marked: Difference = {
      ...bare,
      ...('production' in difference ? { production: tooLarge(difference.production) } : {}),
      ...('shadow' in difference ? { shadow: tooLarge(difference.shadow) } : {}),
    };
    const size = jsonBytes(marked);
    if (listBytes + size + 1 > listBudget) break;
    kept.push(marked);
    listBytes += size + 1;
  }
  return { differences: kept, cut: cut || kept.length < differences.length };
}

function tooLarge(value: unknown): string {
  return `[too large to log: ${jsonBytes(value)} bytes]`;
}

function jsonBytes(value: unknown): number {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? 0 : Buffer.byteLength(text);
  } catch {
    return 0;
  }
}

function cutMessage(message: string): string {
  return `${message.slice(0, MAX_MESSAGE_CHARS)}… [${message.length - MAX_MESSAGE_CHARS} more characters]`;
}

function isMessageObject(value: unknown): value is { message: string } {
  return typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string';
}

/**
 * Whether `value` nests no deeper than `depth` levels. Recursion stops at `depth`, so a 100,000-deep value cannot
 * overflow the stack; no arrays are made on the way (this runs on every record, on the engine's budget).
 */
function withinDepth(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (depth <= 0) return false;
  if (Array.isArray(value)) {
    for (const item of value) if (item !== null && typeof item === 'object' && !withinDepth(item, depth - 1)) return false;
    return true;
  }
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key];
    if (item !== null && typeof item === 'object' && !withinDepth(item, depth - 1)) return false;
  }
  return true;
}

function cutDeeper(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth <= 0) return DEPTH_MARKER;
  if (Array.isArray(value)) return value.map((item) => cutDeeper(item, depth - 1));
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) copy[key] = cutDeeper(item, depth - 1);
  return copy;
}

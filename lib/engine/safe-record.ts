/**
 * Every record must be writable: `JSON.stringify` throws a RangeError on structures nested a few thousand levels
 * deep (a hostile JSON body), and a record that cannot be serialised would be lost. Values nested deeper than
 * the limit are replaced by a marker; everything else is left as it is, without a copy.
 */

/** Nesting levels of one record kept as they are; JSON bodies rarely pass 20. */
export const MAX_LOGGED_DEPTH = 64;
export const DEPTH_MARKER = '[nested too deep to log]';

export function safeRecord<T>(record: T): T {
  return withinDepth(record, MAX_LOGGED_DEPTH) ? record : (cutDeeper(record, MAX_LOGGED_DEPTH) as T);
}

/** Whether `value` nests no deeper than `depth` levels. Iterative, so a 100,000-deep value cannot overflow the stack. */
function withinDepth(value: unknown, depth: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [current, level] = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (level >= depth) return false;
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (child !== null && typeof child === 'object') stack.push([child, level + 1]);
    }
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

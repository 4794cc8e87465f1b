/**
 * Makes strings from the logs safe for a terminal: C0/C1 control characters (ESC included, so no ANSI sequence gets
 * through), DEL, and bidirectional overrides become visible escapes such as `\x1b` or `\u202e`.
 */

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function escapeControlString(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** A copy of `value` with every string (keys included) escaped. The report is plain JSON, so a walk covers it. */
export function escapeControls<T>(value: T): T {
  if (typeof value === 'string') return escapeControlString(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => escapeControls(v)) as T;
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [escapeControlString(k), escapeControls(v)])) as T;
  }
  return value;
}

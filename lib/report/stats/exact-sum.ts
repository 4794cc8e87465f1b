/**
 * Sums of floating-point numbers that do not depend on the order they are added in, so a sum built in parts (one per
 * thread) and merged is the sum one pass gives, to the last bit: the exact sum is kept as non-overlapping partials
 * (Shewchuk's algorithm, as Python's `math.fsum`) and rounded once, when read.
 */

/** Adds `x` to the partials `p` (in place): afterwards they sum exactly to their old sum plus `x`. */
export function addExact(p: number[], x: number): void {
  let i = 0;
  for (let y of p) {
    if (Math.abs(x) < Math.abs(y)) [x, y] = [y, x];
    const hi = x + y;
    const lo = y - (hi - x);
    if (lo !== 0) p[i++] = lo;
    x = hi;
  }
  p.length = i;
  p.push(x);
}

/** The exact sum of the partials, correctly rounded. */
export function exactValue(p: readonly number[]): number {
  let n = p.length;
  if (n === 0) return 0;
  let hi = p[--n] as number;
  let lo = 0;
  while (n > 0) {
    const x = hi;
    const y = p[--n] as number;
    hi = x + y;
    lo = y - (hi - x);
    if (lo !== 0) break;
  }
  // Round half-even across the rest, as fsum does.
  if (n > 0 && ((lo < 0 && (p[n - 1] as number) < 0) || (lo > 0 && (p[n - 1] as number) > 0))) {
    const y = lo * 2;
    const x = hi + y;
    if (y === x - hi) hi = x;
  }
  return hi;
}

/**
 * Population stability index of `actual` against `expected`: Σ (a − e) · ln(a / e) over bins cut at the deciles of
 * `expected`. Usual reading: below 0.1 no shift, 0.1–0.25 a moderate shift, above 0.25 a significant one.
 */

/** Proportions below this are raised to it so an empty bin gives a large, finite term. */
const FLOOR = 1e-4;

export function populationStabilityIndex(expected: readonly number[], actual: readonly number[], bins = 10): number {
  if (expected.length === 0 || actual.length === 0) return 0;
  const sorted = [...expected].sort((x, y) => x - y);
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    const edge = sorted[Math.min(sorted.length - 1, Math.floor((k * sorted.length) / bins))] as number;
    if (edges.length === 0 || edge > (edges[edges.length - 1] as number)) edges.push(edge);
  }
  const share = (values: readonly number[]): number[] => {
    const counts = new Array<number>(edges.length + 1).fill(0);
    for (const v of values) {
      let lo = 0;
      let hi = edges.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (v < (edges[mid] as number)) hi = mid;
        else lo = mid + 1;
      }
      counts[lo]! += 1;
    }
    return counts.map((c) => Math.max(FLOOR, c / values.length));
  };
  const e = share(expected);
  const a = share(actual);
  let psi = 0;
  for (let k = 0; k < e.length; k++) psi += ((a[k] as number) - (e[k] as number)) * Math.log((a[k] as number) / (e[k] as number));
  return psi;
}

/**
 * Percentile-bootstrap interval of the shift of a quantile (second − first), seeded so it is the same on every run.
 * Each resample draws n indices into the sorted sample and walks their counts to the wanted rank: O(n) per resample.
 */
export interface ShiftInterval {
  /** Point estimate: quantile of `second` minus quantile of `first` (nearest rank). */
  shift: number;
  low: number;
  high: number;
}

/** Nearest-rank quantile of an ascending array. */
export function sortedQuantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/**
 * One resample's draws: n indices into `counts` (zeroed first), drawn by mulberry32 from `state`; returns the state
 * after them. The generator of stats/random.ts written out here, not called through its closure: the same numbers
 * (test/statistics.test.ts checks), in half the time (the bootstrap is most of the verdict's time on a big report).
 */
function drawCounts(state: number, n: number, counts: Uint32Array): number {
  counts.fill(0);
  for (let k = 0; k < n; k++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    counts[Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n)]! += 1;
  }
  return state;
}

/** Where each rank of `ranks` (ascending, 1-based) falls in the resample whose draws are `counts`: into `out` from `at`. */
function atRanks(n: number, ranks: readonly number[], counts: Uint32Array, out: Uint32Array, at: number): void {
  let seen = 0;
  let next = 0;
  for (let i = 0; i < n && next < ranks.length; i++) {
    seen += counts[i] as number;
    while (next < ranks.length && seen >= (ranks[next] as number)) out[at + next++] = i;
  }
  while (next < ranks.length) out[at + next++] = n - 1;
}

const rankOf = (q: number, n: number): number => Math.max(1, Math.ceil(q * n));

/** Resamples per interval unless told otherwise. */
export const RESAMPLES = 400;

/**
 * Which value of each sorted sample every resample reads at each quantile: resample r's at quantile k is
 * `first[a[r * quantiles.length + k]]` (and `second[b[…]]`). They depend on the samples' sizes and the seed only, not
 * on their values, so they can be drawn before the samples are known (`BootstrapDraws`).
 */
export interface ResampleDraws {
  a: Uint32Array;
  b: Uint32Array;
}

/** The draws of `resamples` resamples of samples of `nA` and `nB` values (each resample draws the second's first). */
export function drawResamples(nA: number, nB: number, quantiles: readonly number[], seed: number, resamples: number): ResampleDraws {
  let state = seed >>> 0;
  const q = quantiles.length;
  const countsA = new Uint32Array(nA);
  const countsB = new Uint32Array(nB);
  const ranksA = quantiles.map((x) => rankOf(x, nA));
  const ranksB = quantiles.map((x) => rankOf(x, nB));
  const a = new Uint32Array(resamples * q);
  const b = new Uint32Array(resamples * q);
  for (let r = 0; r < resamples; r++) {
    state = drawCounts(state, nB, countsB);
    atRanks(nB, ranksB, countsB, b, r * q);
    state = drawCounts(state, nA, countsA);
    atRanks(nA, ranksA, countsA, a, r * q);
  }
  return { a, b };
}

/**
 * Resamples drawn ahead, by sizes, quantiles, seed and count: a report drawn with a core free while it waits hands them
 * to the bootstrap, which takes each once (drawn when it was not), so the intervals are the same either way.
 */
export class BootstrapDraws {
  readonly #drawn = new Map<string, ResampleDraws>();

  static #key(nA: number, nB: number, quantiles: readonly number[], seed: number, resamples: number): string {
    return `${nA} ${nB} ${seed} ${resamples} ${quantiles.join(' ')}`;
  }

  /** Draws the resamples of these sizes and seed now, unless drawn already. */
  draw(nA: number, nB: number, quantiles: readonly number[], seed: number, resamples: number): void {
    const key = BootstrapDraws.#key(nA, nB, quantiles, seed, resamples);
    if (!this.#drawn.has(key)) this.#drawn.set(key, drawResamples(nA, nB, quantiles, seed, resamples));
  }

  /** The resamples of these sizes and seed: those drawn ahead (then forgotten), else drawn now. */
  take(nA: number, nB: number, quantiles: readonly number[], seed: number, resamples: number): ResampleDraws {
    const key = BootstrapDraws.#key(nA, nB, quantiles, seed, resamples);
    const drawn = this.#drawn.get(key);
    if (drawn === undefined) return drawResamples(nA, nB, quantiles, seed, resamples);
    this.#drawn.delete(key);
    return drawn;
  }
}

/**
 * 95% intervals of quantile(second, q) − quantile(first, q) for each q of `quantiles` (ascending), from the same
 * resamples; `null` when a sample is empty. `draws`: resamples drawn ahead.
 */
export function bootstrapQuantileShifts(
  first: readonly number[],
  second: readonly number[],
  quantiles: readonly number[],
  options: { resamples?: number; seed?: number; draws?: BootstrapDraws } = {},
): ShiftInterval[] | null {
  if (first.length === 0 || second.length === 0) return null;
  const a = [...first].sort((x, y) => x - y);
  const b = [...second].sort((x, y) => x - y);
  const seed = options.seed ?? 1;
  const resamples = options.resamples ?? RESAMPLES;
  const q = quantiles.length;
  const drawn = options.draws?.take(a.length, b.length, quantiles, seed, resamples) ?? drawResamples(a.length, b.length, quantiles, seed, resamples);
  const shifts = quantiles.map(() => new Float64Array(resamples));
  for (let r = 0; r < resamples; r++) {
    for (let k = 0; k < q; k++) shifts[k]![r] = (b[drawn.b[r * q + k] as number] as number) - (a[drawn.a[r * q + k] as number] as number);
  }
  return quantiles.map((quantile, k) => {
    const sorted = (shifts[k] as Float64Array).sort();
    const at = (p: number): number => sorted[Math.min(resamples - 1, Math.max(0, Math.floor(p * resamples)))] as number;
    return { shift: sortedQuantile(b, quantile) - sortedQuantile(a, quantile), low: at(0.025), high: at(0.975) };
  });
}

/** 95% interval of quantile(second, q) − quantile(first, q); `null` when a sample is empty. */
export function bootstrapQuantileShift(first: readonly number[], second: readonly number[], q: number, options: { resamples?: number; seed?: number } = {}): ShiftInterval | null {
  return bootstrapQuantileShifts(first, second, [q], options)?.[0] ?? null;
}

/**
 * Each statistical test of the verdict against reference values: R / SciPy outputs (quoted with the call that made them)
 * or hand-computed tables.
 */
import { describe, expect, it } from 'vitest';
import { BootstrapDraws, bootstrapQuantileShift, bootstrapQuantileShifts, sortedQuantile } from '../lib/report/stats/bootstrap.js';
import { holmAdjust } from '../lib/report/stats/holm.js';
import { kolmogorovSmirnov, kolmogorovSurvival } from '../lib/report/stats/kolmogorov-smirnov.js';
import { mannWhitney, mannWhitneyFromBins } from '../lib/report/stats/mann-whitney.js';
import { normalTwoSided } from '../lib/report/stats/normal.js';
import { populationStabilityIndex } from '../lib/report/stats/psi.js';
import { hashString } from '../lib/read/hash.js';
import { KeyedSample } from '../lib/report/stats/keyed-sample.js';
import { oneProportionTest, twoProportionTest } from '../lib/report/stats/two-proportion.js';
import { seededRandom } from '../lib/report/stats/random.js';

describe('normal tails', () => {
  it('matches scipy.stats.norm.sf(z) * 2 from the centre to the far tail', () => {
    expect(normalTwoSided(1.959963984540054)).toBeCloseTo(0.05, 6);
    // scipy.stats.norm.sf(6) * 2 = 1.973175290075e-09
    expect(normalTwoSided(-6) / 1.973175290075e-9).toBeCloseTo(1, 4);
    expect(normalTwoSided(0)).toBe(1);
    // Far below 1e-16, where 1 − erf(x) rounds to 0: scipy.stats.norm.sf(9) * 2 = 2.2571768119076845e-19.
    expect(normalTwoSided(9) / 2.2571768119076845e-19).toBeCloseTo(1, 6);
  });
});

describe('Mann–Whitney U', () => {
  it('matches SciPy on the classic example without ties', () => {
    // scipy.stats.mannwhitneyu(x, y, method='asymptotic') → U = 58, p = 0.13291945818531892 (R wilcox.test exact=FALSE: W = 58)
    const x = [1.83, 0.5, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.3];
    const y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];
    const result = mannWhitney(x, y);
    expect(result.u).toBe(58);
    expect(result.p).toBeCloseTo(0.13291945818531892, 6);
  });

  it('applies the tie correction as SciPy does', () => {
    // scipy.stats.mannwhitneyu([1,2,2,3,3,3,4,5], [3,4,4,5,5,6,7,7,8], method='asymptotic') → U = 7.5, p = 0.006373133838085873
    const result = mannWhitney([1, 2, 2, 3, 3, 3, 4, 5], [3, 4, 4, 5, 5, 6, 7, 7, 8]);
    expect(result.u).toBe(7.5);
    expect(result.p).toBeCloseTo(0.006373133838085873, 6);
    expect(result.probabilityGreater).toBeCloseTo(7.5 / 72, 12);
  });

  it('gives the same answer from bin counts as from the samples they hold', () => {
    // bins 1..8 holding the tie example above
    const bins = mannWhitneyFromBins([1, 2, 3, 1, 1, 0, 0, 0], [0, 0, 1, 2, 2, 1, 2, 1]);
    expect(bins.p).toBeCloseTo(0.006373133838085873, 6);
  });

  it('says nothing (p = 1) when a side is empty or everything ties', () => {
    expect(mannWhitney([], [1, 2]).p).toBe(1);
    expect(mannWhitney([3, 3], [3, 3, 3]).p).toBe(1);
  });
});

describe('two proportions', () => {
  it('matches chi2_contingency(correction=False) on a 2×2 table', () => {
    // scipy.stats.chi2_contingency([[12, 988], [30, 970]], correction=False) → p = 0.004999109504464614, √χ² = 2.8070911436484303
    const result = twoProportionTest(12, 1000, 30, 1000);
    expect(result.p).toBeCloseTo(0.004999109504464614, 7);
    expect(result.z).toBeCloseTo(2.8070911436484303, 9);
    expect(result.difference).toBeCloseTo(0.018, 12);
    // [[5, 95], [6, 94]] → p = 0.756438219723926
    expect(twoProportionTest(5, 100, 6, 100).p).toBeCloseTo(0.756438219723926, 7);
  });

  it('the one-proportion score test rejects exactly when the Wilson interval excludes the value', () => {
    // 90/100: Wilson 95% interval 82.6%–94.5%
    expect(oneProportionTest(90, 100, 0.95).p).toBeLessThan(0.05);
    expect(oneProportionTest(90, 100, 0.94).p).toBeGreaterThan(0.05);
  });
});

describe('Kolmogorov–Smirnov', () => {
  it('matches scipy.stats.kstwobign.sf (the Kolmogorov limit)', () => {
    expect(kolmogorovSurvival(0.5)).toBeCloseTo(0.9639452436648751, 9);
    expect(kolmogorovSurvival(1.0)).toBeCloseTo(0.26999967167735456, 9);
    expect(kolmogorovSurvival(1.36)).toBeCloseTo(0.049485876755377876, 9);
    expect(kolmogorovSurvival(2.0)).toBeCloseTo(0.0006709252557796953, 12);
  });

  it('matches SciPy’s D and R’s asymptotic p on two samples', () => {
    // scipy.stats.ks_2samp(x, y).statistic = 0.23; kstwobign.sf(sqrt(25*20/45) * 0.23) = 0.5991955719698887 (R ks.test exact=FALSE)
    const x = [0.61, 0.29, 0.06, 0.59, -1.73, -0.74, 0.51, -0.56, 0.39, 1.64, 0.05, -0.06, 0.64, -0.82, 0.37, 1.77, 1.09, -1.28, 2.36, 1.31, 1.05, -0.32, -0.4, 1.06, -2.47];
    const y = [2.2, 1.66, 1.38, 0.2, 0.36, 0, 0.96, 1.56, 0.44, 1.5, -0.3, 0.66, 2.31, 3.29, -0.27, -0.37, 0.38, 0.7, 0.52, -0.71];
    const result = kolmogorovSmirnov(x, y);
    expect(result.d).toBeCloseTo(0.23, 12);
    expect(result.p).toBeCloseTo(0.5991955719698887, 9);
  });
});

describe('population stability index', () => {
  it('is 0 for the same distribution and matches a hand-computed table', () => {
    const expected = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    expect(populationStabilityIndex(expected, expected)).toBe(0);
    // deciles each 10%; actual puts half in bin 0, half in bin 1, 1e-4 floor elsewhere:
    // Python: sum((a-e)*log(a/e)) over shares [0.5, 0.5, 1e-4 ×8] vs [0.1 ×10] = 6.808228348909806
    expect(populationStabilityIndex(expected, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])).toBeCloseTo(6.808228348909806, 9);
  });
});

describe('Holm adjustment', () => {
  it('matches R p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm")', () => {
    const adjusted = holmAdjust([0.01, 0.04, 0.03, 0.005]);
    [0.03, 0.06, 0.06, 0.02].forEach((value, i) => expect(adjusted[i]).toBeCloseTo(value, 12));
  });
});

describe('bootstrap and reservoir', () => {
  it('gives the same interval on every run and covers a planted shift', () => {
    const random = seededRandom(7);
    const first = Array.from({ length: 800 }, () => 10 + random() * 10);
    const second = first.map((v) => v + 30);
    const a = bootstrapQuantileShift(first, second, 0.5, { seed: 3 });
    const b = bootstrapQuantileShift(first, second, 0.5, { seed: 3 });
    expect(a).toEqual(b);
    expect(a!.shift).toBeCloseTo(30, 9);
    expect(a!.low).toBeLessThanOrEqual(30);
    expect(a!.high).toBeGreaterThanOrEqual(30);
    expect(a!.high - a!.low).toBeLessThan(3);
    expect(sortedQuantile([1, 2, 3, 4], 0.5)).toBe(2);
  });

  it('reads several quantiles from the same resamples, each as it would alone', () => {
    const random = seededRandom(11);
    const first = Array.from({ length: 500 }, () => random() * 100);
    const second = Array.from({ length: 400 }, () => 20 + random() * 100);
    const [p50, p99] = bootstrapQuantileShifts(first, second, [0.5, 0.99], { seed: 5 })!;
    expect(p50).toEqual(bootstrapQuantileShift(first, second, 0.5, { seed: 5 }));
    expect(p99!.shift).toBeCloseTo(sortedQuantile([...second].sort((a, b) => a - b), 0.99) - sortedQuantile([...first].sort((a, b) => a - b), 0.99), 12);
    expect(p50!.low).toBeLessThan(20);
    expect(p50!.high).toBeGreaterThan(20);
  });

  it('draws its resamples from the seeded generator: the same intervals as resampling through seededRandom', () => {
    // The reference: each resample n draws of Math.floor(random() * n), the second sample's first, as the report has
    // always drawn them, so the verdicts of logs read before stay the same.
    const reference = (first: number[], second: number[], q: number, seed: number, resamples: number) => {
      const a = [...first].sort((x, y) => x - y);
      const b = [...second].sort((x, y) => x - y);
      const random = seededRandom(seed);
      const at = (sorted: number[]) => {
        const drawn = Array.from({ length: sorted.length }, () => Math.floor(random() * sorted.length)).sort((x, y) => x - y);
        return sorted[drawn[Math.max(1, Math.ceil(q * sorted.length)) - 1]!]!;
      };
      const shifts = Array.from({ length: resamples }, () => at(b) - at(a)).sort((x, y) => x - y);
      return [shifts[Math.floor(0.025 * resamples)], shifts[Math.floor(0.975 * resamples)]];
    };
    const random = seededRandom(13);
    for (const [n, m, seed] of [[1, 1, 1], [2, 3, 2], [37, 41, 9], [500, 300, 4], [4096, 4096, 1]] as const) {
      const first = Array.from({ length: n }, () => Math.round(random() * 1000) / 10);
      const second = Array.from({ length: m }, () => Math.round(random() * 1200) / 10);
      for (const q of [0.5, 0.99]) {
        const interval = bootstrapQuantileShift(first, second, q, { seed, resamples: 200 })!;
        expect([interval.low, interval.high]).toEqual(reference(first, second, q, seed, 200));
      }
    }
  });

  it('takes resamples drawn ahead only for the sizes and seed they were drawn for', () => {
    const random = seededRandom(17);
    const first = Array.from({ length: 300 }, () => random() * 100);
    const second = Array.from({ length: 200 }, () => 5 + random() * 100);
    const fresh = bootstrapQuantileShifts(first, second, [0.5, 0.99], { seed: 2 });
    const draws = new BootstrapDraws();
    draws.draw(300, 200, [0.5, 0.99], 2, 400);
    draws.draw(200, 300, [0.5, 0.99], 2, 400);
    draws.draw(299, 200, [0.5, 0.99], 2, 400);
    // Not drawn for seed 4, nor for these sizes: drawn now, not taken from those of another cell.
    expect(bootstrapQuantileShifts(first, second, [0.5, 0.99], { seed: 4, draws })).toEqual(bootstrapQuantileShifts(first, second, [0.5, 0.99], { seed: 4 }));
    expect(bootstrapQuantileShifts(first.slice(1), second, [0.5, 0.99], { seed: 2, draws })).toEqual(bootstrapQuantileShifts(first.slice(1), second, [0.5, 0.99], { seed: 2 }));
    expect(bootstrapQuantileShifts(second, first, [0.5, 0.99], { seed: 2, draws })).toEqual(bootstrapQuantileShifts(second, first, [0.5, 0.99], { seed: 2 }));
    expect(bootstrapQuantileShifts(first, second, [0.5, 0.99], { seed: 2, draws })).toEqual(fresh);
    // Taken once: the second bootstrap of the same cell draws its own, the same.
    expect(bootstrapQuantileShifts(first, second, [0.5, 0.99], { seed: 2, draws })).toEqual(fresh);
    expect(bootstrapQuantileShifts(first, second, [0.5, 0.99], { seed: 4 })).not.toEqual(fresh);
  });

  it('keeps a bounded, uniform sample of a long stream, the same whatever the order or the split', () => {
    const sample = new KeyedSample(1_000);
    for (let i = 0; i < 100_000; i++) sample.add(hashString(`req-${i}`), i);
    expect(sample.values).toHaveLength(1_000);
    expect(sample.seen).toBe(100_000);
    const mean = sample.values.reduce((s, v) => s + v, 0) / 1_000;
    expect(Math.abs(mean - 50_000)).toBeLessThan(3_000);
    // Backwards, in two halves merged: the same values.
    const [a, b] = [new KeyedSample(1_000), new KeyedSample(1_000)];
    for (let i = 99_999; i >= 0; i--) (i % 2 === 0 ? a : b).add(hashString(`req-${i}`), i);
    a.merge(b.state());
    expect(a.seen).toBe(100_000);
    expect([...a.values].sort((x, y) => x - y)).toEqual([...sample.values].sort((x, y) => x - y));
  });
});

/** Spearman and Pearson against values worked out by hand (sums shown in each case). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  averageRanks,
  correlate,
  pearson,
  spearman,
  spearmanTest,
  studentTTwoSided,
} from '../../activities/report/correlation';

const close = (actual: number | null, expected: number): void => {
  assert.ok(actual !== null, `expected ${expected}, got null`);
  assert.ok(Math.abs(actual - expected) < 1e-12, `expected ${expected}, got ${actual}`);
};

describe('averageRanks', () => {
  it('ranks distinct values 1..n in input order', () => {
    assert.deepEqual(averageRanks([30, 10, 20]), [3, 1, 2]);
  });

  it('gives tied values the mean of the ranks they span', () => {
    // sorted: 10 10 | 20 20 20 | 30 → ranks (1+2)/2, (3+4+5)/3, 6
    assert.deepEqual(averageRanks([10, 20, 10, 30, 20, 20]), [1.5, 4, 1.5, 6, 4, 4]);
    assert.deepEqual(averageRanks([7, 7, 7]), [2, 2, 2]);
    assert.deepEqual(averageRanks([]), []);
  });
});

describe('pearson', () => {
  it('matches a hand computation', () => {
    // x = 1..5 (mean 3), y = 2 4 5 4 5 (mean 4): dx = -2 -1 0 1 2, dy = -2 0 1 0 1
    // Σdxdy = 4+0+0+0+2 = 6, Σdx² = 10, Σdy² = 6 → r = 6 / √60
    close(pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]), 6 / Math.sqrt(60));
  });

  it('is below 1 for a monotone but curved relation', () => {
    // x = 1..4, y = x²: dx = -1.5 -.5 .5 1.5, dy = -6.5 -3.5 1.5 8.5
    // Σdxdy = 9.75+1.75+.75+12.75 = 25, Σdx² = 5, Σdy² = 129 → r = 25 / √645
    close(pearson([1, 2, 3, 4], [1, 4, 9, 16]), 25 / Math.sqrt(645));
  });

  it('is ±1 for exact linear relations, in either direction', () => {
    close(pearson([1, 2, 3], [10, 20, 30]), 1);
    close(pearson([1, 2, 3], [3, 2, 1]), -1);
  });

  it('is undefined for a constant series or fewer than two points', () => {
    assert.equal(pearson([1, 2, 3], [0, 0, 0]), null);
    assert.equal(pearson([5], [6]), null);
    assert.equal(pearson([], []), null);
  });

  it('refuses series of different lengths', () => {
    assert.throws(() => pearson([1, 2], [1, 2, 3]), /2 x values but 3 y values/);
  });
});

describe('spearman', () => {
  it('uses average ranks for ties', () => {
    // y = 2 4 5 4 5 ranks to 1 2.5 4.5 2.5 4.5 (mean 3): dy = -2 -.5 1.5 -.5 1.5
    // Σdxdy = 4+.5+0-.5+3 = 7, Σdx² = 10, Σdy² = 4+.25+2.25+.25+2.25 = 9 → ρ = 7 / √90
    close(spearman([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]), 7 / Math.sqrt(90));
  });

  it('is 1 for any increasing relation, where Pearson is not', () => {
    close(spearman([1, 2, 3, 4], [1, 4, 9, 16]), 1);
    close(spearman([0.1, 0.5, 0.2], [3, 900, 4]), 1);
  });

  it('matches the textbook 1 − 6Σd²/(n(n²−1)) when there are no ties', () => {
    // ranks x: 1 2 3 4 5, ranks y (of 5 1 4 2 3): 5 1 4 2 3 → d = -4 1 -1 2 2, Σd² = 26
    // ρ = 1 − 6·26 / (5·24) = 1 − 1.3 = −0.3
    close(spearman([1, 2, 3, 4, 5], [5, 1, 4, 2, 3]), -0.3);
  });

  it('is undefined when one series is constant (a run that never runs code)', () => {
    assert.equal(spearman([0.1, 0.2, 0.3], [0, 0, 0]), null);
  });
});

describe('correlate', () => {
  it('reports both statistics and the number of pairs', () => {
    const c = correlate([1, 2, 3, 4], [1, 4, 9, 16]);
    assert.equal(c.n, 4);
    close(c.spearman, 1);
    close(c.pearson, 25 / Math.sqrt(645));
  });
});

describe('Spearman p-value (Student t with n - 2 degrees of freedom, as scipy.stats.spearmanr)', () => {
  it("matches the t tables' critical values", () => {
    // Two-sided 5% and 1% points: df 8 → 2.306, df 10 → 3.169, df 1 → 12.706, df ∞ → 1.960.
    for (const [t, df, p] of [
      [2.306004, 8, 0.05],
      [3.169273, 10, 0.01],
      [12.7062, 1, 0.05],
      [1.959964, 1e6, 0.05],
    ] as const)
      assert.ok(Math.abs(studentTTwoSided(t, df) - p) < 1e-6, `t=${t} df=${df}: ${studentTTwoSided(t, df)}`);
    assert.equal(studentTTwoSided(0, 5), 1);
  });

  it("reproduces scipy's documented example and the edge cases", () => {
    // scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]): rho 0.8207826816681233, p 0.08858700531354381.
    const test = spearmanTest([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]);
    assert.ok(Math.abs(test.rho! - 0.8207826816681233) < 1e-12);
    assert.ok(Math.abs(test.pValue! - 0.08858700531354381) < 1e-9);
    assert.deepEqual(spearmanTest([1, 2, 3], [3, 4, 5]), { rho: 1, pValue: 0, n: 3 });
    assert.deepEqual(spearmanTest([1, 2], [2, 1]), { rho: -1, pValue: null, n: 2 });
    assert.deepEqual(spearmanTest([1, 2, 3], [4, 4, 4]), { rho: null, pValue: null, n: 3 });
  });
});

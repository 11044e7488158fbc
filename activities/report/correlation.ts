/**
 * Correlation over training steps: the paper's statistic for "accuracy rises with code use".
 * Pearson measures a linear relation; Spearman is Pearson on ranks (ties get the average of the
 * ranks they span), so it asks only whether both rise together. Pure.
 *
 * A correlation is undefined (null) with fewer than two pairs or when either series is
 * constant, e.g. the code ratio of a ZeroRL run, which never executes code.
 */

/** Ranks 1..n in input order; tied values share the mean of the ranks they occupy. */
export function averageRanks(values: readonly number[]): number[] {
  const order = values.map((value, index) => ({ value, index })).sort((a, b) => a.value - b.value);
  const ranks = new Array<number>(values.length);
  let start = 0;
  while (start < order.length) {
    let end = start;
    while (end + 1 < order.length && order[end + 1]!.value === order[start]!.value) end += 1;
    // Positions start..end (0-based) hold ranks start+1..end+1; their mean is:
    const rank = (start + end) / 2 + 1;
    for (let i = start; i <= end; i += 1) ranks[order[i]!.index] = rank;
    start = end + 1;
  }
  return ranks;
}

export function pearson(xs: readonly number[], ys: readonly number[]): number | null {
  if (xs.length !== ys.length) throw new Error(`pearson: ${xs.length} x values but ${ys.length} y values`);
  const n = xs.length;
  if (n < 2) return null;
  const meanX = xs.reduce((a, b) => a + b, 0) / n;
  const meanY = ys.reduce((a, b) => a + b, 0) / n;
  let covariance = 0;
  let varianceX = 0;
  let varianceY = 0;
  for (let i = 0; i < n; i += 1) {
    const dx = xs[i]! - meanX;
    const dy = ys[i]! - meanY;
    covariance += dx * dy;
    varianceX += dx * dx;
    varianceY += dy * dy;
  }
  if (varianceX === 0 || varianceY === 0) return null;
  // Rounding can push a perfect correlation a hair past ±1.
  return Math.max(-1, Math.min(1, covariance / Math.sqrt(varianceX * varianceY)));
}

export function spearman(xs: readonly number[], ys: readonly number[]): number | null {
  if (xs.length !== ys.length) throw new Error(`spearman: ${xs.length} x values but ${ys.length} y values`);
  return pearson(averageRanks(xs), averageRanks(ys));
}

export interface Correlation {
  spearman: number | null;
  pearson: number | null;
  /** Pairs the correlation is computed over (training steps). */
  n: number;
}

export function correlate(xs: readonly number[], ys: readonly number[]): Correlation {
  return { spearman: spearman(xs, ys), pearson: pearson(xs, ys), n: xs.length };
}

/**
 * Task rows and the fixed train / validation / test splits. Pure and deterministic: the same
 * seed gives the same rows in the same order, so the shipped files regenerate byte-identically.
 */
import type { TaskRow } from '../common/dataset';
import { LEVEL_NAMES, makeProblem, type Problem } from './levels';
import { createRng } from './random';

export const SPLIT_NAMES = ['train', 'validation', 'test'] as const;
export type SplitName = (typeof SPLIT_NAMES)[number];
export type SplitSizes = Record<SplitName, number>;

/** Rows per level in each split. */
export const DEFAULT_SPLIT_SIZES: SplitSizes = { train: 800, validation: 100, test: 200 };
export const DEFAULT_SEED = '20250513';

export class GeneratorInputError extends Error {
  override name = 'GeneratorInputError';
}

export function checkLevels(levels: readonly string[]): void {
  if (levels.length === 0) throw new GeneratorInputError('no levels given');
  for (const level of levels) {
    if (!LEVEL_NAMES.includes(level)) {
      throw new GeneratorInputError(`unknown level "${level}" (known: ${LEVEL_NAMES.join(', ')})`);
    }
  }
}

export function checkCount(name: string, count: number): void {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new GeneratorInputError(`${name} must be a non-negative integer, got ${count}`);
  }
}

/** `count` distinct problems (by key) of one level; fails clearly if the level's pool runs dry. */
export function distinctProblems(level: string, count: number, seed: string): Problem[] {
  checkLevels([level]);
  checkCount('count', count);
  const rng = createRng(`${seed}:${level}`);
  const seen = new Set<string>();
  const problems: Problem[] = [];
  let misses = 0;
  while (problems.length < count) {
    const problem = makeProblem(level, rng);
    if (seen.has(problem.key)) {
      if (++misses > 100 * count + 1000) {
        throw new GeneratorInputError(`level ${level} has fewer than ${count} distinct problems`);
      }
      continue;
    }
    seen.add(problem.key);
    problems.push(problem);
  }
  return problems;
}

function toRow(id: string, level: string, problem: Problem): TaskRow {
  return { id, problem: problem.problem, answer: problem.answer, level };
}

/** Ad-hoc rows (not a split): `count` per level, ids `sample-<level>-<n>`. */
export function sampleRows(levels: readonly string[], count: number, seed: string): TaskRow[] {
  checkLevels(levels);
  checkCount('count', count);
  return levels.flatMap((level) =>
    distinctProblems(level, count, seed).map((p, i) => toRow(`sample-${level}-${i}`, level, p)),
  );
}

/**
 * The three splits. Each level draws one stream of distinct problems and deals it out in a
 * fixed order (validation, test, then train), so no problem appears in two splits.
 */
export function makeSplits(
  levels: readonly string[],
  sizes: SplitSizes,
  seed: string,
): Record<SplitName, TaskRow[]> {
  checkLevels(levels);
  for (const name of SPLIT_NAMES) checkCount(`${name} size`, sizes[name]);
  const splits: Record<SplitName, TaskRow[]> = { train: [], validation: [], test: [] };
  for (const level of levels) {
    const total = sizes.validation + sizes.test + sizes.train;
    const problems = distinctProblems(level, total, seed);
    let offset = 0;
    for (const name of ['validation', 'test', 'train'] as const) {
      problems.slice(offset, offset + sizes[name]).forEach((p, i) => {
        splits[name].push(toRow(`${name}-${level}-${String(i).padStart(4, '0')}`, level, p));
      });
      offset += sizes[name];
    }
  }
  return splits;
}

export function toJsonl(rows: readonly TaskRow[]): string {
  return rows.map((row) => JSON.stringify(row) + '\n').join('');
}

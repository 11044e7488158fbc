/**
 * Evaluation sets: the field's benchmarks shipped in data/benchmarks (named by short names in
 * config and CLI), any other dataset file, and the run's own validation split. Pure: safe to
 * import from workflows.
 */
import type { DatasetFields } from './dataset';

/** The benchmarks shipped in data/benchmarks/ (provenance: data/benchmarks/README.md). */
export const BUILTIN_BENCHMARKS = {
  aime24: { title: 'AIME 2024', rows: 30 },
  aime25: { title: 'AIME 2025', rows: 30 },
  amc23: { title: 'AMC 2023', rows: 40 },
  math500: { title: 'MATH-500', rows: 500 },
} as const;

export type BuiltinBenchmark = keyof typeof BUILTIN_BENCHMARKS;

export const isBuiltinBenchmark = (name: string): name is BuiltinBenchmark =>
  Object.hasOwn(BUILTIN_BENCHMARKS, name);

/** A built-in benchmark's file, relative to the project root. */
export const builtinBenchmarkFile = (name: BuiltinBenchmark): string => `data/benchmarks/${name}.jsonl`;

/** The name of the run's own validation split among evaluation sets. */
export const VALIDATION_SET = 'validation';

/** Names travel in workflow ids and artifact keys: short, lower-case, no separators. */
export const EVALUATION_SET_NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;

/** One dataset an evaluation runs on. */
export interface EvaluationSet {
  /** Short name: a built-in benchmark, `validation`, or a name the config gives a file. */
  name: string;
  /** The dataset file; absent for a built-in benchmark, which each worker finds in its checkout. */
  path?: string;
  /** Column mapping for a layout the reader does not know by itself. */
  fields?: DatasetFields;
  /** A fixed seeded sample of this many rows; absent or 0 = every row (the field's convention). */
  prompts?: number;
}

/** The name an evaluation of `set` at one tool budget is stored and shown under (a sweep adds the budget). */
export function evaluationUnitName(set: string, toolBudget: number | null): string {
  return toolBudget === null ? set : `${set}-tools-${toolBudget}`;
}

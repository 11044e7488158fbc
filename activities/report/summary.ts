/**
 * The report's numbers per run: how far the code ratio and validation accuracy moved, how
 * training accuracy correlates over steps with code use and with response length (the paper's
 * scaling-law statistic), and the final validation accuracy per difficulty level. Pure.
 */
import type { EvaluationRecord } from '../../common/activityContracts';
import { type Correlation, correlate, type RankCorrelationTest, spearmanTest } from './correlation';
import type { RunData, RunEvaluation } from './runData';

export interface FirstLast {
  first: { step: number; value: number };
  last: { step: number; value: number };
}

export interface RunSummary {
  runId: string;
  label: string;
  template: RunData['template'];
  /** Training steps recorded. */
  steps: number;
  lastStep: number | null;
  codeRatio: FirstLast | null;
  validationAccuracy: FirstLast | null;
  /** Training accuracy vs code ratio, over training steps. */
  accuracyVsCodeRatio: Correlation;
  /** Training accuracy vs mean response length (model tokens), over training steps. */
  accuracyVsResponseLength: Correlation;
  /** The last evaluation's accuracy per level, and the step it was taken at. */
  finalLevels: { step: number; accuracyByLevel: Record<string, number> } | null;
  /** Spearman's rho (with p-value) of training accuracy, code ratio and response length with the step. */
  stepTrends: {
    accuracy: RankCorrelationTest;
    codeRatio: RankCorrelationTest;
    responseLength: RankCorrelationTest;
  };
  /** Each benchmark evaluated in training: accuracy first → last, and the prompts skipped as too long. */
  benchmarks: { name: string; accuracy: FirstLast; prompts: number; skipped: number }[];
  standaloneEvaluations: EvaluationRecord[];
}

function firstLast<T>(
  items: readonly T[],
  step: (item: T) => number,
  value: (item: T) => number,
): FirstLast | null {
  const first = items[0];
  const last = items.at(-1);
  if (first === undefined || last === undefined) return null;
  return {
    first: { step: step(first), value: value(first) },
    last: { step: step(last), value: value(last) },
  };
}

export function summarizeRun(run: RunData): RunSummary {
  const accuracy = run.steps.map((r) => r.rollout.accuracy);
  const steps = run.steps.map((r) => r.step);
  const finalEvaluation: RunEvaluation | undefined = run.evaluations.at(-1);
  return {
    runId: run.runId,
    label: run.label,
    template: run.template,
    steps: run.steps.length,
    lastStep: run.steps.at(-1)?.step ?? null,
    codeRatio: firstLast(
      run.steps,
      (r) => r.step,
      (r) => r.rollout.codeRatio,
    ),
    validationAccuracy: firstLast(
      run.evaluations,
      (e) => e.step,
      (e) => e.summary.accuracy,
    ),
    accuracyVsCodeRatio: correlate(
      accuracy,
      run.steps.map((r) => r.rollout.codeRatio),
    ),
    accuracyVsResponseLength: correlate(
      accuracy,
      run.steps.map((r) => r.rollout.responseTokens.mean),
    ),
    finalLevels: finalEvaluation
      ? { step: finalEvaluation.step, accuracyByLevel: finalEvaluation.summary.accuracyByLevel }
      : null,
    stepTrends: {
      accuracy: spearmanTest(steps, accuracy),
      codeRatio: spearmanTest(
        steps,
        run.steps.map((r) => r.rollout.codeRatio),
      ),
      responseLength: spearmanTest(
        steps,
        run.steps.map((r) => r.rollout.responseTokens.mean),
      ),
    },
    benchmarks: run.benchmarks.flatMap(({ name, evaluations }) => {
      const accuracy = firstLast(
        evaluations,
        (e) => e.step,
        (e) => e.summary.accuracy,
      );
      const last = evaluations.at(-1)!.summary;
      return accuracy === null
        ? []
        : [{ name, accuracy, prompts: last.prompts, skipped: last.promptsSkipped ?? 0 }];
    }),
    standaloneEvaluations: run.standaloneEvaluations,
  };
}

/** Every level any run's final evaluation reports, in natural order (L2 before L10). */
export function levelsOf(summaries: readonly RunSummary[]): string[] {
  const levels = new Set<string>();
  for (const s of summaries)
    for (const level of Object.keys(s.finalLevels?.accuracyByLevel ?? {})) levels.add(level);
  return [...levels].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/**
 * `summarizeEvaluation` (reward queue): accuracy (avg@k), pass@k and per-level accuracy of one
 * policy on a split, from the evaluation shards' scored trajectories. Stored under
 * artifactKeys.evaluation so the report can draw validation curves without Temporal.
 */
import type { EvaluationSummary, SummarizeEvaluationInput } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import { computeStepMetrics } from '../../common/metrics';
import type { ScoredTrajectory } from '../../common/trajectory';
import { type ArtifactStore, readJsonl } from '../artifactStore';

export async function summarizeEvaluation(
  store: ArtifactStore,
  input: SummarizeEvaluationInput,
): Promise<EvaluationSummary> {
  const shards = await Promise.all(input.scoredKeys.map((key) => readJsonl<ScoredTrajectory>(store, key)));
  const trajectories = shards.flat();
  const metrics = computeStepMetrics(trajectories);
  const solvedPrompts = new Set(trajectories.filter((t) => t.reward > 0).map((t) => t.promptId));
  const summary: EvaluationSummary = {
    split: input.split,
    policyVersion: input.policyVersion,
    prompts: metrics.groups,
    samplesPerPrompt: input.samplesPerPrompt,
    accuracy: metrics.accuracy,
    passAtK: metrics.groups === 0 ? 0 : solvedPrompts.size / metrics.groups,
    accuracyByLevel: metrics.accuracyByLevel,
    codeRatio: metrics.codeRatio,
    meanResponseTokens: metrics.responseTokens.mean,
  };
  await store.write(
    artifactKeys.evaluation(input.runId, input.step, input.split),
    JSON.stringify(summary) + '\n',
  );
  return summary;
}

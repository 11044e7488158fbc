/**
 * `summarizeEvaluation` (reward queue): one policy on one evaluation set, from the evaluation
 * shards' scored trajectories: avg@k (accuracy when greedy), unbiased pass@j, maj@k, code ratio,
 * code calls per response, response length, truncation rate and accuracy per level. Prompts the
 * evaluation skipped (too long for the model's context) count as wrong everywhere, so a number
 * compares with one published over the whole benchmark. Stored under artifactKeys.evaluation so
 * the report can draw curves without Temporal.
 */
import type { EvaluationSummary, SummarizeEvaluationInput } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import { answerPairs, majorityCorrect, meanPassAtK, passAtKValues } from '../../common/evaluationMetrics';
import { computeStepMetrics } from '../../common/metrics';
import type { ScoredTrajectory } from '../../common/trajectory';
import { type ArtifactStore, readJsonl } from '../artifactStore';
import type { GraderPool } from '../reward/graderPool';

export interface SummarizeDeps {
  store: ArtifactStore;
  /** For maj@k: which extracted answers are the same answer. */
  graders: GraderPool;
}

function groupByPrompt(trajectories: readonly ScoredTrajectory[]): ScoredTrajectory[][] {
  const groups = new Map<string, ScoredTrajectory[]>();
  for (const t of trajectories) {
    const group = groups.get(t.promptId);
    if (group) group.push(t);
    else groups.set(t.promptId, [t]);
  }
  return [...groups.values()].map((g) => g.sort((a, b) => a.sampleIndex - b.sampleIndex));
}

/** Majority-vote correctness per prompt; equivalence of distinct answers asked of the grader in one batch. */
async function majorityVotes(groups: ScoredTrajectory[][], graders: GraderPool): Promise<boolean[]> {
  const votes = groups.map((group) =>
    group.map((t) => ({ answer: t.extractedAnswer, correct: t.gradingStatus === 'correct' })),
  );
  const pairs = votes.flatMap((v) => answerPairs(v));
  const outcomes = await graders.gradeAll(pairs.map(([a, b]) => ({ pred: b, ref: a })));
  const same = new Set(pairs.flatMap(([a, b], i) => (outcomes[i]!.correct ? [`${a}\0${b}`] : [])));
  return votes.map((v) => majorityCorrect(v, (a, b) => same.has(`${a}\0${b}`) || same.has(`${b}\0${a}`)));
}

export async function summarizeEvaluation(
  { store, graders }: SummarizeDeps,
  input: SummarizeEvaluationInput,
): Promise<EvaluationSummary> {
  const shards = await Promise.all(input.scoredKeys.map((key) => readJsonl<ScoredTrajectory>(store, key)));
  const trajectories = shards.flat();
  const metrics = computeStepMetrics(trajectories);
  const k = input.samplesPerPrompt;
  const skipped = input.skipped?.prompts ?? 0;
  const prompts = metrics.groups + skipped;
  const groups = groupByPrompt(trajectories);
  const isCorrect = (t: ScoredTrajectory): boolean => t.gradingStatus === 'correct';
  const counts = groups.map((g) => ({ samples: g.length, correct: g.filter(isCorrect).length }));
  const share = (x: number, of: number): number => (of === 0 ? 0 : x / of);
  const correctSamples = counts.reduce((sum, c) => sum + c.correct, 0);

  // Per level over every prompt of the set: a skipped prompt is k wrong samples.
  const levelCounts: Record<string, { samples: number; correct: number; prompts: number }> = {};
  for (const g of groups) {
    const level = g[0]!.level;
    if (level === '') continue;
    const entry = (levelCounts[level] ??= { samples: 0, correct: 0, prompts: 0 });
    entry.samples += g.length;
    entry.correct += g.filter(isCorrect).length;
    entry.prompts += 1;
  }
  for (const [level, n] of Object.entries(input.skipped?.byLevel ?? {})) {
    const entry = (levelCounts[level] ??= { samples: 0, correct: 0, prompts: 0 });
    entry.samples += n * k;
    entry.prompts += n;
  }
  const levels = Object.keys(levelCounts).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));

  // Groups with fewer samples than k (none in practice) cannot give pass@k: they use their own n.
  const passAt: Record<string, number> = {};
  for (const j of passAtKValues(k)) {
    const usable = counts.filter((c) => c.samples >= j);
    passAt[String(j)] = share(meanPassAtK(usable, j) * usable.length, prompts);
  }
  const majority = k === 1 ? counts.map((c) => c.correct > 0) : await majorityVotes(groups, graders);

  const summary: EvaluationSummary = {
    split: input.split,
    policyVersion: input.policyVersion,
    prompts,
    samplesPerPrompt: k,
    accuracy: share(correctSamples, prompts * k),
    passAtK: share(counts.filter((c) => c.correct > 0).length, prompts),
    accuracyByLevel: Object.fromEntries(
      levels.map((l) => [l, share(levelCounts[l]!.correct, levelCounts[l]!.samples)]),
    ),
    codeRatio: metrics.codeRatio,
    meanResponseTokens: metrics.responseTokens.mean,
    ...(input.settings ?? {}),
    promptsSkipped: skipped,
    ...(input.skipped ? { skipRule: input.skipped.rule } : {}),
    passAt,
    majAtK: share(majority.filter(Boolean).length, prompts),
    codeCallsPerResponse: share(
      trajectories.reduce((sum, t) => sum + t.executions.length, 0),
      trajectories.length,
    ),
    truncationRate: metrics.truncationRate,
    promptsByLevel: Object.fromEntries(levels.map((l) => [l, levelCounts[l]!.prompts])),
  };
  await store.write(
    artifactKeys.evaluation(input.runId, input.step, input.unit ?? input.split),
    JSON.stringify(summary) + '\n',
  );
  return summary;
}

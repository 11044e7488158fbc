/**
 * The `score` activity (reward task queue): a shard's finished trajectories in, rewards out.
 * Reward is 1 when the response passes the format check and math-verify finds its boxed
 * answer equivalent to the reference, else 0 (the paper's outcome reward, no penalties). Each
 * scored trajectory also carries its sample-mask reasons (sampleMasks.ts), and the summary
 * counts the groups dynamic filtering's band keeps (common/dynamicFiltering.ts).
 *
 * Idempotent: the scored artifact is written once, atomically; a retry that finds it returns
 * its summary without grading again.
 */
import { Context } from '@temporalio/activity';
import type { ScoreInput, ScoreResult } from '../../common/activityContracts';
import { checkAnswer, type FormatMode } from '../../common/answer';
import { artifactKeys } from '../../common/artifactKeys';
import { countKeptGroups, DEFAULT_FILTER_BAND, type FilterBand } from '../../common/dynamicFiltering';
import type { GradingStatus, SampleMaskReason, ScoredTrajectory, Trajectory } from '../../common/trajectory';
import { type ArtifactStore, readJsonl, writeJsonl } from '../artifactStore';
import { injectScoreFault } from '../faults';
import type { GradeOutcome, GraderPool } from './graderPool';
import { sampleMaskReasons } from './sampleMasks';

export type { ScoreInput, ScoreResult } from '../../common/activityContracts';

export interface RewardDeps {
  store: ArtifactStore;
  graders: GraderPool;
}

/** Scores trajectories: format check in TS, equivalence in the grader pool. */
export async function scoreTrajectories(
  trajectories: readonly Trajectory[],
  graders: GraderPool,
  formatMode: FormatMode,
  onProgress?: (graded: number) => void,
): Promise<ScoredTrajectory[]> {
  const checks = trajectories.map((t) => checkAnswer(t.responseText, t.stopReason, formatMode));
  const toGrade = trajectories.flatMap((t, index) => {
    const check = checks[index]!;
    return check.ok ? [{ index, request: { pred: check.answer, ref: t.referenceAnswer } }] : [];
  });
  const outcomes = await graders.gradeAll(
    toGrade.map((g) => g.request),
    onProgress,
  );
  const graderFailed = (o: GradeOutcome): boolean =>
    o.status === 'error' && !o.message?.startsWith('reference');
  if (outcomes.length > 0 && outcomes.every(graderFailed)) {
    // Every answer failing inside the grader is the grader's fault, not the answers': retry,
    // never hand the trainer a shard of silent zeros. (A bad reference stays an item error.)
    throw new Error(
      `grading failed for all ${outcomes.length} answers: ${outcomes[0]!.message ?? 'unknown error'}`,
    );
  }
  const outcomeByIndex = new Map(toGrade.map((g, i) => [g.index, outcomes[i]!]));
  return trajectories.map((t, index): ScoredTrajectory => {
    const check = checks[index]!;
    const outcome = outcomeByIndex.get(index);
    const maskReasons = sampleMaskReasons(t, check.ok);
    if (!check.ok || !outcome) {
      return { ...t, reward: 0, gradingStatus: 'format', extractedAnswer: null, maskReasons };
    }
    return {
      ...t,
      reward: outcome.correct ? 1 : 0,
      gradingStatus: outcome.status,
      extractedAnswer: check.answer,
      maskReasons,
    };
  });
}

/** The small summary a workflow sees for a scored shard; `band` null = filtering off. */
export function summarizeScores(
  scoredKey: string,
  scored: readonly ScoredTrajectory[],
  band: FilterBand | null,
): ScoreResult {
  const byStatus: Partial<Record<GradingStatus, number>> = {};
  for (const t of scored) byStatus[t.gradingStatus] = (byStatus[t.gradingStatus] ?? 0) + 1;
  const maskReasons: Partial<Record<SampleMaskReason, number>> = {};
  for (const reason of scored.flatMap((t) => t.maskReasons ?? [])) {
    maskReasons[reason] = (maskReasons[reason] ?? 0) + 1;
  }
  const rewardSum = scored.reduce((sum, t) => sum + t.reward, 0);
  return {
    scoredKey,
    trajectories: scored.length,
    correct: byStatus.correct ?? 0,
    formatFailures: byStatus.format ?? 0,
    byStatus,
    rewardMean: scored.length === 0 ? 0 : rewardSum / scored.length,
    ...countKeptGroups(scored, band),
    maskReasons,
  };
}

export interface ScoreActivities {
  score(this: void, input: ScoreInput): Promise<ScoreResult>;
}

export function createRewardActivities(deps: RewardDeps): ScoreActivities {
  return {
    score: async (input: ScoreInput): Promise<ScoreResult> => {
      const scoredKey = artifactKeys.scored(input.runId, input.step, input.shard);
      const band = input.filterBand === undefined ? DEFAULT_FILTER_BAND : input.filterBand;
      if (await deps.store.exists(scoredKey)) {
        return summarizeScores(scoredKey, await readJsonl<ScoredTrajectory>(deps.store, scoredKey), band);
      }
      await injectScoreFault(input.step, input.shard);
      const trajectories = await readJsonl<Trajectory>(deps.store, input.generatedKey);
      const total = trajectories.length;
      Context.current().heartbeat({ graded: 0, total });
      const scored = await scoreTrajectories(
        trajectories,
        deps.graders,
        input.formatMode ?? 'strict',
        (graded) => Context.current().heartbeat({ graded, total }),
      );
      await writeJsonl(deps.store, scoredKey, scored);
      return summarizeScores(scoredKey, scored, band);
    },
  };
}

/**
 * One shard of a step's rollout: the ZeroTIR turn loop.
 *   generate → (executeCode → generate)* → score
 * A trajectory that stops at a closed ```python block waits for the sandbox; its output is
 * appended by the next generate turn. Each turn is one retryable activity, so a failed turn
 * is retried alone and the shard's other work is kept.
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import type {
  ActivityTiming,
  ExecuteCodeResult,
  GenerateResult,
  ScoreResult,
} from '../common/activityContracts';
import type { DatasetFields } from '../common/dataset';
import type { PolicyRef } from '../common/policy';
import { rolloutSettingsOf, type LegacyRolloutFields, type RolloutSettings } from '../common/rolloutSettings';
import { isCancellation } from '@temporalio/workflow';
import { heartbeatTimeout, rollout, reward, sandbox } from './activityOptions';

export interface RolloutShardInput extends Partial<LegacyRolloutFields> {
  /** Key namespace of the shard's artifacts (the run id, or the evaluation's). */
  runId: string;
  step: number;
  shard: number;
  /** How the UI names this shard: "step 12 / shard 3" or "eval after step 10 / shard 0". */
  label: string;
  policy: PolicyRef;
  /** The step's rollout settings (absent in shards started before they existed: legacy fields). */
  rollout?: RolloutSettings;
  seed: number;
  datasetPath: string;
  /** Column mapping of the dataset (config `data.fields` or a benchmark's `fields`); absent = none. */
  datasetFields?: DatasetFields;
  rowIndices: number[];
}

/** Busy and queue-wait seconds of a shard's activities, by kind. */
export interface ShardTimings {
  generateS: number;
  executeS: number;
  scoreS: number;
  queueWaitS: number;
  /** Turn barriers: trajectory-seconds spent waiting for the slowest trajectory of a turn. */
  barrierWaitS?: number;
  /** Trajectory-seconds of the turns in all (trajectories × span, summed over turns). */
  turnTrajectoryS?: number;
}

export interface RolloutShardResult {
  shard: number;
  scoredKey: string;
  trajectories: number;
  turns: number;
  tokensGenerated: number;
  executions: number;
  executionsByStatus: ExecuteCodeResult['byStatus'];
  score: ScoreResult;
  timings?: ShardTimings;
}

/** What the parent learns when a shard fails: which turn and activity, and why. */
export interface ShardFailureDetails {
  turn: number | null;
  activity: string;
  errorType: string | null;
  message: string;
}

export const SHARD_FAILED = 'RolloutShardFailed';

export async function rolloutShard(input: RolloutShardInput): Promise<RolloutShardResult> {
  const { runId, step, shard, label } = input;
  const settings = rolloutSettingsOf(input);
  const request = { runId, step, shard, policy: input.policy, rollout: settings, seed: input.seed };
  const heartbeat = heartbeatTimeout(settings.heartbeatTimeoutS);
  const timings: Required<ShardTimings> = {
    generateS: 0,
    executeS: 0,
    scoreS: 0,
    queueWaitS: 0,
    barrierWaitS: 0,
    turnTrajectoryS: 0,
  };
  const account = (kind: 'generateS' | 'executeS' | 'scoreS', timing: ActivityTiming | undefined): void => {
    if (!timing) return;
    timings[kind] += timing.runMs / 1000;
    timings.queueWaitS += timing.queuedMs / 1000;
  };
  const accountBarrier = (result: GenerateResult): void => {
    if (!result.turnBarrier) return;
    timings.barrierWaitS += result.turnBarrier.waitMs / 1000;
    timings.turnTrajectoryS += (result.turnBarrier.trajectories * result.turnBarrier.spanMs) / 1000;
  };

  let turn = 0;
  // Names the turn and activity of a failure, so the run's `blocked` status can say what broke.
  const attempt = async <T>(activity: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      throw shardFailure(err, activity, activity === 'score' ? null : turn);
    }
  };

  let generated: GenerateResult = await attempt('generate', () =>
    rollout.generate.executeWithOptions({ summary: `${label} / turn 0: generate`, ...heartbeat }, [
      {
        ...request,
        turn,
        prompts: {
          datasetPath: input.datasetPath,
          rowIndices: input.rowIndices,
          ...(input.datasetFields ? { fields: input.datasetFields } : {}),
        },
      },
    ]),
  );
  account('generateS', generated.timing);
  accountBarrier(generated);
  let tokensGenerated = generated.tokensGenerated;
  let executions = 0;
  const executionsByStatus: ExecuteCodeResult['byStatus'] = {};

  // Each trajectory executes at most `toolBudget` blocks, so the loop ends after that many
  // execution turns at the latest; the bound guards against an engine that ignores the budget.
  while (generated.awaitingExecution > 0 && turn < settings.toolBudget) {
    const pending = generated;
    const executed = await attempt('executeCode', () =>
      sandbox.executeCode.executeWithOptions(
        {
          summary: `${label} / turn ${turn}: execute ${pending.awaitingExecution} code blocks`,
          ...heartbeat,
        },
        [
          {
            runId,
            step,
            shard,
            turn,
            generatedKey: pending.generatedKey,
            timeoutS: settings.sandboxLimits.timeoutS,
            memoryMb: settings.sandboxLimits.memoryMb,
          },
        ],
      ),
    );
    account('executeS', executed.timing);
    executions += executed.executions;
    for (const [status, count] of Object.entries(executed.byStatus)) {
      const key = status as keyof ExecuteCodeResult['byStatus'];
      executionsByStatus[key] = (executionsByStatus[key] ?? 0) + (count ?? 0);
    }
    turn += 1;
    generated = await attempt('generate', () =>
      rollout.generate.executeWithOptions({ summary: `${label} / turn ${turn}: generate`, ...heartbeat }, [
        {
          ...request,
          turn,
          previous: { generatedKey: pending.generatedKey, executedKey: executed.executedKey },
        },
      ]),
    );
    account('generateS', generated.timing);
    accountBarrier(generated);
    tokensGenerated += generated.tokensGenerated;
  }

  const finished = generated;
  const score = await attempt('score', () =>
    reward.score.executeWithOptions({ summary: `${label}: score`, ...heartbeat }, [
      {
        runId,
        step,
        shard,
        generatedKey: finished.generatedKey,
        formatMode: settings.formatMode,
        ...(settings.filterBand !== undefined ? { filterBand: settings.filterBand } : {}),
      },
    ]),
  );
  account('scoreS', score.timing);
  return {
    shard,
    scoredKey: score.scoredKey,
    trajectories: score.trajectories,
    turns: turn + 1,
    tokensGenerated,
    executions,
    executionsByStatus,
    score,
    timings,
  };
}

/** The failure a shard ends with: the activity's own, wrapped with the turn and activity named. */
function shardFailure(err: unknown, activity: string, turn: number | null): unknown {
  if (isCancellation(err) || !(err instanceof ActivityFailure)) return err;
  const cause = err.cause;
  const details: ShardFailureDetails = {
    turn,
    activity,
    errorType: cause instanceof ApplicationFailure ? (cause.type ?? null) : null,
    message: cause?.message ?? err.message,
  };
  const where = turn === null ? activity : `turn ${turn}: ${activity}`;
  return ApplicationFailure.create({
    message: `${where} failed: ${details.message}`,
    type: SHARD_FAILED,
    details: [details],
    nonRetryable: true,
    cause: err,
  });
}

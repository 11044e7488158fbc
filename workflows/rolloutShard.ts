/**
 * One shard of a step's rollout: the ZeroTIR turn loop.
 *   generate → (executeCode → generate)* → score
 * A trajectory that stops at a closed ```python block waits for the sandbox; its output is
 * appended by the next generate turn. Each turn is one retryable activity, so a failed turn
 * is retried alone and the shard's other work is kept.
 */
import type { ExecuteCodeResult, GenerateInput, ScoreResult } from '../common/activityContracts';
import type { EngineConfig } from '../common/config';
import type { PolicyRef } from '../common/policy';
import { heartbeatTimeout, rollout, reward, sandbox } from './activityOptions';

export interface RolloutShardInput {
  /** Key namespace of the shard's artifacts (the run id, or the evaluation's). */
  runId: string;
  step: number;
  shard: number;
  /** How the UI names this shard: "step 12 / shard 3" or "eval after step 10 / shard 0". */
  label: string;
  policy: PolicyRef;
  engine: EngineConfig;
  template: 'tool' | 'noTool';
  sampling: GenerateInput['sampling'];
  toolBudget: number;
  observationTokenCap: number;
  seed: number;
  datasetPath: string;
  rowIndices: number[];
  samplesPerPrompt: number;
  sandboxLimits: { timeoutS: number; memoryMb: number };
  formatMode: 'strict' | 'loose';
  /** `timeouts.activityHeartbeatS` of the run; absent in shards started before it existed. */
  heartbeatTimeoutS?: number;
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
}

export async function rolloutShard(input: RolloutShardInput): Promise<RolloutShardResult> {
  const { runId, step, shard, label } = input;
  const request = {
    runId,
    step,
    shard,
    policy: input.policy,
    engine: input.engine,
    template: input.template,
    sampling: input.sampling,
    toolBudget: input.toolBudget,
    observationTokenCap: input.observationTokenCap,
    seed: input.seed,
  };

  const heartbeat = heartbeatTimeout(input.heartbeatTimeoutS);

  let turn = 0;
  let generated = await rollout.generate.executeWithOptions(
    { summary: `${label} / turn 0: generate`, ...heartbeat },
    [
      {
        ...request,
        turn,
        prompts: {
          datasetPath: input.datasetPath,
          rowIndices: input.rowIndices,
          samplesPerPrompt: input.samplesPerPrompt,
        },
      },
    ],
  );
  let tokensGenerated = generated.tokensGenerated;
  let executions = 0;
  const executionsByStatus: ExecuteCodeResult['byStatus'] = {};

  // Each trajectory executes at most `toolBudget` blocks, so the loop ends after that many
  // execution turns at the latest; the bound guards against an engine that ignores the budget.
  while (generated.awaitingExecution > 0 && turn < input.toolBudget) {
    const executed = await sandbox.executeCode.executeWithOptions(
      {
        summary: `${label} / turn ${turn}: execute ${generated.awaitingExecution} code blocks`,
        ...heartbeat,
      },
      [
        {
          runId,
          step,
          shard,
          turn,
          generatedKey: generated.generatedKey,
          timeoutS: input.sandboxLimits.timeoutS,
          memoryMb: input.sandboxLimits.memoryMb,
        },
      ],
    );
    executions += executed.executions;
    for (const [status, count] of Object.entries(executed.byStatus)) {
      const key = status as keyof ExecuteCodeResult['byStatus'];
      executionsByStatus[key] = (executionsByStatus[key] ?? 0) + (count ?? 0);
    }
    turn += 1;
    generated = await rollout.generate.executeWithOptions(
      { summary: `${label} / turn ${turn}: generate`, ...heartbeat },
      [
        {
          ...request,
          turn,
          previous: { generatedKey: generated.generatedKey, executedKey: executed.executedKey },
        },
      ],
    );
    tokensGenerated += generated.tokensGenerated;
  }

  const score = await reward.score.executeWithOptions({ summary: `${label}: score`, ...heartbeat }, [
    { runId, step, shard, generatedKey: generated.generatedKey, formatMode: input.formatMode },
  ]);
  return {
    shard,
    scoredKey: score.scoredKey,
    trajectories: score.trajectories,
    turns: turn + 1,
    tokensGenerated,
    executions,
    executionsByStatus,
    score,
  };
}

/**
 * A step's rollout: its prompts split into K shards, each a `rolloutShard` child workflow,
 * run concurrently. A shard that exhausts its retries blocks (blockedWork.ts) until an
 * operator retries or skips it; the others' work is kept either way.
 */
import { executeChild } from '@temporalio/workflow';
import type { RunConfig } from '../common/config';
import type { PolicyRef } from '../common/policy';
import type { RolloutSettings } from '../common/rolloutSettings';
import { deriveSeed, splitIntoShards, stepPromptIndices } from '../common/schedule';
import { workflowIds } from '../common/workflowIds';
import type { BlockedWorkBoard } from './blockedWork';
import { rolloutShard, type ShardTimings } from './rolloutShard';
import type { StepRollout } from './runState';

export interface StepRolloutInput {
  runId: string;
  config: RunConfig;
  step: number;
  policy: PolicyRef;
  settings: RolloutSettings;
  hyperparameters: StepRollout['hyperparameters'];
  trainRows: number;
  board: BlockedWorkBoard;
  /** True when an operator's stop makes this step's rollout unnecessary. */
  stopRequested: () => boolean;
  /** Start options every shard child gets (search attributes), or none. */
  childOptions: (shard: number) => object;
}

export async function rolloutStep(input: StepRolloutInput): Promise<StepRollout> {
  const { runId, config, step, policy, settings, board } = input;
  const startedAtMs = Date.now();
  // The step's prompts, deterministic from (run seed, step).
  const prompts = stepPromptIndices(config.seed, step, config.rollout.promptsPerStep, input.trainRows);
  const shards = await Promise.all(
    splitIntoShards(prompts, config.rollout.shards).map((rowIndices, shard) =>
      board.untilDone(
        {
          id: `step-${step}/shard-${shard}`,
          what: 'rollout shard',
          step,
          shard,
          skippable: true,
          stopRequested: input.stopRequested,
        },
        () =>
          executeChild(rolloutShard, {
            workflowId: workflowIds.rolloutShard(runId, step, shard),
            staticSummary: `step ${step} / shard ${shard}: ${rowIndices.length} prompts × ${settings.samplesPerPrompt} samples (policy v${policy.version})`,
            ...input.childOptions(shard),
            args: [
              {
                runId,
                step,
                shard,
                label: `step ${step} / shard ${shard}`,
                policy,
                rollout: settings,
                seed: deriveSeed(config.seed, step, shard),
                datasetPath: config.data.train,
                rowIndices,
              },
            ],
          }),
      ),
    ),
  );
  const timings: ShardTimings = { generateS: 0, executeS: 0, scoreS: 0, queueWaitS: 0 };
  for (const shard of shards) {
    if (!shard?.timings) continue;
    timings.generateS += shard.timings.generateS;
    timings.executeS += shard.timings.executeS;
    timings.scoreS += shard.timings.scoreS;
    timings.queueWaitS += shard.timings.queueWaitS;
  }
  return {
    step,
    behaviourPolicyVersion: policy.version,
    temperature: settings.sampling.temperature,
    hyperparameters: input.hyperparameters,
    scoredKeys: shards.flatMap((shard) => (shard ? [shard.scoredKey] : [])),
    skipped: board.takeSkipped(step),
    startedAtMs,
    timings: { ...timings, rolloutS: (Date.now() - startedAtMs) / 1000 },
  };
}

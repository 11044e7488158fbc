/**
 * A step's rollout: its prompts split into K shards, each a `rolloutShard` child workflow,
 * run concurrently. A shard that exhausts its retries blocks (blockedWork.ts) until an
 * operator retries or skips it; the others' work is kept either way.
 */
import { executeChild } from '@temporalio/workflow';
import type { RunConfig } from '../common/config';
import type { PolicyRef } from '../common/policy';
import type { RolloutSettings } from '../common/rolloutSettings';
import { deriveSeed, refillPromptIndices, splitIntoShards, stepPromptIndices } from '../common/schedule';
import { workflowIds } from '../common/workflowIds';
import type { BlockedWorkBoard } from './blockedWork';
import { rolloutShard, type RolloutShardResult, type ShardTimings } from './rolloutShard';
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
  const { config, step, settings, board } = input;
  const startedAtMs = Date.now();
  // The step's prompts, deterministic from (run seed, step).
  const prompts = stepPromptIndices(config.seed, step, config.rollout.promptsPerStep, input.trainRows);
  const shards = await runShards(input, splitIntoShards(prompts, config.rollout.shards), 0);

  // Refill: dynamic filtering left fewer groups than the batch needs, so sample more prompts
  // (further shards) until it is full or the rounds run out.
  const needed = config.rollout.promptsPerStep;
  const counted = (list: typeof shards) =>
    list.reduce(
      (sum, shard) => ({
        sampled: sum.sampled + (shard?.score.groups ?? 0),
        kept: sum.kept + (shard?.score.groupsKept ?? 0),
      }),
      { sampled: 0, kept: 0 },
    );
  let { sampled, kept } = counted(shards);
  let refillRounds = 0;
  let refillPrompts = 0;
  const promptsPerShard = Math.ceil(needed / config.rollout.shards);
  // `refillRounds` is absent from configs of runs started before it existed: no refill.
  while (refillRounds < (config.rollout.refillRounds ?? 0) && kept < needed) {
    refillRounds += 1;
    // Enough prompts for what is missing at the keep rate seen so far (at least a quarter, so
    // a step where nothing was kept yet does not ask for the whole dataset), in whole shards.
    const keepRate = Math.max(sampled > 0 ? kept / sampled : 0, 0.25);
    const count = Math.min(needed, Math.ceil((needed - kept) / keepRate));
    const shardCount = Math.ceil(count / promptsPerShard);
    const rows = refillPromptIndices(
      config.seed,
      step,
      refillRounds,
      shardCount * promptsPerShard,
      input.trainRows,
    );
    const more = await runShards(input, splitIntoShards(rows, shardCount), shards.length);
    shards.push(...more);
    refillPrompts += rows.length;
    ({ sampled, kept } = counted(shards));
  }

  const timings: Required<ShardTimings> = {
    generateS: 0,
    executeS: 0,
    scoreS: 0,
    queueWaitS: 0,
    barrierWaitS: 0,
    turnTrajectoryS: 0,
  };
  for (const shard of shards) {
    if (!shard?.timings) continue;
    for (const key of Object.keys(timings) as Array<keyof ShardTimings>)
      timings[key] += shard.timings[key] ?? 0;
  }
  return {
    step,
    behaviourPolicyVersion: input.policy.version,
    temperature: settings.sampling.temperature,
    hyperparameters: input.hyperparameters,
    scoredKeys: shards.flatMap((shard) => (shard ? [shard.scoredKey] : [])),
    skipped: board.takeSkipped(step),
    startedAtMs,
    timings: { ...timings, rolloutS: (Date.now() - startedAtMs) / 1000 },
    ...(refillRounds > 0 || config.rollout.refillRounds !== undefined
      ? { groups: { needed, sampled, kept, refillRounds, refillPrompts } }
      : {}),
  };
}

/** Runs shards (numbered from `firstShard`) concurrently; a skipped shard resolves to null. */
function runShards(
  input: StepRolloutInput,
  parts: number[][],
  firstShard: number,
): Promise<Array<RolloutShardResult | null>> {
  const { runId, config, step, policy, settings, board } = input;
  return Promise.all(
    parts.map((rowIndices, index) => {
      const shard = firstShard + index;
      return board.untilDone(
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
            staticSummary:
              `step ${step} / shard ${shard}${firstShard > 0 ? ' (refill)' : ''}: ${rowIndices.length} prompts × ` +
              `${settings.samplesPerPrompt} samples (policy v${policy.version})`,
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
                // A layout the reader needs told about (config `data.fields`); absent in old configs.
                ...(config.data.fields ? { datasetFields: config.data.fields } : {}),
                rowIndices,
              },
            ],
          }),
      );
    }),
  );
}

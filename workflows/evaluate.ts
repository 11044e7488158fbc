/**
 * Evaluation of one policy on a split: the same rollout shards as training (so tool use is
 * measured exactly as trained), greedy when one sample per prompt, then accuracy, pass@k and
 * avg@k per level. Writes nothing a training step reads.
 */
import { executeChild } from '@temporalio/workflow';
import type { EvaluationSummary } from '../common/activityContracts';
import type { RunConfig } from '../common/config';
import type { PolicyRef } from '../common/policy';
import { evaluationRolloutSettings } from '../common/rolloutSettings';
import { deriveSeed, splitIntoShards, stepPromptIndices } from '../common/schedule';
import { workflowIds } from '../common/workflowIds';
import { heartbeatTimeout, reward } from './activityOptions';
import { rolloutShard } from './rolloutShard';

export interface EvaluateInput {
  runId: string;
  /** The policy's step (its version); names the artifacts and the UI entries. */
  step: number;
  policy: PolicyRef;
  config: RunConfig;
  split: 'validation';
  /** Rows in the split (from prepareRun). */
  splitRows: number;
}

const EVALUATION_SAMPLE_SEED = 0xe7a1;

export async function evaluate(input: EvaluateInput): Promise<EvaluationSummary> {
  const { config, step } = input;
  const evaluation = config.evaluation;
  const rows = evaluation.prompts > 0 ? Math.min(evaluation.prompts, input.splitRows) : input.splitRows;
  // The same seeded sample of the split at every evaluation, so the curve compares like with
  // like; split files are ordered by level, so a plain prefix would hold one level only.
  const rowIndices = stepPromptIndices(EVALUATION_SAMPLE_SEED, 1, rows, input.splitRows).sort(
    (a, b) => a - b,
  );
  const namespace = workflowIds.evaluation(input.runId, step);
  const rollout = evaluationRolloutSettings(config);
  const shards = splitIntoShards(rowIndices, config.rollout.shards);

  const results = await Promise.all(
    shards.map((shardRows, shard) =>
      executeChild(rolloutShard, {
        workflowId: workflowIds.evaluationShard(input.runId, step, shard),
        staticSummary: `eval of policy v${input.policy.version} / shard ${shard}: ${shardRows.length} prompts`,
        args: [
          {
            runId: namespace,
            step,
            shard,
            label: `eval v${input.policy.version} / shard ${shard}`,
            policy: input.policy,
            rollout,
            seed: deriveSeed(config.seed, 0xe7a1, step, shard),
            datasetPath: config.data.validation,
            rowIndices: shardRows,
          },
        ],
      }),
    ),
  );

  return reward.summarizeEvaluation.executeWithOptions(
    {
      summary: `eval of policy v${input.policy.version}: summarize`,
      ...heartbeatTimeout(config.timeouts.activityHeartbeatS),
    },
    [
      {
        runId: input.runId,
        step,
        split: input.split,
        policyVersion: input.policy.version,
        samplesPerPrompt: evaluation.samples,
        scoredKeys: results.map((r) => r.scoredKey),
      },
    ],
  );
}

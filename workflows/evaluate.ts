/**
 * Evaluation of one policy on one set: the same rollout shards as training (so tool use is
 * measured exactly as trained), greedy when one sample per prompt, then avg@k, pass@k, maj@k and
 * the tool-use statistics. Writes nothing a training step reads.
 *
 * Two forms. A training run's validation evaluation (no `set`): a fixed seeded sample of the
 * validation split in `rollout.shards` shards, as recorded histories replay it. A set (a
 * benchmark, or any dataset): `selectEvaluationRows` picks the rows that fit the policy's
 * context (the rest are skipped, counted wrong), split into shards of
 * `evaluation.promptsPerShard` prompts, at the input's tool budget (one point of a sweep).
 */
import { defineQuery, executeChild, setHandler } from '@temporalio/workflow';
import type { EvaluationSkips, EvaluationSummary } from '../common/activityContracts';
import type { EvaluationSet } from '../common/benchmarks';
import type { RunConfig } from '../common/config';
import type { PolicyRef } from '../common/policy';
import { evaluationRolloutSettings, type RolloutSettings } from '../common/rolloutSettings';
import { deriveSeed, splitIntoShards, stepPromptIndices } from '../common/schedule';
import { workflowIds } from '../common/workflowIds';
import { heartbeatTimeout, reward, rollout } from './activityOptions';
import { rolloutShard, type RolloutShardResult } from './rolloutShard';

export interface EvaluateInput {
  /** The run (or standalone evaluation) the results are stored under. */
  runId: string;
  /** The policy's step (its version); names the artifacts and the UI entries. */
  step: number;
  policy: PolicyRef;
  config: RunConfig;
  /** The set's name: `validation` or a benchmark. */
  split: string;
  /** Rows in the validation split (from prepareRun); unused with `set`. */
  splitRows: number;
  /** A set to evaluate instead of the run's validation sample. */
  set?: EvaluationSet;
  /** The tool budget of this evaluation (a sweep point); default evaluation.toolBudget ?? rollout.toolBudget. */
  toolBudget?: number;
  /** Name of the results when it differs from the set's (a sweep: `math500-tools-4`). */
  unit?: string;
}

/** Where an evaluation stands, for `tirflow eval`'s progress line. */
export interface EvaluationProgress {
  unit: string;
  /** Prompts of the set, skipped ones included; null until the rows are selected. */
  prompts: number | null;
  skipped: number;
  shards: number;
  shardsDone: number;
  /** Prompts of finished shards. */
  promptsDone: number;
  done: boolean;
}

export const evaluationProgressQuery = defineQuery<EvaluationProgress>('evaluationProgress');

const EVALUATION_SAMPLE_SEED = 0xe7a1;

export async function evaluate(input: EvaluateInput): Promise<EvaluationSummary> {
  const { config, step } = input;
  const evaluation = config.evaluation;
  const unit = input.unit ?? input.split;
  const progress: EvaluationProgress = {
    unit,
    prompts: null,
    skipped: 0,
    shards: 0,
    shardsDone: 0,
    promptsDone: 0,
    done: false,
  };
  setHandler(evaluationProgressQuery, () => progress);

  const base = evaluationRolloutSettings(
    config,
    input.toolBudget === undefined ? {} : { toolBudget: input.toolBudget },
  );
  // Configs stored before evaluation.maxResponseTokens existed lack it: the rollout's limit.
  const maxResponseTokens = evaluation.maxResponseTokens ?? config.rollout.maxResponseTokens;
  const settings: RolloutSettings = { ...base, sampling: { ...base.sampling, maxResponseTokens } };
  const { toolBudget } = settings;
  const temperature = settings.sampling.temperature;

  let datasetPath = config.data.validation;
  let shardRows: number[][];
  let skipped: EvaluationSkips | undefined;
  let namespace = workflowIds.evaluation(input.runId, step);
  let shardId = (shard: number): string => workflowIds.evaluationShard(input.runId, step, shard);
  if (input.set === undefined) {
    const rows = evaluation.prompts > 0 ? Math.min(evaluation.prompts, input.splitRows) : input.splitRows;
    // The same seeded sample of the split at every evaluation, so the curve compares like with
    // like; split files are ordered by level, so a plain prefix would hold one level only.
    const rowIndices = stepPromptIndices(EVALUATION_SAMPLE_SEED, 1, rows, input.splitRows).sort(
      (a, b) => a - b,
    );
    shardRows = splitIntoShards(rowIndices, config.rollout.shards);
    progress.prompts = rowIndices.length;
  } else {
    const selected = await rollout.selectEvaluationRows.executeWithOptions(
      {
        summary: `eval of policy v${input.policy.version} / ${unit}: select the prompts that fit`,
        ...heartbeatTimeout(config.timeouts.activityHeartbeatS),
      },
      [{ set: input.set, policy: input.policy, template: config.template, maxResponseTokens }],
    );
    datasetPath = selected.path;
    skipped = selected.skipped;
    const perShard = evaluation.promptsPerShard ?? 32;
    const shardCount = Math.max(1, Math.ceil(selected.rowIndices.length / perShard));
    shardRows = splitIntoShards(selected.rowIndices, shardCount).filter((rows) => rows.length > 0);
    progress.prompts = selected.rowIndices.length + skipped.prompts;
    progress.skipped = skipped.prompts;
    namespace = workflowIds.evaluationSet(input.runId, step, unit);
    shardId = (shard) => workflowIds.evaluationSetShard(input.runId, step, unit, shard);
  }
  progress.shards = shardRows.length;
  progress.promptsDone = progress.skipped;

  const label = input.set === undefined ? '' : ` / ${unit}`;
  const results = await Promise.all(
    shardRows.map((rowIndices, shard) =>
      executeChild(rolloutShard, {
        workflowId: shardId(shard),
        staticSummary: `eval of policy v${input.policy.version}${label} / shard ${shard}: ${rowIndices.length} prompts`,
        args: [
          {
            runId: namespace,
            step,
            shard,
            label: `eval v${input.policy.version}${label} / shard ${shard}`,
            policy: input.policy,
            rollout: settings,
            seed: deriveSeed(config.seed, 0xe7a1, step, shard),
            datasetPath,
            ...(input.set?.fields ? { datasetFields: input.set.fields } : {}),
            rowIndices,
          },
        ],
      }).then((result: RolloutShardResult) => {
        progress.shardsDone += 1;
        progress.promptsDone += rowIndices.length;
        return result;
      }),
    ),
  );

  const summary = await reward.summarizeEvaluation.executeWithOptions(
    {
      summary: `eval of policy v${input.policy.version}${label}: summarize`,
      ...heartbeatTimeout(config.timeouts.activityHeartbeatS),
    },
    [
      {
        runId: input.runId,
        step,
        split: input.split,
        ...(input.unit !== undefined ? { unit: input.unit } : {}),
        policyVersion: input.policy.version,
        samplesPerPrompt: evaluation.samples,
        scoredKeys: results.map((r) => r.scoredKey),
        settings: { toolBudget, temperature, maxResponseTokens },
        ...(skipped ? { skipped } : {}),
      },
    ],
  );
  progress.done = true;
  return summary;
}

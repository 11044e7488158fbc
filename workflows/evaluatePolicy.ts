/**
 * A standalone evaluation (`tirflow eval`): check the model, export the policy for the onnx
 * engine when needed, then one `evaluate` child per set and tool budget (a sweep is several
 * budgets), all at once, and file the results with the evaluation and with the run whose policy
 * it was. Every set and shard is its own retryable, resumable child, named in the UI.
 */
import { defineQuery, executeChild, patched, setHandler } from '@temporalio/workflow';
import type { EvaluationRecord, EvaluationResult, EvaluationSummary } from '../common/activityContracts';
import { evaluationUnitName, type EvaluationSet } from '../common/benchmarks';
import type { RunConfig } from '../common/config';
import type { PolicyRef } from '../common/policy';
import { workflowIds } from '../common/workflowIds';
import { heartbeatTimeout, reward, rollout, trainer } from './activityOptions';
import { evaluate } from './evaluate';

export interface EvaluatePolicyInput {
  /** Key namespace of the evaluation's artifacts (its workflow id). */
  evaluationId: string;
  config: RunConfig;
  policy: PolicyRef;
  /** The sets to evaluate. Absent (evaluations started before benchmarks existed): the validation split. */
  sets?: EvaluationSet[];
  /** One budget: a plain evaluation; several: the sweep. Default: evaluation.toolBudget ?? rollout.toolBudget. */
  toolBudgets?: number[];
  /** How the user named the policy, its run (RUN:STEP) and where the settings came from, for the record. */
  about?: { ref: string; runId: string | null; configSource: string };
}

/** What a standalone evaluation returns: the record it filed (the sets' summaries inside). */
export type EvaluatePolicyResult = EvaluationRecord;

/** The units of an evaluation and their child workflow ids, for progress. */
export interface EvaluatePolicyProgress {
  phase: 'preparing' | 'exporting' | 'evaluating' | 'recording' | 'done';
  units: { unit: string; workflowId: string; done: boolean }[];
}

export const evaluatePolicyProgressQuery = defineQuery<EvaluatePolicyProgress>('evaluatePolicyProgress');

export async function evaluatePolicy(
  input: EvaluatePolicyInput,
): Promise<EvaluatePolicyResult | EvaluationSummary> {
  const { evaluationId: runId, config } = input;
  const progress: EvaluatePolicyProgress = { phase: 'preparing', units: [] };
  setHandler(evaluatePolicyProgressQuery, () => progress);
  // Evaluations started before sets existed replay their single validation child.
  const sets = patched('evaluation-sets') ? input.sets : undefined;
  const prepared = await rollout.prepareRun.executeWithOptions(
    { summary: 'validate config, datasets, model', ...heartbeatTimeout(config.timeouts.activityHeartbeatS) },
    [{ runId, config, datasets: sets === undefined ? [config.data.validation] : [], modelDir: config.model }],
  );
  let policy = input.policy;
  if (config.engine.kind === 'onnx' && policy.onnxDir === null) {
    progress.phase = 'exporting';
    policy = await trainer.exportPolicy.executeWithOptions(
      {
        summary: `export policy v${policy.version} to ONNX`,
        ...heartbeatTimeout(config.timeouts.trainerHeartbeatS),
      },
      [{ runId, policy }],
    );
  }
  progress.phase = 'evaluating';
  if (sets === undefined) {
    return executeChild(evaluate, {
      workflowId: workflowIds.evaluation(runId, policy.version),
      staticSummary: `evaluate policy v${policy.version} on validation`,
      args: [
        {
          runId,
          step: policy.version,
          policy,
          config,
          split: 'validation',
          splitRows: prepared.datasets[0]!.rows,
        },
      ],
    });
  }

  const budgets = input.toolBudgets ?? [config.evaluation.toolBudget ?? config.rollout.toolBudget];
  const sweep = budgets.length > 1;
  const units = budgets.flatMap((toolBudget) =>
    sets.map((set) => {
      const unit = evaluationUnitName(set.name, sweep ? toolBudget : null);
      return { unit, set, toolBudget, workflowId: workflowIds.evaluationSet(runId, policy.version, unit) };
    }),
  );
  progress.units = units.map(({ unit, workflowId }) => ({ unit, workflowId, done: false }));
  const results: EvaluationResult[] = await Promise.all(
    units.map(async ({ unit, set, toolBudget, workflowId }, index) => {
      const summary = await executeChild(evaluate, {
        workflowId,
        staticSummary: `evaluate policy v${policy.version} on ${set.name}, tool budget ${toolBudget}`,
        args: [
          {
            runId,
            step: policy.version,
            policy,
            config,
            split: set.name,
            splitRows: 0,
            set,
            toolBudget,
            ...(sweep ? { unit } : {}),
          },
        ],
      });
      progress.units[index]!.done = true;
      return { unit, set: set.name, toolBudget, summary };
    }),
  );

  progress.phase = 'recording';
  const evaluation = config.evaluation;
  const record: EvaluationRecord = {
    evaluationId: runId,
    policy: {
      ref: input.about?.ref ?? `policy v${policy.version}`,
      version: policy.version,
      runId: input.about?.runId ?? null,
    },
    configSource: input.about?.configSource ?? 'given',
    template: config.template,
    engine: config.engine.kind === 'openai' ? `openai (${config.engine.model})` : config.engine.kind,
    samplesPerPrompt: evaluation.samples,
    temperature: evaluation.samples === 1 ? 0 : evaluation.temperature,
    maxResponseTokens: evaluation.maxResponseTokens ?? config.rollout.maxResponseTokens,
    toolBudgets: budgets,
    results,
  };
  await reward.recordEvaluation.executeWithOptions(
    { summary: 'record the results', ...heartbeatTimeout(config.timeouts.activityHeartbeatS) },
    [{ record }],
  );
  progress.phase = 'done';
  return record;
}

/**
 * A standalone evaluation (`tirflow eval`): check the inputs, export the policy for the onnx
 * engine when needed, then the same `evaluate` a training run uses.
 */
import { executeChild } from '@temporalio/workflow';
import type { EvaluationSummary } from '../common/activityContracts';
import type { RunConfig } from '../common/config';
import type { PolicyRef } from '../common/policy';
import { workflowIds } from '../common/workflowIds';
import { heartbeatTimeout, rollout, trainer } from './activityOptions';
import { evaluate } from './evaluate';

export interface EvaluatePolicyInput {
  /** Key namespace of the evaluation's artifacts (its workflow id). */
  evaluationId: string;
  config: RunConfig;
  policy: PolicyRef;
}

export async function evaluatePolicy(input: EvaluatePolicyInput): Promise<EvaluationSummary> {
  const { evaluationId: runId, config } = input;
  const prepared = await rollout.prepareRun.executeWithOptions(
    { summary: 'validate config, datasets, model', ...heartbeatTimeout(config.timeouts.activityHeartbeatS) },
    [{ runId, config, datasets: [config.data.validation], modelDir: config.model }],
  );
  let policy = input.policy;
  if (config.engine.kind === 'onnx' && policy.onnxDir === null) {
    policy = await trainer.exportPolicy.executeWithOptions(
      {
        summary: `export policy v${policy.version} to ONNX`,
        ...heartbeatTimeout(config.timeouts.trainerHeartbeatS),
      },
      [{ runId, policy }],
    );
  }
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

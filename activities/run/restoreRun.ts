/**
 * `restoreRun` (rollout queue): what a resumed run (`tirflow train --resume`) picks up from the
 * artifact store: its recorded steps (metrics.jsonl), the policy the last of them produced and
 * the operator's settings then in force. The next step is the first unrecorded one; its
 * rollouts and a finished update are found in the store again, so nothing is trained twice.
 */
import { ApplicationFailure } from '@temporalio/common';
import type {
  EvaluationSummary,
  RestoreRunInput,
  RestoreRunResult,
  StepRecord,
} from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import type { PolicyRef } from '../../common/policy';
import { readJsonl, type ArtifactStore } from '../artifactStore';
import { HISTORY_LIMIT } from '../../workflows/runState';

export async function restoreRun(store: ArtifactStore, input: RestoreRunInput): Promise<RestoreRunResult> {
  const { runId } = input;
  const metricsKey = artifactKeys.metrics(runId);
  const records = (await store.exists(metricsKey)) ? await readJsonl<StepRecord>(store, metricsKey) : [];
  // Steps count only while they are consecutive from 1: a gap means a step was never recorded.
  let completedSteps = 0;
  for (const record of [...records].sort((a, b) => a.step - b.step)) {
    if (record.step !== completedSteps + 1) break;
    completedSteps = record.step;
  }
  const history = records.filter((r) => r.step <= completedSteps).slice(-HISTORY_LIMIT);
  const last = history.at(-1);
  const baseKey = artifactKeys.evaluation(runId, 0, 'validation');
  const baseEvaluation = (await store.exists(baseKey))
    ? (JSON.parse((await store.read(baseKey)).toString('utf8')) as EvaluationSummary)
    : null;
  if (!last) {
    return { completedSteps: 0, policy: input.basePolicy, history: [], overrides: {}, baseEvaluation };
  }
  const checkpointKey = artifactKeys.checkpoint(runId, last.policyVersion);
  if (!(await store.exists(`${checkpointKey}/meta.json`)) || !(await store.exists(`${checkpointKey}/hf`))) {
    throw ApplicationFailure.nonRetryable(
      `cannot resume ${runId}: step ${last.step} is recorded but its checkpoint ${checkpointKey}/hf is missing`,
      'ResumeCheckpointMissing',
    );
  }
  const onnxKey = `${checkpointKey}/onnx`;
  const policy: PolicyRef = {
    version: last.policyVersion,
    hfDir: { store: 'artifacts', key: `${checkpointKey}/hf` },
    onnxDir: (await store.exists(onnxKey)) ? { store: 'artifacts', key: onnxKey } : null,
  };
  return {
    completedSteps,
    policy,
    history,
    overrides: last.hyperparameters ? { ...last.hyperparameters } : {},
    baseEvaluation,
  };
}

/**
 * `recordEvaluation` (reward queue): files a standalone evaluation's settings and results under
 * its own id and, when it evaluated a run's policy (RUN:STEP), with that run, where
 * `tirflow report RUN` finds it. Same input, same bytes: a retry rewrites nothing new.
 */
import type { RecordEvaluationInput } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import type { ArtifactStore } from '../artifactStore';

export async function recordEvaluation(
  store: ArtifactStore,
  { record }: RecordEvaluationInput,
): Promise<{ keys: string[] }> {
  const text = `${JSON.stringify(record, null, 1)}\n`;
  const keys = [artifactKeys.evaluationRecord(record.evaluationId)];
  if (record.policy.runId !== null)
    keys.push(artifactKeys.runEvaluationRecord(record.policy.runId, record.evaluationId));
  for (const key of keys) await store.write(key, text);
  return { keys };
}

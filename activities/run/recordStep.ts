/**
 * `recordStep` (reward queue): one metrics.jsonl line per step, computed over every shard's
 * scored trajectories. Idempotent: a retried call replaces the step's line instead of adding a
 * second one, and the file is rewritten atomically.
 */
import type { RecordStepInput, StepRecord } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import { type ArtifactStore, readJsonl, writeJsonl } from '../artifactStore';
import { loadStepMetrics } from '../reward/stepMetrics';

export async function recordStep(store: ArtifactStore, input: RecordStepInput): Promise<StepRecord> {
  const record: StepRecord = {
    step: input.step,
    policyVersion: input.policyVersion,
    rollout: await loadStepMetrics(store, input.scoredKeys),
    update: input.update,
    evaluation: input.evaluation,
    ...(input.timings ? { timings: input.timings } : {}),
    ...(input.hyperparameters ? { hyperparameters: input.hyperparameters } : {}),
    ...(input.skipped && input.skipped.length > 0 ? { skipped: input.skipped } : {}),
    ...(input.groups ? { groups: input.groups } : {}),
    ...(input.behaviourPolicyVersion !== undefined
      ? { behaviourPolicyVersion: input.behaviourPolicyVersion }
      : {}),
  };
  const key = artifactKeys.metrics(input.runId);
  const earlier = (await store.exists(key)) ? await readJsonl<StepRecord>(store, key) : [];
  const records = [...earlier.filter((r) => r.step !== input.step), record].sort((a, b) => a.step - b.step);
  await writeJsonl(store, key, records);
  return record;
}

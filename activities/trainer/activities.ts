/**
 * Trainer role activities: `updatePolicy` (one RL step on the step's scored trajectories) and
 * `exportPolicy` (ONNX for the `onnx` engine). Both are idempotent: the trainer returns a
 * committed checkpoint instead of training a step twice, and an existing export is reused.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import {
  UPDATE_METRIC_NAMES,
  type ExportPolicyInput,
  type TrainerActivities,
  type UpdateMetrics,
  type UpdatePolicyInput,
  type UpdatePolicyResult,
} from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import { trainerSchema, trainerSettings } from '../../common/config';
import type { PolicyRef } from '../../common/policy';
import { modelPath, type ArtifactStore } from '../artifactStore';
import { checkWeights } from '../run/modelCheck';
import { snakeCase, toWireSettings } from './settingsSchema';
import { simulatedUpdate } from './simulatedUpdate';
import { TrainerProcessError, type TrainerProcess, type TrainerProgress } from './trainerProcess';

export interface TrainerActivityDeps {
  store: ArtifactStore;
  trainer: TrainerProcess;
  /** How often to heartbeat while the trainer works (default 5 s). */
  heartbeatMs?: number;
}

/**
 * The whole settings record of one update, as the Python train_step receives it (snake_case):
 * every trainer setting of the config (parsed again, so a workflow from an older release that
 * lacks a newer key gets its default), the run seed and the step's rollout temperature.
 */
export function toTrainerSettings(input: UpdatePolicyInput): Record<string, unknown> {
  const parsed = trainerSchema.safeParse(input.hyper);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `invalid trainer settings: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      'InvalidSettings',
    );
  }
  // Absent in inputs from workflows that predate them: what those runs trained with.
  return toWireSettings(trainerSettings(parsed.data, input.seed ?? 0, input.temperature ?? 1));
}

/** The trainer's snake_case metrics -> the UpdateMetrics record, every field required. */
export function toUpdateMetrics(result: Record<string, unknown>): UpdateMetrics {
  const entries = UPDATE_METRIC_NAMES.map((name) => {
    const value = result[snakeCase(name)];
    const nullable = NULLABLE_METRICS.has(name);
    if (!(typeof value === 'number' || (nullable && value === null))) {
      throw new TrainerProcessError('BadResponse', `trainer result lacks metric ${snakeCase(name)}`, false);
    }
    return [name, value];
  });
  return Object.fromEntries(entries) as UpdateMetrics;
}

const NULLABLE_METRICS = new Set<keyof UpdateMetrics>([
  'importanceWeightMean',
  'importanceWeightMax',
  'importanceWeightTruncatedFraction',
  'logprobGap',
]);

/** Trainer errors become Temporal failures: bad input is non-retryable, the rest retries. */
function asFailure(err: unknown): unknown {
  if (!(err instanceof TrainerProcessError)) return err;
  return err.retryable
    ? ApplicationFailure.retryable(err.message, err.type)
    : ApplicationFailure.nonRetryable(err.message, err.type);
}

/** Runs `work`, heartbeating every few seconds with the trainer's latest progress. */
async function withHeartbeat<T>(
  intervalMs: number,
  details: Record<string, unknown>,
  work: (onProgress: (progress: TrainerProgress) => void) => Promise<T>,
): Promise<T> {
  const ctx = Context.current();
  let latest: Record<string, unknown> = details;
  ctx.heartbeat(latest);
  const timer = setInterval(() => ctx.heartbeat(latest), intervalMs);
  try {
    return await work((progress) => {
      latest = { ...details, ...progress };
      ctx.heartbeat(latest);
    });
  } catch (err) {
    throw asFailure(err);
  } finally {
    clearInterval(timer);
  }
}

export function createTrainerActivities(deps: TrainerActivityDeps) {
  const { store, trainer } = deps;
  const heartbeatMs = deps.heartbeatMs ?? 5_000;

  async function updatePolicy(input: UpdatePolicyInput): Promise<UpdatePolicyResult> {
    if (input.hyper.kind === 'simulated')
      return simulatedUpdate(store, input, heartbeatMs, { toTrainerSettings, toUpdateMetrics });
    const { runId, step, policy, hyper } = input;
    const settings = toTrainerSettings(input); // refused before anything loads
    const checkpointKey = artifactKeys.checkpoint(runId, step);
    const hfKey = `${checkpointKey}/hf`;
    return withHeartbeat(heartbeatMs, { runId, step, phase: 'load' }, async (onProgress) => {
      await trainer.useProcessesPerNode(hyper.processesPerNode);
      // After a worker restart the process may hold another policy: step N updates v(N-1).
      await trainer.ensurePolicy({
        path: modelPath(store, policy.hfDir),
        version: policy.version,
        device: hyper.device,
      });
      const result = await trainer.request(
        'train_step',
        {
          step,
          scored_paths: input.scoredKeys.map((key) => store.pathOf(key)),
          checkpoint_dir: store.pathOf(checkpointKey),
          settings,
          export_onnx: input.exportOnnx,
          ...(input.maxGroups !== undefined ? { max_groups: input.maxGroups } : {}),
        },
        onProgress,
      );
      trainer.noteHeld({ path: store.pathOf(hfKey), version: step, device: hyper.device });
      const newPolicy: PolicyRef = {
        version: step,
        hfDir: { store: 'artifacts', key: hfKey },
        onnxDir: input.exportOnnx ? { store: 'artifacts', key: `${checkpointKey}/onnx` } : null,
      };
      return {
        policy: newPolicy,
        reused: result.reused === true,
        metrics: toUpdateMetrics(result),
      };
    });
  }

  /** ONNX export of a policy into its checkpoint's onnx/ folder (version 0: the base model), once. */
  async function exportPolicy(input: ExportPolicyInput): Promise<PolicyRef> {
    const { runId, policy } = input;
    if (policy.onnxDir !== null) return policy;
    const onnxKey = `${artifactKeys.checkpoint(runId, policy.version)}/onnx`;
    if (!(await store.exists(onnxKey))) {
      // A broken weights file makes torch raise what looks like a transient error: say so once,
      // non-retryably, instead of retrying the export for an hour (`tirflow eval --policy DIR`).
      await checkWeights(modelPath(store, policy.hfDir));
      await withHeartbeat(heartbeatMs, { runId, version: policy.version, phase: 'export' }, (onProgress) =>
        trainer.request(
          'export_onnx',
          { model_dir: modelPath(store, policy.hfDir), out_dir: store.pathOf(onnxKey) },
          onProgress,
        ),
      );
    }
    return { ...policy, onnxDir: { store: 'artifacts', key: onnxKey } };
  }

  return { updatePolicy, exportPolicy } satisfies TrainerActivities;
}

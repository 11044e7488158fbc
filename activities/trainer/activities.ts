/**
 * Trainer role activities: `updatePolicy` (one RL step on the step's scored trajectories) and
 * `exportPolicy` (ONNX for the `onnx` engine). Both are idempotent: the trainer returns a
 * committed checkpoint instead of training a step twice, and an existing export is reused.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type {
  ExportPolicyInput,
  TrainerActivities,
  TrainerHyperparameters,
  UpdatePolicyInput,
  UpdatePolicyResult,
} from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import type { PolicyRef } from '../../common/policy';
import { modelPath, type ArtifactStore } from '../artifactStore';
import { checkWeights } from '../run/modelCheck';
import { TrainerProcessError, type TrainerProcess, type TrainerProgress } from './trainerProcess';

export interface TrainerActivityDeps {
  store: ArtifactStore;
  trainer: TrainerProcess;
  /** How often to heartbeat while the trainer works (default 5 s). */
  heartbeatMs?: number;
}

/** camelCase config -> the snake_case `hyper` object of the Python train_step. */
export function toTrainerHyper(hyper: TrainerHyperparameters): Record<string, unknown> {
  return {
    algorithm: hyper.algorithm,
    lr: hyper.learningRate,
    eps_low: hyper.epsLow,
    eps_high: hyper.epsHigh,
    kl_coef: hyper.klCoef,
    loss_aggregation: hyper.lossAggregation,
    ppo_epochs: hyper.ppoEpochs,
    mini_batches: hyper.miniBatches,
    micro_batch_size: hyper.microBatchSize,
    max_grad_norm: hyper.maxGradNorm,
    device: hyper.device,
    dynamic_filtering: hyper.dynamicFiltering,
  };
}

function num(result: Record<string, unknown>, field: string): number {
  const value = result[field];
  if (typeof value !== 'number')
    throw new TrainerProcessError('BadResponse', `trainer result lacks ${field}`, true);
  return value;
}

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
    const { runId, step, policy, hyper } = input;
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
          hyper: toTrainerHyper(hyper),
          export_onnx: input.exportOnnx,
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
        metrics: {
          loss: num(result, 'loss'),
          gradNorm: num(result, 'grad_norm'),
          kl: num(result, 'kl'),
          clipFraction: num(result, 'clip_fraction'),
          entropy: num(result, 'entropy'),
          tokensPerSecond: num(result, 'tokens_per_s'),
          trainedTokens: num(result, 'trained_tokens'),
          groupsFiltered: num(result, 'groups_filtered'),
        },
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

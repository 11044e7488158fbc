/**
 * `updatePolicy` with `trainer.kind: simulated` (the paper-scale dry run, bench/paperScale.ts):
 * one `python -m tirflow_py.trainer.simulated` process per step reads and packs the step's scored
 * trajectories exactly as the torch trainer does, waits `trainer.simulatedUpdateS` (a GPU update's
 * duration) and commits a small checkpoint (tokenizer and config, a digest of the packed tensors,
 * no weights) under the step's key. Exactly once, as the torch path: a committed step-N
 * checkpoint is returned as is (reused), never written twice.
 */
import { createInterface } from 'node:readline';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import type { UpdateMetrics, UpdatePolicyInput, UpdatePolicyResult } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import { modelPath, type ArtifactStore } from '../artifactStore';
import { pythonProjectDir, requireVenvTool, venvPython } from '../projectPaths';

interface SimulatedReply {
  ok?: boolean;
  progress?: Record<string, unknown>;
  error?: { type?: string; message?: string; retryable?: boolean };
  [field: string]: unknown;
}

/** The torch path's conversions (activities.ts), shared so both send and read the same records. */
export interface TrainerRecords {
  toTrainerSettings(input: UpdatePolicyInput): Record<string, unknown>;
  toUpdateMetrics(result: Record<string, unknown>): UpdateMetrics;
}

export async function simulatedUpdate(
  store: ArtifactStore,
  input: UpdatePolicyInput,
  heartbeatMs: number,
  records: TrainerRecords,
): Promise<UpdatePolicyResult> {
  const { runId, step, policy, hyper } = input;
  if (input.exportOnnx) {
    throw ApplicationFailure.nonRetryable(
      'trainer.kind simulated writes no weights, so there is no policy to export to ONNX: use engine.kind simulated',
      'SimulatedTrainerConfig',
    );
  }
  const settings = records.toTrainerSettings(input); // refused before anything runs
  const checkpointKey = artifactKeys.checkpoint(runId, step);
  const request = {
    step,
    version: policy.version,
    scored_paths: input.scoredKeys.map((key) => store.pathOf(key)),
    checkpoint_dir: store.pathOf(checkpointKey),
    policy_dir: modelPath(store, policy.hfDir),
    update_s: hyper.simulatedUpdateS ?? 0,
    requested_at: Date.now() / 1000,
    settings,
    // Refill's cap on kept groups, applied as the torch trainer applies it.
    ...(input.maxGroups !== undefined ? { max_groups: input.maxGroups } : {}),
  };

  const context = Context.current();
  let latest: Record<string, unknown> = { runId, step, phase: 'start', simulated: true };
  context.heartbeat(latest);
  const timer = setInterval(() => context.heartbeat(latest), heartbeatMs);
  let reply: SimulatedReply | null = null;
  const stderrTail: string[] = [];
  try {
    const child = execa(requireVenvTool(venvPython), ['-m', 'tirflow_py.trainer.simulated'], {
      cwd: pythonProjectDir,
      input: JSON.stringify(request),
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      cancelSignal: context.cancellationSignal,
    });
    createInterface({ input: child.stderr }).on('line', (line) => {
      stderrTail.push(line);
      if (stderrTail.length > 10) stderrTail.shift();
      process.stderr.write(`${line}\n`);
    });
    const lines = createInterface({ input: child.stdout });
    const drained = new Promise<void>((resolve) => lines.once('close', resolve));
    lines.on('line', (line) => {
      let message: SimulatedReply;
      try {
        message = JSON.parse(line) as SimulatedReply;
      } catch {
        return;
      }
      if (message.progress !== undefined) {
        latest = { runId, step, simulated: true, ...message.progress };
        context.heartbeat(latest);
      } else {
        reply = message;
      }
    });
    const result = await child;
    await drained;
    if (result.isCanceled) throw context.cancellationSignal.reason ?? new Error('update cancelled');
    const answer = reply as SimulatedReply | null;
    if (answer === null) {
      throw ApplicationFailure.retryable(
        `the simulated update exited (${result.signal ?? `code ${result.exitCode}`}) without a result:\n${stderrTail.join('\n')}`,
        'TrainerProcessDied',
      );
    }
    if (answer.ok !== true) {
      const error = answer.error ?? {};
      const message = error.message ?? 'the simulated update failed';
      const type = error.type ?? 'TrainerError';
      throw error.retryable === false
        ? ApplicationFailure.nonRetryable(message, type)
        : ApplicationFailure.retryable(message, type);
    }
    return {
      policy: { version: step, hfDir: { store: 'artifacts', key: `${checkpointKey}/hf` }, onnxDir: null },
      reused: answer.reused === true,
      metrics: records.toUpdateMetrics(answer),
    };
  } finally {
    clearInterval(timer);
  }
}

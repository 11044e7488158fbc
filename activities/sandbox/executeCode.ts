/**
 * The `executeCode` activity (sandbox task queue): runs the code blocks a turn left pending,
 * concurrently up to the pool size, and writes one ExecutionResult per pending trajectory, in
 * input order, as one atomic artifact. Idempotent: when that artifact exists it is summarized,
 * not recomputed.
 *
 * Fault injection for retry tests (through the real activity, not a mock): when the env var
 * TIRFLOW_FAULT_EXECUTE_CODE_ONCE names a file that does not exist yet, the activity creates
 * it and fails once with a retryable error after running the code and before writing results,
 * so the retry must redo the work and still write the artifact exactly once.
 */
import { setMaxListeners } from 'node:events';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ExecuteCodeInput, ExecuteCodeResult, SandboxActivities } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import type { ExecutionResult, ExecutionStatus, Trajectory } from '../../common/trajectory';
import { readJsonl, writeJsonl, type ArtifactStore } from '../artifactStore';
import { resolveLimits, type SandboxLimits } from './limits';
import { faultSwitches, injectFaultOnce } from '../faults';
import type { SandboxPool } from './pool';

export interface SandboxActivityDeps {
  store: ArtifactStore;
  pool: SandboxPool;
}

export const faultEnvVar = faultSwitches.executeCode;

export function createSandboxActivities(deps: SandboxActivityDeps) {
  async function executeCode(input: ExecuteCodeInput): Promise<ExecuteCodeResult> {
    const executedKey = artifactKeys.executed(input.runId, input.step, input.shard, input.turn);
    if (await deps.store.exists(executedKey)) {
      return summarize(executedKey, await readJsonl<ExecutionResult>(deps.store, executedKey));
    }
    const pending = await pendingTrajectories(deps.store, input.generatedKey);
    const limits = validLimits(input);
    const context = Context.current();
    // Every queued execution listens on the activity's cancellation signal until it is
    // dispatched: a turn with many code blocks is many listeners, not a leak.
    setMaxListeners(pending.length + 10, context.cancellationSignal);
    let completed = 0;
    // Heartbeat on a clock too, not only per finished execution: a queue of slow executions
    // must not look like a dead worker under a short heartbeat timeout.
    const heartbeat = setInterval(() => context.heartbeat({ completed, total: pending.length }), 1000);
    let results: ExecutionResult[];
    try {
      results = await Promise.all(
        pending.map(async ({ id, code }): Promise<ExecutionResult> => {
          const result = await deps.pool.run(code, limits, context.cancellationSignal);
          completed++;
          context.heartbeat({ completed, total: pending.length });
          return { trajectoryId: id, ...result };
        }),
      );
    } finally {
      clearInterval(heartbeat);
    }
    await injectFaultOnce('executeCode');
    await writeJsonl(deps.store, executedKey, results);
    return summarize(executedKey, results);
  }

  return { executeCode } satisfies SandboxActivities;
}

async function pendingTrajectories(
  store: ArtifactStore,
  key: string,
): Promise<{ id: string; code: string }[]> {
  if (!(await store.exists(key))) {
    throw ApplicationFailure.nonRetryable(`generated trajectories not found: ${key}`, 'MissingArtifact');
  }
  let trajectories: Trajectory[];
  try {
    trajectories = await readJsonl<Trajectory>(store, key);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw ApplicationFailure.nonRetryable(
      `unreadable trajectories in ${key}: ${reason}`,
      'MalformedArtifact',
    );
  }
  return trajectories
    .filter((t) => t.phase === 'awaitingExecution')
    .map((t) => {
      if (typeof t.pendingCode !== 'string') {
        throw ApplicationFailure.nonRetryable(
          `trajectory ${t.id} in ${key} awaits execution but has no pendingCode`,
          'MalformedTrajectory',
        );
      }
      return { id: t.id, code: t.pendingCode };
    });
}

function validLimits(input: ExecuteCodeInput): Partial<SandboxLimits> {
  const limits = { timeoutS: input.timeoutS, memoryMb: input.memoryMb };
  try {
    resolveLimits(limits);
  } catch (err) {
    throw ApplicationFailure.nonRetryable((err as Error).message, 'InvalidSandboxLimits');
  }
  return limits;
}

function summarize(executedKey: string, results: readonly ExecutionResult[]): ExecuteCodeResult {
  const byStatus: Partial<Record<ExecutionStatus, number>> = {};
  for (const result of results) byStatus[result.status] = (byStatus[result.status] ?? 0) + 1;
  return { executedKey, executions: results.length, byStatus };
}

/**
 * What each worker role runs: its task queue, its activities and the long-lived resources
 * behind them (sandbox pool, grader pool, trainer process). `all` = every role in one process,
 * for a laptop.
 */
import { availableParallelism } from 'node:os';
import { taskQueues, type WorkerRole } from '../common/activityContracts';
import type { ArtifactStore } from '../activities/artifactStore';
import { createGenerationActivities } from '../activities/generation/generateActivity';
import { stopOnnxEngineThread } from '../activities/generation/onnxEngine';
import { GraderPool } from '../activities/reward/graderPool';
import { createRewardActivities } from '../activities/reward/score';
import { prepareRun } from '../activities/run/prepareRun';
import { recordStep } from '../activities/run/recordStep';
import { recordEvaluation } from '../activities/run/recordEvaluation';
import { selectEvaluationRows } from '../activities/run/selectEvaluationRows';
import { summarizeEvaluation } from '../activities/run/summarizeEvaluation';
import { createSandboxActivities, SandboxPool } from '../activities/sandbox';
import { createTrainerActivities } from '../activities/trainer/activities';
import { pruneCheckpoints } from '../activities/trainer/retention';
import { TrainerProcess } from '../activities/trainer/trainerProcess';
import { restoreRun } from '../activities/run/restoreRun';
import { timed } from '../activities/timing';

export const workerRoles: readonly WorkerRole[] = ['rollout', 'sandbox', 'reward', 'trainer'];

export interface RoleRuntime {
  role: WorkerRole;
  taskQueue: string;
  activities: Record<string, (...args: never[]) => Promise<unknown>>;
  /** Activities this role runs at once (a GPU role runs few, a CPU sandbox many). */
  maxConcurrentActivities: number;
  close(): Promise<void>;
}

export interface RoleOptions {
  store: ArtifactStore;
  /** Sandbox and grader processes; default one per core. */
  poolSize?: number;
  /** Extra environment for the trainer process (fault-injection switches in tests). */
  trainerEnv?: Record<string, string>;
  /** Intra-op threads of the in-process ONNX engine (default: onnxruntime's, one per core). */
  onnxThreads?: number;
}

export async function startRole(role: WorkerRole, options: RoleOptions): Promise<RoleRuntime> {
  const { store } = options;
  const poolSize = options.poolSize ?? availableParallelism();
  switch (role) {
    case 'rollout': {
      const generation = createGenerationActivities({
        store,
        ...(options.onnxThreads ? { onnx: { intraOpNumThreads: options.onnxThreads } } : {}),
      });
      return {
        role,
        taskQueue: taskQueues.rollout,
        activities: {
          ...generation,
          generate: timed(generation.generate),
          prepareRun: prepareRun.bind(null, store),
          restoreRun: restoreRun.bind(null, store),
          selectEvaluationRows: selectEvaluationRows.bind(null, store),
        },
        // One engine thread per process: shards take turns on it rather than thrash the cores.
        maxConcurrentActivities: 4,
        close: stopOnnxEngineThread,
      };
    }
    case 'sandbox': {
      const pool = new SandboxPool({ size: poolSize });
      await pool.start();
      const sandbox = createSandboxActivities({ store, pool });
      return {
        role,
        taskQueue: taskQueues.sandbox,
        activities: { ...sandbox, executeCode: timed(sandbox.executeCode) },
        maxConcurrentActivities: 8,
        close: () => pool.close(),
      };
    }
    case 'reward': {
      const graders = await GraderPool.start({ size: poolSize });
      const scoring = createRewardActivities({ store, graders });
      return {
        role,
        taskQueue: taskQueues.reward,
        activities: {
          ...scoring,
          score: timed(scoring.score),
          recordStep: recordStep.bind(null, store),
          summarizeEvaluation: summarizeEvaluation.bind(null, { store, graders }),
          pruneCheckpoints: pruneCheckpoints.bind(null, store),
          recordEvaluation: recordEvaluation.bind(null, store),
        },
        maxConcurrentActivities: 8,
        close: () => graders.close(),
      };
    }
    case 'trainer': {
      const trainer = new TrainerProcess({ env: options.trainerEnv });
      return {
        role,
        taskQueue: taskQueues.trainer,
        activities: createTrainerActivities({ store, trainer }),
        // One process holds the weights: updates and exports take turns.
        maxConcurrentActivities: 1,
        close: () => trainer.close(),
      };
    }
  }
}

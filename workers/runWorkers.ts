/**
 * A tirflow worker process: one Temporal worker per role on its own task queue, plus the
 * workflow worker (any role process can advance workflows, so no single process is special).
 * Stops gracefully on SIGINT/SIGTERM: activities in flight finish or are handed back.
 */
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { taskQueues, type WorkerRole } from '../common/activityContracts';
import type { ConnectionSecurity } from '../cli/connection';
import { LocalDirArtifactStore } from '../activities/artifactStore';
import { installWorkerLogging } from './logging';
import { startRole, type RoleRuntime } from './roles';

export interface WorkerProcessOptions {
  roles: WorkerRole[];
  address: string;
  namespace: string;
  /** TLS / API key of a secured cluster or Temporal Cloud; none for a local dev server. */
  security?: ConnectionSecurity;
  artifactRoot: string;
  /** Also poll the workflow task queue (default true). */
  hostWorkflows?: boolean;
  poolSize?: number;
  trainerEnv?: Record<string, string>;
  log?: (line: string) => void;
  /** Resolves when the worker should stop; default: the first SIGINT or SIGTERM. */
  stopSignal?: Promise<void>;
}

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

function signalled(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

export async function runWorkerProcess(options: WorkerProcessOptions): Promise<void> {
  const log = options.log ?? ((line: string) => console.log(line));
  installWorkerLogging();
  const store = new LocalDirArtifactStore(options.artifactRoot);
  const connection = await NativeConnection.connect({ address: options.address, ...options.security });
  const runtimes: RoleRuntime[] = [];
  try {
    for (const role of options.roles) {
      runtimes.push(
        await startRole(role, { store, poolSize: options.poolSize, trainerEnv: options.trainerEnv }),
      );
    }
    const workers = await Promise.all([
      ...runtimes.map((runtime) =>
        Worker.create({
          connection,
          namespace: options.namespace,
          taskQueue: runtime.taskQueue,
          activities: runtime.activities,
          maxConcurrentActivityTaskExecutions: runtime.maxConcurrentActivities,
          // Let activities finish their heartbeat-resumable work on SIGTERM before handing back.
          shutdownGraceTime: '10 seconds',
        }),
      ),
      ...(options.hostWorkflows === false
        ? []
        : [
            Worker.create({
              connection,
              namespace: options.namespace,
              taskQueue: taskQueues.workflows,
              workflowsPath,
            }),
          ]),
    ]);
    log(
      `tirflow worker up: roles ${options.roles.join(', ')}${options.hostWorkflows === false ? '' : ' + workflows'}` +
        ` | Temporal ${options.address} (${options.namespace}) | artifacts ${store.root}`,
    );
    const stop = options.stopSignal ?? signalled();
    void stop.then(() => {
      log('tirflow worker: shutting down (finishing activities in flight) ...');
      for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
    });
    await Promise.all(workers.map((worker) => worker.run()));
  } finally {
    await Promise.allSettled(runtimes.map((runtime) => runtime.close()));
    await connection.close();
  }
}

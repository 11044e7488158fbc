/**
 * A tirflow worker process: one Temporal worker per role on its own task queue, plus the
 * workflow worker (any role process can advance workflows, so no single process is special).
 * Stops gracefully on SIGINT/SIGTERM: activities in flight finish or are handed back.
 */
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { taskQueues, type WorkerRole } from '../common/activityContracts';
import type { ConnectionSecurity } from '../cli/connection';
import { LocalDirArtifactStore, sweepDeadWriters } from '../activities/artifactStore';
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
  onnxThreads?: number;
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

/**
 * Connects to Temporal, waiting with backoff (and saying so) while the server is unreachable:
 * a host reboot or a server restart racing the worker's own restart must not leave a role
 * without a worker. Resolves null when the worker is asked to stop while it waits.
 */
export async function connectWhenReachable(
  options: Pick<WorkerProcessOptions, 'address' | 'security'>,
  log: (line: string) => void,
  stop: Promise<void>,
  maxDelayMs = 30_000,
): Promise<NativeConnection | null> {
  let stopped = false;
  void stop.then(() => (stopped = true));
  for (let attempt = 1, delayMs = 1_000; ; attempt++, delayMs = Math.min(delayMs * 2, maxDelayMs)) {
    try {
      return await NativeConnection.connect({ address: options.address, ...options.security });
    } catch (err) {
      if (stopped) return null;
      const message = (err as Error).message;
      const reason = message.split('\n')[0];
      // A refused certificate reads like a network error from the core: say what to check.
      const tlsHint = /certificate|handshake|tls|ssl|alert|unknown ca/i.test(message)
        ? ' — the TLS handshake failed: check --tls-cert, --tls-key, --tls-ca and --tls-server-name'
        : '';
      log(
        `tirflow worker: Temporal at ${options.address} is unreachable (${reason})${tlsHint}; ` +
          `retrying in ${Math.round(delayMs / 1000)} s (attempt ${attempt})`,
      );
      await Promise.race([new Promise((r) => setTimeout(r, delayMs)), stop]);
      if (stopped) return null;
    }
  }
}

export async function runWorkerProcess(options: WorkerProcessOptions): Promise<void> {
  const log = options.log ?? ((line: string) => console.log(line));
  installWorkerLogging();
  const store = new LocalDirArtifactStore(options.artifactRoot);
  const stop = options.stopSignal ?? signalled();
  // Leftovers of writers killed mid-write (this host's dead processes), swept in the background.
  void sweepDeadWriters(store.root).then(
    (removed) => {
      if (removed.length > 0) log(`tirflow worker: removed ${removed.length} temp files of dead writers`);
    },
    (err: unknown) => log(`tirflow worker: temp-file sweep failed: ${(err as Error).message}`),
  );
  const connection = await connectWhenReachable(options, log, stop);
  if (!connection) return;
  const runtimes: RoleRuntime[] = [];
  try {
    for (const role of options.roles) {
      runtimes.push(
        await startRole(role, {
          store,
          poolSize: options.poolSize,
          trainerEnv: options.trainerEnv,
          onnxThreads: options.onnxThreads,
        }),
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

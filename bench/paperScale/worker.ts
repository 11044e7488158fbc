/**
 * One worker process of the dry run: the roles it is given (workers/roles.ts, as `tirflow worker`
 * runs them) on a MeteredArtifactStore, optionally the workflow task queue from a prebuilt bundle,
 * and a stats file rewritten every second with the store's operations and the process's peak
 * memory. Stops on SIGTERM, like a deployed worker.
 *
 *   tsx bench/paperScale/worker.ts --roles rollout[,sandbox...] --address HOST:PORT --artifacts DIR
 *                                  --stats FILE [--workflow-bundle FILE] [--pool-size N]
 */
import { writeFileSync, renameSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { NativeConnection, Worker } from '@temporalio/worker';
import { taskQueues, type WorkerRole } from '../../common/activityContracts';
import { installWorkerLogging } from '../../workers/logging';
import { startRole, workerRoles, type RoleRuntime } from '../../workers/roles';
import { MeteredArtifactStore } from './meteredStore';

export interface WorkerStats {
  pid: number;
  roles: WorkerRole[];
  hostsWorkflows: boolean;
  /** Peak resident set of this (node) process, bytes. */
  maxRssBytes: number;
  ops: MeteredArtifactStore['ops'];
}

const { values } = parseArgs({
  options: {
    roles: { type: 'string' },
    address: { type: 'string' },
    artifacts: { type: 'string' },
    stats: { type: 'string' },
    'workflow-bundle': { type: 'string' },
    'pool-size': { type: 'string' },
  },
});
const roles = (values.roles ?? '').split(',').filter(Boolean) as WorkerRole[];
if (
  roles.some((role) => !workerRoles.includes(role)) ||
  !values.address ||
  !values.artifacts ||
  !values.stats
) {
  console.error('usage: worker.ts --roles ROLE[,ROLE] --address HOST:PORT --artifacts DIR --stats FILE');
  process.exit(2);
}
const statsFile = values.stats;

installWorkerLogging();
const store = new MeteredArtifactStore(values.artifacts);
const poolSize = values['pool-size'] ? Number(values['pool-size']) : undefined;

function writeStats(): void {
  const stats: WorkerStats = {
    pid: process.pid,
    roles,
    hostsWorkflows: values['workflow-bundle'] !== undefined,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    ops: store.ops,
  };
  writeFileSync(`${statsFile}.tmp`, JSON.stringify(stats));
  renameSync(`${statsFile}.tmp`, statsFile);
}

const connection = await NativeConnection.connect({ address: values.address });
const runtimes: RoleRuntime[] = [];
try {
  for (const role of roles) runtimes.push(await startRole(role, { store, poolSize }));
  const bundle = values['workflow-bundle'];
  const workers = await Promise.all([
    ...runtimes.map((runtime) =>
      Worker.create({
        connection,
        taskQueue: runtime.taskQueue,
        activities: runtime.activities,
        maxConcurrentActivityTaskExecutions: runtime.maxConcurrentActivities,
        shutdownGraceTime: '10 seconds',
      }),
    ),
    ...(bundle
      ? [Worker.create({ connection, taskQueue: taskQueues.workflows, workflowBundle: { codePath: bundle } })]
      : []),
  ]);
  const timer = setInterval(writeStats, 1000);
  process.once('SIGTERM', () => {
    for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
  });
  writeStats();
  console.log(`ready ${roles.join(',')}`);
  await Promise.all(workers.map((worker) => worker.run()));
  clearInterval(timer);
} finally {
  await Promise.allSettled(runtimes.map((runtime) => runtime.close()));
  await connection.close();
  writeStats();
}

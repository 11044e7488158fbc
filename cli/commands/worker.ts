/** `tirflow worker --role ROLE`: a worker process polling its role's task queue (and the workflows'). */
import { Option, type Command } from 'commander';
import type { WorkerRole } from '../../common/activityContracts';
import { runWorkerProcess } from '../../workers/runWorkers';
import { workerRoles } from '../../workers/roles';
import { connectionSecurity, withClusterOptions, type ClusterOptions } from '../connection';
import { parsePositiveInt } from '../options';

export function registerWorker(program: Command): void {
  withClusterOptions(
    program
      .command('worker')
      .description('Run a worker for one role (or all roles) until SIGINT/SIGTERM.')
      .addOption(
        new Option('--role <role>', 'which activities this process runs')
          .choices([...workerRoles, 'all'])
          .makeOptionMandatory(),
      )
      .option('--pool-size <n>', 'sandbox / grader processes (default: one per core)', parsePositiveInt)
      .option(
        '--onnx-threads <n>',
        'threads of the in-process ONNX engine (default: one per core)',
        parsePositiveInt,
      )
      .option('--no-workflows', 'do not poll the workflow task queue'),
  ).action(
    async (
      opts: ClusterOptions & {
        role: WorkerRole | 'all';
        poolSize?: number;
        onnxThreads?: number;
        workflows: boolean;
      },
    ) => {
      await runWorkerProcess({
        roles: opts.role === 'all' ? [...workerRoles] : [opts.role],
        address: opts.address,
        namespace: opts.namespace,
        security: connectionSecurity(opts),
        artifactRoot: opts.artifacts,
        hostWorkflows: opts.workflows,
        poolSize: opts.poolSize,
        onnxThreads: opts.onnxThreads,
      });
    },
  );
}

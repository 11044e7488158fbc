/**
 * Temporal's two databases made and migrated by docker/temporal/schema.sh (the script compose's
 * one-shot `temporal-schema` job runs) with Temporal's own SQL tool from the pinned build, from
 * the Temporal host, as the `temporal` role.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { projectRoot } from '../../activities/projectPaths';
import type { NetHost } from '../deploy/netHosts';
import type { PostgresServer } from './postgres';

export async function applyTemporalSchema(options: {
  host: NetHost;
  binDir: string;
  postgres: PostgresServer;
}): Promise<string> {
  const { host, binDir, postgres } = options;
  const script = join(projectRoot, 'docker', 'temporal', 'schema.sh');
  const result = await execa('ip', ['netns', 'exec', host.netns, 'sh', script], {
    env: {
      TEMPORAL_SQL_TOOL: join(binDir, 'temporal-sql-tool'),
      SQL_HOST: postgres.host.address,
      SQL_PORT: String(postgres.port),
      SQL_USER: postgres.user,
      SQL_PASSWORD: postgres.password,
    },
    reject: false,
    all: true,
  });
  if (result.exitCode !== 0) throw new Error(`docker/temporal/schema.sh failed:\n${result.all}`);
  return result.all;
}

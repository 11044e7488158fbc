/**
 * Temporal's two databases made and migrated with Temporal's own SQL tool (temporal-sql-tool,
 * built with the server), from the Temporal host, as the `temporal` role: what compose's
 * one-shot `temporal-schema` job does with the admin-tools image.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import type { NetHost } from '../deploy/netHosts';
import type { PostgresServer } from './postgres';

/** Database name → the schema embedded in temporal-sql-tool that it gets. */
export const temporalDatabases = {
  temporal: 'postgresql/v12/temporal',
  temporal_visibility: 'postgresql/v12/visibility',
} as const;

export async function applyTemporalSchema(options: {
  host: NetHost;
  binDir: string;
  postgres: PostgresServer;
}): Promise<void> {
  const { host, binDir, postgres } = options;
  const tool = join(binDir, 'temporal-sql-tool');
  // Connection settings through the tool's environment variables: the password on no command line.
  const env = {
    SQL_PLUGIN: 'postgres12',
    SQL_HOST: postgres.host.address,
    SQL_PORT: String(postgres.port),
    SQL_USER: postgres.user,
    SQL_PASSWORD: postgres.password,
  };
  const run = async (database: string, args: string[]): Promise<void> => {
    const result = await execa('ip', ['netns', 'exec', host.netns, tool, '--database', database, ...args], {
      env,
      reject: false,
      all: true,
    });
    if (result.exitCode !== 0) {
      throw new Error(`temporal-sql-tool --database ${database} ${args.join(' ')}:\n${result.all}`);
    }
  };
  for (const [database, schema] of Object.entries(temporalDatabases)) {
    await run(database, ['create-database']);
    await run(database, ['setup-schema', '-v', '0.0']);
    await run(database, ['update-schema', '--schema-name', schema]);
  }
}

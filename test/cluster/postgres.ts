/**
 * The cluster tier's PostgreSQL: the machine's own server binaries (Debian package
 * `postgresql`, installed by scripts/cluster/setup.sh), a fresh data folder in a temp dir,
 * run as the unprivileged `postgres` user on its own "host". It listens on that host's private
 * address only, and its pg_hba admits one role, `temporal`, with a password made for this run
 * (scram-sha-256), from one address: the Temporal host's. The superuser logs in only over the
 * Unix socket, as the `postgres` OS user.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, chownSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { NetHost } from '../deploy/netHosts';
import { logTail } from './hostProcess';

export interface PostgresServer {
  host: NetHost;
  port: number;
  user: string;
  password: string;
  log: string;
  /** Runs SQL as the superuser over the Unix socket; returns the rows, unaligned (psql -tA). */
  query(database: string, sql: string): Promise<string>;
  /** Crash and restart: `pg_ctl stop -m immediate` (no checkpoint, WAL recovery on start). */
  crashRestart(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

const osUser = 'postgres';
const port = 5432; // inside the database host's own network namespace: no other server there

/** The newest installed server's bin folder (/usr/lib/postgresql/<major>/bin). */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (majors.length === 0) {
    throw new Error(
      'PostgreSQL server binaries not found under /usr/lib/postgresql: run `bash scripts/cluster/setup.sh` ' +
        '(installs the Debian package `postgresql`)',
    );
  }
  return join(root, majors[0]!, 'bin');
}

async function osIds(user: string): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all(
    ['-u', '-g'].map(async (flag) => {
      const result = await execa('id', [flag, user], { reject: false });
      if (result.exitCode !== 0) {
        throw new Error(`no OS user "${user}" to run PostgreSQL as (the postgresql package creates it)`);
      }
      return Number(result.stdout.trim());
    }),
  );
  return { uid: uid!, gid: gid! };
}

/** Runs a PostgreSQL tool as the `postgres` OS user on the database host. */
async function asPostgres(host: NetHost, tool: string, args: string[], input?: string): Promise<string> {
  const command = ['netns', 'exec', host.netns, 'runuser', '-u', osUser, '--', tool, ...args];
  const result = await execa('ip', command, { reject: false, input, all: true });
  if (result.exitCode !== 0) {
    throw new Error(`${tool} ${args.join(' ')} failed (${result.exitCode}):\n${result.all}`);
  }
  return String(result.all);
}

export async function startPostgres(options: {
  host: NetHost;
  /** The one address allowed to log in over TCP (the Temporal host). */
  allowFrom: string;
  dir: string;
}): Promise<PostgresServer> {
  const { host, allowFrom, dir } = options;
  const bin = postgresBinDir();
  const data = join(dir, 'data');
  const sockets = join(dir, 'sockets');
  const log = join(dir, 'postgres.log');
  mkdirSync(sockets, { recursive: true });
  const { uid, gid } = await osIds(osUser);
  for (const path of [dir, sockets]) chownSync(path, uid, gid);

  await asPostgres(host, join(bin, 'initdb'), [
    ...['-D', data, '-U', 'postgres', '--auth-local=peer', '--auth-host=scram-sha-256'],
    ...['--no-locale', '-E', 'UTF8', '--no-instructions'],
  ]);
  // Only the temporal role, only its databases (and `postgres`, which temporal-sql-tool's
  // create-database connects to first), only from the Temporal host.
  writeFileSync(
    join(data, 'pg_hba.conf'),
    [
      'local all postgres peer',
      `host postgres,temporal,temporal_visibility temporal ${allowFrom}/32 scram-sha-256`,
      '',
    ].join('\n'),
  );
  chownSync(join(data, 'pg_hba.conf'), uid, gid);
  appendFileSync(
    join(data, 'postgresql.conf'),
    [
      '',
      '# the cluster tier (test/cluster/postgres.ts)',
      `listen_addresses = '${host.address}'`,
      `port = ${port}`,
      `unix_socket_directories = '${sockets}'`,
      // Four Temporal services × (20 default-store + 10 visibility connections) = 120.
      'max_connections = 200',
      'password_encryption = scram-sha-256',
      '',
    ].join('\n'),
  );

  const pgCtl = (...args: string[]): Promise<string> =>
    asPostgres(host, join(bin, 'pg_ctl'), ['-D', data, '-l', log, '-w', '-t', '300', ...args]);
  const start = async (): Promise<void> => {
    try {
      await pgCtl('start');
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${logTail(log)}`);
    }
  };
  await start();

  const password = randomBytes(24).toString('hex');
  await asPostgres(
    host,
    join(bin, 'psql'),
    ['-h', sockets, '-p', String(port), '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-q', '-f', '-'],
    // Read from stdin, so the password is on no command line. CREATEDB: temporal-sql-tool
    // creates the two databases it then owns; the role is no superuser.
    `CREATE ROLE temporal LOGIN CREATEDB PASSWORD '${password}';\n`,
  );

  return {
    host,
    port,
    user: 'temporal',
    password,
    log,
    async query(database, sql) {
      const rows = await asPostgres(
        host,
        join(bin, 'psql'),
        ['-h', sockets, '-p', String(port), '-d', database, '-v', 'ON_ERROR_STOP=1', '-tA', '-f', '-'],
        sql,
      );
      return rows.trim();
    },
    async crashRestart(downMs) {
      await pgCtl('stop', '-m', 'immediate');
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await start();
    },
    async stop() {
      await pgCtl('stop', '-m', 'fast').catch(() => undefined);
    },
  };
}

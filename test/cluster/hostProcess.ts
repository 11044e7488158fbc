/**
 * Long-lived processes of the cluster tier (Temporal's services, tirflow's workers), each on a
 * "host" (network namespace) with its output in a log file of its own, so a failure message
 * can quote the last lines of whichever process it concerns.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResultPromise } from 'execa';
import { runOnHost, type NetHost } from '../deploy/netHosts';

export interface HostProcess {
  name: string;
  log: string;
  child: ResultPromise;
  /** Resolves when the process has exited, for whatever reason. */
  exited: Promise<void>;
  running(): boolean;
  /** SIGKILL to the process group: no chance to clean up, as a crashed host. */
  kill(): Promise<void>;
  /** SIGTERM to the process group; SIGKILL after 15 s. */
  stop(): Promise<void>;
}

export interface StartOptions {
  logDir: string;
  env?: Record<string, string>;
  cwd?: string;
}

/** The last lines of a log file, for failure messages. */
export function logTail(path: string, lines = 40): string {
  if (!existsSync(path)) return `(no log at ${path})`;
  return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

export function startOnHost(
  host: NetHost,
  name: string,
  command: string,
  args: string[],
  options: StartOptions,
): HostProcess {
  const log = join(options.logDir, `${name}.log`);
  // Both streams appended to one file, in the order the process wrote them.
  const file = { file: log, append: true } as const;
  const child = runOnHost(host, command, args, {
    stdout: file,
    stderr: file,
    all: false,
    env: options.env,
    cwd: options.cwd,
  });
  let alive = true;
  const exited = child.then(
    () => {
      alive = false;
    },
    () => {
      alive = false;
    },
  );
  const stopWith = async (signal: NodeJS.Signals): Promise<void> => {
    if (!alive) return;
    signalGroup(child.pid, signal);
    const escalate = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), 15_000);
    await exited;
    clearTimeout(escalate);
  };
  return {
    name,
    log,
    child,
    exited,
    running: () => alive,
    kill: () => stopWith('SIGKILL'),
    stop: () => stopWith('SIGTERM'),
  };
}

/**
 * The processes a chaos run shoots at: one Temporal dev server on a SQLite file the run owns,
 * and one `tirflow worker --role R` OS process per role (each also hosts workflows, as a real
 * deployment's workers do). Every worker runs in its own process group, so a SIGKILL takes the
 * worker with its sandbox interpreters, grader pool and trainer process, as a crashed host would.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { WorkerRole } from '../../common/activityContracts';
import { projectRoot } from '../../activities/projectPaths';
import { startDevServer, type DevServer } from '../../cli/devServer';

const cliMain = join(projectRoot, 'cli', 'main.ts');

export interface FleetOptions {
  /** Folder for the SQLite file, the artifact store and the process logs. */
  dir: string;
  port: number;
  /** Echo of fleet events (process started, killed, ...). */
  log: (line: string) => void;
}

interface WorkerProcess {
  child: ResultPromise;
  generation: number;
}

const WORKER_START_TIMEOUT_MS = 5 * 60_000;

export class ChaosFleet {
  readonly artifactRoot: string;
  readonly dbFile: string;
  readonly address: string;
  private server: DevServer | null = null;
  private readonly workers = new Map<WorkerRole, WorkerProcess>();
  private readonly generations = new Map<WorkerRole, number>();
  private readonly logs: WriteStream[] = [];

  constructor(private readonly options: FleetOptions) {
    this.artifactRoot = join(options.dir, 'artifacts');
    this.dbFile = join(options.dir, 'temporal.sqlite');
    this.address = `127.0.0.1:${options.port}`;
  }

  async startServer(): Promise<void> {
    this.server = await startDevServer({ port: this.options.port, dbFile: this.dbFile });
    this.options.log(`dev server up on ${this.address} (db ${this.dbFile})`);
  }

  /** Stops the dev server; startServer() brings it back on the same port and SQLite file. */
  async stopServer(): Promise<void> {
    await this.server?.stop();
    this.server = null;
    this.options.log('dev server stopped');
  }

  /** Starts the role's worker process; resolves once it polls its queues. */
  async startWorker(role: WorkerRole): Promise<void> {
    const generation = (this.generations.get(role) ?? 0) + 1;
    this.generations.set(role, generation);
    const logFile = createWriteStream(join(this.options.dir, `worker-${role}-${generation}.log`));
    this.logs.push(logFile);
    const child = execa(
      process.execPath,
      [
        '--import',
        'tsx',
        cliMain,
        'worker',
        '--role',
        role,
        '--pool-size',
        '1',
        '--address',
        this.address,
        '--artifacts',
        this.artifactRoot,
      ],
      { cwd: projectRoot, detached: true, reject: false, stdin: 'ignore', all: true, buffer: false },
    );
    const worker: WorkerProcess = { child, generation };
    this.workers.set(role, worker);
    void child.then((result) => {
      // Still registered: no kill of ours ended it.
      if (this.workers.get(role) === worker) {
        this.workers.delete(role);
        this.options.log(`${role} worker #${generation} exited on its own (code ${result.exitCode})`);
      }
    });
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      // A hang guard for a machine too busy to start a worker, not a speed limit.
      timer = setTimeout(
        () => reject(new Error(`${role} worker not up after ${WORKER_START_TIMEOUT_MS / 1000} s:\n${seen}`)),
        WORKER_START_TIMEOUT_MS,
      );
      child.all?.on('data', (chunk: Buffer) => {
        logFile.write(chunk);
        seen = (seen + chunk.toString()).slice(-4000);
        if (seen.includes('tirflow worker up')) resolve();
      });
      void child.then((result) =>
        reject(new Error(`${role} worker exited (code ${result.exitCode}) before it was up:\n${seen}`)),
      );
    }).finally(() => clearTimeout(timer));
    this.options.log(`${role} worker #${generation} up (pid ${child.pid})`);
  }

  /** SIGKILL to the role's whole process group; resolves when the worker process is gone. */
  async killWorker(role: WorkerRole): Promise<void> {
    const worker = this.workers.get(role);
    if (!worker?.child.pid) throw new Error(`no ${role} worker to kill`);
    this.workers.delete(role);
    try {
      process.kill(-worker.child.pid, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
    await worker.child;
    this.options.log(`${role} worker #${worker.generation} SIGKILLed (pid ${worker.child.pid})`);
  }

  /** Everything down: workers by SIGKILL (nothing to finish), then the server. */
  async stopAll(): Promise<void> {
    await Promise.allSettled([...this.workers.keys()].map((role) => this.killWorker(role)));
    await this.server?.stop();
    this.server = null;
    await Promise.all(this.logs.map((log) => new Promise((resolve) => log.end(resolve))));
  }
}

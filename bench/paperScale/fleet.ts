/**
 * The dry run's worker processes: N per role (rollout, sandbox, reward, trainer), each also
 * polling the workflow task queue from one prebuilt bundle, started as separate processes as a
 * deployment would run them. Samples every process tree's CPU and memory (and the Temporal
 * server's) until stopped.
 */
import { createWriteStream, existsSync, readFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import type { WorkerRole } from '../../common/activityContracts';
import { projectRoot } from '../../activities/projectPaths';
import { workerRoles } from '../../workers/roles';
import { peakRss, sampleTrees } from './processes';
import type { WorkerStats } from './worker';

const workerScript = fileURLToPath(new URL('./worker.ts', import.meta.url));
const START_CONCURRENCY = 2;

export interface FleetMember {
  /** `rollout#1`, `sandbox#2`, ... or `temporal`. */
  label: string;
  role: WorkerRole | 'temporal';
  pid: number;
  statsFile: string | null;
  /** Peak resident memory of the process itself (VmHWM) and of its tree (sampled), bytes. */
  peakRss: number;
  peakTreeRss: number;
}

export interface CpuSample {
  at: number;
  loadAverage: number;
  /** label → CPU seconds of its tree so far. */
  cpuS: Record<string, number>;
}

export interface FleetOptions {
  workersPerRole: number;
  address: string;
  artifactRoot: string;
  workflowBundle: string;
  runDir: string;
  /** The Temporal server's process, sampled with the workers. */
  temporalPid?: number;
  poolSize?: number;
}

export class Fleet {
  readonly members: FleetMember[] = [];
  readonly samples: CpuSample[] = [];
  private readonly children: ResultPromise[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly log: WriteStream;

  private constructor(
    readonly options: FleetOptions,
    readonly logFile: string,
  ) {
    this.log = createWriteStream(logFile, { flags: 'a' });
  }

  static async start(options: FleetOptions, loadAverage: () => number): Promise<Fleet> {
    const fleet = new Fleet(options, join(options.runDir, 'workers.log'));
    if (options.temporalPid !== undefined) {
      fleet.members.push({
        label: 'temporal',
        role: 'temporal',
        pid: options.temporalPid,
        statsFile: null,
        peakRss: 0,
        peakTreeRss: 0,
      });
    }
    const starts = workerRoles.flatMap((role) =>
      Array.from({ length: options.workersPerRole }, (_, i) => ({ role, index: i + 1 })),
    );
    // A few at a time: a dozen processes importing sympy and math-verify at once on two loaded
    // cores keep a grader pool from starting within its 60 s (what broke first at 3 per role).
    let next = 0;
    const starter = async (): Promise<void> => {
      while (next < starts.length) {
        const { role, index } = starts[next++]!;
        await fleet.startWorker(role, index);
      }
    };
    try {
      await Promise.all(Array.from({ length: START_CONCURRENCY }, starter));
    } catch (err) {
      next = starts.length;
      await fleet.stop();
      throw err;
    }
    fleet.sample(loadAverage());
    fleet.timer = setInterval(() => fleet.sample(loadAverage()), 1000);
    return fleet;
  }

  private startWorker(role: WorkerRole, index: number): Promise<void> {
    const { options } = this;
    const label = `${role}#${index}`;
    const statsFile = join(options.runDir, `${role}-${index}.stats.json`);
    const args = [
      '--import',
      'tsx',
      workerScript,
      '--roles',
      role,
      '--address',
      options.address,
      '--artifacts',
      options.artifactRoot,
      '--stats',
      statsFile,
      '--workflow-bundle',
      options.workflowBundle,
      ...(options.poolSize ? ['--pool-size', String(options.poolSize)] : []),
    ];
    const child = execa(process.execPath, args, {
      cwd: projectRoot,
      stdout: 'pipe',
      stderr: 'pipe',
      reject: false,
      env: { TIRFLOW_LOG_LEVEL: 'WARN' },
    });
    this.children.push(child);
    this.members.push({ label, role, pid: child.pid!, statsFile, peakRss: 0, peakTreeRss: 0 });
    createInterface({ input: child.stderr }).on('line', (line) => this.log.write(`[${label}] ${line}\n`));
    return new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        this.log.write(`[${label}] ${line}\n`);
        if (line.startsWith('ready')) resolve();
      });
      void child.then((result) =>
        reject(
          new Error(
            `worker ${label} exited (${result.exitCode ?? result.signal}) before it was ready: see ${this.logFile}`,
          ),
        ),
      );
    });
  }

  /** Records each tree's CPU and updates the memory peaks. */
  sample(loadAverage: number): void {
    const trees = sampleTrees(this.members.map((m) => m.pid));
    const cpuS: Record<string, number> = {};
    for (const member of this.members) {
      const tree = trees.get(member.pid);
      if (!tree) continue;
      cpuS[member.label] = tree.cpuS;
      member.peakTreeRss = Math.max(member.peakTreeRss, tree.rssBytes);
      member.peakRss = Math.max(member.peakRss, peakRss(member.pid));
    }
    this.samples.push({ at: Date.now(), loadAverage, cpuS });
  }

  /** Stops every worker (SIGTERM: they finish what they hold) and returns their store records. */
  async stop(): Promise<WorkerStats[]> {
    if (this.timer) clearInterval(this.timer);
    for (const child of this.children) child.kill('SIGTERM');
    await Promise.all(this.children.map((child) => child.catch(() => undefined)));
    this.log.end();
    return this.members
      .filter((m) => m.statsFile !== null && existsSync(m.statsFile))
      .map((m) => JSON.parse(readFileSync(m.statsFile!, 'utf8')) as WorkerStats);
  }
}

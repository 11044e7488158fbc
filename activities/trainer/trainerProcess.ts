/**
 * Client of the long-lived Python trainer (`python -m tirflow_py.trainer`): one process per
 * trainer worker, spoken to over line-delimited JSON (protocol: python/tirflow_py/trainer/README.md).
 *
 * The process holds weights and optimizer state between steps, so it is started once and kept.
 * If it dies (OOM kill, crash, the fault switch), pending requests fail as retryable, and the
 * next request starts a fresh process that first reloads the last policy it held (the last
 * checkpoint it committed or loaded).
 *
 * With `processesPerNode` > 1 the process is torchrun and its ranks (one per GPU, the policy
 * sharded with FSDP2); rank 0 speaks the protocol, so nothing else here changes.
 */
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import { pythonProjectDir, requireVenvTool, venvPython } from '../projectPaths';
import { trainerLaunch } from './launchCommand';

/** A failure the trainer reported (or the death of the process, which is always retryable). */
export class TrainerProcessError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'TrainerProcessError';
  }
}

/** The policy the process holds, as far as this client knows: what it would reload after a restart. */
export interface HeldPolicy {
  /** Absolute path of the Hugging Face folder (a checkpoint's hf/ loads the whole checkpoint). */
  path: string;
  version: number;
  device: 'cpu' | 'cuda' | 'auto';
}

export type TrainerProgress = Record<string, unknown>;

export interface TrainerProcessOptions {
  /** Python interpreter; default: the project's venv. */
  python?: string;
  /** Extra environment (e.g. TIRFLOW_FAULT_TRAINER_CRASH_AT_STEP for fault tests). */
  env?: Record<string, string>;
  /** Receives the trainer's stderr lines (its logs). Default: prefixed onto this process's stderr. */
  log?: (line: string) => void;
  /** Trainer ranks under torchrun (one per GPU); default 1: a single process. */
  processesPerNode?: number;
}

interface Pending {
  resolve: (result: Record<string, unknown>) => void;
  reject: (err: Error) => void;
  onProgress?: (progress: TrainerProgress) => void;
}

type Child = ResultPromise<{ stdin: 'pipe'; stdout: 'pipe'; stderr: 'pipe'; buffer: false; reject: false }>;

const STDERR_TAIL_LINES = 20;

export class TrainerProcess {
  private child: Child | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private stderrTail: string[] = [];
  private closed = false;
  private heldPolicy: HeldPolicy | null = null;
  private processes: number;
  /** Number of processes started so far (1 after the first request; more after restarts). */
  starts = 0;

  constructor(private readonly options: TrainerProcessOptions = {}) {
    this.processes = options.processesPerNode ?? 1;
  }

  get processesPerNode(): number {
    return this.processes;
  }

  /**
   * The run's `trainer.processesPerNode`. A different count stops the running process; the next
   * request starts the new one, which reloads the held policy. Activity inputs recorded before
   * the option existed lack it: undefined means 1.
   */
  async useProcessesPerNode(count: number | undefined): Promise<void> {
    const wanted = count ?? 1;
    if (wanted === this.processes) return;
    await this.stopChild();
    this.processes = wanted;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get held(): HeldPolicy | null {
    return this.heldPolicy;
  }

  /** Sends one command; resolves with the response fields, rejects with TrainerProcessError. */
  async request(
    cmd: string,
    args: Record<string, unknown> = {},
    onProgress?: (progress: TrainerProgress) => void,
  ): Promise<Record<string, unknown>> {
    if (this.closed) throw new TrainerProcessError('TrainerClosed', 'the trainer process was closed', false);
    if (this.child === null) await this.start();
    return this.send(cmd, args, onProgress);
  }

  /** Loads a policy unless the process already holds exactly it. */
  async ensurePolicy(policy: HeldPolicy): Promise<boolean> {
    const held = this.heldPolicy;
    if (
      held !== null &&
      held.path === policy.path &&
      held.version === policy.version &&
      held.device === policy.device
    ) {
      if (this.child === null) await this.request('ping'); // a restart reloads it
      return false;
    }
    await this.request('load', { path: policy.path, version: policy.version, device: policy.device });
    this.heldPolicy = policy;
    return true;
  }

  /** Records what the process holds after a command that changed it (train_step). */
  noteHeld(policy: HeldPolicy): void {
    this.heldPolicy = policy;
  }

  /** Asks the process to exit, then kills it if it does not within the grace period. */
  async close(graceMs = 10_000): Promise<void> {
    this.closed = true;
    await this.stopChild(graceMs);
  }

  private async stopChild(graceMs = 10_000): Promise<void> {
    const child = this.child;
    if (child === null) return;
    const exited = child.then(() => undefined);
    // torchrun forwards SIGTERM to its ranks (execa follows up with SIGKILL after 5 s); a SIGKILL
    // would leave the ranks running without it.
    const timer = setTimeout(() => child.kill(this.processes > 1 ? 'SIGTERM' : 'SIGKILL'), graceMs);
    try {
      if (child.exitCode === null) this.send('shutdown', {}).catch(() => undefined);
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  private async start(): Promise<void> {
    const python = this.options.python ?? requireVenvTool(venvPython);
    const launch = trainerLaunch(python, this.processes, process.env);
    const child: Child = execa(launch.file, launch.args, {
      cwd: pythonProjectDir,
      env: { ...launch.env, ...this.options.env },
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
    });
    this.child = child;
    this.starts += 1;
    this.stderrTail = [];
    const log =
      this.options.log ?? ((line: string) => process.stderr.write(`[trainer ${child.pid}] ${line}\n`));
    createInterface({ input: child.stderr }).on('line', (line) => {
      this.stderrTail = [...this.stderrTail.slice(-(STDERR_TAIL_LINES - 1)), line];
      log(line);
    });
    createInterface({ input: child.stdout }).on('line', (line) => this.onLine(line));
    void child.then((result) => this.onExit(child, result.exitCode, result.signal));
    // A restarted process reloads what the dead one held, so callers see the same state.
    const held = this.heldPolicy;
    if (held !== null) {
      await this.send('load', { path: held.path, version: held.version, device: held.device });
    }
  }

  private send(
    cmd: string,
    args: Record<string, unknown>,
    onProgress?: (progress: TrainerProgress) => void,
  ): Promise<Record<string, unknown>> {
    const child = this.child;
    if (child === null)
      throw new TrainerProcessError('TrainerNotRunning', 'the trainer process is not running', true);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      child.stdin.write(JSON.stringify({ ...args, id, cmd }) + '\n', (err) => {
        if (err && this.pending.delete(id)) {
          reject(
            new TrainerProcessError('TrainerNotRunning', `cannot write to the trainer: ${err.message}`, true),
          );
        }
      });
    });
  }

  private onLine(line: string): void {
    let message: {
      id?: unknown;
      ok?: boolean;
      progress?: TrainerProgress;
      error?: { type?: string; message?: string; retryable?: boolean };
    };
    try {
      message = JSON.parse(line) as typeof message;
    } catch {
      process.stderr.write(`[trainer] ignoring a non-protocol stdout line: ${line.slice(0, 200)}\n`);
      return;
    }
    const pending = typeof message.id === 'number' ? this.pending.get(message.id) : undefined;
    if (pending === undefined) return;
    if (message.progress !== undefined) {
      pending.onProgress?.(message.progress);
      return;
    }
    this.pending.delete(message.id as number);
    if (message.ok === true) {
      const result: Record<string, unknown> = { ...message };
      delete result.id;
      delete result.ok;
      pending.resolve(result);
    } else {
      const error = message.error ?? {};
      pending.reject(
        new TrainerProcessError(
          error.type ?? 'TrainerError',
          error.message ?? 'the trainer reported an error',
          error.retryable !== false,
        ),
      );
    }
  }

  private onExit(child: Child, exitCode: number | undefined, signal: string | undefined): void {
    if (this.child !== child) return;
    this.child = null;
    const how = signal ? `signal ${signal}` : `exit code ${exitCode}`;
    const tail = this.stderrTail.slice(-5).join('\n');
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      pending.reject(
        new TrainerProcessError(
          'TrainerProcessDied',
          `the trainer process died (${how}); last logs:\n${tail}`,
          true,
        ),
      );
    }
  }
}

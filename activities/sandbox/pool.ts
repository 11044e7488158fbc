/**
 * The warm sandbox pool: one zygote per core, each serving one execution at a time, restarted
 * when it dies. `run` never throws for anything the code does (those are results); it throws
 * only when the sandbox itself cannot be had (bwrap or the interpreter missing, zygotes that
 * keep dying while starting, the pool closed).
 */
import { availableParallelism } from 'node:os';
import { venvPython } from '../projectPaths';
import {
  bwrapArgs,
  discoverPython,
  findBwrap,
  hostPathsToStrip,
  sandboxExecutable,
  sandboxPaths,
  sandboxSitePackages,
} from './isolation';
import { resolveLimits, type SandboxLimits, type SandboxResult } from './limits';
import { ZygoteProcess, type ZygoteCommand } from './zygoteProcess';

export interface SandboxPoolOptions {
  /** Concurrent executions; default: the number of cores. */
  size?: number;
  /** Defaults for `run`'s limits. */
  limits?: Partial<SandboxLimits>;
  /** The interpreter whose prefix and site-packages the sandbox mounts; default the project venv. */
  python?: string;
  /** Modules every zygote imports once, so that executions find them warm. */
  preload?: string[];
  /** Private /tmp of one sandbox, MiB. */
  tmpMb?: number;
  /** Unprivileged ids executions run as when the host user is root (default nobody, 65534). */
  sandboxUid?: number;
  sandboxGid?: number;
  /** Importing numpy and sympy takes seconds, longer on a loaded machine. */
  startTimeoutMs?: number;
  /** How much longer than an execution's timeout this side waits before killing the sandbox. */
  graceMs?: number;
}

export const defaultPreload = [
  'math',
  'cmath',
  'fractions',
  'decimal',
  'itertools',
  'functools',
  'collections',
  'heapq',
  'bisect',
  'statistics',
  'random',
  're',
  'numpy',
  'sympy',
];

const MAX_START_FAILURES = 3;

interface Task {
  code: string;
  limits: SandboxLimits;
  resolve: (result: SandboxResult) => void;
  reject: (err: Error) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

interface Slot {
  zygote: ZygoteProcess | null;
  startFailures: number;
  /** When its last execution ended: the longest-idle sandbox has finished clearing up after it. */
  idleSince: number;
}

export class SandboxPool {
  readonly size: number;
  private readonly options: SandboxPoolOptions;
  private readonly defaults: SandboxLimits;
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private command: ZygoteCommand | null = null;
  private stripPaths: string[] = [];
  private started: Promise<void> | null = null;
  private closed = false;
  private broken: Error | null = null;

  constructor(options: SandboxPoolOptions = {}) {
    this.options = options;
    this.size = options.size ?? availableParallelism();
    if (!Number.isSafeInteger(this.size) || this.size < 1) {
      throw new RangeError(`sandbox pool size must be a positive integer, got ${this.size}`);
    }
    this.defaults = resolveLimits(options.limits);
  }

  /** Starts every zygote; rejects with what is missing and how to install it. */
  start(): Promise<void> {
    this.started ??= this.startAll();
    return this.started;
  }

  /** Runs `code` in a fresh sandboxed process; resolves with its result, whatever the code does. */
  async run(code: string, limits?: Partial<SandboxLimits>, signal?: AbortSignal): Promise<SandboxResult> {
    if (!this.started) throw new Error('SandboxPool.run() called before start()');
    await this.started;
    const resolved = resolveLimits(limits, this.defaults);
    if (this.closed) throw new Error('the sandbox pool is closed');
    if (this.broken) throw this.broken;
    signal?.throwIfAborted();
    return new Promise<SandboxResult>((resolve, reject) => {
      const task: Task = { code, limits: resolved, resolve, reject, signal };
      if (signal) {
        task.onAbort = () => {
          const index = this.queue.indexOf(task);
          if (index >= 0) {
            this.queue.splice(index, 1);
            reject(signal.reason instanceof Error ? signal.reason : new Error('execution cancelled'));
          }
        };
        signal.addEventListener('abort', task.onAbort, { once: true });
      }
      this.queue.push(task);
      this.dispatch();
    });
  }

  /** Host pids of the running sandboxes (outer bwrap processes), for diagnostics. */
  pids(): number[] {
    return this.slots.flatMap((slot) => (slot.zygote?.usable ? [slot.zygote.pid] : []));
  }

  /** Kills every sandbox; queued executions are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    this.failQueued(new Error('the sandbox pool is closed'));
    const exits = this.slots.flatMap((slot) => (slot.zygote ? [slot.zygote.exit] : []));
    for (const slot of this.slots) slot.zygote?.kill();
    await Promise.all(exits);
  }

  private async startAll(): Promise<void> {
    const [bwrap, layout] = await Promise.all([
      findBwrap(),
      discoverPython(this.options.python ?? venvPython),
    ]);
    const privileged = process.getuid?.() === 0;
    this.command = {
      bwrap,
      bwrapArgs: await bwrapArgs(layout, { tmpBytes: (this.options.tmpMb ?? 64) * 1024 * 1024, privileged }),
      python: sandboxExecutable(layout),
      zygotePath: sandboxPaths.zygote,
      config: {
        sitePackages: sandboxSitePackages(layout),
        preload: this.options.preload ?? defaultPreload,
        sandboxUid: this.options.sandboxUid ?? 65534,
        sandboxGid: this.options.sandboxGid ?? 65534,
        // One executing, one ready for the next request while the zygote clears up after the
        // last; more only cost memory.
        spareRunners: 2,
      },
    };
    this.stripPaths = hostPathsToStrip(layout);
    for (let i = 0; i < this.size; i++) this.slots.push({ zygote: null, startFailures: 0, idleSince: 0 });
    try {
      await Promise.all(this.slots.map((slot) => this.startSlot(slot, true)));
    } catch (err) {
      await this.close();
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(
        `the code sandbox could not start (${reason}). It needs bubblewrap with working namespaces ` +
          '(`npm run setup` or `sudo apt-get install bubblewrap`) and the Python venv (`npm run setup`).',
      );
    }
  }

  private async startSlot(slot: Slot, initial: boolean): Promise<void> {
    if (!this.command) throw new Error('sandbox pool not configured');
    try {
      const zygote = await ZygoteProcess.start(this.command, this.options.startTimeoutMs ?? 120_000);
      if (this.closed) {
        zygote.kill();
        return;
      }
      slot.zygote = zygote;
      slot.startFailures = 0;
      void zygote.exit.then(() => this.onZygoteExit(slot, zygote));
      this.dispatch();
    } catch (err) {
      if (initial) throw err;
      slot.startFailures++;
      if (slot.startFailures >= MAX_START_FAILURES) {
        const reason = err instanceof Error ? err.message : String(err);
        this.broken = new Error(`the code sandbox failed to restart ${slot.startFailures} times: ${reason}`);
        this.failQueued(this.broken);
        return;
      }
      await this.startSlot(slot, false);
    }
  }

  private onZygoteExit(slot: Slot, zygote: ZygoteProcess): void {
    if (slot.zygote !== zygote) return;
    slot.zygote = null;
    if (this.closed || this.broken) return;
    // Model code can take a sandbox down (or the OOM killer can); a fresh one replaces it.
    void this.startSlot(slot, false);
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      // The longest-idle sandbox, not the first: the one that just answered is still killing
      // its runner and clearing up, and would make the next execution wait for that.
      let slot: Slot | undefined;
      for (const candidate of this.slots) {
        const zygote = candidate.zygote;
        if (!zygote || !zygote.usable || zygote.busy) continue;
        if (!slot || candidate.idleSince < slot.idleSince) slot = candidate;
      }
      if (!slot) return;
      const task = this.queue.shift()!;
      if (task.onAbort) task.signal?.removeEventListener('abort', task.onAbort);
      const chosen = slot;
      void chosen.zygote!.execute(task.code, task.limits, this.options.graceMs ?? 5000).then((result) => {
        chosen.idleSince = performance.now();
        task.resolve(this.withoutHostPaths(result));
        this.dispatch();
      });
    }
  }

  private failQueued(err: Error): void {
    for (const task of this.queue.splice(0)) task.reject(err);
  }

  private withoutHostPaths(result: SandboxResult): SandboxResult {
    let stderr = result.stderr;
    for (const path of this.stripPaths) stderr = stderr.replaceAll(`${path}/`, '');
    return { ...result, stderr };
  }
}

/**
 * A pool of long-lived math-verify processes, one per core by default, shared by the reward
 * worker's `score` activity and by `tirflow grade`. Items queue and go to whichever process is
 * idle; a process that times out or dies is replaced, and only its item pays for it.
 */
import { availableParallelism } from 'node:os';
import { GraderProcess, type GradeOutcome, type GradeRequest } from './graderProcess';

export type { GradeOutcome, GradeRequest } from './graderProcess';

export interface GraderPoolOptions {
  /** Number of grader processes (default: one per core). */
  size?: number;
  /** Per-item limit, enforced by SIGKILL from outside the process (default 10 s). */
  itemTimeoutMs?: number;
  /** Address-space limit per process, MiB (default 4096; 0 = none). */
  maxMemoryMb?: number;
  /** Limit on a process's start (importing sympy takes seconds on a busy machine; default 60 s). */
  startupTimeoutMs?: number;
}

interface Job {
  request: GradeRequest;
  /** Processes lost (crashed, killed from outside) while holding this item. */
  lostProcesses: number;
  resolve: (outcome: GradeOutcome) => void;
  reject: (err: Error) => void;
}

type Slot = GraderProcess | 'starting' | null;

export class GraderPool {
  readonly size: number;
  readonly itemTimeoutMs: number;
  /** Processes killed or lost and replaced since the pool started. */
  replacements = 0;
  private readonly spawnOptions: { maxMemoryMb: number; startupTimeoutMs: number };
  private readonly slots: Slot[];
  private readonly queue: Job[] = [];
  private lastSpawnError: Error | null = null;
  private closed = false;

  private constructor(options: GraderPoolOptions, processes: GraderProcess[]) {
    this.size = processes.length;
    this.itemTimeoutMs = options.itemTimeoutMs ?? 10_000;
    this.spawnOptions = {
      maxMemoryMb: options.maxMemoryMb ?? 4096,
      startupTimeoutMs: options.startupTimeoutMs ?? 60_000,
    };
    this.slots = processes;
  }

  /** Starts every process and waits until all are ready; fails if any cannot start. */
  static async start(options: GraderPoolOptions = {}): Promise<GraderPool> {
    const size = options.size ?? availableParallelism();
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`grader pool size must be a positive integer, got ${size}`);
    const spawnOptions = {
      maxMemoryMb: options.maxMemoryMb ?? 4096,
      startupTimeoutMs: options.startupTimeoutMs ?? 60_000,
    };
    const started = await Promise.allSettled(
      Array.from({ length: size }, () => GraderProcess.spawn(spawnOptions)),
    );
    const processes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure) {
      await Promise.all(processes.map((p) => p.close()));
      throw new Error(
        `grader pool could not start: ${String((failure.reason as Error).message ?? failure.reason)}`,
      );
    }
    return new GraderPool(options, processes);
  }

  /** PIDs of the live processes. */
  get pids(): number[] {
    return this.slots.flatMap((slot) => (slot instanceof GraderProcess ? [slot.pid] : []));
  }

  /** Grades one item; resolves with 'timeout' or 'error' outcomes rather than rejecting.
   *  Rejects only when the pool is closed or no grader process can be started at all. */
  grade(request: GradeRequest): Promise<GradeOutcome> {
    if (this.closed) return Promise.reject(new Error('grader pool is closed'));
    return new Promise<GradeOutcome>((resolve, reject) => {
      this.queue.push({ request, lostProcesses: 0, resolve, reject });
      this.refill();
      this.dispatch();
    });
  }

  /** Grades items concurrently across the pool, in input order; `onProgress` after each. */
  async gradeAll(
    requests: readonly GradeRequest[],
    onProgress?: (done: number) => void,
  ): Promise<GradeOutcome[]> {
    let done = 0;
    return Promise.all(
      requests.map(async (request) => {
        const outcome = await this.grade(request);
        done += 1;
        onProgress?.(done);
        return outcome;
      }),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('grader pool closed'));
    await Promise.all(this.slots.flatMap((slot) => (slot instanceof GraderProcess ? [slot.close()] : [])));
  }

  private dispatch(): void {
    this.slots.forEach((slot, index) => {
      if (!(slot instanceof GraderProcess) || slot.busy) return;
      if (!slot.usable) {
        this.replace(index, slot); // died while idle
        return;
      }
      const job = this.queue.shift();
      if (!job) return;
      void slot.grade(job.request, this.itemTimeoutMs).then((outcome) => {
        const lost = outcome.status === 'error' && !slot.usable;
        if (lost && job.lostProcesses === 0 && !this.closed) {
          // The process died under the item (OOM killer, an operator, a crash): that may not
          // be the item's fault, so it gets one more process. A second loss is its outcome.
          job.lostProcesses += 1;
          this.queue.unshift(job);
        } else {
          job.resolve(outcome);
        }
        if (!slot.usable) this.replace(index, slot);
        this.dispatch();
      });
    });
  }

  private replace(index: number, dead: GraderProcess): void {
    if (this.slots[index] !== dead) return;
    dead.kill(); // a timed-out or crashed process never serves again
    this.replacements += 1;
    this.slots[index] = null;
    this.refill();
  }

  /** Starts a process in every empty slot (after a loss, or after an earlier start failed). */
  private refill(): void {
    if (this.closed) return;
    this.slots.forEach((slot, index) => {
      if (slot !== null) return;
      this.slots[index] = 'starting';
      void GraderProcess.spawn(this.spawnOptions).then(
        (grader) => {
          if (this.closed) {
            void grader.close();
            return;
          }
          this.slots[index] = grader;
          this.lastSpawnError = null;
          this.dispatch();
        },
        (err: Error) => {
          this.slots[index] = null;
          this.lastSpawnError = err;
          this.failQueueIfNoCapacity();
        },
      );
    });
  }

  /** With no live process and none starting, queued items would wait forever: fail them loudly. */
  private failQueueIfNoCapacity(): void {
    if (this.slots.some((slot) => slot !== null)) return;
    const reason = new Error(
      `no grader process could be started: ${this.lastSpawnError?.message ?? 'unknown'}`,
    );
    for (const job of this.queue.splice(0)) job.reject(reason);
  }
}

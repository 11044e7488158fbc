/**
 * Work that exhausted its retries blocks the run instead of failing it. The run waits, with
 * the failure named in its status and in the UI, until an operator decides:
 *   retry: run the work again (after fixing the cause: a full disk, a missing package, ...);
 *   skip:  drop it from the step (shards and evaluations only), recorded in the step's metrics;
 *   stop:  end the run after its last completed step.
 * Deterministic workflow code: the decisions arrive as updates, the waits are conditions.
 */
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure } from '@temporalio/common';
import { condition, isCancellation } from '@temporalio/workflow';
import type { SkippedWork } from '../common/activityContracts';
import { SHARD_FAILED, type ShardFailureDetails } from './rolloutShard';

export type BlockedWhat = 'rollout shard' | 'evaluation' | 'update' | 'record';

export interface BlockedWork {
  /** Names the work in `tirflow retry|skip RUN --work ID`: `step-3/shard-1`, `step-3/update`, `eval-step-5`. */
  id: string;
  what: BlockedWhat;
  step: number;
  shard: number | null;
  turn: number | null;
  activity: string | null;
  errorType: string | null;
  error: string;
  /** Workflow time the work became blocked (ISO 8601). */
  since: string;
  /** How many times it has failed (1 = the first attempt's retries ran out). */
  failures: number;
  skippable: boolean;
}

export type Resolution = 'retry' | 'skip';

/** A request to end the run, unwinding the step that waited on blocked work. */
export class StopRequested extends Error {
  constructor() {
    super('stop requested while work was blocked');
    this.name = 'StopRequested';
  }
}

export interface BlockedWorkOptions {
  id: string;
  what: BlockedWhat;
  step: number;
  shard?: number;
  skippable: boolean;
  /** True when an operator's stop makes this work unnecessary. */
  stopRequested: () => boolean;
}

/** The work waiting on an operator and the decisions sent for it. */
export class BlockedWorkBoard {
  private readonly waiting = new Map<string, { work: BlockedWork; resolution: Resolution | null }>();
  readonly skipped: Array<SkippedWork & { step: number }> = [];

  list(): BlockedWork[] {
    return [...this.waiting.values()].map((entry) => entry.work);
  }

  get size(): number {
    return this.waiting.size;
  }

  /** Why `resolve` would refuse, or null. */
  refusal(resolution: Resolution, id: string | undefined): string | null {
    const targets = this.targets(id);
    if (this.waiting.size === 0) return 'nothing is blocked';
    if (targets.length === 0)
      return `no blocked work "${id}" (blocked: ${[...this.waiting.keys()].join(', ')})`;
    if (resolution === 'skip') {
      const fixed = targets.filter((entry) => !entry.work.skippable);
      if (fixed.length > 0)
        return (
          `${fixed.map((e) => e.work.id).join(', ')} cannot be skipped (an ${fixed[0]!.work.what} must happen ` +
          'for the step to count): retry it once the cause is fixed, or stop the run'
        );
    }
    return null;
  }

  /** Applies an operator's decision; returns the ids it applies to. */
  resolve(resolution: Resolution, id: string | undefined): string[] {
    const targets = this.targets(id);
    for (const entry of targets) entry.resolution = resolution;
    return targets.map((entry) => entry.work.id);
  }

  private targets(id: string | undefined) {
    return [...this.waiting.values()].filter((entry) => id === undefined || entry.work.id === id);
  }

  /**
   * Runs `work` until it succeeds or an operator skips it (resolves to null) or stops the run
   * (throws StopRequested). Cancellation passes through untouched.
   */
  async untilDone<T>(options: BlockedWorkOptions, work: () => Promise<T>): Promise<T | null> {
    for (let failures = 1; ; failures++) {
      try {
        return await work();
      } catch (err) {
        if (isCancellation(err)) throw err;
        const entry = {
          work: { ...describeFailure(err, options), failures, since: new Date().toISOString() },
          resolution: null as Resolution | null,
        };
        this.waiting.set(options.id, entry);
        await condition(() => entry.resolution !== null || options.stopRequested());
        this.waiting.delete(options.id);
        if (entry.resolution === null) throw new StopRequested();
        if (entry.resolution === 'skip') {
          this.skipped.push({
            step: options.step,
            id: options.id,
            what: options.what,
            error: entry.work.error,
          });
          return null;
        }
      }
    }
  }

  /** Skips recorded for `step`, removed from the board's list (they go into its metrics line). */
  takeSkipped(step: number): SkippedWork[] {
    const taken: SkippedWork[] = [];
    for (let i = this.skipped.length - 1; i >= 0; i--) {
      const skip = this.skipped[i]!;
      if (skip.step !== step) continue;
      taken.unshift({ id: skip.id, what: skip.what, error: skip.error });
      this.skipped.splice(i, 1);
    }
    return taken;
  }
}

/** The failing activity, turn and error of a failed child or activity, for the status. */
function describeFailure(err: unknown, options: BlockedWorkOptions): Omit<BlockedWork, 'since' | 'failures'> {
  const base = {
    id: options.id,
    what: options.what,
    step: options.step,
    shard: options.shard ?? null,
    skippable: options.skippable,
  };
  let turn: number | null = null;
  let activity: string | null = null;
  let errorType: string | null = null;
  let message = err instanceof Error ? err.message : String(err);
  for (let current: unknown = err; current instanceof Error; current = current.cause) {
    if (current instanceof ApplicationFailure && current.type === SHARD_FAILED) {
      const details = current.details?.[0] as ShardFailureDetails | undefined;
      if (details) {
        turn = details.turn;
        activity = details.activity;
        errorType = details.errorType;
        message = details.message;
        break;
      }
    }
    if (current instanceof ActivityFailure) activity = current.activityType ?? activity;
    if (current instanceof ApplicationFailure) errorType = current.type ?? errorType;
    if (!(current instanceof ChildWorkflowFailure) && current.message) message = current.message;
  }
  return { ...base, turn, activity, errorType, error: message };
}

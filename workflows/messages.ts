/**
 * Signals, queries and updates of a training run: defined once, used by the workflow to set
 * handlers and by the CLI to send them. Pure (safe for workflow and client code alike).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { StepRecord } from '../common/activityContracts';
import type { HyperparameterChange } from '../common/config';
import type { BlockedWork } from './blockedWork';

export type RunPhase =
  | 'preparing'
  | 'resuming'
  | 'exporting base policy'
  | 'evaluating'
  | 'rollout'
  | 'updating policy'
  | 'recording'
  | 'paused'
  | 'blocked'
  | 'finishing'
  | 'completed'
  | 'stopped';

export interface RunStatus {
  runId: string;
  /** The step in progress (or last completed when the run is paused or done). */
  step: number;
  totalSteps: number;
  completedSteps: number;
  phase: RunPhase;
  policyVersion: number;
  paused: boolean;
  stopAfterStep: number | null;
  /** The earliest step `stop --after-step` can honour now (absent in runs started before it). */
  earliestStop?: number;
  hyperparameters: { learningRate: number; temperature: number; toolBudget: number };
  /** Work that exhausted its retries and waits for `retry`, `skip` or `stop`. */
  blocked?: BlockedWork[];
  /** Pipelined runs: the staleness bound and the steps whose rollouts are under way. */
  pipeline?: { maxStaleness: number; rolloutsInFlight: number[] };
  lastRecord: StepRecord | null;
  /** The last steps' records (newest last), bounded so the query stays small. */
  history: StepRecord[];
}

export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
/**
 * Finish the run once step N completes (N below the current step means: after the current
 * step). Kept for runs and clients from before the `stop` update, which is exact.
 */
export const stopAfterStepSignal = defineSignal<[number]>('stopAfterStep');
export const statusQuery = defineQuery<RunStatus>('status');
/** Changes whitelisted hyperparameters from the next step on; returns the values now in force. */
export const setHyperparametersUpdate = defineUpdate<RunStatus['hyperparameters'], [HyperparameterChange]>(
  'setHyperparameters',
);

export interface StopRequest {
  /** The last step to complete; omitted: the step in progress (or at once when blocked or paused). */
  afterStep?: number;
}

/**
 * Stops the run exactly after a step. Refused, naming the earliest step it can honour, when
 * that step is already under way or done.
 */
export const stopUpdate = defineUpdate<{ stopAfterStep: number }, [StopRequest]>('stop');

export interface BlockedWorkRequest {
  /** One blocked item (`step-3/shard-1`); omitted: all of them. */
  work?: string;
}

/** Runs blocked work again; returns the ids it applies to. */
export const retryBlockedUpdate = defineUpdate<string[], [BlockedWorkRequest]>('retryBlocked');
/** Drops blocked shards or evaluations from their step (recorded in metrics); returns the ids. */
export const skipBlockedUpdate = defineUpdate<string[], [BlockedWorkRequest]>('skipBlocked');

/**
 * Signals, queries and updates of a training run: defined once, used by the workflow to set
 * handlers and by the CLI to send them. Pure (safe for workflow and client code alike).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { StepRecord } from '../common/activityContracts';
import type { HyperparameterChange } from '../common/config';

export type RunPhase =
  | 'preparing'
  | 'exporting base policy'
  | 'evaluating'
  | 'rollout'
  | 'updating policy'
  | 'recording'
  | 'paused'
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
  hyperparameters: { learningRate: number; temperature: number; toolBudget: number };
  lastRecord: StepRecord | null;
  /** The last steps' records (newest last), bounded so the query stays small. */
  history: StepRecord[];
}

export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
/** Finish the run once step N completes (N below the current step means: after the current step). */
export const stopAfterStepSignal = defineSignal<[number]>('stopAfterStep');
export const statusQuery = defineQuery<RunStatus>('status');
/** Changes whitelisted hyperparameters from the next step on; returns the values now in force. */
export const setHyperparametersUpdate = defineUpdate<RunStatus['hyperparameters'], [HyperparameterChange]>(
  'setHyperparameters',
);

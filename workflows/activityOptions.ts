/**
 * Every activity binding of the workflows: task queue, timeouts and retry policy side by side.
 * Permanent errors (bad config, bad dataset row, missing model) are thrown by activities as
 * non-retryable ApplicationFailures; everything else retries with backoff.
 */
import { proxyActivities } from '@temporalio/workflow';
import {
  taskQueues,
  type RewardActivities,
  type RolloutActivities,
  type SandboxActivities,
  type TrainerActivities,
} from '../common/activityContracts';

const transientRetry = {
  initialInterval: '2 seconds',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  maximumAttempts: 20,
};

export const rollout = proxyActivities<RolloutActivities>({
  taskQueue: taskQueues.rollout,
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: transientRetry,
});

export const sandbox = proxyActivities<SandboxActivities>({
  taskQueue: taskQueues.sandbox,
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '1 minute',
  retry: transientRetry,
});

export const reward = proxyActivities<RewardActivities>({
  taskQueue: taskQueues.reward,
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '1 minute',
  retry: transientRetry,
});

export const trainer = proxyActivities<TrainerActivities>({
  taskQueue: taskQueues.trainer,
  // A step on a real model takes long; the heartbeat, not this bound, detects a dead trainer.
  startToCloseTimeout: '4 hours',
  heartbeatTimeout: '2 minutes',
  retry: transientRetry,
});

/**
 * A call's heartbeat timeout from the run config (`timeouts.*HeartbeatS`): how long a killed
 * worker's activity waits before it is retried elsewhere. Histories of runs started before the
 * field existed carry no value: those calls keep the binding's timeout, so they replay unchanged.
 */
export function heartbeatTimeout(seconds: number | undefined): { heartbeatTimeout?: string } {
  return seconds === undefined ? {} : { heartbeatTimeout: `${seconds} seconds` };
}

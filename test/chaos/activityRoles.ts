/** Which worker role runs each activity type, checked against the activity contracts. */
import {
  taskQueues,
  type RewardActivities,
  type RolloutActivities,
  type SandboxActivities,
  type TrainerActivities,
  type WorkerRole,
} from '../../common/activityContracts';

// `satisfies` fails the type check when an activity is added to a contract but not here.
const rollout = {
  prepareRun: 'rollout',
  selectEvaluationRows: 'rollout',
  generate: 'rollout',
  restoreRun: 'rollout',
} satisfies Record<keyof RolloutActivities, 'rollout'>;
const sandbox = { executeCode: 'sandbox' } satisfies Record<keyof SandboxActivities, 'sandbox'>;
const reward = {
  score: 'reward',
  recordStep: 'reward',
  summarizeEvaluation: 'reward',
  pruneCheckpoints: 'reward',
  recordEvaluation: 'reward',
} satisfies Record<keyof RewardActivities, 'reward'>;
const trainer = { updatePolicy: 'trainer', exportPolicy: 'trainer' } satisfies Record<
  keyof TrainerActivities,
  'trainer'
>;

const roleByActivity: Record<string, WorkerRole> = { ...rollout, ...sandbox, ...reward, ...trainer };

export function roleOfActivity(activityType: string): WorkerRole | undefined {
  return roleByActivity[activityType];
}

export function roleOfTaskQueue(taskQueue: string): WorkerRole | 'workflows' | undefined {
  const entry = Object.entries(taskQueues).find(([, queue]) => queue === taskQueue);
  return entry?.[0] as WorkerRole | 'workflows' | undefined;
}

/**
 * What a run has in flight right now: the started activities of the run's workflow and of its
 * open child workflows (rollout shards, evaluations and their shards), read with describe().
 * The injector aims each kill at a role that is working, and the report says what it hit.
 */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { WorkerRole } from '../../common/activityContracts';
import { roleOfActivity } from './activityRoles';

const STARTED = proto.temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;

export interface RunningActivity {
  workflowId: string;
  activityType: string;
  role: WorkerRole | undefined;
  attempt: number;
}

/** Started activities under `workflowId` (children included); [] while the server is away. */
export async function runningActivities(client: Client, workflowId: string): Promise<RunningActivity[]> {
  const found: RunningActivity[] = [];
  const visit = async (id: string, depth: number): Promise<void> => {
    const { raw } = await client.workflow.getHandle(id).describe();
    for (const activity of raw.pendingActivities ?? []) {
      if (activity.state !== STARTED) continue;
      const activityType = activity.activityType?.name ?? '?';
      found.push({
        workflowId: id,
        activityType,
        role: roleOfActivity(activityType),
        attempt: activity.attempt ?? 1,
      });
    }
    if (depth < 3) {
      await Promise.all((raw.pendingChildren ?? []).map((child) => visit(child.workflowId ?? '', depth + 1)));
    }
  };
  try {
    await visit(workflowId, 0);
  } catch {
    return []; // the server is restarting, or a child closed between two calls: nothing to aim at
  }
  return found;
}

/** "generate @ RUN/step-0002/shard-1 (attempt 1)" with the run id prefix dropped. */
export function describeActivity(activity: RunningActivity, runId: string): string {
  const where = activity.workflowId === runId ? 'run' : activity.workflowId.slice(runId.length + 1);
  return `${activity.activityType} @ ${where}${activity.attempt > 1 ? ` (attempt ${activity.attempt})` : ''}`;
}

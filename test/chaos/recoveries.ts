/**
 * What Temporal did to repair the run, read back from the histories of every execution of the
 * run's workflows (continue-as-new runs, shards, evaluations):
 *  - an activity whose final attempt is > 1 was retried; its started event carries the failure
 *    of the attempt before (a heartbeat timeout when its worker died);
 *  - a workflow task that timed out was handed to another workflow worker, which replayed the
 *    history (sticky queue timeout: the worker holding the workflow's cache is gone);
 *  - an activity scheduled before a worker came back and started after waited in its queue.
 */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { WorkerRole } from '../../common/activityContracts';
import { roleOfTaskQueue } from './activityRoles';

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;
const { TimeoutType } = proto.temporal.api.enums.v1;

export interface ActivityRun {
  workflowId: string;
  activityType: string;
  summary: string;
  role: WorkerRole | 'workflows' | undefined;
  scheduledMs: number;
  /** Start of the final attempt. */
  startedMs: number | null;
  attempt: number;
  /** Why the attempt before the final one ended (attempt > 1 only). */
  previousFailure: string | null;
}

export interface WorkflowTaskTimeout {
  workflowId: string;
  timeMs: number;
  /** START_TO_CLOSE: the worker died holding the task; SCHEDULE_TO_START: its sticky queue went unpolled. */
  timeoutType: string;
}

export interface RunActivityLog {
  activities: ActivityRun[];
  workflowTaskTimeouts: WorkflowTaskTimeout[];
  executions: number;
}

function eventMs(event: HistoryEvent): number {
  const time = event.eventTime;
  if (!time) return 0;
  return Number(time.seconds ?? 0) * 1000 + Math.round((time.nanos ?? 0) / 1e6);
}

function decodeSummary(event: HistoryEvent): string | null {
  const data = event.userMetadata?.summary?.data;
  if (!data) return null;
  try {
    return String(JSON.parse(Buffer.from(data).toString('utf8')));
  } catch {
    return null;
  }
}

function describeFailure(failure: proto.temporal.api.failure.v1.IFailure | null | undefined): string | null {
  if (!failure) return null;
  const timeout = failure.timeoutFailureInfo?.timeoutType;
  if (timeout != null) {
    return `${TimeoutType[timeout]?.replace('TIMEOUT_TYPE_', '').toLowerCase() ?? 'unknown'} timeout`;
  }
  return `${failure.applicationFailureInfo?.type ?? 'failure'}: ${failure.message ?? ''}`.trim();
}

/** Every execution of the run's workflow and of the child workflows named after it. */
export async function readRunActivityLog(client: Client, runId: string): Promise<RunActivityLog> {
  const log: RunActivityLog = { activities: [], workflowTaskTimeouts: [], executions: 0 };
  const query = `WorkflowId = "${runId}" OR WorkflowId STARTS_WITH "${runId}/"`;
  for await (const execution of client.workflow.list({ query })) {
    log.executions += 1;
    const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    const scheduled = new Map<string, ActivityRun>();
    for (const event of history.events ?? []) {
      const id = String(event.eventId);
      const scheduledAttrs = event.activityTaskScheduledEventAttributes;
      if (scheduledAttrs) {
        const activityType = scheduledAttrs.activityType?.name ?? '?';
        const run: ActivityRun = {
          workflowId: execution.workflowId,
          activityType,
          summary: decodeSummary(event) ?? activityType,
          role: roleOfTaskQueue(scheduledAttrs.taskQueue?.name ?? ''),
          scheduledMs: eventMs(event),
          startedMs: null,
          attempt: 0,
          previousFailure: null,
        };
        scheduled.set(id, run);
        log.activities.push(run);
      }
      const started = event.activityTaskStartedEventAttributes;
      const run = started ? scheduled.get(String(started.scheduledEventId)) : undefined;
      if (started && run) {
        run.startedMs = eventMs(event);
        run.attempt = started.attempt ?? 1;
        run.previousFailure = describeFailure(started.lastFailure);
      }
      const timedOut = event.workflowTaskTimedOutEventAttributes;
      if (timedOut) {
        log.workflowTaskTimeouts.push({
          workflowId: execution.workflowId,
          timeMs: eventMs(event),
          timeoutType: (TimeoutType[timedOut.timeoutType ?? 0] ?? '?').replace('TIMEOUT_TYPE_', ''),
        });
      }
    }
  }
  return log;
}

/**
 * A run's activities on a time line, read from Temporal's own histories (the run's executions
 * and every child: shards, evaluations): when each was scheduled, started and closed, on which
 * task queue. Benchmarks measure roles' busy time and queue waits from it.
 */
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';

export interface ActivitySpan {
  workflowId: string;
  activityType: string;
  taskQueue: string;
  scheduledMs: number;
  startedMs: number;
  closedMs: number;
}

const millis = (event: temporal.api.history.v1.IHistoryEvent): number =>
  Number(event.eventTime?.seconds ?? 0) * 1000 + Math.floor((event.eventTime?.nanos ?? 0) / 1e6);

function spansOf(workflowId: string, events: temporal.api.history.v1.IHistoryEvent[]): ActivitySpan[] {
  const scheduled = new Map<string, { type: string; queue: string; at: number }>();
  const started = new Map<string, number>();
  const spans: ActivitySpan[] = [];
  for (const event of events) {
    const id = String(event.eventId);
    const s = event.activityTaskScheduledEventAttributes;
    if (s)
      scheduled.set(id, {
        type: s.activityType?.name ?? '?',
        queue: s.taskQueue?.name ?? '?',
        at: millis(event),
      });
    const st = event.activityTaskStartedEventAttributes;
    if (st) started.set(String(st.scheduledEventId), millis(event));
    const closedRef =
      event.activityTaskCompletedEventAttributes?.scheduledEventId ??
      event.activityTaskFailedEventAttributes?.scheduledEventId ??
      event.activityTaskTimedOutEventAttributes?.scheduledEventId ??
      event.activityTaskCanceledEventAttributes?.scheduledEventId;
    if (closedRef !== undefined && closedRef !== null) {
      const key = String(closedRef);
      const what = scheduled.get(key);
      if (!what) continue;
      spans.push({
        workflowId,
        activityType: what.type,
        taskQueue: what.queue,
        scheduledMs: what.at,
        startedMs: started.get(key) ?? millis(event),
        closedMs: millis(event),
      });
    }
  }
  return spans;
}

/** Every activity span of a run whose workflows carry `TirflowRunId` (started with search attributes). */
export async function runTimeline(client: Client, runId: string): Promise<ActivitySpan[]> {
  const spans: ActivitySpan[] = [];
  const executions: Array<{ workflowId: string; runId: string }> = [];
  for await (const execution of client.workflow.list({ query: `TirflowRunId = '${runId}'` }))
    executions.push({ workflowId: execution.workflowId, runId: execution.runId });
  // Evaluation shards are grandchildren without the attribute: find them through their parents.
  for await (const execution of client.workflow.list({
    query: `WorkflowId STARTS_WITH '${runId}/eval-step-'`,
  }))
    if (!executions.some((e) => e.runId === execution.runId))
      executions.push({ workflowId: execution.workflowId, runId: execution.runId });
  for (const execution of executions) {
    const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    spans.push(...spansOf(execution.workflowId, history.events ?? []));
  }
  return spans.sort((a, b) => a.startedMs - b.startedMs);
}

/** Total time covered by at least one of the intervals (overlaps counted once). */
export function coveredMs(intervals: ReadonlyArray<readonly [number, number]>): number {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let [start, end] = [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
  for (const [s, e] of sorted) {
    if (s > end) {
      if (end > start) total += end - start;
      [start, end] = [s, e];
    } else end = Math.max(end, e);
  }
  if (end > start) total += end - start;
  return total;
}

/**
 * What a run's Temporal histories say about each step: events and their encoded bytes, activities
 * and child workflows, workflow-task latencies, and the step's critical path (the shard that
 * finished last, then the update and the record) split into Temporal's handoffs (an event
 * recorded → the workflow task that reacts to it → the next command), dispatch (scheduled →
 * started while a worker slot was free), waiting for a slot (capacity), and the activities' own
 * execution.
 */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { workflowIds } from '../../common/workflowIds';

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;
const { HistoryEvent: HistoryEventCodec } = proto.temporal.api.history.v1;

export interface ActivitySpan {
  workflowId: string;
  type: string;
  queue: string;
  scheduled: number;
  started: number;
  completed: number;
  /** `pid@host` of the worker that ran the last attempt. */
  identity: string;
  attempts: number;
  input: Record<string, unknown> | null;
  result: Record<string, unknown> | null;
}

export interface WorkflowTaskSpan {
  scheduled: number;
  started: number;
  completed: number;
}

export interface ParsedHistory {
  workflowId: string;
  events: number;
  bytes: number;
  firstEvent: number;
  lastEvent: number;
  activities: ActivitySpan[];
  workflowTasks: WorkflowTaskSpan[];
  /** Children started by this workflow: id, initiated and completed times. */
  children: { workflowId: string; initiated: number; completed: number }[];
  /** Per event: time and encoded size (to slice the parent history by step). */
  timeline: { time: number; bytes: number; workflowTask: boolean }[];
}

function ms(ts: proto.google.protobuf.ITimestamp | null | undefined): number {
  if (!ts) return 0;
  const seconds = ts.seconds;
  const whole = typeof seconds === 'number' ? seconds : Number(seconds?.toString() ?? 0);
  return whole * 1000 + (ts.nanos ?? 0) / 1e6;
}

function decodeFirst(
  payloads: proto.temporal.api.common.v1.IPayloads | null | undefined,
): Record<string, unknown> | null {
  const data = payloads?.payloads?.[0]?.data;
  if (!data) return null;
  try {
    return JSON.parse(Buffer.from(data).toString('utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

export function parseHistory(workflowId: string, events: readonly HistoryEvent[]): ParsedHistory {
  const activities = new Map<string, ActivitySpan>();
  const tasks = new Map<string, WorkflowTaskSpan>();
  const children = new Map<string, { workflowId: string; initiated: number; completed: number }>();
  const timeline: ParsedHistory['timeline'] = [];
  let bytes = 0;
  for (const event of events) {
    const time = ms(event.eventTime);
    const size = HistoryEventCodec.encode(event).finish().length;
    bytes += size;
    const id = String(event.eventId);
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) {
      activities.set(id, {
        workflowId,
        type: scheduled.activityType?.name ?? '?',
        queue: scheduled.taskQueue?.name ?? '?',
        scheduled: time,
        started: 0,
        completed: 0,
        identity: '',
        attempts: 0,
        input: decodeFirst(scheduled.input),
        result: null,
      });
    }
    const started = event.activityTaskStartedEventAttributes;
    if (started) {
      const span = activities.get(String(started.scheduledEventId));
      if (span) {
        span.started = time;
        span.identity = started.identity ?? '';
        span.attempts = started.attempt ?? 1;
      }
    }
    const completed = event.activityTaskCompletedEventAttributes;
    if (completed) {
      const span = activities.get(String(completed.scheduledEventId));
      if (span) {
        span.completed = time;
        span.result = decodeFirst(completed.result);
      }
    }
    const wtScheduled = event.workflowTaskScheduledEventAttributes;
    if (wtScheduled) tasks.set(id, { scheduled: time, started: 0, completed: 0 });
    const wtStarted = event.workflowTaskStartedEventAttributes;
    if (wtStarted) {
      const task = tasks.get(String(wtStarted.scheduledEventId));
      if (task) task.started = time;
    }
    const wtCompleted = event.workflowTaskCompletedEventAttributes;
    if (wtCompleted) {
      const task = tasks.get(String(wtCompleted.scheduledEventId));
      if (task) task.completed = time;
    }
    const initiated = event.startChildWorkflowExecutionInitiatedEventAttributes;
    if (initiated)
      children.set(id, { workflowId: initiated.workflowId ?? '?', initiated: time, completed: 0 });
    const childDone = event.childWorkflowExecutionCompletedEventAttributes;
    if (childDone) {
      const child = children.get(String(childDone.initiatedEventId));
      if (child) child.completed = time;
    }
    const workflowTask = Boolean(
      wtScheduled ??
      wtStarted ??
      wtCompleted ??
      event.workflowTaskFailedEventAttributes ??
      event.workflowTaskTimedOutEventAttributes,
    );
    timeline.push({ time, bytes: size, workflowTask });
  }
  return {
    workflowId,
    events: events.length,
    bytes,
    firstEvent: timeline[0]?.time ?? 0,
    lastEvent: timeline.at(-1)?.time ?? 0,
    activities: [...activities.values()],
    workflowTasks: [...tasks.values()].filter((t) => t.completed > 0),
    children: [...children.values()],
    timeline,
  };
}

export async function fetchParsed(client: Client, workflowId: string): Promise<ParsedHistory> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return parseHistory(workflowId, history.events ?? []);
}

/** The run's histories: the trainingRun and every rollout shard of steps 1..steps. */
export async function fetchRunHistories(
  client: Client,
  runId: string,
  steps: number,
  shards: number,
): Promise<{ parent: ParsedHistory; shards: Map<string, ParsedHistory> }> {
  const parent = await fetchParsed(client, runId);
  const children = new Map<string, ParsedHistory>();
  for (let step = 1; step <= steps; step++) {
    for (let shard = 0; shard < shards; shard++) {
      const id = workflowIds.rolloutShard(runId, step, shard);
      children.set(id, await fetchParsed(client, id));
    }
  }
  return { parent, shards: children };
}

/** Queue → activity slots of one worker process serving it. */
export type Capacity = Record<string, number>;

/**
 * Splits an activity's scheduled→started wait into waiting for a free slot and Temporal's own
 * dispatch. If the worker that ran it had every slot busy at some moment of the wait, the slot it
 * got was freed by the last activity that worker finished before the start: the wait until then
 * is capacity, the rest dispatch. Otherwise the whole wait is dispatch.
 */
export function splitWait(
  span: ActivitySpan,
  all: readonly ActivitySpan[],
  capacity: Capacity,
): { dispatch: number; capacityWait: number } {
  const slots = capacity[span.queue] ?? Infinity;
  const sameWorker = all.filter(
    (a) => a !== span && a.queue === span.queue && a.identity === span.identity && a.started > 0,
  );
  const busyAt = (t: number): number =>
    sameWorker.filter((a) => a.started <= t && (a.completed === 0 || a.completed > t)).length;
  // Full when it was scheduled, or filled up by others (queued ahead of it) before it started.
  const moments = [
    span.scheduled,
    ...sameWorker.map((a) => a.started).filter((t) => t > span.scheduled && t < span.started),
  ];
  if (moments.every((t) => busyAt(t) < slots))
    return { dispatch: span.started - span.scheduled, capacityWait: 0 };
  const freed = Math.max(
    span.scheduled,
    ...sameWorker.map((a) => a.completed).filter((t) => t > 0 && t <= span.started),
  );
  return { dispatch: span.started - freed, capacityWait: freed - span.scheduled };
}

/** When `step`'s last activity in the run (its record, or the retention after it) completed. */
export function stepEnd(parent: ParsedHistory, step: number): number | undefined {
  const ends = parent.activities
    .filter((a) => (a.type === 'recordStep' || a.type === 'pruneCheckpoints') && a.input?.step === step)
    .map((a) => a.completed);
  return ends.length > 0 ? Math.max(...ends) : undefined;
}

export interface CriticalPath {
  wallMs: number;
  /** Event recorded → next command: workflow tasks, child start and completion. */
  handoffMs: number;
  /** Scheduled → started while a slot was free. */
  dispatchMs: number;
  /** Scheduled → a slot freed up. */
  capacityWaitMs: number;
  /** Activities running, by activity type. */
  executionMs: Record<string, number>;
  /** The activities on the path, in order. */
  activities: ActivitySpan[];
  criticalShard: string;
}

/**
 * The critical path of `step`: from the end of the previous step (or the first shard's start for
 * step 1) through the shard that finished last, the update, the record and checkpoint retention.
 */
export function criticalPath(
  step: number,
  parent: ParsedHistory,
  shards: ReadonlyMap<string, ParsedHistory>,
  allActivities: readonly ActivitySpan[],
  capacity: Capacity,
): CriticalPath {
  const stepOf = (a: ActivitySpan): number | undefined => a.input?.step as number | undefined;
  const record = parent.activities.find((a) => a.type === 'recordStep' && stepOf(a) === step);
  // Checkpoint retention (when on) runs after the record and before the next step.
  const prune = parent.activities.find((a) => a.type === 'pruneCheckpoints' && stepOf(a) === step);
  const update = parent.activities.find((a) => a.type === 'updatePolicy' && stepOf(a) === step);
  const previousEnd = stepEnd(parent, step - 1);
  const stepChildren = parent.children.filter((c) =>
    c.workflowId.includes(`/step-${String(step).padStart(4, '0')}/`),
  );
  if (!record || !update || stepChildren.length === 0)
    throw new Error(`step ${step} is incomplete in ${parent.workflowId}`);
  const last = stepChildren.reduce((a, b) => (b.completed > a.completed ? b : a));
  const shard = shards.get(last.workflowId);
  if (!shard) throw new Error(`no history for ${last.workflowId}`);
  const start = previousEnd ?? Math.min(...stepChildren.map((c) => c.initiated));
  const shardActivities = [...shard.activities].sort((a, b) => a.scheduled - b.scheduled);

  let handoff = 0;
  let dispatch = 0;
  let capacityWait = 0;
  const execution: Record<string, number> = {};
  let cursor = start;
  const hop = (time: number): void => {
    handoff += time - cursor;
    cursor = time;
  };
  const run = (activity: ActivitySpan): void => {
    hop(activity.scheduled);
    const wait = splitWait(activity, allActivities, capacity);
    dispatch += wait.dispatch;
    capacityWait += wait.capacityWait;
    execution[activity.type] = (execution[activity.type] ?? 0) + (activity.completed - activity.started);
    cursor = activity.completed;
  };
  hop(last.initiated); // the parent's workflow task starts the child
  hop(shard.firstEvent); // the child's execution starts
  for (const activity of shardActivities) run(activity);
  hop(shard.lastEvent); // the child's last workflow task completes it
  hop(last.completed); // the parent records the child's completion
  run(update);
  run(record);
  if (prune) run(prune);
  const chain = [...shardActivities, update, record, ...(prune ? [prune] : [])];
  return {
    wallMs: cursor - start,
    handoffMs: handoff,
    dispatchMs: dispatch,
    capacityWaitMs: capacityWait,
    executionMs: execution,
    activities: chain,
    criticalShard: last.workflowId,
  };
}

export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Length of the union of [start, end] intervals (time some activity of a kind was running). */
export function busyMs(intervals: readonly [number, number][]): number {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let end = -Infinity;
  let begin = -Infinity;
  for (const [s, e] of sorted) {
    if (s > end) {
      if (end > begin) total += end - begin;
      begin = s;
      end = e;
    } else end = Math.max(end, e);
  }
  if (end > begin) total += end - begin;
  return total;
}

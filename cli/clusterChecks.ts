/**
 * What the CLI asks the Temporal server on an operator's behalf: which task queues have
 * workers polling them (the server knows its pollers), and whether tirflow's search
 * attributes are registered in the namespace.
 */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { taskQueues, type WorkerRole } from '../common/activityContracts';
import { searchAttributeTypes } from '../common/searchAttributes';

const { TaskQueueKind, TaskQueueType, IndexedValueType } = proto.temporal.api.enums.v1;

export type QueueRole = WorkerRole | 'workflows';

export interface QueuePollers {
  role: QueueRole;
  taskQueue: string;
  pollers: number;
}

/** Pollers seen recently on each of tirflow's task queues (workflow queue: workflow tasks). */
export async function queuePollers(client: Client, namespace: string): Promise<QueuePollers[]> {
  return Promise.all(
    (Object.entries(taskQueues) as Array<[QueueRole, string]>).map(async ([role, taskQueue]) => {
      const response = await client.workflowService.describeTaskQueue({
        namespace,
        taskQueue: { name: taskQueue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        taskQueueType:
          role === 'workflows'
            ? TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
            : TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
      });
      return { role, taskQueue, pollers: response.pollers?.length ?? 0 };
    }),
  );
}

/** One line per queue nobody polls, saying what waits there and how to start a worker for it. */
export function describeMissingPollers(queues: readonly QueuePollers[]): string[] {
  return queues
    .filter((queue) => queue.pollers === 0)
    .map((queue) =>
      queue.role === 'workflows'
        ? `no worker polls ${queue.taskQueue}: the run's workflow code cannot advance or answer queries ` +
          '(start one: `tirflow worker --role all`, or any role without --no-workflows)'
        : `no worker polls ${queue.taskQueue}: ${queue.role} activities wait there ` +
          `(start one: \`tirflow worker --role ${queue.role}\`)`,
    );
}

const wantedType = (type: 'Keyword' | 'Int') =>
  type === 'Int' ? IndexedValueType.INDEXED_VALUE_TYPE_INT : IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;

/** Search attributes tirflow uses that the namespace lacks. */
async function missingSearchAttributes(client: Client, namespace: string): Promise<string[]> {
  const response = await client.connection.operatorService.listSearchAttributes({ namespace });
  const custom = response.customAttributes ?? {};
  return Object.keys(searchAttributeTypes).filter((name) => custom[name] === undefined);
}

export type SearchAttributeSetup = { registered: true } | { registered: false; reason: string };

/**
 * Whether the frontend accepts a query naming every attribute: a real server lists a newly
 * registered attribute before its frontend can use it, and refuses runs that set it meanwhile.
 */
async function attributesUsable(client: Client, namespace: string): Promise<boolean> {
  const query = Object.entries(searchAttributeTypes)
    .map(([name, type]) => (type === 'Int' ? `${name} = 0` : `${name} = ''`))
    .join(' AND ');
  try {
    await client.workflowService.listWorkflowExecutions({ namespace, query, pageSize: 1 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes sure tirflow's search attributes exist in the namespace, registering missing ones when
 * the server allows it (a dev server does; a production cluster may need an admin).
 */
export async function ensureSearchAttributes(
  client: Client,
  namespace: string,
): Promise<SearchAttributeSetup> {
  let missing: string[];
  try {
    missing = await missingSearchAttributes(client, namespace);
    if (missing.length > 0) {
      await client.connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(
          missing.map((name) => [name, wantedType(searchAttributeTypes[name]!)]),
        ),
      });
    }
    // The frontend's cache catches up within seconds of registration.
    for (let i = 0; i < 60; i++) {
      if (
        (await missingSearchAttributes(client, namespace)).length === 0 &&
        (await attributesUsable(client, namespace))
      )
        return { registered: true };
      await new Promise((r) => setTimeout(r, 500));
    }
    return { registered: false, reason: 'the server accepted them but cannot use them yet' };
  } catch (err) {
    return { registered: false, reason: (err as Error).message.split('\n')[0] ?? String(err) };
  }
}

/** How an operator registers the attributes on a self-hosted cluster. */
export function searchAttributeCommand(namespace: string): string {
  return Object.entries(searchAttributeTypes)
    .map(
      ([name, type]) =>
        `temporal operator search-attribute create --namespace ${namespace} --name ${name} --type ${type}`,
    )
    .join('\n');
}

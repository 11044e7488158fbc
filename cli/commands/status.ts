/**
 * `tirflow status RUN`: where a run is and, when it is stuck or failed, why. It asks the
 * server first (is the run open, which task queues have workers), queries the run only when a
 * worker can answer, and falls back on what the artifact store knows.
 */
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Command } from 'commander';
import type { BlockedWork } from '../../workflows/blockedWork';
import { statusQuery, type RunStatus } from '../../workflows/messages';
import { describeMissingPollers, queuePollers } from '../clusterChecks';
import { withClusterOptions, type ClusterOptions } from '../connection';
import { CliError, exitCodes } from '../exitCodes';
import { formatStepRecord, formatTimings } from '../progress';
import { describeFailure } from '../runFailure';
import { describeStoreView, readStoreView } from '../storeView';
import { connectOrThrow } from './train';

const QUERY_TIMEOUT_MS = 10_000;

/** The run's status query, or null when no worker answers within the timeout. */
async function queryStatus(handle: WorkflowHandle): Promise<RunStatus | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), QUERY_TIMEOUT_MS)));
  try {
    return await Promise.race([handle.query(statusQuery).catch(() => null), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function describeBlocked(runId: string, work: BlockedWork): string[] {
  const where = [work.turn !== null ? `turn ${work.turn}` : null, work.activity].filter(Boolean).join(' ');
  return [
    `BLOCKED ${work.id} (${work.what}${where ? `, ${where}` : ''}, failed ${work.failures}× since ${work.since}): ` +
      `${work.errorType ? `[${work.errorType}] ` : ''}${work.error}`,
    `  → fix the cause, then \`tirflow retry ${runId} --work ${work.id}\`` +
      (work.skippable ? `, or drop it: \`tirflow skip ${runId} --work ${work.id}\`` : '') +
      `; or \`tirflow stop ${runId}\``,
  ];
}

/** Activities of the run and its open children that are retrying or waiting, one line each. */
async function pendingWork(client: Client, runId: string): Promise<string[]> {
  const lines: string[] = [];
  const describeOne = async (workflowId: string): Promise<string[]> => {
    const { raw } = await client.workflow.getHandle(workflowId).describe();
    for (const activity of raw.pendingActivities ?? []) {
      const attempt = activity.attempt ?? 1;
      const failure = activity.lastFailure?.message;
      if (attempt <= 1 && !failure) continue;
      lines.push(
        `retrying: ${workflowId} ${activity.activityType?.name ?? 'activity'} attempt ${attempt}` +
          (failure ? `, last failure: ${failure}` : ''),
      );
    }
    return (raw.pendingChildren ?? []).map((child) => child.workflowId ?? '').filter(Boolean);
  };
  const children = await describeOne(runId);
  for (const child of children.slice(0, 16)) await describeOne(child).catch(() => []);
  return lines;
}

function printStatus(runId: string, workflowStatus: string, status: RunStatus): void {
  console.log(
    `${runId}: ${workflowStatus} | step ${status.step}/${status.totalSteps} | ${status.phase} | policy v${status.policyVersion}` +
      (status.paused ? ' | paused' : '') +
      (status.stopAfterStep !== null ? ` | stops after step ${status.stopAfterStep}` : ''),
  );
  const h = status.hyperparameters;
  const pipeline =
    status.pipeline && status.pipeline.maxStaleness > 0
      ? ` | pipeline: staleness ≤ ${status.pipeline.maxStaleness}, rollouts under way: ${status.pipeline.rolloutsInFlight.join(', ') || 'none'}`
      : '';
  console.log(
    `  lr ${h.learningRate} | temperature ${h.temperature} | tool budget ${h.toolBudget}${pipeline}`,
  );
  for (const work of status.blocked ?? [])
    for (const line of describeBlocked(runId, work)) console.log(`  ${line}`);
  const timings = status.lastRecord?.timings;
  if (timings && status.lastRecord)
    console.log(`  step ${status.lastRecord.step} took ${formatTimings(timings)}`);
  for (const record of status.history.slice(-10))
    console.log('  ' + formatStepRecord(record, status.totalSteps));
}

export function registerStatus(program: Command): void {
  withClusterOptions(
    program
      .command('status')
      .description(
        'Show a run: step, phase, policy version, last metrics; for a blocked or failed run, the failing\n' +
          'activity and why; queues no worker polls; what the artifact store knows when no worker answers.',
      )
      .argument('<run>'),
  )
    .option('--json', 'print the full status as JSON')
    .action(async (runId: string, opts: ClusterOptions & { json?: boolean }) => {
      const { client, close } = await connectOrThrow(opts);
      try {
        const handle = client.workflow.getHandle(runId);
        let description;
        try {
          description = await handle.describe();
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
          const view = readStoreView(opts.artifacts, runId);
          if (!view) throw new CliError(`no run with id ${runId}`, exitCodes.badInput);
          if (opts.json) {
            console.log(JSON.stringify({ workflowStatus: 'UNKNOWN_TO_SERVER', store: view }, null, 2));
            return;
          }
          console.log(`${runId}: not known to the Temporal server at ${opts.address}`);
          for (const line of describeStoreView(view)) console.log(`  ${line}`);
          console.log(`  continue it with \`tirflow train --resume --run-id ${runId}\``);
          return;
        }
        const workflowStatus = description.status.name;
        const running = workflowStatus === 'RUNNING';
        const queues = await queuePollers(client, opts.namespace);
        const workflowPollers = queues.find((q) => q.role === 'workflows')?.pollers ?? 0;
        const status = workflowPollers > 0 ? await queryStatus(handle) : null;

        let failure: string | null = null;
        if (!running && workflowStatus !== 'COMPLETED' && workflowStatus !== 'CONTINUED_AS_NEW') {
          failure = await handle.result().then(
            () => null,
            (err: unknown) => describeFailure(err),
          );
        }
        const pending = running ? await pendingWork(client, runId) : [];
        const missing = running ? describeMissingPollers(queues) : [];
        const view = status ? null : readStoreView(opts.artifacts, runId);

        if (opts.json) {
          console.log(
            JSON.stringify(
              { workflowStatus, ...(status ?? {}), failure, pending, missingPollers: missing, store: view },
              null,
              2,
            ),
          );
          return;
        }
        if (status) printStatus(runId, workflowStatus.toLowerCase(), status);
        else
          console.log(
            `${runId}: ${workflowStatus.toLowerCase()}` +
              (description.closeTime ? ` at ${description.closeTime.toISOString()}` : '') +
              (running ? ' (no worker answered the status query)' : ''),
          );
        if (failure) {
          console.log(`  reason: ${failure}`);
          console.log(
            `  continue it from its last recorded step once the cause is fixed: \`tirflow train --resume --run-id ${runId}\``,
          );
        }
        for (const line of pending) console.log(`  ${line}`);
        for (const line of missing) console.log(`  ${line}`);
        if (view) for (const line of describeStoreView(view)) console.log(`  ${line}`);
      } finally {
        await close();
      }
    });
}

/** `tirflow status|pause|resume|stop RUN` and `tirflow runs`: operate on runs by id. */
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Command } from 'commander';
import { pauseSignal, resumeSignal, statusQuery, stopAfterStepSignal } from '../../workflows/messages';
import { withClusterOptions, type ClusterOptions } from '../connection';
import { CliError, exitCodes } from '../exitCodes';
import { formatStepRecord } from '../progress';
import { connectOrThrow } from './train';

async function withRun<T>(
  runId: string,
  opts: ClusterOptions,
  act: (
    handle: ReturnType<Awaited<ReturnType<typeof connectOrThrow>>['client']['workflow']['getHandle']>,
  ) => Promise<T>,
): Promise<T> {
  const { client, close } = await connectOrThrow(opts);
  try {
    const handle = client.workflow.getHandle(runId);
    try {
      await handle.describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError)
        throw new CliError(`no run with id ${runId}`, exitCodes.badInput);
      throw err;
    }
    return await act(handle);
  } finally {
    await close();
  }
}

export function registerControl(program: Command): void {
  withClusterOptions(
    program
      .command('status')
      .description('Show a run: step, phase, policy version, last metrics.')
      .argument('<run>'),
  )
    .option('--json', 'print the full status as JSON')
    .action(async (runId: string, opts: ClusterOptions & { json?: boolean }) => {
      await withRun(runId, opts, async (handle) => {
        const description = await handle.describe();
        let status;
        try {
          status = await handle.query(statusQuery);
        } catch (err) {
          if (description.status.name === 'RUNNING') throw err;
          console.log(
            `${runId}: ${description.status.name.toLowerCase()} (no worker answers queries of closed runs without one)`,
          );
          return;
        }
        if (opts.json) {
          console.log(JSON.stringify({ workflowStatus: description.status.name, ...status }, null, 2));
          return;
        }
        console.log(
          `${runId}: ${description.status.name.toLowerCase()} | step ${status.step}/${status.totalSteps} | ${status.phase} | policy v${status.policyVersion}` +
            (status.paused ? ' | paused' : '') +
            (status.stopAfterStep !== null ? ` | stops after step ${status.stopAfterStep}` : ''),
        );
        const h = status.hyperparameters;
        console.log(`  lr ${h.learningRate} | temperature ${h.temperature} | tool budget ${h.toolBudget}`);
        for (const record of status.history.slice(-10))
          console.log('  ' + formatStepRecord(record, status.totalSteps));
      });
    });

  withClusterOptions(
    program.command('pause').description('Pause a run after its current step.').argument('<run>'),
  ).action(async (runId: string, opts: ClusterOptions) => {
    await withRun(runId, opts, (handle) => handle.signal(pauseSignal));
    console.log(`${runId}: pause requested (takes effect after the current step)`);
  });

  withClusterOptions(program.command('resume').description('Resume a paused run.').argument('<run>')).action(
    async (runId: string, opts: ClusterOptions) => {
      await withRun(runId, opts, (handle) => handle.signal(resumeSignal));
      console.log(`${runId}: resumed`);
    },
  );

  withClusterOptions(
    program
      .command('stop')
      .description('Finish a run cleanly after a step (default: the current one).')
      .argument('<run>')
      .option('--after-step <n>', 'the last step to complete', (v) => Number.parseInt(v, 10)),
  ).action(async (runId: string, opts: ClusterOptions & { afterStep?: number }) => {
    await withRun(runId, opts, (handle) => handle.signal(stopAfterStepSignal, opts.afterStep ?? 0));
    console.log(
      `${runId}: will stop after ${opts.afterStep !== undefined ? `step ${opts.afterStep}` : 'the current step'}`,
    );
  });

  withClusterOptions(program.command('runs').description('List training runs, newest first.'))
    .option('--limit <n>', 'how many', (v) => Number.parseInt(v, 10), 20)
    .action(async (opts: ClusterOptions & { limit: number }) => {
      const { client, close } = await connectOrThrow(opts);
      try {
        let shown = 0;
        for await (const run of client.workflow.list({ query: `WorkflowType = 'trainingRun'` })) {
          console.log(
            `${run.workflowId.padEnd(36)} ${run.status.name.toLowerCase().padEnd(11)} started ${run.startTime.toISOString()}`,
          );
          if (++shown >= opts.limit) break;
        }
        if (shown === 0) console.log('no runs yet: start one with `tirflow train`');
      } finally {
        await close();
      }
    });
}

/**
 * Operating a live run by id: `pause`, `resume`, `stop [--after-step N]`, `retry` and `skip`
 * (blocked work), `set` (live hyperparameters), and `runs` (the list). Refusals (a stop the run
 * cannot honour, nothing blocked, a bad value) exit 2 with the run's own reason.
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { Command } from 'commander';
import { searchAttributeKeys } from '../../common/searchAttributes';
import {
  pauseSignal,
  resumeSignal,
  retryBlockedUpdate,
  setHyperparametersUpdate,
  skipBlockedUpdate,
  stopUpdate,
} from '../../workflows/messages';
import { withClusterOptions, type ClusterOptions } from '../connection';
import { CliError, exitCodes } from '../exitCodes';
import { parseNonNegativeInt, parsePositiveNumber } from '../options';
import { connectOrThrow } from './train';

async function withRun<T>(
  runId: string,
  opts: ClusterOptions,
  act: (handle: WorkflowHandle) => Promise<T>,
): Promise<T> {
  const { client, close } = await connectOrThrow(opts);
  try {
    const handle = client.workflow.getHandle(runId);
    let running: boolean;
    try {
      running = (await handle.describe()).status.name === 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError)
        throw new CliError(`no run with id ${runId}`, exitCodes.badInput);
      throw err;
    }
    if (!running)
      throw new CliError(`run ${runId} is not running (see \`tirflow status ${runId}\`)`, exitCodes.badInput);
    try {
      return await act(handle);
    } catch (err) {
      // The run refused the request (its validator): say why, as bad input.
      if (err instanceof WorkflowUpdateFailedError)
        throw new CliError(`${runId}: ${err.cause?.message ?? err.message}`, exitCodes.badInput);
      throw err;
    }
  } finally {
    await close();
  }
}

export function registerControl(program: Command): void {
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
      .description(
        'Finish a run cleanly after a step: exactly that step, or refused naming the earliest step the run\n' +
          'can stop after. Default: the step under way (at once when the run is blocked or paused).',
      )
      .argument('<run>')
      .option('--after-step <n>', 'the last step to complete', parseNonNegativeInt),
  ).action(async (runId: string, opts: ClusterOptions & { afterStep?: number }) => {
    const { stopAfterStep } = await withRun(runId, opts, (handle) =>
      handle.executeUpdate(stopUpdate, { args: [{ afterStep: opts.afterStep }] }),
    );
    console.log(`${runId}: will stop after step ${stopAfterStep}`);
  });

  for (const [name, update, description] of [
    [
      'retry',
      retryBlockedUpdate,
      'Run blocked work again (a shard, evaluation, update or record that exhausted its retries),\nonce its cause is fixed.',
    ],
    [
      'skip',
      skipBlockedUpdate,
      'Drop blocked shards or evaluations from their step; the step goes on without them and its\nmetrics record what was skipped. Updates and records cannot be skipped.',
    ],
  ] as const) {
    withClusterOptions(
      program
        .command(name)
        .description(description)
        .argument('<run>')
        .option('--work <id>', 'one blocked item, e.g. step-3/shard-1 (default: all of them)'),
    ).action(async (runId: string, opts: ClusterOptions & { work?: string }) => {
      const ids = await withRun(runId, opts, (handle) =>
        handle.executeUpdate(update, { args: [{ work: opts.work }] }),
      );
      console.log(`${runId}: ${name === 'retry' ? 'retrying' : 'skipped'} ${ids.join(', ')}`);
    });
  }

  withClusterOptions(
    program
      .command('set')
      .description('Change hyperparameters of a live run from its next step on (validated by the run).')
      .argument('<run>')
      .option('--lr <x>', 'learning rate, in (0, 1)', parsePositiveNumber)
      .option('--temperature <t>', 'rollout sampling temperature, in (0, 2]', parsePositiveNumber)
      .option('--tool-budget <n>', 'code executions allowed per response, 0 to 20', parseNonNegativeInt),
  ).action(
    async (
      runId: string,
      opts: ClusterOptions & { lr?: number; temperature?: number; toolBudget?: number },
    ) => {
      const change = {
        ...(opts.lr !== undefined ? { learningRate: opts.lr } : {}),
        ...(opts.temperature !== undefined ? { temperature: opts.temperature } : {}),
        ...(opts.toolBudget !== undefined ? { toolBudget: opts.toolBudget } : {}),
      };
      if (Object.keys(change).length === 0)
        throw new CliError('nothing to set: give --lr, --temperature or --tool-budget', exitCodes.badInput);
      const now = await withRun(runId, opts, (handle) =>
        handle.executeUpdate(setHyperparametersUpdate, { args: [change] }),
      );
      console.log(
        `${runId}: from the next step: lr ${now.learningRate} | temperature ${now.temperature} | tool budget ${now.toolBudget}`,
      );
    },
  );

  withClusterOptions(
    program
      .command('runs')
      .description(
        "List training runs, newest first. --query takes Temporal's list filter over tirflow's search\n" +
          'attributes, e.g. "TirflowTemplate = \'tool\' AND TirflowStep > 10".',
      ),
  )
    .option('--limit <n>', 'how many', (v) => Number.parseInt(v, 10), 20)
    .option('--query <filter>', 'extra list filter (search attributes)')
    .action(async (opts: ClusterOptions & { limit: number; query?: string }) => {
      const { client, close } = await connectOrThrow(opts);
      try {
        let shown = 0;
        const query = `WorkflowType = 'trainingRun'${opts.query ? ` AND (${opts.query})` : ''}`;
        for await (const run of client.workflow.list({ query })) {
          const attributes = run.typedSearchAttributes;
          const template = attributes.get(searchAttributeKeys.template);
          const step = attributes.get(searchAttributeKeys.step);
          const phase = attributes.get(searchAttributeKeys.phase);
          console.log(
            [
              run.workflowId.padEnd(36),
              run.status.name.toLowerCase().padEnd(11),
              (template === undefined ? '' : template === 'tool' ? 'ZeroTIR' : 'ZeroRL').padEnd(7),
              (step === undefined ? '' : `step ${step}`).padEnd(9),
              (phase ?? '').padEnd(15),
              `started ${run.startTime.toISOString()}`,
            ].join(' '),
          );
          if (++shown >= opts.limit) break;
        }
        if (shown === 0) console.log('no runs yet: start one with `tirflow train`');
      } finally {
        await close();
      }
    });
}

/**
 * `tirflow train -c cfg.yaml`: starts a run (or attaches to the running one with the same id)
 * and follows it until it ends or the user detaches with Ctrl-C (the run goes on).
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import { taskQueues } from '../../common/activityContracts';
import { ConfigError, type RunConfig } from '../../common/config';
import type { TrainingRunResult } from '../../workflows/trainingRun';
import { statusQuery, type RunStatus } from '../../workflows/messages';
import { connectClient, withClusterOptions, type ClusterOptions } from '../connection';
import { CliError, exitCodes } from '../exitCodes';
import { reportProgress } from '../progress';
import { describeFailure, runFailureExitCode } from '../runFailure';
import { loadRunConfig } from '../runConfigFile';

// Other commands and tests read run failures the same way.
export { describeFailure } from '../runFailure';

export interface TrainOptions extends ClusterOptions {
  config?: string;
  runId?: string;
  detach?: boolean;
}

/** A readable, sortable default run id: the template and the UTC start time. */
export function defaultRunId(config: RunConfig, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${config.template === 'tool' ? 'zerotir' : 'zerorl'}-${stamp}`;
}

export function readConfigOrThrow(path: string | undefined): RunConfig {
  try {
    return loadRunConfig(path);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, exitCodes.badInput);
    throw err;
  }
}

/** Starts the run unless a run with this id is already going; returns whether it started it. */
export async function startOrAttach(client: Client, runId: string, config: RunConfig): Promise<boolean> {
  try {
    await client.workflow.start('trainingRun', {
      taskQueue: taskQueues.workflows,
      workflowId: runId,
      args: [{ runId, config }],
      staticSummary: `${config.template === 'tool' ? 'ZeroTIR' : 'ZeroRL'} run: ${config.steps} steps × ${config.rollout.promptsPerStep} prompts × ${config.rollout.samplesPerPrompt} samples`,
    });
    return true;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
    throw err;
  }
}

/** Follows a run until it ends; resolves with its result. Polls the status query. */
export async function followRun(
  client: Client,
  runId: string,
  print: (line: string) => void,
  stop?: Promise<void>,
): Promise<TrainingRunResult | 'detached'> {
  const handle = client.workflow.getHandle(runId);
  const result = handle.result() as Promise<TrainingRunResult>;
  let previous: RunStatus | null = null;
  let done = false;
  void result.finally(() => (done = true)).catch(() => undefined);
  let detached = false;
  void stop?.then(() => (detached = true));
  while (!done && !detached) {
    try {
      const status = await handle.query(statusQuery);
      reportProgress(previous, status, print);
      previous = status;
    } catch {
      // No worker to answer the query right now (restarting): keep waiting for the result.
    }
    await Promise.race([new Promise((r) => setTimeout(r, 1000)), result.catch(() => undefined), stop]);
  }
  if (detached && !done) return 'detached';
  const final = await result;
  try {
    reportProgress(previous, await handle.query(statusQuery), print);
  } catch {
    // The final records were printed while the run went on.
  }
  return final;
}

export function registerTrain(program: Command): void {
  withClusterOptions(
    program
      .command('train')
      .description(
        'Start a training run (or attach to the running one with the same id) and follow its progress.\n' +
          'Exit codes: 0 completed (or detached), 1 run failed, 2 invalid config or options, or a model or dataset the run\n' +
          'rejected, 3 Temporal unreachable.',
      )
      .option('-c, --config <file>', 'run config, YAML or JSON (default: the embedded tiny run)')
      .option('--run-id <id>', 'workflow id of the run (default: zerotir-<UTC time>)')
      .option('--detach', 'start the run and return at once'),
  ).action(async (opts: TrainOptions) => {
    const config = readConfigOrThrow(opts.config);
    const runId = opts.runId ?? defaultRunId(config);
    const { client, close } = await connectOrThrow(opts);
    try {
      const started = await startOrAttach(client, runId, config);
      console.log(`${started ? 'Started' : 'Attached to running'} run ${runId}`);
      if (opts.detach) return;
      console.log('Following progress; Ctrl-C detaches (the run goes on).');
      const stop = new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
      const outcome = await followRun(client, runId, (line) => console.log(line), stop);
      if (outcome === 'detached') {
        console.log(`Detached. The run goes on: \`tirflow status ${runId}\`.`);
        return;
      }
      console.log(
        `Run ${runId} ${outcome.stoppedEarly ? 'stopped' : 'completed'} after ${outcome.completedSteps} steps (policy v${outcome.policy.version}).`,
      );
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw new CliError(`run ${runId} failed: ${describeFailure(err)}`, runFailureExitCode(err));
    } finally {
      await close();
    }
  });
}

export async function connectOrThrow(opts: ClusterOptions): ReturnType<typeof connectClient> {
  try {
    return await connectClient(opts);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError((err as Error).message, exitCodes.unreachable);
  }
}

/**
 * `tirflow train -c cfg.yaml`: starts a run (or attaches to the running one with the same id)
 * and follows it until it ends or the user detaches with Ctrl-C (the run goes on).
 */
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { ConfigError, type RunConfig } from '../../common/config';
import type { TrainingRunResult } from '../../workflows/trainingRun';
import { statusQuery, type RunStatus } from '../../workflows/messages';
import { describeMissingPollers, queuePollers } from '../clusterChecks';
import { connectClient, defaultArtifactRoot, withClusterOptions, type ClusterOptions } from '../connection';
import { CliError, exitCodes } from '../exitCodes';
import { reportProgress } from '../progress';
import { describeFailure, runFailureExitCode } from '../runFailure';
import { loadRunConfig } from '../runConfigFile';
import { launchRun } from '../runLauncher';

// Other commands and tests read run failures the same way.
export { describeFailure } from '../runFailure';

export interface TrainOptions extends ClusterOptions {
  config?: string;
  runId?: string;
  resume?: boolean;
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

/**
 * Starts a new run under `runId`, or attaches to the running one (same config); a closed run's
 * id is refused. Returns whether it started the run. (The demo and tests use this; `train`
 * uses launchRun for --resume as well.)
 */
export async function startOrAttach(
  client: Client,
  runId: string,
  config: RunConfig,
  options: { namespace?: string; artifacts?: string } = {},
): Promise<boolean> {
  const outcome = await launchRun(client, {
    runId,
    config,
    configGiven: true,
    resume: false,
    namespace: options.namespace ?? 'default',
    artifacts: options.artifacts ?? defaultArtifactRoot(),
  });
  return outcome.action === 'started';
}

/**
 * Warns, once per queue, when work of the run waits on a task queue that no worker polls
 * (checked a few seconds after starting to follow, then every half minute).
 */
function watchPollers(
  client: Client,
  namespace: string,
  print: (line: string) => void,
  done: () => boolean,
): () => void {
  const warned = new Set<string>();
  const check = async (): Promise<void> => {
    if (done()) return;
    try {
      for (const line of describeMissingPollers(await queuePollers(client, namespace))) {
        if (warned.has(line)) continue;
        warned.add(line);
        print(`  warning: ${line}`);
      }
    } catch {
      // The server is restarting: the next check will tell.
    }
  };
  const first = setTimeout(() => void check(), 5_000);
  const every = setInterval(() => void check(), 30_000);
  return () => {
    clearTimeout(first);
    clearInterval(every);
  };
}

const RESULT_REASK_MS = 60_000;

/** The reason a follow aborts its own wait for the result, to ask again (not a failure). */
class ResultReask extends Error {}

/** Follows a run until it ends; resolves with its result. Polls the status query. */
export async function followRun(
  client: Client,
  runId: string,
  print: (line: string) => void,
  stop?: Promise<void>,
  namespace = 'default',
): Promise<TrainingRunResult | 'detached'> {
  const handle = client.workflow.getHandle(runId);
  // Every call of this follow is aborted on detach, so none retries into a closed connection.
  // Each call gets its own signal: the Temporal client adds an abort listener per gRPC call and
  // never removes it, so one shared signal would gain a listener per status poll for as long as
  // the run is followed (days).
  const inFlight = new Set<AbortController>();
  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    const abort = new AbortController();
    inFlight.add(abort);
    try {
      return await client.withAbortSignal(abort.signal, fn);
    } finally {
      inFlight.delete(abort);
    }
  };
  // result() long-polls the history for as long as the run lasts, each poll a call with its own
  // listener: it is asked again with a fresh signal every RESULT_REASK_MS so none collects more
  // than a few.
  const awaitResult = async (): Promise<TrainingRunResult> => {
    for (;;) {
      const abort = new AbortController();
      inFlight.add(abort);
      const reask = setTimeout(() => abort.abort(new ResultReask()), RESULT_REASK_MS);
      try {
        return (await client.withAbortSignal(abort.signal, () => handle.result())) as TrainingRunResult;
      } catch (err) {
        if (!(abort.signal.reason instanceof ResultReask)) throw err;
      } finally {
        clearTimeout(reask);
        inFlight.delete(abort);
      }
    }
  };
  const result = awaitResult();
  let previous: RunStatus | null = null;
  let done = false;
  void result.finally(() => (done = true)).catch(() => undefined);
  let detached = false;
  void stop?.then(() => (detached = true));
  const stopWatching = watchPollers(client, namespace, print, () => done || detached);
  const ended = result.then(
    () => null,
    () => null,
  );
  while (!done && !detached) {
    // No worker may answer the query for a while (restarting, or none started): Ctrl-C and the
    // run's end must not wait for it.
    const status = await Promise.race([
      call(() => handle.query(statusQuery)).catch(() => null),
      ended,
      stop?.then(() => null) ?? new Promise<null>(() => undefined),
    ]);
    if (status) {
      reportProgress(previous, status, print);
      previous = status;
    }
    await Promise.race([new Promise((r) => setTimeout(r, 1000)), ended, stop]);
  }
  stopWatching();
  if (detached && !done) {
    for (const abort of inFlight) abort.abort();
    return 'detached';
  }
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
          'A run id names one run forever: the id of a finished run is refused; --resume continues a failed or\n' +
          'terminated run from its last recorded step, with its stored config.\n' +
          'Exit codes: 0 completed (or detached), 1 run failed, 2 invalid config or options, a refused run id, or a\n' +
          'model or dataset the run rejected, 3 Temporal unreachable.',
      )
      .option(
        '-c, --config <file>',
        "run config, YAML or JSON (default: the embedded tiny run; with --resume: the run's own)",
      )
      .option('--run-id <id>', 'workflow id of the run (default: zerotir-<UTC time>)')
      .option('--resume', 'continue the failed or terminated run --run-id from its last recorded step')
      .option('--detach', 'start the run and return at once'),
  ).action(async (opts: TrainOptions) => {
    if (opts.resume && !opts.runId) throw new CliError('--resume needs --run-id', exitCodes.badInput);
    const config = readConfigOrThrow(opts.config);
    const runId = opts.runId ?? defaultRunId(config);
    const { client, close } = await connectOrThrow(opts);
    try {
      const outcome = await launchRun(client, {
        runId,
        config,
        // Without -c, attaching or resuming keeps the run's own config.
        configGiven: opts.config !== undefined,
        resume: opts.resume === true,
        namespace: opts.namespace,
        artifacts: opts.artifacts,
      });
      const verb = { started: 'Started', attached: 'Attached to running', resumed: 'Resumed' }[
        outcome.action
      ];
      console.log(`${verb} run ${runId}`);
      for (const note of outcome.notes) console.log(`note: ${note}`);
      if (opts.detach) return;
      console.log('Following progress; Ctrl-C detaches (the run goes on).');
      const stop = new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
      const result = await followRun(client, runId, (line) => console.log(line), stop, opts.namespace);
      if (result === 'detached') {
        console.log(`Detached. The run goes on: \`tirflow status ${runId}\`.`);
        return;
      }
      console.log(
        `Run ${runId} ${result.stoppedEarly ? 'stopped' : 'completed'} after ${result.completedSteps} steps (policy v${result.policy.version}).`,
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

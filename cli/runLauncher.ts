/**
 * Starting a run the way an operator expects: a run id names one run forever. A new id starts
 * a run; the id of a running run attaches to it (with the same config); the id of a closed run
 * is refused, except `--resume`, which continues a failed or terminated run from its last
 * recorded step with its stored config.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { taskQueues } from '../common/activityContracts';
import { artifactKeys } from '../common/artifactKeys';
import { parseRunConfig, type RunConfig } from '../common/config';
import { runSearchAttributes } from '../common/searchAttributes';
import type { TrainingRunInput } from '../workflows/trainingRun';
import { ensureSearchAttributes, searchAttributeCommand } from './clusterChecks';
import { configDifferences } from './configDiff';
import { CliError, exitCodes } from './exitCodes';

export interface LaunchRequest {
  runId: string;
  /** The config of a new run (-c, or the built-in default). */
  config: RunConfig;
  /** -c was given: attaching or resuming checks it against the run's own config. */
  configGiven: boolean;
  resume: boolean;
  namespace: string;
  /** Artifact store root, to find runs the server no longer knows. */
  artifacts: string;
}

export interface LaunchOutcome {
  action: 'started' | 'attached' | 'resumed';
  config: RunConfig;
  /** Notes for the operator (search attributes not registered, ...). */
  notes: string[];
}

interface ExistingRun {
  status: string;
  closeTime: Date | undefined;
  config: RunConfig | null;
}

const CLOSED_RESUMABLE = new Set(['FAILED', 'TERMINATED', 'CANCELLED', 'TIMED_OUT']);

/** The run under this id on the server, with the config its latest execution started with. */
async function existingRun(client: Client, namespace: string, runId: string): Promise<ExistingRun | null> {
  let description;
  try {
    description = await client.workflow.getHandle(runId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
  const history = await client.workflowService.getWorkflowExecutionHistory({
    namespace,
    execution: { workflowId: runId, runId: description.runId },
    maximumPageSize: 1,
  });
  const payload = history.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  const input = payload ? defaultPayloadConverter.fromPayload<TrainingRunInput>(payload) : null;
  return {
    status: description.status.name,
    closeTime: description.closeTime,
    config: input?.config ? parseRunConfig(input.config) : null,
  };
}

/** The config a run stored in the artifact store (runs the server has forgotten). */
function storedConfig(artifacts: string, runId: string): RunConfig | null {
  const path = join(artifacts, artifactKeys.runConfig(runId));
  if (!existsSync(path)) return null;
  return parseRunConfig(JSON.parse(readFileSync(path, 'utf8')) as unknown, path);
}

function refuseDifferentConfig(runId: string, stored: RunConfig, given: RunConfig, what: string): void {
  const differences = configDifferences(stored, given);
  if (differences.length === 0) return;
  throw new CliError(
    `${what} ${runId} with a config that differs from the run's own:\n` +
      differences.map((d) => `  - ${d}`).join('\n') +
      "\n(leave out -c to use the run's config, or choose a new --run-id)",
    exitCodes.badInput,
  );
}

export async function launchRun(client: Client, request: LaunchRequest): Promise<LaunchOutcome> {
  const { runId, namespace } = request;
  const existing = await existingRun(client, namespace, runId);
  const fromStore = existing === null ? storedConfig(request.artifacts, runId) : null;

  if (existing?.status === 'RUNNING') {
    if (request.resume)
      throw new CliError(
        `run ${runId} is running: attach with \`tirflow train --run-id ${runId}\``,
        exitCodes.badInput,
      );
    if (request.configGiven && existing.config)
      refuseDifferentConfig(runId, existing.config, request.config, 'cannot attach to');
    return { action: 'attached', config: existing.config ?? request.config, notes: [] };
  }

  if (!request.resume) {
    if (existing) {
      const when = existing.closeTime ? ` at ${existing.closeTime.toISOString()}` : '';
      throw new CliError(
        `run id ${runId} names a run that ${existing.status.toLowerCase().replace('_', ' ')}${when}; ` +
          'a run id names one run forever: choose another --run-id' +
          (CLOSED_RESUMABLE.has(existing.status)
            ? `, or continue it with \`tirflow train --resume --run-id ${runId}\``
            : ''),
        exitCodes.badInput,
      );
    }
    if (fromStore) {
      throw new CliError(
        `run id ${runId} names a run in the artifact store (${request.artifacts}) that the Temporal server does not know: ` +
          `choose another --run-id, or continue it with \`tirflow train --resume --run-id ${runId}\``,
        exitCodes.badInput,
      );
    }
    const { config } = request;
    return { action: 'started', config, notes: await start(client, namespace, runId, config, false) };
  }

  // --resume
  if (existing && !CLOSED_RESUMABLE.has(existing.status)) {
    throw new CliError(
      `run ${runId} ${existing.status.toLowerCase()}: only a failed, terminated, cancelled or timed-out run can be resumed`,
      exitCodes.badInput,
    );
  }
  const runConfig = existing?.config ?? fromStore;
  if (!runConfig)
    throw new CliError(
      `no run ${runId} to resume (not on the server, not in ${request.artifacts})`,
      exitCodes.badInput,
    );
  if (request.configGiven) refuseDifferentConfig(runId, runConfig, request.config, 'cannot resume');
  return {
    action: 'resumed',
    config: runConfig,
    notes: await start(client, namespace, runId, runConfig, true),
  };
}

/** Starts the workflow, with search attributes when the namespace has (or accepts) them. */
async function start(
  client: Client,
  namespace: string,
  runId: string,
  config: RunConfig,
  resume: boolean,
): Promise<string[]> {
  const notes: string[] = [];
  const setup = await ensureSearchAttributes(client, namespace);
  if (!setup.registered) {
    notes.push(
      `search attributes are not registered in namespace ${namespace} (${setup.reason}); the run goes on, ` +
        `but cannot be filtered by them. Register them once:\n${searchAttributeCommand(namespace)}`,
    );
  }
  try {
    await startWorkflow(client, runId, config, resume, setup.registered);
  } catch (err) {
    // A cluster that lists the attributes but refuses them: run without, and say so.
    if (!setup.registered || !/search attribute/i.test((err as Error).message)) throw err;
    notes.push(
      `the server refused tirflow's search attributes (${(err as Error).message.split('\n')[0]}); ` +
        'the run goes on without them',
    );
    await startWorkflow(client, runId, config, resume, false);
  }
  return notes;
}

async function startWorkflow(
  client: Client,
  runId: string,
  config: RunConfig,
  resume: boolean,
  withAttributes: boolean,
): Promise<void> {
  const input: TrainingRunInput = { runId, config, resume, searchAttributes: withAttributes };
  try {
    await client.workflow.start('trainingRun', {
      taskQueue: taskQueues.workflows,
      workflowId: runId,
      args: [input],
      // Failed, terminated, cancelled or timed-out runs may be resumed; a completed one never.
      workflowIdReusePolicy: resume ? 'ALLOW_DUPLICATE_FAILED_ONLY' : 'REJECT_DUPLICATE',
      staticSummary:
        `${config.template === 'tool' ? 'ZeroTIR' : 'ZeroRL'} run${resume ? ' (resumed)' : ''}: ${config.steps} steps × ` +
        `${config.rollout.promptsPerStep} prompts × ${config.rollout.samplesPerPrompt} samples`,
      ...(withAttributes
        ? {
            typedSearchAttributes: runSearchAttributes(
              {
                runId,
                template: config.template,
                algorithm: config.trainer.algorithm,
                model: config.model,
                seed: config.seed,
              },
              { step: 0, policyVersion: 0, phase: resume ? 'resuming' : 'preparing' },
            ),
          }
        : {}),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new CliError(`run ${runId} was started by someone else a moment ago`, exitCodes.badInput);
    }
    throw err;
  }
}

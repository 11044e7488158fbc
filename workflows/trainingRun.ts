/**
 * A ZeroTIR training run: one workflow per run (workflow id = run id). Per step:
 *   pick prompts → roll out with tools (K concurrent shards) → update policy → evaluate → record
 * The loop reads like the paper's algorithm box; durability is in the small print: every
 * activity is idempotent under its step's artifact keys, child ids name step and shard, work
 * that exhausts its retries blocks the run for an operator instead of failing it, and the run
 * continues as new before its history grows large.
 *
 * With `pipeline.maxStaleness` s ≥ 1 the steps overlap: step k+1's rollout (from a policy at
 * most s versions behind) runs while step k trains, and evaluation runs beside the next step.
 * Updates still apply in step order, each exactly once.
 */
import {
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  executeChild,
  isCancellation,
  patched,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { EvaluationSummary, StepRecord, UpdatePolicyResult } from '../common/activityContracts';
import { hyperparameterChangeError, type HyperparameterChange, type RunConfig } from '../common/config';
import type { PolicyRef } from '../common/policy';
import { trainingRolloutSettings } from '../common/rolloutSettings';
import { runSearchAttributes, type RunIdentity } from '../common/searchAttributes';
import { workflowIds } from '../common/workflowIds';
import { heartbeatTimeout, reward, rollout, trainer } from './activityOptions';
import { BlockedWorkBoard, StopRequested } from './blockedWork';
import { evaluate } from './evaluate';
import {
  pauseSignal,
  resumeSignal,
  retryBlockedUpdate,
  setHyperparametersUpdate,
  skipBlockedUpdate,
  statusQuery,
  stopAfterStepSignal,
  stopUpdate,
  type BlockedWorkRequest,
  type RunPhase,
  type RunStatus,
  type StopRequest,
} from './messages';
import { initialRunState, withRecord, type RunState, type StepRollout } from './runState';
import { rolloutStep } from './stepRollout';

export type { CarriedRunState } from './runState';

export interface TrainingRunInput {
  runId: string;
  config: RunConfig;
  /** Present after continue-as-new: everything the next execution needs to go on. */
  carried?: RunState;
  /** Continue a failed or terminated run from its last recorded step (`tirflow train --resume`). */
  resume?: boolean;
  /** The cluster has tirflow's search attributes registered (`tirflow train` checks): set them. */
  searchAttributes?: boolean;
}

export interface TrainingRunResult {
  runId: string;
  completedSteps: number;
  policy: PolicyRef;
  /** True when an operator stopped the run before its configured steps. */
  stoppedEarly: boolean;
  baseEvaluation: EvaluationSummary | null;
  lastRecord: StepRecord | null;
  /**
   * Pipelined runs: steps past the stop whose rollouts had started (cancelled if still running,
   * unused if finished); their artifacts stay in the store.
   */
  rolloutsBeyondStop?: number[];
}

/** Marks histories written by the operable-run code (search attributes, retention, timings). */
export const OPERABLE_RUN_PATCH = 'tirflow-operable-run-v1';

interface InFlightRollout {
  scope: CancellationScope;
  policyVersion: number;
  result: Promise<StepRollout>;
}

export async function trainingRun(input: TrainingRunInput): Promise<TrainingRunResult> {
  const { runId, config } = input;
  const state: RunState = input.carried ? { rolloutsAhead: [], ...input.carried } : initialRunState(config);
  // Histories recorded before these features replay without their commands.
  const operable = patched(OPERABLE_RUN_PATCH);
  const publishAttributes = operable && input.searchAttributes === true;
  // Configs of runs started before these sections existed lack them.
  const maxStaleness = (config as Partial<RunConfig>).pipeline?.maxStaleness ?? 0;
  const retention = operable ? (config as Partial<RunConfig>).checkpoints : undefined;

  const board = new BlockedWorkBoard();
  const inFlight = new Map<number, InFlightRollout>();
  let phase: RunPhase = input.carried ? 'rollout' : input.resume ? 'resuming' : 'preparing';
  let currentStep = state.completedSteps + 1;
  let stepsThisExecution = 0;
  // Records are written one after another (metrics.jsonl is rewritten whole each time).
  let recording: Promise<void> = Promise.resolve();
  // Pipelined runs: steps still being evaluated or recorded while the next one goes on.
  const finishing = new Set<Promise<void>>();

  const hyperparameters = (): RunStatus['hyperparameters'] => ({
    learningRate: state.overrides.learningRate ?? config.trainer.learningRate,
    temperature: state.overrides.temperature ?? config.rollout.temperature,
    toolBudget: state.overrides.toolBudget ?? config.rollout.toolBudget,
  });
  const stopReached = (): boolean =>
    state.stopAfterStep !== null && state.completedSteps >= state.stopAfterStep;
  /** The earliest step a stop can honour: the one under way, unless it is blocked or paused. */
  const earliestStop = (): number => {
    const stepUnderWay = currentStep > state.completedSteps;
    const waiting = state.paused || board.list().some((work) => work.step === currentStep);
    return stepUnderWay && !waiting ? state.completedSteps + 1 : state.completedSteps;
  };
  const shownPhase = (): RunPhase => (board.size > 0 ? 'blocked' : phase);

  // ---- what the UI and `temporal workflow list` show ----
  const identity: RunIdentity = {
    runId,
    template: config.template,
    algorithm: config.trainer.algorithm,
    model: config.model,
    seed: config.seed,
  };
  let published = '';
  const publish = (): void => {
    const shown = shownPhase();
    const blocked = board.list();
    setCurrentDetails(
      [
        `**step ${Math.min(currentStep, config.steps)}/${config.steps}** · ${shown} · policy v${state.policy.version}`,
        ...blocked.map(
          (w) =>
            `blocked: ${w.id}${w.turn !== null ? ` turn ${w.turn}` : ''}${w.activity ? ` ${w.activity}` : ''}: ${w.error}`,
        ),
      ].join('\n\n'),
    );
    const key = `${currentStep}|${state.policy.version}|${shown}`;
    if (!publishAttributes || key === published) return;
    published = key;
    upsertSearchAttributes(
      runSearchAttributes(identity, { step: currentStep, policyVersion: state.policy.version, phase: shown }),
    );
  };
  const setPhase = (next: RunPhase): void => {
    phase = next;
    publish();
  };
  const childOptions = (step: number) => (): object =>
    publishAttributes
      ? {
          typedSearchAttributes: runSearchAttributes(identity, {
            step,
            policyVersion: state.policy.version,
            phase: 'rollout',
          }),
        }
      : {};

  // ---- operator messages ----
  setHandler(pauseSignal, () => {
    state.paused = true;
  });
  setHandler(resumeSignal, () => {
    state.paused = false;
  });
  setHandler(stopAfterStepSignal, (step) => {
    state.stopAfterStep = step;
  });
  setHandler(
    stopUpdate,
    (request) => {
      state.stopAfterStep = request.afterStep ?? earliestStop();
      publish();
      return { stopAfterStep: state.stopAfterStep };
    },
    {
      validator: (request: StopRequest) => {
        const earliest = earliestStop();
        if (request.afterStep !== undefined && request.afterStep < earliest) {
          throw new Error(
            `cannot stop after step ${request.afterStep}: step ${earliest} is already under way ` +
              `(the earliest step this run can stop after is ${earliest})`,
          );
        }
      },
    },
  );
  setHandler(
    setHyperparametersUpdate,
    (change) => {
      state.overrides = { ...state.overrides, ...change };
      return hyperparameters();
    },
    {
      validator: (change: HyperparameterChange) => {
        const error = hyperparameterChangeError(change);
        if (error) throw new Error(error);
      },
    },
  );
  for (const [update, resolution] of [
    [retryBlockedUpdate, 'retry'],
    [skipBlockedUpdate, 'skip'],
  ] as const) {
    setHandler(
      update,
      (request) => {
        const ids = board.resolve(resolution, request.work);
        publish();
        return ids;
      },
      {
        validator: (request: BlockedWorkRequest) => {
          const refusal = board.refusal(resolution, request.work);
          if (refusal) throw new Error(refusal);
        },
      },
    );
  }
  setHandler(statusQuery, () => ({
    runId,
    step:
      phase === 'completed' || phase === 'stopped' || phase === 'paused'
        ? state.completedSteps
        : Math.min(currentStep, config.steps),
    totalSteps: config.steps,
    completedSteps: state.completedSteps,
    phase: shownPhase(),
    policyVersion: state.policy.version,
    paused: state.paused,
    stopAfterStep: state.stopAfterStep,
    earliestStop: earliestStop(),
    hyperparameters: hyperparameters(),
    blocked: board.list(),
    pipeline: { maxStaleness, rolloutsInFlight: [...inFlight.keys()].sort((a, b) => a - b) },
    lastRecord: state.history.at(-1) ?? null,
    history: state.history,
  }));

  // ---- before the first step ----
  if (!input.carried) {
    if (publishAttributes) {
      upsertMemo({
        tirflow: {
          template: config.template === 'tool' ? 'ZeroTIR' : 'ZeroRL',
          algorithm: config.trainer.algorithm,
          model: config.model,
          steps: config.steps,
          batch: `${config.rollout.promptsPerStep} prompts × ${config.rollout.samplesPerPrompt} samples`,
          maxStaleness,
        },
      });
    }
    publish();
    const prepared = await rollout.prepareRun.executeWithOptions(
      {
        summary: input.resume
          ? 'resume: validate config, datasets, model'
          : 'validate config, datasets, model',
        ...heartbeatTimeout(config.timeouts.activityHeartbeatS),
      },
      [
        {
          runId,
          config,
          datasets: [config.data.train, config.data.validation],
          modelDir: config.model,
          ...(operable
            ? { executionChain: workflowInfo().firstExecutionRunId, resume: input.resume === true }
            : {}),
        },
      ],
    );
    state.splitRows = { train: prepared.datasets[0]!.rows, validation: prepared.datasets[1]!.rows };
    if (input.resume) {
      const restored = await rollout.restoreRun.executeWithOptions(
        {
          summary: 'resume: read the recorded steps',
          ...heartbeatTimeout(config.timeouts.activityHeartbeatS),
        },
        [{ runId, basePolicy: state.policy }],
      );
      state.completedSteps = restored.completedSteps;
      state.policy = restored.policy;
      state.history = restored.history;
      state.overrides = restored.overrides;
      state.baseEvaluation = restored.baseEvaluation;
      currentStep = state.completedSteps + 1;
    }
    if (config.engine.kind === 'onnx' && state.policy.onnxDir === null) {
      setPhase('exporting base policy');
      const version = state.policy.version;
      state.policy = await trainer.exportPolicy.executeWithOptions(
        {
          summary: `export ${version === 0 ? 'base ' : ''}policy v${version} to ONNX`,
          ...heartbeatTimeout(config.timeouts.trainerHeartbeatS),
        },
        [{ runId, policy: state.policy }],
      );
    }
    if (config.evaluation.every > 0 && state.completedSteps === 0 && state.baseEvaluation === null) {
      setPhase('evaluating');
      state.baseEvaluation = await evaluatePolicy(0, state.policy);
    }
  }

  /**
   * The validation split, and the configured benchmarks beside it (each stored under the run for
   * the report). Configs from before benchmarks existed have none, so their histories replay the
   * same single child: no patch needed.
   */
  async function evaluatePolicy(step: number, policy: PolicyRef): Promise<EvaluationSummary | null> {
    const benchmarks = config.evaluation.benchmarks ?? [];
    try {
      return await board.untilDone(
        {
          id: `eval-step-${step}`,
          what: 'evaluation',
          step,
          skippable: true,
          stopRequested: stopReached,
        },
        async () => {
          const [validation] = await Promise.all([
            executeChild(evaluate, {
              workflowId: workflowIds.evaluation(runId, step),
              staticSummary: `evaluate policy v${policy.version} on validation`,
              ...childOptions(step)(),
              args: [
                { runId, step, policy, config, split: 'validation', splitRows: state.splitRows.validation },
              ],
            }),
            ...benchmarks.map((set) =>
              executeChild(evaluate, {
                workflowId: workflowIds.evaluationSet(runId, step, set.name),
                staticSummary: `evaluate policy v${policy.version} on ${set.name}`,
                ...childOptions(step)(),
                args: [{ runId, step, policy, config, split: set.name, splitRows: 0, set }],
              }),
            ),
          ]);
          return validation;
        },
      );
    } catch (err) {
      // A stop abandons a blocked evaluation; the step it belongs to is still recorded.
      if (err instanceof StopRequested) return null;
      throw err;
    }
  }

  /** Starts the rollouts of the next steps that the staleness bound allows from this policy. */
  function startRollouts(): void {
    if (state.paused) return;
    const next = state.completedSteps + 1;
    const last = Math.min(config.steps, next + maxStaleness, state.stopAfterStep ?? config.steps);
    for (let step = next; step <= last; step++) {
      if (inFlight.has(step)) continue;
      const knobs = hyperparameters();
      const scope = new CancellationScope();
      const policy = state.policy;
      const result = scope.run(() =>
        rolloutStep({
          runId,
          config,
          step,
          policy,
          settings: trainingRolloutSettings(config, knobs),
          hyperparameters: knobs,
          trainRows: state.splitRows.train,
          board,
          stopRequested: () => state.stopAfterStep !== null && state.stopAfterStep < step,
          childOptions: childOptions(step),
        }),
      );
      // Awaited later (or cancelled at a stop); never an unhandled rejection meanwhile.
      result.catch(() => undefined);
      inFlight.set(step, { scope, policyVersion: policy.version, result });
    }
  }
  for (const finished of state.rolloutsAhead ?? []) {
    inFlight.set(finished.step, {
      scope: new CancellationScope(),
      policyVersion: finished.behaviourPolicyVersion,
      result: Promise.resolve(finished),
    });
  }
  state.rolloutsAhead = [];

  // A step whose shards were all skipped still updates (with nothing to train on, the trainer
  // carries the policy over), so policy versions stay one per step.
  async function updatePolicy(step: number, batch: StepRollout): Promise<UpdatePolicyResult | null> {
    return board.untilDone(
      {
        id: `step-${step}/update`,
        what: 'update',
        step,
        skippable: false,
        stopRequested: () => state.stopAfterStep !== null && state.stopAfterStep < step,
      },
      () =>
        trainer.updatePolicy.executeWithOptions(
          {
            summary: `step ${step}: update policy v${state.policy.version} → v${step}`,
            ...heartbeatTimeout(config.timeouts.trainerHeartbeatS),
          },
          [
            {
              runId,
              step,
              policy: state.policy,
              scoredKeys: batch.scoredKeys,
              hyper: { ...config.trainer, learningRate: batch.hyperparameters.learningRate },
              seed: config.seed,
              // The temperature this step's rollouts sampled at: the trainer's log-probs use it.
              temperature: batch.hyperparameters.temperature,
              // A refilled step may have kept more groups than its batch: train on the batch.
              ...(batch.groups ? { maxGroups: batch.groups.needed } : {}),
              exportOnnx: config.engine.kind === 'onnx',
            },
          ],
        ),
    );
  }

  /** Evaluation (every E steps and after the last), the metrics line, then retention. */
  async function finishStep(
    step: number,
    batch: StepRollout,
    update: UpdatePolicyResult | null,
    policy: PolicyRef,
    updateS: number,
  ): Promise<void> {
    let evaluation: EvaluationSummary | null = null;
    let evaluationS = 0;
    if (config.evaluation.every > 0 && (step % config.evaluation.every === 0 || step === config.steps)) {
      if (maxStaleness === 0) setPhase('evaluating');
      const started = Date.now();
      evaluation = await evaluatePolicy(step, policy);
      evaluationS = (Date.now() - started) / 1000;
    }
    const previous = recording;
    const recorded = (async () => {
      await previous;
      if (maxStaleness === 0) setPhase('recording');
      const record = await board.untilDone(
        { id: `step-${step}/record`, what: 'record', step, skippable: false, stopRequested: () => false },
        () =>
          reward.recordStep.executeWithOptions(
            {
              summary: `step ${step}: record metrics`,
              ...heartbeatTimeout(config.timeouts.activityHeartbeatS),
            },
            [
              {
                runId,
                step,
                policyVersion: policy.version,
                scoredKeys: batch.scoredKeys,
                update: update?.metrics ?? null,
                evaluation,
                hyperparameters: batch.hyperparameters,
                behaviourPolicyVersion: batch.behaviourPolicyVersion,
                ...(batch.groups ? { groups: batch.groups } : {}),
                skipped: [...batch.skipped, ...board.takeSkipped(step)],
                timings: {
                  stepS: (Date.now() - batch.startedAtMs) / 1000,
                  rolloutS: batch.timings.rolloutS,
                  generateS: batch.timings.generateS,
                  executeS: batch.timings.executeS,
                  scoreS: batch.timings.scoreS,
                  updateS,
                  evaluationS,
                  queueWaitS: batch.timings.queueWaitS + (update?.timing?.queuedMs ?? 0) / 1000,
                  barrierWaitS: batch.timings.barrierWaitS ?? 0,
                  turnTrajectoryS: batch.timings.turnTrajectoryS ?? 0,
                },
              },
            ],
          ),
      );
      if (record) state.history = withRecord(state.history, record);
      if (retention) {
        await reward.pruneCheckpoints.executeWithOptions(
          {
            summary: `step ${step}: prune checkpoints`,
            ...heartbeatTimeout(config.timeouts.activityHeartbeatS),
          },
          [
            {
              runId,
              step,
              retention,
              // What a retry, an evaluation or an in-flight rollout may still read.
              inUse: [
                state.policy.version,
                policy.version,
                ...[...inFlight.values()].map((work) => work.policyVersion),
              ],
            },
          ],
        );
      }
    })();
    recording = recorded;
    await recorded;
  }

  // ---- the steps ----
  const rolloutsBeyondStop: number[] = [];
  try {
    while (state.completedSteps < config.steps && !stopReached()) {
      if (state.paused) {
        setPhase('paused');
        await condition(() => !state.paused || stopReached());
        if (stopReached()) break;
      }
      if (stepsThisExecution >= config.stepsPerExecution || workflowInfo().continueAsNewSuggested) {
        // In-flight rollouts finish first and travel with the run; so do pending records.
        setPhase('finishing');
        const ahead = await Promise.all([...inFlight.values()].map((work) => work.result));
        await Promise.all(finishing);
        await condition(allHandlersFinished);
        return continueAsNew<typeof trainingRun>({
          runId,
          config,
          searchAttributes: input.searchAttributes,
          carried: { ...state, rolloutsAhead: ahead },
        });
      }

      const step = state.completedSteps + 1;
      currentStep = step;
      setPhase('rollout');
      startRollouts();
      const batch = await inFlight.get(step)!.result;
      inFlight.delete(step);

      setPhase('updating policy');
      const updateStarted = Date.now();
      const update = await updatePolicy(step, batch);
      const updateS = (Date.now() - updateStarted) / 1000;
      if (update) state.policy = update.policy;
      state.completedSteps = step;
      stepsThisExecution += 1;

      if (maxStaleness === 0) {
        await finishStep(step, batch, update, state.policy, updateS);
      } else {
        // The next rollouts start from the new policy while this step is evaluated and recorded.
        startRollouts();
        const finished = finishStep(step, batch, update, state.policy, updateS);
        finished.catch(() => undefined);
        finishing.add(finished);
        // A failed finish stays in the set: the end of the run awaits it and fails with its error.
        void finished.then(
          () => finishing.delete(finished),
          () => undefined,
        );
      }
    }
  } catch (err) {
    if (!(err instanceof StopRequested)) throw err;
  }

  // ---- the end: rollouts past the stop are cancelled (artifacts stay); records finish ----
  for (const [step, work] of inFlight) {
    if (step <= state.completedSteps) continue;
    work.scope.cancel();
    try {
      await work.result;
    } catch (err) {
      if (!isCancellation(err) && !(err instanceof StopRequested)) throw err;
    }
    rolloutsBeyondStop.push(step);
  }
  await Promise.all(finishing);
  setPhase(state.completedSteps >= config.steps ? 'completed' : 'stopped');
  await condition(allHandlersFinished);
  return {
    runId,
    completedSteps: state.completedSteps,
    policy: state.policy,
    stoppedEarly: state.completedSteps < config.steps,
    baseEvaluation: state.baseEvaluation,
    lastRecord: state.history.at(-1) ?? null,
    ...(rolloutsBeyondStop.length > 0
      ? { rolloutsBeyondStop: rolloutsBeyondStop.sort((a, b) => a - b) }
      : {}),
  };
}

/**
 * A ZeroTIR training run: one workflow per run (workflow id = run id). Per step:
 *   pick prompts → roll out with tools (K concurrent shards) → update policy → evaluate → record
 * The loop reads like the paper's algorithm box; durability is in the small print: every
 * activity is idempotent under its step's artifact keys, child ids name step and shard, and the
 * run continues as new before its history grows large.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  executeChild,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { EvaluationSummary, StepRecord } from '../common/activityContracts';
import { hyperparameterChangeError, type HyperparameterChange, type RunConfig } from '../common/config';
import type { PolicyRef } from '../common/policy';
import { deriveSeed, splitIntoShards, stepPromptIndices } from '../common/schedule';
import { workflowIds } from '../common/workflowIds';
import { heartbeatTimeout, reward, rollout, trainer } from './activityOptions';
import { evaluate } from './evaluate';
import {
  pauseSignal,
  resumeSignal,
  setHyperparametersUpdate,
  statusQuery,
  stopAfterStepSignal,
  type RunPhase,
  type RunStatus,
} from './messages';
import { rolloutShard } from './rolloutShard';

export interface TrainingRunInput {
  runId: string;
  config: RunConfig;
  /** Present after continue-as-new: everything the next execution needs to go on. */
  carried?: CarriedRunState;
}

export interface CarriedRunState {
  completedSteps: number;
  policy: PolicyRef;
  history: StepRecord[];
  overrides: HyperparameterChange;
  stopAfterStep: number | null;
  paused: boolean;
  splitRows: { train: number; validation: number };
  baseEvaluation: EvaluationSummary | null;
}

export interface TrainingRunResult {
  runId: string;
  completedSteps: number;
  policy: PolicyRef;
  /** True when an operator stopped the run before its configured steps. */
  stoppedEarly: boolean;
  baseEvaluation: EvaluationSummary | null;
  lastRecord: StepRecord | null;
}

/** Records kept in workflow state (and the status query); metrics.jsonl keeps them all. */
const HISTORY_LIMIT = 50;

export async function trainingRun(input: TrainingRunInput): Promise<TrainingRunResult> {
  const { runId, config } = input;
  const carried = input.carried;
  let completedSteps = carried?.completedSteps ?? 0;
  let policy: PolicyRef = carried?.policy ?? {
    version: 0,
    hfDir: { store: 'filesystem', path: config.model },
    onnxDir: null,
  };
  let history: StepRecord[] = carried?.history ?? [];
  let overrides: HyperparameterChange = carried?.overrides ?? {};
  let stopAfterStep = carried?.stopAfterStep ?? null;
  let paused = carried?.paused ?? false;
  let splitRows = carried?.splitRows ?? { train: 0, validation: 0 };
  let baseEvaluation = carried?.baseEvaluation ?? null;
  let phase: RunPhase = 'preparing';
  let stepsThisExecution = 0;

  const hyperparameters = (): RunStatus['hyperparameters'] => ({
    learningRate: overrides.learningRate ?? config.trainer.learningRate,
    temperature: overrides.temperature ?? config.rollout.temperature,
    toolBudget: overrides.toolBudget ?? config.rollout.toolBudget,
  });

  setHandler(pauseSignal, () => {
    paused = true;
  });
  setHandler(resumeSignal, () => {
    paused = false;
  });
  setHandler(stopAfterStepSignal, (step) => {
    stopAfterStep = step;
  });
  setHandler(
    setHyperparametersUpdate,
    (change) => {
      overrides = { ...overrides, ...change };
      return hyperparameters();
    },
    {
      validator: (change: HyperparameterChange) => {
        const error = hyperparameterChangeError(change);
        if (error) throw new Error(error);
      },
    },
  );
  setHandler(statusQuery, () => ({
    runId,
    step:
      phase === 'completed' || phase === 'stopped' || phase === 'paused'
        ? completedSteps
        : completedSteps + 1,
    totalSteps: config.steps,
    completedSteps,
    phase,
    policyVersion: policy.version,
    paused,
    stopAfterStep,
    hyperparameters: hyperparameters(),
    lastRecord: history.at(-1) ?? null,
    history,
  }));

  if (!carried) {
    const prepared = await rollout.prepareRun.executeWithOptions(
      {
        summary: 'validate config, datasets, model',
        ...heartbeatTimeout(config.timeouts.activityHeartbeatS),
      },
      [{ runId, config, datasets: [config.data.train, config.data.validation], modelDir: config.model }],
    );
    splitRows = { train: prepared.datasets[0]!.rows, validation: prepared.datasets[1]!.rows };
    if (config.engine.kind === 'onnx') {
      phase = 'exporting base policy';
      policy = await trainer.exportPolicy.executeWithOptions(
        {
          summary: 'export base policy v0 to ONNX',
          ...heartbeatTimeout(config.timeouts.trainerHeartbeatS),
        },
        [{ runId, policy }],
      );
    }
    if (config.evaluation.every > 0) {
      phase = 'evaluating';
      baseEvaluation = await evaluatePolicy(0);
    }
  }

  async function evaluatePolicy(step: number): Promise<EvaluationSummary> {
    return executeChild(evaluate, {
      workflowId: workflowIds.evaluation(runId, step),
      staticSummary: `evaluate policy v${policy.version} on validation`,
      args: [{ runId, step, policy, config, split: 'validation', splitRows: splitRows.validation }],
    });
  }

  const stopRequested = (): boolean => stopAfterStep !== null && completedSteps >= stopAfterStep;

  while (completedSteps < config.steps && !stopRequested()) {
    if (paused) {
      phase = 'paused';
      await condition(() => !paused || stopRequested());
      if (stopRequested()) break;
    }
    if (stepsThisExecution >= config.stepsPerExecution || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof trainingRun>({
        runId,
        config,
        carried: {
          completedSteps,
          policy,
          history,
          overrides,
          stopAfterStep,
          paused,
          splitRows,
          baseEvaluation,
        },
      });
    }

    const step = completedSteps + 1;
    const knobs = hyperparameters();

    // 1. The step's prompts, deterministic from (run seed, step).
    phase = 'rollout';
    const prompts = stepPromptIndices(config.seed, step, config.rollout.promptsPerStep, splitRows.train);

    // 2. Roll out with tools: K shards run concurrently, each retried alone.
    const shards = await Promise.all(
      splitIntoShards(prompts, config.rollout.shards).map((rowIndices, shard) =>
        executeChild(rolloutShard, {
          workflowId: workflowIds.rolloutShard(runId, step, shard),
          staticSummary: `step ${step} / shard ${shard}: ${rowIndices.length} prompts × ${config.rollout.samplesPerPrompt} samples`,
          args: [
            {
              runId,
              step,
              shard,
              label: `step ${step} / shard ${shard}`,
              policy,
              engine: config.engine,
              template: config.template,
              sampling: {
                temperature: knobs.temperature,
                topP: config.rollout.topP,
                maxResponseTokens: config.rollout.maxResponseTokens,
              },
              toolBudget: knobs.toolBudget,
              observationTokenCap: config.rollout.observationTokenCap,
              seed: deriveSeed(config.seed, step, shard),
              datasetPath: config.data.train,
              rowIndices,
              samplesPerPrompt: config.rollout.samplesPerPrompt,
              sandboxLimits: config.sandbox,
              formatMode: config.reward.formatMode,
              heartbeatTimeoutS: config.timeouts.activityHeartbeatS,
            },
          ],
        }),
      ),
    );
    const scoredKeys = shards.map((s) => s.scoredKey);

    // 3. Update the policy (exactly once per step: the trainer reuses a finished checkpoint).
    phase = 'updating policy';
    const update = await trainer.updatePolicy.executeWithOptions(
      {
        summary: `step ${step}: update policy v${policy.version} → v${step}`,
        ...heartbeatTimeout(config.timeouts.trainerHeartbeatS),
      },
      [
        {
          runId,
          step,
          policy,
          scoredKeys,
          hyper: { ...config.trainer, learningRate: knobs.learningRate },
          exportOnnx: config.engine.kind === 'onnx',
        },
      ],
    );
    policy = update.policy;

    // 4. Evaluate every E steps and after the last.
    let evaluation: EvaluationSummary | null = null;
    if (config.evaluation.every > 0 && (step % config.evaluation.every === 0 || step === config.steps)) {
      phase = 'evaluating';
      evaluation = await evaluatePolicy(step);
    }

    // 5. Record the step's metrics (one metrics.jsonl line per step).
    phase = 'recording';
    const record = await reward.recordStep.executeWithOptions(
      { summary: `step ${step}: record metrics`, ...heartbeatTimeout(config.timeouts.activityHeartbeatS) },
      [{ runId, step, policyVersion: policy.version, scoredKeys, update: update.metrics, evaluation }],
    );
    history = [...history, record].slice(-HISTORY_LIMIT);
    completedSteps = step;
    stepsThisExecution += 1;
  }

  phase = completedSteps >= config.steps ? 'completed' : 'stopped';
  await condition(allHandlersFinished);
  return {
    runId,
    completedSteps,
    policy,
    stoppedEarly: completedSteps < config.steps,
    baseEvaluation,
    lastRecord: history.at(-1) ?? null,
  };
}

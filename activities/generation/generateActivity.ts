/**
 * The `generate` activity: one rollout turn of one shard. Turn 0 starts trajectories from
 * dataset prompts; later turns append the sandbox's observations (mask 0) to trajectories that
 * awaited execution. Every active trajectory is then generated until it finishes or stops at a
 * closed ```python block, and the shard is written to artifactKeys.generated(...) at once.
 *
 * Each trajectory records the policy version of the turn and when it finished generating in it
 * (turnPolicyVersions, turnFinishMs) and, through the tool protocol, the behaviour log-prob of
 * every token. The result carries the turn barrier: how long the turn's trajectories waited
 * for its slowest one.
 *
 * Idempotent: when the turn's artifact exists its summary is returned without generating.
 * A retry regenerates the same tokens (seeds derive from the shard seed, the prompt row, the
 * sample and the token offset), up to float rounding under a different batch composition.
 */
import { setMaxListeners } from 'node:events';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { GenerateInput, GenerateResult, TurnBarrier } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import type { EngineConfig } from '../../common/config';
import type { PolicyRef } from '../../common/policy';
import {
  rolloutSettingsOf,
  type LegacyRolloutFields,
  type RolloutSettings,
} from '../../common/rolloutSettings';
import {
  appendObservation,
  applySegment,
  nextSegment,
  recordTurn,
  renderPrompt,
  startTrajectory,
  trajectorySeed,
  type ProtocolSettings,
} from '../../common/toolProtocol';
import type { ExecutionResult, StopReason, Trajectory } from '../../common/trajectory';
import { modelPath, readJsonl, writeJsonl, type ArtifactStore } from '../artifactStore';
import { injectFaultOnce } from '../faults';
import { loadTaskRows } from '../dataset';
import type { GenerationEngine } from './engine';
import { loadModelTokenizer, type ModelTokenizer } from './modelFolder';
import { OnnxEngine } from './onnxEngine';
import { OpenAIEngine } from './openaiEngine';
import { PolicyLoads } from './policyLoads';
import { reloadWeights } from './weightReload';
import { SimulatedEngine } from './simulatedEngine';

export interface GenerationDeps {
  store: ArtifactStore;
  /** onnxruntime settings of the in-process engine (threads, CUDA). */
  onnx?: { intraOpNumThreads?: number; executionProvider?: 'cpu' | 'cuda' };
  heartbeatEveryMs?: number;
}

export interface GenerationProgress {
  tokensGenerated: number;
  segmentsDone: number;
  trajectoriesDone: number;
  trajectories: number;
}

/** Counts every summary field from the trajectories, so a re-run can report it from the artifact. */
function summarize(
  key: string,
  turn: number,
  trajectories: Trajectory[],
  previous: Trajectory[],
): GenerateResult {
  const modelTokens = (list: Trajectory[]): number =>
    list.reduce((sum, t) => sum + t.actionMask.reduce((a, m) => a + m, 0), 0);
  const stoppedBy: Partial<Record<StopReason, number>> = {};
  let awaitingExecution = 0;
  let finished = 0;
  for (const t of trajectories) {
    if (t.phase === 'awaitingExecution') awaitingExecution++;
    if (t.phase === 'finished') finished++;
    if (t.stopReason) stoppedBy[t.stopReason] = (stoppedBy[t.stopReason] ?? 0) + 1;
  }
  return {
    generatedKey: key,
    trajectories: trajectories.length,
    awaitingExecution,
    finished,
    tokensGenerated: modelTokens(trajectories) - modelTokens(previous),
    stoppedBy,
    ...barrierOf(trajectories, turn),
  };
}

/**
 * The turn barrier from the finish times of the trajectories that generated in `turn`: each
 * waits from its own finish until the last one's before the shard moves on. Nothing when no
 * trajectory recorded the turn (an artifact from before the record existed).
 */
function barrierOf(trajectories: Trajectory[], turn: number): { turnBarrier?: TurnBarrier } {
  const finishMs = trajectories.flatMap((t) => {
    const ms = t.turnFinishMs?.[turn];
    return ms === undefined ? [] : [ms];
  });
  if (finishMs.length === 0) return {};
  const spanMs = Math.max(...finishMs);
  const waitMs = finishMs.reduce((sum, ms) => sum + (spanMs - ms), 0);
  return { turnBarrier: { trajectories: finishMs.length, spanMs, waitMs } };
}

/** Per-process memo of the policy version each server was last told to load. */
const policyLoads = new PolicyLoads();

export function createEngine(
  config: EngineConfig,
  policy: PolicyRef,
  deps: GenerationDeps,
): GenerationEngine {
  if (config.kind === 'simulated') return new SimulatedEngine(config, modelPath(deps.store, policy.hfDir));
  if (config.kind === 'onnx') {
    if (!policy.onnxDir) {
      throw ApplicationFailure.nonRetryable(
        `policy v${policy.version} has no ONNX export (policy.onnxDir is null); the onnx engine needs one`,
        'ModelFolderInvalid',
      );
    }
    return new OnnxEngine(modelPath(deps.store, policy.onnxDir), {
      maxBatchSize: config.maxBatchSize,
      ...deps.onnx,
    });
  }
  return new OpenAIEngine({
    baseUrl: config.baseUrl,
    model: config.model,
    requestTimeoutS: config.requestTimeoutS,
  });
}

export function createGenerationActivities(deps: GenerationDeps) {
  /** Makes an OpenAI-compatible server serve `policy` (once per server and version in this process). */
  async function syncPolicyWeights(input: { engine: EngineConfig; policy: PolicyRef }): Promise<boolean> {
    const { engine, policy } = input;
    if (engine.kind !== 'openai' || engine.weightReload === 'none') return false;
    return policyLoads.ensure(engine.baseUrl, policy.version, () =>
      reloadWeights(
        engine.weightReload,
        engine.baseUrl,
        modelPath(deps.store, policy.hfDir),
        engine.requestTimeoutS,
        engine.servedPolicyLink,
      ),
    );
  }

  async function startingTrajectories(
    input: GenerateInput,
    rollout: RolloutSettings,
    tokenizer: ModelTokenizer,
  ): Promise<Trajectory[]> {
    if (input.turn === 0) {
      if (!input.prompts)
        throw ApplicationFailure.nonRetryable('generate turn 0 needs `prompts`', 'BadGenerateInput');
      const { datasetPath, rowIndices, fields } = input.prompts;
      const { samplesPerPrompt } = rollout;
      const rows = await loadTaskRows(datasetPath, fields);
      return rowIndices.flatMap((rowIndex) => {
        const row = rows[rowIndex];
        if (!row) {
          throw ApplicationFailure.nonRetryable(
            `row ${rowIndex} is out of range: ${datasetPath} has ${rows.length} rows`,
            'BadGenerateInput',
          );
        }
        const promptTokenIds = tokenizer.encode(renderPrompt(rollout.template, row.problem));
        return Array.from({ length: samplesPerPrompt }, (_, sampleIndex) =>
          startTrajectory({
            step: input.step,
            rowIndex,
            sampleIndex,
            promptId: row.id,
            problem: row.problem,
            referenceAnswer: row.answer,
            level: row.level ?? '',
            seed: trajectorySeed(input.seed, rowIndex, sampleIndex),
            promptTokenIds,
          }),
        );
      });
    }
    if (!input.previous)
      throw ApplicationFailure.nonRetryable(
        `generate turn ${input.turn} needs \`previous\``,
        'BadGenerateInput',
      );
    return readJsonl<Trajectory>(deps.store, input.previous.generatedKey);
  }

  async function generate(input: GenerateInput): Promise<GenerateResult> {
    const key = artifactKeys.generated(input.runId, input.step, input.shard, input.turn);
    const previousKey = input.turn > 0 ? input.previous?.generatedKey : undefined;
    const previous = previousKey ? await readJsonl<Trajectory>(deps.store, previousKey) : [];
    if (await deps.store.exists(key))
      return summarize(key, input.turn, await readJsonl<Trajectory>(deps.store, key), previous);

    // Inputs scheduled before RolloutSettings existed carry the flattened fields instead.
    const legacy: GenerateInput & Partial<LegacyRolloutFields> = input;
    const rollout = rolloutSettingsOf(
      legacy,
      (input.prompts as { samplesPerPrompt?: number } | undefined)?.samplesPerPrompt,
    );
    const engineConfig = rollout.engine;
    // The tokenizer must be the policy's: the ONNX folder's for onnx, the HF folder's for a server.
    const tokenizerDir =
      engineConfig.kind === 'onnx' && input.policy.onnxDir
        ? modelPath(deps.store, input.policy.onnxDir)
        : modelPath(deps.store, input.policy.hfDir);
    const tokenizer = await loadModelTokenizer(tokenizerDir);
    const settings: ProtocolSettings = {
      template: rollout.template,
      toolBudget: rollout.toolBudget,
      maxResponseTokens: rollout.sampling.maxResponseTokens,
      observationTokenCap: rollout.observationTokenCap,
    };

    let trajectories = input.turn === 0 ? await startingTrajectories(input, rollout, tokenizer) : previous;
    if (input.turn > 0) {
      const executedKey = input.previous?.executedKey ?? null;
      const results = executedKey ? await readJsonl<ExecutionResult>(deps.store, executedKey) : [];
      const byId = new Map(results.map((r) => [r.trajectoryId, r]));
      trajectories = trajectories.map((t) => {
        if (t.phase !== 'awaitingExecution') return t;
        const result = byId.get(t.id);
        if (!result) {
          throw ApplicationFailure.nonRetryable(
            `no execution result for ${t.id} in ${executedKey ?? '(no executedKey)'}`,
            'ExecutionResultMissing',
          );
        }
        return appendObservation(t, result, tokenizer, settings);
      });
    }

    await syncPolicyWeights({ engine: engineConfig, policy: input.policy });
    const engine = createEngine(engineConfig, input.policy, deps);
    const progress: GenerationProgress = {
      tokensGenerated: 0,
      segmentsDone: 0,
      trajectoriesDone: 0,
      trajectories: trajectories.length,
    };
    const context = Context.current();
    const heartbeat = setInterval(() => context.heartbeat(progress), deps.heartbeatEveryMs ?? 2000);
    context.heartbeat(progress);
    // One failed trajectory fails the turn: stop the others' requests instead of finishing them.
    const abort = new AbortController();
    const signal = AbortSignal.any([abort.signal, context.cancellationSignal]);
    // One listener per in-flight request of the shard: many, by design.
    setMaxListeners(0, signal);
    const started = performance.now();
    try {
      trajectories = await Promise.all(
        trajectories
          .map(async (start) => {
            if (start.phase !== 'active') {
              progress.trajectoriesDone += 1;
              return start;
            }
            let trajectory = start;
            while (trajectory.phase === 'active') {
              const segment = nextSegment(trajectory, settings);
              if (!segment) {
                trajectory = { ...trajectory, phase: 'finished', stopReason: 'length' };
                break;
              }
              const output = await engine.complete(
                {
                  promptTokenIds: [...trajectory.promptTokenIds, ...trajectory.responseTokenIds],
                  stop: segment.stop,
                  maxTokens: segment.maxTokens,
                  temperature: rollout.sampling.temperature,
                  topP: rollout.sampling.topP,
                  seed: segment.seed,
                },
                signal,
              );
              progress.tokensGenerated += output.tokenIds.length;
              progress.segmentsDone += 1;
              trajectory = applySegment(trajectory, segment, output, tokenizer);
            }
            progress.trajectoriesDone += 1;
            return recordTurn(trajectory, input.turn, {
              policyVersion: input.policy.version,
              finishMs: Math.round(performance.now() - started),
            });
          })
          .map((running) =>
            running.catch((err: unknown) => {
              abort.abort(err);
              throw err;
            }),
          ),
      );
    } finally {
      clearInterval(heartbeat);
      await engine.close();
    }
    await injectFaultOnce('generate');
    await writeJsonl(deps.store, key, trajectories);
    return summarize(key, input.turn, trajectories, previous);
  }

  return { generate, syncPolicyWeights };
}

/**
 * How a rollout samples, runs tools and scores: one value, built once per step (or per
 * evaluation) from the run config and the live knobs, and passed unchanged workflow → shard →
 * generate. Pure: safe to import from workflows.
 */
import type { FormatMode } from './answer';
import { filterBandOf, type EngineConfig, type RunConfig } from './config';
import type { FilterBand } from './dynamicFiltering';

export interface SamplingParams {
  temperature: number;
  topP: number;
  maxResponseTokens: number;
}

export interface RolloutSettings {
  engine: EngineConfig;
  /** 'tool' = ZeroTIR (code may run), 'noTool' = the ZeroRL baseline. */
  template: 'tool' | 'noTool';
  sampling: SamplingParams;
  /** Executed code blocks allowed per response. */
  toolBudget: number;
  observationTokenCap: number;
  samplesPerPrompt: number;
  sandboxLimits: { timeoutS: number; memoryMb: number };
  formatMode: FormatMode;
  /**
   * Dynamic filtering's band, for `score` to count the groups the trainer will keep (null:
   * filtering off). Absent in settings built before it existed: score's default.
   */
  filterBand?: FilterBand | null;
  /** `timeouts.activityHeartbeatS` of the run: how soon a dead worker's turn is retried. */
  heartbeatTimeoutS?: number;
}

/** The live knobs an operator may change between steps (the `setHyperparameters` update). */
export interface RolloutKnobs {
  temperature: number;
  toolBudget: number;
}

/** A training step's rollout settings: the config with the operator's current knobs. */
export function trainingRolloutSettings(config: RunConfig, knobs: RolloutKnobs): RolloutSettings {
  return {
    engine: config.engine,
    template: config.template,
    sampling: {
      temperature: knobs.temperature,
      topP: config.rollout.topP,
      maxResponseTokens: config.rollout.maxResponseTokens,
    },
    toolBudget: knobs.toolBudget,
    observationTokenCap: config.rollout.observationTokenCap,
    samplesPerPrompt: config.rollout.samplesPerPrompt,
    sandboxLimits: config.sandbox,
    formatMode: config.reward.formatMode,
    filterBand: filterBandOf(config.trainer),
    heartbeatTimeoutS: config.timeouts.activityHeartbeatS,
  };
}

/**
 * An evaluation's rollout settings: greedy with one sample per prompt, else sampled at the
 * evaluation temperature; the evaluation's own tool budget when it sets one.
 */
export function evaluationRolloutSettings(
  config: RunConfig,
  options: { samples?: number; temperature?: number; toolBudget?: number } = {},
): RolloutSettings {
  const samples = options.samples ?? config.evaluation.samples;
  const temperature = samples === 1 ? 0 : (options.temperature ?? config.evaluation.temperature);
  const toolBudget = options.toolBudget ?? config.evaluation.toolBudget ?? config.rollout.toolBudget;
  const settings = trainingRolloutSettings(config, { temperature, toolBudget });
  return { ...settings, sampling: { ...settings.sampling, topP: 1 }, samplesPerPrompt: samples };
}

/**
 * The flattened fields shards and generate turns carried before RolloutSettings existed.
 * Histories of runs started then replay with them, and a turn scheduled then may still
 * arrive at an upgraded worker.
 */
export interface LegacyRolloutFields {
  engine: EngineConfig;
  template: 'tool' | 'noTool';
  sampling: SamplingParams;
  toolBudget: number;
  observationTokenCap: number;
  samplesPerPrompt?: number;
  sandboxLimits?: { timeoutS: number; memoryMb: number };
  formatMode?: FormatMode;
  heartbeatTimeoutS?: number;
}

/** The settings of an input that carries either `rollout` or the legacy flattened fields. */
export function rolloutSettingsOf(
  input: { rollout?: RolloutSettings } & Partial<LegacyRolloutFields>,
  samplesPerPrompt?: number,
): RolloutSettings {
  if (input.rollout) return input.rollout;
  if (!input.engine || !input.template || !input.sampling) {
    throw new Error('rollout input carries neither `rollout` settings nor the legacy fields');
  }
  return {
    engine: input.engine,
    template: input.template,
    sampling: input.sampling,
    toolBudget: input.toolBudget ?? 0,
    observationTokenCap: input.observationTokenCap ?? 256,
    samplesPerPrompt: input.samplesPerPrompt ?? samplesPerPrompt ?? 1,
    sandboxLimits: input.sandboxLimits ?? { timeoutS: 5, memoryMb: 512 },
    formatMode: input.formatMode ?? 'strict',
    heartbeatTimeoutS: input.heartbeatTimeoutS,
  };
}

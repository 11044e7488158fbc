/**
 * Everything a training run carries from one step to the next, and from one workflow
 * execution to the next (continue-as-new) or from a failed run to its resumption: one object,
 * so a field added here is carried everywhere at once.
 */
import type { EvaluationSummary, SkippedWork, StepRecord } from '../common/activityContracts';
import type { HyperparameterChange, RunConfig } from '../common/config';
import type { PolicyRef } from '../common/policy';
import type { ShardTimings } from './rolloutShard';

/** A step's finished rollout: what its update trains on, and how it was produced. */
export interface StepRollout {
  step: number;
  /** The policy the trajectories were sampled from. */
  behaviourPolicyVersion: number;
  /** The temperature they were sampled at (the trainer's log-probs use the same). */
  temperature: number;
  hyperparameters: { learningRate: number; temperature: number; toolBudget: number };
  scoredKeys: string[];
  /** Shards an operator skipped. */
  skipped: SkippedWork[];
  /** Workflow time the rollout started (ms since epoch). */
  startedAtMs: number;
  /** Groups sampled and kept by dynamic filtering, and the refill rounds that topped them up. */
  groups?: StepGroups;
  timings: ShardTimings & { rolloutS: number };
}

export interface StepGroups {
  /** Groups the update trains on at most: promptsPerStep. */
  needed: number;
  sampled: number;
  kept: number;
  refillRounds: number;
  refillPrompts: number;
}

export interface RunState {
  completedSteps: number;
  policy: PolicyRef;
  /** The last steps' records (bounded; metrics.jsonl keeps them all). */
  history: StepRecord[];
  overrides: HyperparameterChange;
  stopAfterStep: number | null;
  paused: boolean;
  splitRows: { train: number; validation: number };
  baseEvaluation: EvaluationSummary | null;
  /** Pipelined runs: rollouts finished ahead of their update, carried over continue-as-new. */
  rolloutsAhead?: StepRollout[];
}

/** The name earlier code used for the carried state; the same shape. */
export type CarriedRunState = RunState;

export function initialRunState(config: RunConfig): RunState {
  return {
    completedSteps: 0,
    policy: { version: 0, hfDir: { store: 'filesystem', path: config.model }, onnxDir: null },
    history: [],
    overrides: {},
    stopAfterStep: null,
    paused: false,
    splitRows: { train: 0, validation: 0 },
    baseEvaluation: null,
    rolloutsAhead: [],
  };
}

/** Records kept in workflow state (and the status query); metrics.jsonl keeps them all. */
export const HISTORY_LIMIT = 50;

/** The history with `record` in step order (pipelined steps can finish recording out of turn). */
export function withRecord(history: readonly StepRecord[], record: StepRecord): StepRecord[] {
  return [...history.filter((r) => r.step !== record.step), record]
    .sort((a, b) => a.step - b.step)
    .slice(-HISTORY_LIMIT);
}

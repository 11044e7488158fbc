/**
 * The signatures of every activity the workflows call, by role. Workflows bind them with
 * proxyActivities<...>(); each role's implementation is checked against them with `satisfies`.
 * Inputs and results are small: keys, counts and metrics (claim check).
 */
import type { FormatMode } from './answer';
import type { TrainerConfig } from './config';
import type { EvaluationSet } from './benchmarks';
import type { DatasetFields } from './dataset';
import type { FilterBand } from './dynamicFiltering';
import type { StepMetrics } from './metrics';
import type { PolicyRef } from './policy';
import type { RolloutSettings } from './rolloutSettings';
import type { ExecutionStatus, GradingStatus, SampleMaskReason, StopReason } from './trajectory';

// ---- rollout role (task queue "tirflow-rollout") ----

export type { SamplingParams } from './rolloutSettings';

export interface GenerateInput {
  /** Key namespace: the run id, or `${runId}/eval-step-NNNN` for evaluation rollouts. */
  runId: string;
  step: number;
  shard: number;
  turn: number;
  policy: PolicyRef;
  /** The step's rollout settings, exactly as the workflow built them. */
  rollout: RolloutSettings;
  /** Shard seed; per-trajectory seeds derive from it and the sample index. */
  seed: number;
  /** Turn 0: where the shard's trajectories start (samples per prompt: `rollout.samplesPerPrompt`;
   *  `fields`: the dataset's column mapping, if any). */
  prompts?: { datasetPath: string; rowIndices: number[]; fields?: DatasetFields };
  /** Turn > 0: the previous turn's trajectories and their execution results. */
  previous?: { generatedKey: string; executedKey: string | null };
}

/**
 * How long an activity's successful attempt waited in its task queue and then ran, measured
 * by the worker; the workflow sums them into a step's timings.
 */
export interface ActivityTiming {
  queuedMs: number;
  runMs: number;
}

export interface GenerateResult {
  generatedKey: string;
  trajectories: number;
  awaitingExecution: number;
  finished: number;
  tokensGenerated: number;
  stoppedBy: Partial<Record<StopReason, number>>;
  timing?: ActivityTiming;
  /** Timing of the turn (from the trajectories' turnFinishMs); absent for artifacts without it. */
  turnBarrier?: TurnBarrier;
}

/**
 * The turn barrier of one generate call: every trajectory the turn generated (those active
 * when it began) waits for the slowest one before the shard can execute code or score.
 * The fraction of trajectory time lost to it is waitMs / (trajectories × spanMs).
 */
export interface TurnBarrier {
  trajectories: number;
  /** From the turn's first engine request until its last trajectory finished, ms. */
  spanMs: number;
  /** Sum over those trajectories of (spanMs − the time it finished): time spent waiting, ms. */
  waitMs: number;
}

export interface DatasetSummary {
  path: string;
  rows: number;
  levels: Record<string, number>;
}

export interface PrepareRunInput {
  runId: string;
  /** The validated config, stored once as runs/<id>/config.json. */
  config: unknown;
  datasets: string[];
  modelDir: string;
  /**
   * The Temporal run chain this run belongs to (first execution's run id). A run id names one
   * run forever: a chain that finds another's run in the store is refused unless it resumes it.
   * Absent in evaluations and in runs started before the check existed.
   */
  executionChain?: string;
  resume?: boolean;
}

export interface PrepareRunResult {
  datasets: DatasetSummary[];
}

export interface RestoreRunInput {
  runId: string;
  /** The run's base policy (version 0), used when no step was recorded yet. */
  basePolicy: PolicyRef;
}

/** What a resumed run picks up from the store: its recorded steps and the policy they made. */
export interface RestoreRunResult {
  completedSteps: number;
  policy: PolicyRef;
  history: StepRecord[];
  overrides: { learningRate?: number; temperature?: number; toolBudget?: number };
  baseEvaluation: EvaluationSummary | null;
}

export interface SelectEvaluationRowsInput {
  set: EvaluationSet;
  /** The policy whose tokenizer and context length decide which prompts fit. */
  policy: PolicyRef;
  template: 'tool' | 'noTool';
  maxResponseTokens: number;
}

/** Which rows of an evaluation set are generated, and which are skipped as too long (with the rule). */
export interface SelectEvaluationRowsResult {
  /** The dataset file (a built-in benchmark resolved in the worker's checkout). */
  path: string;
  /** Rows in the file. */
  rows: number;
  /** Rows to generate, ascending. */
  rowIndices: number[];
  skipped: EvaluationSkips;
}

// ---- sandbox role (task queue "tirflow-sandbox") ----

export interface ExecuteCodeInput {
  runId: string;
  step: number;
  shard: number;
  turn: number;
  generatedKey: string;
  timeoutS?: number;
  memoryMb?: number;
}

export interface ExecuteCodeResult {
  executedKey: string;
  executions: number;
  byStatus: Partial<Record<ExecutionStatus, number>>;
  timing?: ActivityTiming;
}

// ---- reward role (task queue "tirflow-reward") ----

export interface ScoreInput {
  runId: string;
  step: number;
  shard: number;
  generatedKey: string;
  formatMode?: FormatMode;
  /** Dynamic filtering's band for `groupsKept` (common/dynamicFiltering.ts): absent = the
   *  default band DEFAULT_FILTER_BAND, null = filtering off (every group kept). Use
   *  filterBandOf(config.trainer) (common/config.ts). Nothing is dropped here: the trainer
   *  filters; the count lets a workflow sample more prompts when too few groups are kept. */
  filterBand?: FilterBand | null;
}

export interface ScoreResult {
  scoredKey: string;
  trajectories: number;
  correct: number;
  formatFailures: number;
  byStatus: Partial<Record<GradingStatus, number>>;
  rewardMean: number;
  timing?: ActivityTiming;
  /** Groups (prompts) in the shard, and those whose mean reward lies in the filter band. */
  groups: number;
  groupsKept: number;
  /** Trajectories marked for each sample-mask reason (one may carry several). */
  maskReasons: Partial<Record<SampleMaskReason, number>>;
}

export interface RecordStepInput {
  runId: string;
  step: number;
  policyVersion: number;
  scoredKeys: string[];
  update: UpdateMetrics | null;
  evaluation: EvaluationSummary | null;
  /** Absent in histories recorded before these fields existed. */
  timings?: StepTimings;
  hyperparameters?: StepHyperparameters;
  /** Work an operator dropped from the step (`tirflow skip`). */
  skipped?: SkippedWork[];
  /** The policy version the step's rollouts sampled from (below policyVersion - 1 when pipelined). */
  behaviourPolicyVersion?: number;
  /** Dynamic filtering's groups and the refill rounds that topped them up (`rollout.refillRounds`). */
  groups?: StepGroupCounts;
}

export interface StepGroupCounts {
  needed: number;
  sampled: number;
  kept: number;
  refillRounds: number;
  refillPrompts: number;
}

/**
 * Where a step's time went, in seconds. Wall times are measured by the workflow; busy times
 * sum the activities' own run times (so shards running side by side add up to more than the
 * wall), and queue wait sums the time their successful attempts waited for a worker.
 */
export interface StepTimings {
  /** From the step's first rollout activity being scheduled to its update being recorded. */
  stepS: number;
  rolloutS: number;
  generateS: number;
  executeS: number;
  scoreS: number;
  updateS: number;
  evaluationS: number;
  queueWaitS: number;
  /**
   * Turn barriers of the step's shards: trajectory-seconds finished trajectories waited for the
   * slowest one of their shard and turn, and the trajectory-seconds of those turns in all.
   */
  barrierWaitS?: number;
  turnTrajectoryS?: number;
}

/** The operator-changeable settings in force for a step (they can change mid-run). */
export interface StepHyperparameters {
  learningRate: number;
  temperature: number;
  toolBudget: number;
}

/** A piece of a step an operator skipped after it exhausted its retries. */
export interface SkippedWork {
  id: string;
  what: string;
  error: string;
}

/** One line of metrics.jsonl: rollout statistics, trainer statistics and (when run) evaluation. */
export interface StepRecord {
  step: number;
  policyVersion: number;
  rollout: StepMetrics;
  update: RecordedUpdateMetrics | null;
  evaluation: EvaluationSummary | null;
  timings?: StepTimings;
  hyperparameters?: StepHyperparameters;
  skipped?: SkippedWork[];
  behaviourPolicyVersion?: number;
  groups?: StepGroupCounts;
}

export interface SummarizeEvaluationInput {
  runId: string;
  /** The evaluated policy's step; the summary is stored under artifactKeys.evaluation(runId, step, unit). */
  step: number;
  /** The evaluation set: `validation` or a benchmark name. */
  split: string;
  /** Name the summary is stored under when it differs from `split` (a sweep: `math500-tools-4`). */
  unit?: string;
  policyVersion: number;
  samplesPerPrompt: number;
  scoredKeys: string[];
  /** The settings the set was generated with, recorded in the summary. */
  settings?: { toolBudget: number; temperature: number; maxResponseTokens: number };
  /** Prompts of the set not generated (longer than the model's context allows); counted wrong. */
  skipped?: EvaluationSkips;
}

/** Prompts an evaluation did not generate, and the rule that left them out. */
export interface EvaluationSkips {
  prompts: number;
  byLevel: Record<string, number>;
  /** The rule, in words: "prompt + 256 response tokens > 512 positions of the model's context". */
  rule: string;
}

/**
 * One policy on one evaluation set. The fields after `meanResponseTokens` are absent from
 * summaries stored before benchmarks existed.
 */
export interface EvaluationSummary {
  split: string;
  policyVersion: number;
  /** Prompts of the set, skipped ones included. */
  prompts: number;
  samplesPerPrompt: number;
  /** Mean correctness over all samples (avg@k; = accuracy when greedy); skipped prompts count wrong. */
  accuracy: number;
  /** Share of prompts with at least one correct sample (pass@k with k = samplesPerPrompt). */
  passAtK: number;
  accuracyByLevel: Record<string, number>;
  codeRatio: number;
  meanResponseTokens: number;
  toolBudget?: number;
  /** 0 = greedy. */
  temperature?: number;
  maxResponseTokens?: number;
  /** Prompts not generated (see `skipRule`); they count as wrong in every statistic. */
  promptsSkipped?: number;
  skipRule?: string;
  /** Unbiased pass@j for j = 1, 2, 4, … and k, keyed by j. */
  passAt?: Record<string, number>;
  /** Majority vote over the k samples' extracted answers (grader equivalence). */
  majAtK?: number;
  /** Executed code blocks per response. */
  codeCallsPerResponse?: number;
  /** Share of responses cut by the token limit. */
  truncationRate?: number;
  /** Prompts per level (skipped ones included), the denominators of accuracyByLevel. */
  promptsByLevel?: Record<string, number>;
}

/** One evaluated unit of a standalone evaluation: a set at one tool budget. */
export interface EvaluationResult {
  /** Stored and shown under this name: the set's, plus `-tools-B` in a sweep. */
  unit: string;
  set: string;
  toolBudget: number;
  summary: EvaluationSummary;
}

/** A standalone evaluation (`tirflow eval`): what was evaluated, how, and the results. */
export interface EvaluationRecord {
  evaluationId: string;
  /** The policy as the user named it (RUN:STEP or a folder), its version and run (null for a folder). */
  policy: { ref: string; version: number; runId: string | null };
  /** Where the settings came from: "stored config of run X", a file, or the built-in defaults. */
  configSource: string;
  template: 'tool' | 'noTool';
  engine: string;
  samplesPerPrompt: number;
  /** 0 = greedy. */
  temperature: number;
  maxResponseTokens: number;
  toolBudgets: number[];
  results: EvaluationResult[];
}

export interface RecordEvaluationInput {
  record: EvaluationRecord;
}

// ---- trainer role (task queue "tirflow-trainer") ----

export type TrainerHyperparameters = TrainerConfig;

export interface UpdatePolicyInput {
  runId: string;
  step: number;
  policy: PolicyRef;
  scoredKeys: string[];
  /** The config's trainer section, with the live learning rate applied. Parsed again by the
   *  activity (trainerSchema), so keys a workflow from an older release lacks get defaults. */
  hyper: TrainerHyperparameters;
  /** The run seed: with the step it seeds the mini-batch shuffles. Absent (workflows before it
   *  was sent): 0, the seed those runs trained with. */
  seed?: number;
  /** The temperature this step's rollouts sampled at; the trainer's log-probs use it. Absent
   *  (workflows before it was sent): 1, what those runs trained with. */
  temperature?: number;
  /** Train on at most this many kept groups (a refilled step keeps its configured batch). */
  maxGroups?: number;
  exportOnnx: boolean;
}

/**
 * The metrics of one policy update, one record: the trainer returns every field (snake_case),
 * the activity renames them, recordStep writes them to metrics.jsonl. Token counts are summed
 * over epochs; means are over action tokens unless said otherwise.
 */
export interface UpdateMetrics {
  /** Policy loss, mean over optimizer steps. */
  loss: number;
  /** PPO's critic loss, mean over optimizer steps (0 for other algorithms). */
  valueLoss: number;
  /** Pre-clip gradient norm, mean over optimizer steps. */
  gradNorm: number;
  /** k3 KL to the reference (0 without one). */
  kl: number;
  /** Share of action tokens where the clipped PPO term was taken. */
  clipFraction: number;
  /** Share of action tokens where the dual-clip cap was taken. */
  dualClipFraction: number;
  entropy: number;
  learningRate: number;
  /** The temperature the log-probs were computed at (the step's rollout temperature). */
  temperature: number;
  trajectories: number;
  /** Groups (prompts) in the step, and those dynamic filtering dropped. */
  groups: number;
  groupsFiltered: number;
  /** Trajectories that entered the loss: kept groups less the masked trajectories. */
  trajectoriesTrained: number;
  /** Trajectories of kept groups left out of the loss, per sample-mask reason. */
  maskedTruncated: number;
  maskedRepetitive: number;
  maskedUnpairedCode: number;
  actionTokens: number;
  /** Prompt + response tokens through forward and backward. */
  trainedTokens: number;
  optimizerSteps: number;
  /** Optimizer steps skipped for a non-finite gradient norm. */
  skippedSteps: number;
  tokensPerSecond: number;
  updateSeconds: number;
  /** The updated policy's version minus the oldest policy version that generated a turn (0 when
   *  the trajectories do not record versions). */
  staleness: number;
  /** π_old / π_behaviour over model tokens: mean, max, and the share above the cap; null when
   *  the trajectories carry no behaviour log-probs. */
  importanceWeightMean: number | null;
  importanceWeightMax: number | null;
  importanceWeightTruncatedFraction: number | null;
  /** Mean |behaviour − trainer| log-prob over model tokens: the engine-vs-trainer numeric gap
   *  (nonzero even on-policy); null without behaviour log-probs. */
  logprobGap: number | null;
}

/** Every UpdateMetrics field, in record order (the compiler keeps this list and the interface equal). */
export const UPDATE_METRIC_NAMES = Object.keys({
  loss: true,
  valueLoss: true,
  gradNorm: true,
  kl: true,
  clipFraction: true,
  dualClipFraction: true,
  entropy: true,
  learningRate: true,
  temperature: true,
  trajectories: true,
  groups: true,
  groupsFiltered: true,
  trajectoriesTrained: true,
  maskedTruncated: true,
  maskedRepetitive: true,
  maskedUnpairedCode: true,
  actionTokens: true,
  trainedTokens: true,
  optimizerSteps: true,
  skippedSteps: true,
  tokensPerSecond: true,
  updateSeconds: true,
  staleness: true,
  importanceWeightMean: true,
  importanceWeightMax: true,
  importanceWeightTruncatedFraction: true,
  logprobGap: true,
} satisfies Record<keyof UpdateMetrics, true>) as (keyof UpdateMetrics)[];

/** The update metrics a metrics.jsonl line holds: runs recorded before the full record have the
 *  first eight fields only. */
export type RecordedUpdateMetrics = Pick<
  UpdateMetrics,
  | 'loss'
  | 'gradNorm'
  | 'kl'
  | 'clipFraction'
  | 'entropy'
  | 'tokensPerSecond'
  | 'trainedTokens'
  | 'groupsFiltered'
> &
  Partial<UpdateMetrics>;

export interface UpdatePolicyResult {
  policy: PolicyRef;
  /** True when the step's checkpoint already existed and was loaded instead of trained again. */
  reused: boolean;
  timing?: ActivityTiming;
  metrics: UpdateMetrics;
}

export interface CheckpointRetention {
  keepTrainerState: number;
  keepWeightsEvery: number;
  keepOnnx: number;
}

export interface PruneCheckpointsInput {
  runId: string;
  /** The step just recorded: checkpoints after it are never touched. */
  step: number;
  retention: CheckpointRetention;
  /** Policy versions a retry, an evaluation or an in-flight rollout may still read: kept whole. */
  inUse: number[];
}

export interface PruneCheckpointsResult {
  /** Bytes freed and what was removed, for the activity's summary in the UI. */
  freedBytes: number;
  removed: string[];
}

export interface ExportPolicyInput {
  runId: string;
  policy: PolicyRef;
}

// ---- the activity sets, as the workflows see them ----

export interface RolloutActivities {
  prepareRun(input: PrepareRunInput): Promise<PrepareRunResult>;
  selectEvaluationRows(input: SelectEvaluationRowsInput): Promise<SelectEvaluationRowsResult>;
  generate(input: GenerateInput): Promise<GenerateResult>;
  restoreRun(input: RestoreRunInput): Promise<RestoreRunResult>;
}
export interface SandboxActivities {
  executeCode(input: ExecuteCodeInput): Promise<ExecuteCodeResult>;
}
export interface RewardActivities {
  score(input: ScoreInput): Promise<ScoreResult>;
  recordStep(input: RecordStepInput): Promise<StepRecord>;
  summarizeEvaluation(input: SummarizeEvaluationInput): Promise<EvaluationSummary>;
  /** Checkpoint retention: bookkeeping on the store, beside recordStep (not on the busy trainer). */
  pruneCheckpoints(input: PruneCheckpointsInput): Promise<PruneCheckpointsResult>;
  recordEvaluation(input: RecordEvaluationInput): Promise<{ keys: string[] }>;
}
export interface TrainerActivities {
  updatePolicy(input: UpdatePolicyInput): Promise<UpdatePolicyResult>;
  exportPolicy(input: ExportPolicyInput): Promise<PolicyRef>;
}

export const taskQueues = {
  workflows: 'tirflow-workflows',
  rollout: 'tirflow-rollout',
  sandbox: 'tirflow-sandbox',
  reward: 'tirflow-reward',
  trainer: 'tirflow-trainer',
} as const;

export type WorkerRole = 'rollout' | 'sandbox' | 'reward' | 'trainer';

/**
 * The signatures of every activity the workflows call, by role. Workflows bind them with
 * proxyActivities<...>(); each role's implementation is checked against them with `satisfies`.
 * Inputs and results are small: keys, counts and metrics (claim check).
 */
import type { EngineConfig, TrainerConfig } from './config';
import type { StepMetrics } from './metrics';
import type { PolicyRef } from './policy';
import type { ExecutionStatus, GradingStatus, StopReason } from './trajectory';

// ---- rollout role (task queue "tirflow-rollout") ----

export interface SamplingParams {
  temperature: number;
  topP: number;
  maxResponseTokens: number;
}

export interface GenerateInput {
  /** Key namespace: the run id, or `${runId}/eval-step-NNNN` for evaluation rollouts. */
  runId: string;
  step: number;
  shard: number;
  turn: number;
  policy: PolicyRef;
  engine: EngineConfig;
  template: 'tool' | 'noTool';
  sampling: SamplingParams;
  toolBudget: number;
  observationTokenCap: number;
  /** Shard seed; per-trajectory seeds derive from it and the sample index. */
  seed: number;
  /** Turn 0: where the shard's trajectories start. */
  prompts?: { datasetPath: string; rowIndices: number[]; samplesPerPrompt: number };
  /** Turn > 0: the previous turn's trajectories and their execution results. */
  previous?: { generatedKey: string; executedKey: string | null };
}

export interface GenerateResult {
  generatedKey: string;
  trajectories: number;
  awaitingExecution: number;
  finished: number;
  tokensGenerated: number;
  stoppedBy: Partial<Record<StopReason, number>>;
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
}

export interface PrepareRunResult {
  datasets: DatasetSummary[];
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
}

// ---- reward role (task queue "tirflow-reward") ----

export interface ScoreInput {
  runId: string;
  step: number;
  shard: number;
  generatedKey: string;
  formatMode?: 'strict' | 'loose';
}

export interface ScoreResult {
  scoredKey: string;
  trajectories: number;
  correct: number;
  formatFailures: number;
  byStatus: Partial<Record<GradingStatus, number>>;
  rewardMean: number;
}

export interface RecordStepInput {
  runId: string;
  step: number;
  policyVersion: number;
  scoredKeys: string[];
  update: UpdatePolicyResult['metrics'] | null;
  evaluation: EvaluationSummary | null;
}

/** One line of metrics.jsonl: rollout statistics, trainer statistics and (when run) evaluation. */
export interface StepRecord {
  step: number;
  policyVersion: number;
  rollout: StepMetrics;
  update: UpdatePolicyResult['metrics'] | null;
  evaluation: EvaluationSummary | null;
}

export interface SummarizeEvaluationInput {
  runId: string;
  /** The evaluated policy's step; the summary is stored under artifactKeys.evaluation(runId, step, split). */
  step: number;
  split: string;
  policyVersion: number;
  samplesPerPrompt: number;
  scoredKeys: string[];
}

export interface EvaluationSummary {
  split: string;
  policyVersion: number;
  prompts: number;
  samplesPerPrompt: number;
  /** Mean correctness over all samples (avg@k; = accuracy when greedy). */
  accuracy: number;
  /** Share of prompts with at least one correct sample. */
  passAtK: number;
  accuracyByLevel: Record<string, number>;
  codeRatio: number;
  meanResponseTokens: number;
}

// ---- trainer role (task queue "tirflow-trainer") ----

export type TrainerHyperparameters = TrainerConfig;

export interface UpdatePolicyInput {
  runId: string;
  step: number;
  policy: PolicyRef;
  scoredKeys: string[];
  hyper: TrainerHyperparameters;
  exportOnnx: boolean;
}

export interface UpdatePolicyResult {
  policy: PolicyRef;
  /** True when the step's checkpoint already existed and was loaded instead of trained again. */
  reused: boolean;
  metrics: {
    loss: number;
    gradNorm: number;
    kl: number;
    clipFraction: number;
    entropy: number;
    tokensPerSecond: number;
    trainedTokens: number;
    groupsFiltered: number;
  };
}

export interface ExportPolicyInput {
  runId: string;
  policy: PolicyRef;
}

// ---- the activity sets, as the workflows see them ----

export interface RolloutActivities {
  prepareRun(input: PrepareRunInput): Promise<PrepareRunResult>;
  generate(input: GenerateInput): Promise<GenerateResult>;
}
export interface SandboxActivities {
  executeCode(input: ExecuteCodeInput): Promise<ExecuteCodeResult>;
}
export interface RewardActivities {
  score(input: ScoreInput): Promise<ScoreResult>;
  recordStep(input: RecordStepInput): Promise<StepRecord>;
  summarizeEvaluation(input: SummarizeEvaluationInput): Promise<EvaluationSummary>;
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

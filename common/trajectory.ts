/**
 * The trajectory: one sampled response to one prompt, with every token tagged as
 * model-generated (actionMask 1) or tool output (actionMask 0).
 *
 * Trajectories never travel in workflow payloads (claim check): they live in the artifact
 * store as JSONL, one trajectory per line, under the keys of `artifactKeys.ts`.
 * Token ids are the truth; `responseText` is their decoding, kept for grading and humans,
 * and is never re-tokenized.
 */

/** Why generation of a trajectory's current segment ended. */
export type StopReason =
  | 'code' // stopped at the closing fence of a ```python block: code awaits execution
  | 'answer' // produced "</answer>"
  | 'stop' // another stop string ("User:", "Human:", "Assistant:")
  | 'eos' // end-of-sequence token
  | 'length'; // hit max response tokens: truncated

/** Where a trajectory is in the rollout loop. */
export type TrajectoryPhase =
  | 'active' // ready for the next `generate` call
  | 'awaitingExecution' // ends with a python block that `executeCode` must run
  | 'finished'; // done: ready for `score`

/** Outcome class of one sandboxed execution (sandbox results are data, never exceptions). */
export type ExecutionStatus = 'ok' | 'error' | 'timeout' | 'memory' | 'killed';

export interface ExecutionRecord {
  status: ExecutionStatus;
  durationMs: number;
  /** Number of observation tokens appended (after the observation cap). */
  observationTokens: number;
  truncated: boolean;
}

export interface Trajectory {
  /** Unique within a run: `s{step}-p{promptIndex}-n{sampleIndex}`. */
  id: string;
  /** Dataset row id of the prompt; all samples of a prompt form one group. */
  promptId: string;
  sampleIndex: number;
  problem: string;
  /** Reference answer (LaTeX or plain). */
  referenceAnswer: string;
  /** The dataset row's level ("L3"); '' when the dataset has none. */
  level: string;
  /** Sampling seed of this trajectory: derived from (run seed, step, shard, sample). */
  seed: number;
  promptTokenIds: number[];
  responseTokenIds: number[];
  /** Same length as responseTokenIds: 1 = model-generated (trained on), 0 = tool output (masked). */
  actionMask: number[];
  /**
   * Same length as responseTokenIds: each model token's log-prob under the distribution the
   * engine sampled it from (temperature and top-p applied; 0 under greedy decoding), and 0 for
   * tool-output tokens (actionMask 0, never trained on). The behaviour policy of the
   * off-policy correction. Absent in artifacts written before it was recorded, and dropped
   * rather than left partial when a trajectory's tokens were not all recorded with it.
   */
  behaviourLogprobs?: number[];
  /**
   * The policy version that generated each generate turn the trajectory took part in
   * (index = turn of its shard's rollout). Absent in artifacts written before it was recorded.
   */
  turnPolicyVersions?: number[];
  /**
   * When the trajectory finished generating in each turn it took part in, in ms after the
   * turn's first engine request (index = turn): the turn barrier, where it waited for the
   * slowest trajectory of its shard. Wall-clock, like executions[].durationMs; absent in
   * artifacts written before it was recorded.
   */
  turnFinishMs?: number[];
  responseText: string;
  phase: TrajectoryPhase;
  stopReason: StopReason | null;
  /** Code blocks the model opened and closed (executed or pending). */
  toolCalls: number;
  executions: ExecutionRecord[];
  /** Set while phase is 'awaitingExecution'. */
  pendingCode: string | null;
}

/** The result of running one pending code block, written by `executeCode`. */
export interface ExecutionResult {
  trajectoryId: string;
  status: ExecutionStatus;
  stdout: string;
  stderr: string;
  exitCode: number | null;
  durationMs: number;
  truncated: boolean;
}

/** Grading outcome of one finished trajectory, written by `score`. */
export type GradingStatus = 'correct' | 'incorrect' | 'format' | 'unparsable' | 'timeout' | 'error';

/** Why `score` marks a trajectory for leaving the loss (activities/reward/sampleMasks.ts); the
 *  trainer leaves it out when the config's matching `trainer.mask*` switch is on. */
export type SampleMaskReason = 'truncated' | 'repetitive' | 'unpairedCode';

export interface ScoredTrajectory extends Trajectory {
  reward: number;
  gradingStatus: GradingStatus;
  extractedAnswer: string | null;
  /** Set by `score` (absent in artifacts scored before sample masks existed: none). */
  maskReasons?: SampleMaskReason[];
}

/** Builds trajectories for reward tests: only the fields a test names differ from a plain finished one. */
import type { ExecutionRecord, ExecutionStatus, ScoredTrajectory, Trajectory } from '../../common/trajectory';

export function trajectory(fields: Partial<Trajectory> & { id: string }): Trajectory {
  return {
    promptId: 'p0',
    sampleIndex: 0,
    problem: 'What is 3 + 4?',
    referenceAnswer: '7',
    level: 'L1',
    seed: 1,
    promptTokenIds: [1, 2, 3],
    responseTokenIds: [10, 11, 12, 13],
    actionMask: [1, 1, 1, 1],
    responseText: ' 3 + 4 = 7. </think> <answer> \\boxed{7} </answer>',
    phase: 'finished',
    stopReason: 'answer',
    toolCalls: 0,
    executions: [],
    pendingCode: null,
    ...fields,
  };
}

export function execution(status: ExecutionStatus): ExecutionRecord {
  return { status, durationMs: 5, observationTokens: 2, truncated: false };
}

/** A response of `model` generated tokens and `tool` tool-output tokens (mask 0). */
export function tokens(model: number, tool = 0): Pick<Trajectory, 'responseTokenIds' | 'actionMask'> {
  return {
    responseTokenIds: Array.from({ length: model + tool }, (_, i) => 100 + i),
    actionMask: [...Array<number>(model).fill(1), ...Array<number>(tool).fill(0)],
  };
}

export function scored(
  fields: Partial<ScoredTrajectory> & { id: string; gradingStatus: ScoredTrajectory['gradingStatus'] },
): ScoredTrajectory {
  return {
    ...trajectory(fields),
    reward: fields.gradingStatus === 'correct' ? 1 : 0,
    extractedAnswer: null,
    ...fields,
  };
}

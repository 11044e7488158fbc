/**
 * The evaluation statistics: the unbiased pass@k estimator against cases computed by hand from
 * binomials, the majority vote's grouping and tie rule, and `summarizeEvaluation` on scored
 * trajectories with the real math-verify grader deciding which answers are the same (maj@k) and
 * skipped prompts counting wrong.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalDirArtifactStore, readJsonl, writeJsonl } from '../../activities/artifactStore';
import { GraderPool } from '../../activities/reward/graderPool';
import { summarizeEvaluation } from '../../activities/run/summarizeEvaluation';
import type { EvaluationSummary } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import { majorityCorrect, passAtK, passAtKValues } from '../../common/evaluationMetrics';
import type { ScoredTrajectory } from '../../common/trajectory';
import { execution, scored, tokens } from '../reward/trajectories';

const close = (actual: number, expected: number): void =>
  assert.ok(Math.abs(actual - expected) < 1e-12, `${actual} ≠ ${expected}`);

void describe('pass@k (unbiased estimator)', () => {
  void it('matches 1 - C(n-c, k) / C(n, k) computed by hand', () => {
    close(passAtK(5, 2, 1), 1 - 3 / 5); // C(3,1)/C(5,1)
    close(passAtK(5, 2, 2), 1 - 3 / 10); // C(3,2)/C(5,2)
    close(passAtK(5, 2, 3), 1 - 1 / 10); // C(3,3)/C(5,3)
    close(passAtK(10, 3, 5), 1 - 21 / 252); // C(7,5)/C(10,5)
    close(passAtK(16, 1, 1), 1 / 16);
    close(passAtK(16, 4, 8), 1 - 495 / 12870); // C(12,8)/C(16,8)
  });

  void it('is 1 when fewer than k samples are wrong, 0 when none is right, c/n at k = 1', () => {
    assert.equal(passAtK(5, 2, 4), 1);
    assert.equal(passAtK(4, 4, 4), 1);
    assert.equal(passAtK(4, 0, 2), 0);
    close(passAtK(8, 3, 1), 3 / 8);
  });

  void it('refuses a k above n and counts out of range', () => {
    assert.throws(() => passAtK(4, 1, 5), /1 ≤ k ≤ n/);
    assert.throws(() => passAtK(4, 5, 2), /c=5/);
  });

  void it('reports j = 1, 2, 4, … below k and k itself', () => {
    assert.deepEqual(passAtKValues(1), [1]);
    assert.deepEqual(passAtKValues(6), [1, 2, 4, 6]);
    assert.deepEqual(passAtKValues(16), [1, 2, 4, 8, 16]);
  });
});

void describe('maj@k vote', () => {
  const never = (): boolean => false;
  it('the most voted answer wins', () => {
    const votes = [
      { answer: '3', correct: false },
      { answer: '2', correct: true },
      { answer: '2', correct: true },
    ];
    assert.equal(majorityCorrect(votes, never), true);
  });

  it('equivalent answers vote together; a tie goes to the group voted first', () => {
    const half = (a: string, b: string): boolean =>
      new Set([a, b]).size === 2 && [a, b].every((x) => ['1/2', '0.5'].includes(x));
    const votes = [
      { answer: '3', correct: false },
      { answer: '1/2', correct: true },
      { answer: '3', correct: false },
      { answer: '0.5', correct: true },
    ];
    assert.equal(majorityCorrect(votes, never), false, 'without equivalence "3" has most votes');
    assert.equal(majorityCorrect(votes, half), false, 'tied 2:2, "3" was voted first');
    assert.equal(majorityCorrect([...votes.slice(1), { answer: '0.5', correct: true }], half), true);
  });

  it('responses without an answer do not vote; none at all is wrong', () => {
    assert.equal(
      majorityCorrect(
        [
          { answer: null, correct: false },
          { answer: null, correct: false },
          { answer: '4', correct: true },
        ],
        never,
      ),
      true,
    );
    assert.equal(majorityCorrect([{ answer: null, correct: false }], never), false);
  });
});

void describe('summarizeEvaluation', () => {
  let graders: GraderPool;
  const store = new LocalDirArtifactStore(mkdtempSync(join(tmpdir(), 'tirflow-evalsum-')));
  before(async () => {
    graders = await GraderPool.start({ size: 1 });
  });
  after(async () => {
    await graders.close();
  });

  const sample = (
    promptId: string,
    sampleIndex: number,
    extractedAnswer: string | null,
    gradingStatus: ScoredTrajectory['gradingStatus'],
    extra: Partial<ScoredTrajectory> = {},
  ): ScoredTrajectory =>
    scored({
      id: `${promptId}-${sampleIndex}`,
      promptId,
      sampleIndex,
      extractedAnswer,
      gradingStatus,
      level: 'L1',
      ...tokens(10),
      ...extra,
    });

  it('avg@k, pass@j, maj@k (grader equivalence), code calls, truncation; skipped prompts count wrong', async () => {
    // p1: 1 of 4 right, but "\frac{1}{2}" and "0.5" (wrong) outvote it → maj wrong.
    // p2: 2 of 4 right as "1/2" and "0.5"; math-verify groups them against one "7" → maj right.
    const trajectories = [
      sample('p1', 0, '6', 'correct', { executions: [execution('ok')] }),
      sample('p1', 1, '\\frac{1}{2}', 'incorrect'),
      sample('p1', 2, '0.5', 'incorrect'),
      sample('p1', 3, null, 'format', { stopReason: 'length' }),
      sample('p2', 0, '7', 'incorrect', { level: 'L2' }),
      sample('p2', 1, '\\frac{1}{2}', 'correct', {
        level: 'L2',
        executions: [execution('ok'), execution('error')],
      }),
      sample('p2', 2, '0.5', 'correct', { level: 'L2' }),
      sample('p2', 3, null, 'format', { level: 'L2' }),
    ];
    const key = artifactKeys.scored('evalsum', 1, 0);
    await writeJsonl(store, key, trajectories);
    const summary = await summarizeEvaluation(
      { store, graders },
      {
        runId: 'evalsum',
        step: 1,
        split: 'math500',
        policyVersion: 1,
        samplesPerPrompt: 4,
        scoredKeys: [key],
        settings: { toolBudget: 2, temperature: 1, maxResponseTokens: 64 },
        skipped: { prompts: 2, byLevel: { L2: 1, L5: 1 }, rule: 'too long' },
      },
    );
    assert.equal(summary.prompts, 4);
    assert.equal(summary.promptsSkipped, 2);
    close(summary.accuracy, 3 / 16);
    // pass@j over 4 prompts, the skipped two at 0: p1 (n=4, c=1), p2 (n=4, c=2).
    close(summary.passAt!['1']!, (1 / 4 + 2 / 4) / 4);
    close(summary.passAt!['2']!, (1 - 3 / 6 + (1 - 1 / 6)) / 4);
    close(summary.passAt!['4']!, 2 / 4);
    close(summary.passAtK, 2 / 4);
    close(summary.majAtK!, 1 / 4);
    close(summary.codeCallsPerResponse!, 3 / 8);
    close(summary.codeRatio, 2 / 8);
    close(summary.truncationRate!, 1 / 8);
    assert.deepEqual(summary.promptsByLevel, { L1: 1, L2: 2, L5: 1 });
    close(summary.accuracyByLevel.L1!, 1 / 4);
    close(summary.accuracyByLevel.L2!, 2 / 8);
    close(summary.accuracyByLevel.L5!, 0);
    assert.equal(summary.toolBudget, 2);
    const stored = await readJsonl<EvaluationSummary>(
      store,
      artifactKeys.evaluation('evalsum', 1, 'math500'),
    );
    assert.deepEqual(stored, [summary]);
  });
});

/** The `score` activity in a mock activity context, with a real artifact store and real graders. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { LocalDirArtifactStore, readJsonl, writeJsonl } from '../../activities/artifactStore';
import { GraderPool } from '../../activities/reward/graderPool';
import { createRewardActivities, type ScoreInput, type ScoreResult } from '../../activities/reward/score';
import { loadStepMetrics } from '../../activities/reward/stepMetrics';
import { artifactKeys } from '../../common/artifactKeys';
import type { ScoredTrajectory } from '../../common/trajectory';
import { execution, trajectory } from './trajectories';

const answer = (body: string): string => ` Let me compute.\n</think> <answer> ${body} </answer>`;

const shard = [
  trajectory({ id: 'right', referenceAnswer: '\\frac{1}{2}', responseText: answer('\\boxed{0.5}') }),
  trajectory({ id: 'wrong', referenceAnswer: '7', responseText: answer('\\boxed{8}') }),
  trajectory({ id: 'untagged', referenceAnswer: '7', responseText: ' It is \\boxed{7}.', stopReason: 'eos' }),
  trajectory({
    id: 'truncated',
    referenceAnswer: '7',
    responseText: answer('\\boxed{7}'),
    stopReason: 'length',
  }),
  trajectory({ id: 'gibberish', referenceAnswer: '7', responseText: answer('\\boxed{???}') }),
  trajectory({
    id: 'withCode',
    promptId: 'p1',
    referenceAnswer: '12',
    // The engine dropped the "</answer>" stop string: still a finished answer.
    responseText: ' ```python\nprint(3*4)\n```\n```output\n12\n```\n</think> <answer> \\boxed{12}',
    toolCalls: 1,
    executions: [execution('ok')],
  }),
];

describe('score activity', () => {
  let root: string;
  let store: LocalDirArtifactStore;
  let graders: GraderPool;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tirflow-score-'));
    store = new LocalDirArtifactStore(root);
    graders = await GraderPool.start({ size: 2 });
  });
  after(async () => {
    await graders.close();
    await rm(root, { recursive: true, force: true });
  });

  it('writes rewards and grading statuses and returns a summary, heartbeating progress', async () => {
    const generatedKey = artifactKeys.generated('run-a', 3, 1, 2);
    await writeJsonl(store, generatedKey, shard);
    const env = new MockActivityEnvironment();
    const heartbeats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => heartbeats.push(details));
    const { score } = createRewardActivities({ store, graders });

    const result = await env.run(score, { runId: 'run-a', step: 3, shard: 1, generatedKey });

    const scoredKey = artifactKeys.scored('run-a', 3, 1);
    assert.deepEqual(result, {
      scoredKey,
      trajectories: 6,
      correct: 2,
      formatFailures: 2,
      byStatus: { correct: 2, incorrect: 1, format: 2, unparsable: 1 },
      rewardMean: 2 / 6,
      // p0: 1 of 5 correct (mean 0.2, inside the default band (0, 1)); p1: all correct, out.
      groups: 2,
      groupsKept: 1,
      maskReasons: { truncated: 1 },
    });
    const written = await readJsonl<ScoredTrajectory>(store, scoredKey);
    assert.deepEqual(
      written.map((t) => [t.id, t.reward, t.gradingStatus, t.extractedAnswer]),
      [
        ['right', 1, 'correct', '0.5'],
        ['wrong', 0, 'incorrect', '8'],
        ['untagged', 0, 'format', null],
        ['truncated', 0, 'format', null],
        ['gibberish', 0, 'unparsable', '???'],
        ['withCode', 1, 'correct', '12'],
      ],
    );
    assert.deepEqual(
      written.map((t) => t.maskReasons),
      [[], [], [], ['truncated'], [], []],
    );
    // The trajectory itself travels unchanged to the trainer.
    assert.deepEqual(written[5]!.actionMask, shard[5]!.actionMask);
    assert.deepEqual(heartbeats.at(0), { graded: 0, total: 6 });
    assert.ok(heartbeats.some((h) => (h as { graded: number }).graded === 4)); // four answers passed the format check

    const metrics = await loadStepMetrics(store, [scoredKey]);
    assert.equal(metrics.codeRatio, 1 / 6);
    assert.equal(metrics.formatFailureRate, 2 / 6);
  });

  it('is idempotent: a retry finds the scored artifact and does not grade again', async () => {
    const generatedKey = artifactKeys.generated('run-b', 0, 0, 0);
    await writeJsonl(store, generatedKey, shard.slice(0, 2));
    const first: ScoreResult = await new MockActivityEnvironment().run(
      createRewardActivities({ store, graders }).score,
      {
        runId: 'run-b',
        step: 0,
        shard: 0,
        generatedKey,
      },
    );
    const firstContent = (await store.read(first.scoredKey)).toString();

    // A closed pool rejects every item: the retry can only succeed without grading.
    const closedPool = await GraderPool.start({ size: 1 });
    await closedPool.close();
    const retry = await new MockActivityEnvironment().run(
      createRewardActivities({ store, graders: closedPool }).score,
      { runId: 'run-b', step: 0, shard: 0, generatedKey },
    );
    assert.deepEqual(retry, first);
    assert.equal((await store.read(first.scoredKey)).toString(), firstContent);
  });

  it('loose mode takes the last box anywhere', async () => {
    const generatedKey = artifactKeys.generated('run-c', 0, 0, 0);
    await writeJsonl(store, generatedKey, [shard[2]!]);
    const { score } = createRewardActivities({ store, graders });
    const strict: ScoreResult = await new MockActivityEnvironment().run(score, {
      runId: 'run-c',
      step: 0,
      shard: 0,
      generatedKey,
    });
    const looseInput: ScoreInput = { runId: 'run-c', step: 0, shard: 1, generatedKey, formatMode: 'loose' };
    const loose: ScoreResult = await new MockActivityEnvironment().run(score, looseInput);
    assert.deepEqual([strict.correct, strict.formatFailures], [0, 1]);
    assert.deepEqual([loose.correct, loose.formatFailures], [1, 0]);
  });

  it('counts the groups a given filter band keeps; null turns filtering off', async () => {
    const generatedKey = artifactKeys.generated('run-d', 0, 0, 0);
    await writeJsonl(store, generatedKey, shard);
    const { score } = createRewardActivities({ store, graders });
    const counts = async (filterBand: ScoreInput['filterBand'], shardIndex: number): Promise<number[]> => {
      const input: ScoreInput = { runId: 'run-d', step: 0, shard: shardIndex, generatedKey, filterBand };
      const result: ScoreResult = await new MockActivityEnvironment().run(score, input);
      return [result.groups, result.groupsKept];
    };
    // Group means: p0 0.2, p1 1.0.
    assert.deepEqual(await counts({ low: 0.1, high: 0.3 }, 0), [2, 1]);
    assert.deepEqual(await counts({ low: 0.2, high: 1 }, 1), [2, 0]); // 0.2 is on the exclusive bound
    assert.deepEqual(await counts(null, 2), [2, 2]);
  });
});

/**
 * The grader pool with real math-verify processes: equivalence through the protocol, the
 * per-item timeout killing a really hung comparison, a crashed process, and two processes
 * grading at the same time.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { type GradeOutcome, GraderPool } from '../../activities/reward/graderPool';

// sympy expands 9^(9^9) exactly when comparing it with a number: minutes of big-integer
// arithmetic inside one C call, which no in-process timeout interrupts.
const HANGS_SYMPY = { pred: '9^{9^{9}}', ref: '1' };

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(50);
}

describe('GraderPool', () => {
  let pool: GraderPool;
  before(async () => {
    pool = await GraderPool.start({ size: 2, itemTimeoutMs: 5000 });
  });
  after(async () => {
    await pool.close();
  });

  it('grades equivalent, different and unparsable answers', async () => {
    const outcomes = await pool.gradeAll([
      { pred: '\\frac{1}{2}', ref: '0.5' },
      { pred: '2\\sqrt{2}', ref: '\\sqrt{8}' },
      { pred: 'x=3', ref: '3' },
      { pred: '3.14', ref: '\\pi' },
      { pred: '', ref: '3' },
    ]);
    assert.deepEqual(
      outcomes.map((o) => [o.status, o.correct]),
      [
        ['correct', true],
        ['correct', true],
        ['correct', true],
        ['incorrect', false],
        ['unparsable', false],
      ],
    );
  });

  it('kills a hung comparison, scores only that item as timeout and replaces the process', async () => {
    const replacedBefore = pool.replacements;
    const outcomes = await pool.gradeAll([
      { pred: '7', ref: '7' },
      HANGS_SYMPY,
      { pred: '\\frac{6}{8}', ref: '0.75' },
      { pred: '5', ref: '4' },
    ]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['correct', 'timeout', 'correct', 'incorrect'],
    );
    const hung = outcomes[1]!;
    assert.equal(hung.correct, false);
    assert.match(hung.message ?? '', /killed/);
    assert.equal(pool.replacements, replacedBefore + 1);
    await until(() => !isAlive(hung.pid));
    // The replacement comes up and serves: the pool is back to two live processes.
    await until(() => pool.pids.length === 2);
    assert.ok(!pool.pids.includes(hung.pid));
    const again = await pool.gradeAll(Array.from({ length: 4 }, () => ({ pred: '2', ref: '2' })));
    assert.ok(again.every((o) => o.status === 'correct'));
  });

  it('runs two processes concurrently: both serve items in overlapping time windows', async () => {
    const items = Array.from({ length: 12 }, (_, i) => ({
      pred: `${i + 1}\\sqrt{2}`,
      ref: `\\sqrt{${2 * (i + 1) ** 2}}`,
    }));
    const outcomes = await pool.gradeAll(items);
    assert.ok(outcomes.every((o) => o.status === 'correct'));
    const pids = new Set(outcomes.map((o) => o.pid));
    assert.equal(pids.size, 2);
    const overlaps = (a: GradeOutcome, b: GradeOutcome): boolean =>
      a.pid !== b.pid && a.startedAtMs < b.finishedAtMs && b.startedAtMs < a.finishedAtMs;
    assert.ok(
      outcomes.some((a) => outcomes.some((b) => overlaps(a, b))),
      'no two items were graded at the same time by different processes',
    );
  });
});

describe('GraderPool with a crashing process', () => {
  it('gives an item whose process died one more process, and scores it error when that dies too', async () => {
    const pool = await GraderPool.start({ size: 1, itemTimeoutMs: 600_000 });
    try {
      const [first] = pool.pids;
      const inFlight = pool.grade(HANGS_SYMPY);
      process.kill(first!, 'SIGKILL');
      // The item moves to the replacement process; kill that one too.
      await until(() => pool.pids.length === 1 && pool.pids[0] !== first);
      const [second] = pool.pids;
      process.kill(second!, 'SIGKILL');
      const outcome = await inFlight;
      assert.equal(outcome.status, 'error');
      assert.equal(outcome.pid, second);
      assert.match(outcome.message ?? '', /exited/);
      const next = await pool.grade({ pred: '\\frac{3}{4}', ref: '0.75' });
      assert.equal(next.status, 'correct');
      assert.ok(![first, second].includes(next.pid));
    } finally {
      await pool.close();
    }
  });

  it('replaces a process that died while idle', async () => {
    const pool = await GraderPool.start({ size: 1 });
    try {
      const [dead] = pool.pids;
      process.kill(dead!, 'SIGKILL');
      await until(() => !isAlive(dead!));
      const outcome = await pool.grade({ pred: '\\sqrt{4}', ref: '2' });
      assert.equal(outcome.status, 'correct');
      assert.notEqual(outcome.pid, dead);
    } finally {
      await pool.close();
    }
  });

  it('rejects grading after close', async () => {
    const pool = await GraderPool.start({ size: 1 });
    await pool.close();
    await assert.rejects(pool.grade({ pred: '1', ref: '1' }), /closed/);
  });
});

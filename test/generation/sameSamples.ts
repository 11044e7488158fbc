/**
 * Equality of samples across batch compositions: the same seed gives the same tokens whatever
 * else shares the batch, but the logits, and so the log-probs, move by float rounding (about
 * 1e-8 here) when the batch's shapes or padding change. Tokens and everything else must match
 * exactly; log-probs within LOGPROB_ROUNDING. Trajectories' turn finish times are wall-clock
 * and left out.
 */
import assert from 'node:assert/strict';
import type { Completion } from '../../activities/generation/engine';
import type { Trajectory } from '../../common/trajectory';

export const LOGPROB_ROUNDING = 1e-6;

function assertClose(
  actual: readonly number[] | undefined,
  expected: readonly number[] | undefined,
  what: string,
): void {
  assert.equal(actual?.length, expected?.length, `${what}: lengths`);
  actual?.forEach((value, i) =>
    assert.ok(
      Math.abs(value - expected![i]!) <= LOGPROB_ROUNDING,
      `${what}[${i}]: ${value} vs ${expected![i]}`,
    ),
  );
}

export function assertSameCompletions(actual: readonly Completion[], expected: readonly Completion[]): void {
  assert.deepEqual(
    actual.map(({ logprobs: _, ...rest }) => rest),
    expected.map(({ logprobs: _, ...rest }) => rest),
  );
  actual.forEach((c, i) => assertClose(c.logprobs, expected[i]!.logprobs, `completion ${i} logprobs`));
}

export function assertSameTrajectories(actual: readonly Trajectory[], expected: readonly Trajectory[]): void {
  assert.deepEqual(
    actual.map(withoutTiming).map(({ behaviourLogprobs: _, ...rest }) => rest),
    expected.map(withoutTiming).map(({ behaviourLogprobs: _, ...rest }) => rest),
  );
  actual.forEach((t, i) =>
    assertClose(t.behaviourLogprobs, expected[i]!.behaviourLogprobs, `${t.id} behaviourLogprobs`),
  );
}

/** A trajectory without its wall-clock record (turnFinishMs), for comparing runs. */
export function withoutTiming(trajectory: Trajectory): Trajectory {
  const copy = { ...trajectory };
  delete copy.turnFinishMs;
  return copy;
}

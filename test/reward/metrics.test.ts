import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { computeStepMetrics, formatStepMetrics, percentile } from '../../common/metrics';
import { execution, scored, tokens } from './trajectories';

// Three prompts of two samples. Hand-computed expectations are in the assertions' comments.
const step = [
  scored({ id: 'a', promptId: 'p1', level: 'L1', gradingStatus: 'correct', ...tokens(10) }),
  scored({
    id: 'b',
    promptId: 'p1',
    level: 'L1',
    gradingStatus: 'incorrect',
    toolCalls: 1,
    executions: [execution('ok')],
    ...tokens(20, 5),
  }),
  scored({
    id: 'c',
    promptId: 'p2',
    level: 'L2',
    gradingStatus: 'correct',
    toolCalls: 2,
    executions: [execution('ok'), execution('error')],
    ...tokens(30, 10),
  }),
  scored({ id: 'd', promptId: 'p2', level: 'L2', gradingStatus: 'correct', ...tokens(40) }),
  scored({
    id: 'e',
    promptId: 'p3',
    level: 'L3',
    gradingStatus: 'format',
    stopReason: 'length',
    toolCalls: 1,
    executions: [execution('timeout')],
    ...tokens(50, 8),
  }),
  scored({
    id: 'f',
    promptId: 'p3',
    level: 'L2',
    gradingStatus: 'format',
    toolCalls: 2,
    executions: [execution('memory'), execution('killed')],
    ...tokens(60),
  }),
];

describe('computeStepMetrics', () => {
  const m = computeStepMetrics(step);

  it('computes reward, accuracy and accuracy per level', () => {
    assert.equal(m.trajectories, 6);
    assert.equal(m.rewardMean, 0.5); // a, c, d of 6
    assert.equal(m.accuracy, 0.5);
    assert.deepEqual(m.accuracyByLevel, { L1: 0.5, L2: 2 / 3, L3: 0 }); // L2 = c, d correct; f not
    assert.deepEqual(m.gradingStatus, { correct: 3, incorrect: 1, format: 2 });
  });

  it('computes the code ratio, tool calls and execution outcomes', () => {
    assert.equal(m.codeRatio, 4 / 6); // b, c, e, f executed code
    assert.equal(m.meanToolCalls, 1); // (0 + 1 + 2 + 0 + 1 + 2) / 6
    assert.deepEqual(m.executions, { ok: 2, error: 1, timeout: 1, memory: 1, killed: 1 });
  });

  it('counts model tokens through the action mask and total tokens separately', () => {
    assert.deepEqual(m.responseTokens, { mean: 35, p90: 60 }); // 10..60; nearest rank ceil(5.4) = 6th
    assert.deepEqual(m.totalResponseTokens, { mean: 233 / 6, p90: 60 }); // 10, 25, 40, 40, 58, 60
  });

  it('computes truncation and format failure rates', () => {
    assert.equal(m.truncationRate, 1 / 6);
    assert.equal(m.formatFailureRate, 2 / 6);
  });

  it('counts groups whose rewards are all equal as dropped by dynamic filtering', () => {
    assert.equal(m.groups, 3);
    assert.equal(m.groupsDropped, 2); // p2 all 1, p3 all 0; p1 is mixed
  });

  it('is the same over the concatenated shards whatever their order', () => {
    assert.deepEqual(computeStepMetrics([...step.slice(3), ...step.slice(0, 3)]), m);
  });

  it('gives zeros, not NaN, for an empty step', () => {
    const empty = computeStepMetrics([]);
    assert.equal(empty.trajectories, 0);
    assert.equal(empty.rewardMean, 0);
    assert.equal(empty.codeRatio, 0);
    assert.deepEqual(empty.responseTokens, { mean: 0, p90: 0 });
    assert.equal(empty.groups, 0);
    assert.ok(!JSON.stringify(empty).includes('null'));
  });

  it('prints one line with the numbers a researcher watches', () => {
    assert.equal(
      formatStepMetrics(3, m),
      'step 3: reward 0.500 acc 50.0% code 66.7% tools 1.00 len 35/p90 60 trunc 16.7% fmt-fail 33.3% dropped 2/3',
    );
  });
});

describe('percentile', () => {
  it('uses the nearest rank', () => {
    assert.equal(percentile([10, 1, 9, 2, 8, 3, 7, 4, 6, 5], 0.9), 9);
    assert.equal(percentile([10, 1, 9, 2, 8, 3, 7, 4, 6, 5], 0.5), 5);
    assert.equal(percentile([4], 0.9), 4);
    assert.equal(percentile([], 0.9), 0);
  });
});

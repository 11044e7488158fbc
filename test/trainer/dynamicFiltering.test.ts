/** Dynamic filtering's band rule on the cases the Python trainer is tested against too. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../activities/projectPaths';
import { countKeptGroups, keepsGroup } from '../../common/dynamicFiltering';

interface BandCase {
  rewards: number[];
  band: [number, number];
  kept: boolean;
  why: string;
}

const { cases } = JSON.parse(
  readFileSync(join(projectRoot, 'test/trainer/filterBandCases.json'), 'utf8'),
) as {
  cases: BandCase[];
};

for (const c of cases) {
  test(`band (${c.band.join(', ')}): ${c.why}`, () => {
    let total = 0;
    for (const reward of c.rewards) total += reward; // in order, as the trainer sums
    assert.equal(keepsGroup(total / c.rewards.length, { low: c.band[0], high: c.band[1] }), c.kept);
  });
}

test('groups are counted per prompt; a null band keeps them all', () => {
  const trajectories = [
    { promptId: 'a', reward: 1 },
    { promptId: 'a', reward: 0 },
    { promptId: 'b', reward: 1 },
    { promptId: 'b', reward: 1 },
    { promptId: 'c', reward: 0 },
  ];
  assert.deepEqual(countKeptGroups(trajectories, { low: 0, high: 1 }), { groups: 3, groupsKept: 1 });
  assert.deepEqual(countKeptGroups(trajectories, { low: 0.6, high: 1 }), { groups: 3, groupsKept: 0 });
  assert.deepEqual(countKeptGroups(trajectories, null), { groups: 3, groupsKept: 3 });
});

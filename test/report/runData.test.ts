/** What the report reads of a run: evaluations from files and metrics lines, template, unknown runs. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalDirArtifactStore } from '../../activities/artifactStore';
import { stepTicks } from '../../activities/report/charts';
import { loadRun, UnknownRunError } from '../../activities/report/runData';
import { artifactKeys } from '../../common/artifactKeys';
import { writeSyntheticRun } from './syntheticRuns';

describe('loadRun', () => {
  let root: string;
  let store: LocalDirArtifactStore;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tirflow-rundata-'));
    store = new LocalDirArtifactStore(root);
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('reads steps in order, every validation file (step 0 first) and the template', async () => {
    const written = await writeSyntheticRun(root, {
      runId: 'r1',
      template: 'noTool',
      steps: 6,
      evaluateEvery: 3,
    });
    // Another split's summary is not validation accuracy.
    await store.write(
      artifactKeys.evaluation('r1', 6, 'test'),
      JSON.stringify({ split: 'test', accuracy: 1 }),
    );
    const run = await loadRun(store, 'r1');
    assert.equal(run.template, 'noTool');
    assert.equal(run.label, 'ZeroRL (r1)');
    assert.deepEqual(
      run.steps.map((r) => r.step),
      written.records.map((r) => r.step),
    );
    assert.deepEqual(
      run.evaluations.map((e) => [e.step, e.summary.accuracy]),
      [...written.evaluations].map(([step, summary]) => [step, summary.accuracy]),
    );
    assert.equal(run.evaluations[0]!.step, 0);
  });

  it('falls back to the evaluation carried in a metrics line when its file is missing', async () => {
    const written = await writeSyntheticRun(root, {
      runId: 'r2',
      template: 'tool',
      steps: 4,
      evaluateEvery: 2,
    });
    await store.remove(artifactKeys.evaluation('r2', 2, 'validation'));
    const run = await loadRun(store, 'r2', 'custom');
    assert.equal(run.label, 'custom');
    assert.deepEqual(
      run.evaluations.map((e) => e.step),
      [0, 2, 4],
    );
    assert.deepEqual(run.evaluations[1]!.summary, written.evaluations.get(2));
  });

  it('names a run without metrics, or an id leaving the store, as unknown', async () => {
    await assert.rejects(loadRun(store, 'missing'), UnknownRunError);
    await assert.rejects(loadRun(store, '../outside'), UnknownRunError);
  });
});

describe('stepTicks', () => {
  it('puts whole-step ticks from 0 to the last step, at most about ten', () => {
    assert.deepEqual(stepTicks(3), [0, 1, 2, 3]);
    for (const last of [1, 7, 12, 37, 100, 499, 2000]) {
      const ticks = stepTicks(last);
      assert.equal(ticks[0], 0);
      assert.ok(ticks.every((t) => Number.isInteger(t) && t <= last));
      assert.ok(ticks.length >= 2 && ticks.length <= 11, `${last}: ${ticks.length} ticks`);
      assert.ok(last - ticks.at(-1)! < ticks[1]!, `${last}: ticks reach the end`);
    }
  });
});

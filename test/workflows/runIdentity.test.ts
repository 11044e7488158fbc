/**
 * A run id names one run forever, through the real CLI on the real dev server: re-running a
 * finished run's id is refused and writes nothing; `--resume` continues a terminated run from
 * its last recorded step with its stored config, trains each remaining step once, and ends
 * with the weights of an undisturbed run. Runs started by the CLI carry search attributes that
 * find them and their shards.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { StepRecord } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import type { RunConfig } from '../../common/config';
import { statusQuery } from '../../workflows/messages';
import { runTirflow } from '../support/cli';
import { useRunHarness } from '../support/runHarness';
import { snapshotTree } from '../support/storeFiles';
import { uniqueName } from '../support/temporal';
import { tinyRunConfig } from '../support/tinyRun';

const harness = useRunHarness();
const dir = mkdtempSync(join(tmpdir(), 'tirflow-identity-'));

const cluster = (): string[] => [
  '--address',
  harness().temporal.address,
  '--artifacts',
  harness().worker.artifactRoot,
];

function configFile(config: RunConfig): string {
  const path = join(dir, `${uniqueName('config')}.json`);
  writeFileSync(path, JSON.stringify(config));
  return path;
}

const store = (key: string): string => join(harness().worker.artifactRoot, key);

function finalWeights(runId: string, step: number): Buffer {
  return readFileSync(store(`${artifactKeys.checkpoint(runId, step)}/hf/model.safetensors`));
}

function trainedSteps(runId: string): number[] {
  return readFileSync(store(`${artifactKeys.checkpointsRoot(runId)}/trainer-steps.log`), 'utf8')
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { step: number }).step);
}

test('a finished run id is refused; --resume continues a terminated run to the undisturbed weights', async () => {
  const config = tinyRunConfig(harness().model, { steps: 3 });
  const file = configFile(config);

  // The undisturbed run, for the weights to compare with.
  const cleanId = uniqueName('clean');
  const clean = await runTirflow(['train', '-c', file, '--run-id', cleanId, ...cluster()]);
  assert.equal(clean.exitCode, 0, clean.all);
  assert.match(clean.stdout, /completed after 3 steps/);

  // Its id again: refused (exit 2), nothing written.
  const before = await snapshotTree(store(artifactKeys.runRoot(cleanId)));
  const again = await runTirflow(['train', '--run-id', cleanId, ...cluster()]);
  assert.equal(again.exitCode, 2, again.all);
  assert.match(
    again.stderr,
    new RegExp(`run id ${cleanId} names a run that completed at .*choose another --run-id`),
  );
  const resumeDone = await runTirflow(['train', '--resume', '--run-id', cleanId, ...cluster()]);
  assert.equal(resumeDone.exitCode, 2);
  assert.match(
    resumeDone.stderr,
    /completed: only a failed, terminated, cancelled or timed-out run can be resumed/,
  );
  assert.deepEqual(
    await snapshotTree(store(artifactKeys.runRoot(cleanId))),
    before,
    'the refused commands wrote nothing',
  );

  // The same run, terminated after its first recorded step, then resumed.
  const runId = uniqueName('resumed');
  const started = await runTirflow(['train', '-c', file, '--run-id', runId, '--detach', ...cluster()]);
  assert.equal(started.exitCode, 0, started.all);
  const handle = harness().temporal.client.workflow.getHandle(runId);
  for (;;) {
    const status = await handle.query(statusQuery).catch(() => null);
    if (status && status.completedSteps >= 1) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  await handle.terminate('operator test: a lost run');

  const plain = await runTirflow(['train', '-c', file, '--run-id', runId, ...cluster()]);
  assert.equal(plain.exitCode, 2);
  assert.match(plain.stderr, /names a run that terminated .*tirflow train --resume --run-id/);

  const differing = configFile({ ...config, steps: 4, seed: 9 });
  const refused = await runTirflow(['train', '--resume', '-c', differing, '--run-id', runId, ...cluster()]);
  assert.equal(refused.exitCode, 2);
  assert.match(refused.stderr, /cannot resume .* with a config that differs/);
  assert.match(refused.stderr, /- seed: 1 → 9/);
  assert.match(refused.stderr, /- steps: 3 → 4/);

  const resumed = await runTirflow(['train', '--resume', '--run-id', runId, ...cluster()]);
  assert.equal(resumed.exitCode, 0, resumed.all);
  assert.match(resumed.stdout, new RegExp(`Resumed run ${runId}`));
  assert.match(resumed.stdout, /completed after 3 steps/);

  assert.deepEqual(trainedSteps(runId), [1, 2, 3], 'every step trained exactly once');
  const records = readFileSync(store(artifactKeys.metrics(runId)), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as StepRecord);
  assert.deepEqual(
    records.map((r) => r.step),
    [1, 2, 3],
  );
  assert.ok(
    finalWeights(runId, 3).equals(finalWeights(cleanId, 3)),
    'the resumed run ends with the undisturbed run’s weights, byte for byte',
  );
  const identity = JSON.parse(readFileSync(store(artifactKeys.runIdentity(runId)), 'utf8')) as {
    executionChains: string[];
  };
  assert.equal(identity.executionChains.length, 2, 'the first chain and its resumption');

  // Search attributes find the runs and their shards.
  const client = harness().temporal.client;
  const list = async (query: string): Promise<string[]> => {
    const ids: string[] = [];
    for await (const run of client.workflow.list({ query })) ids.push(run.workflowId);
    return ids.sort();
  };
  const shards = await list(`TirflowRunId = '${cleanId}' AND WorkflowType = 'rolloutShard'`);
  assert.deepEqual(
    shards,
    [0, 1, 2].flatMap((i) => [0, 1].map((s) => `${cleanId}/step-000${i + 1}/shard-${s}`)),
  );
  const runs = await list(
    `WorkflowType = 'trainingRun' AND TirflowTemplate = 'tool' AND TirflowStep >= 3 AND TirflowRunId IN ('${cleanId}', '${runId}')`,
  );
  assert.deepEqual(runs, [cleanId, runId].sort());
  const listed = await runTirflow(['runs', '--query', `TirflowRunId = '${cleanId}'`, ...cluster()]);
  assert.equal(listed.exitCode, 0, listed.all);
  assert.match(listed.stdout, new RegExp(`${cleanId}\\s+completed\\s+ZeroTIR\\s+step 3\\s+completed`));
});

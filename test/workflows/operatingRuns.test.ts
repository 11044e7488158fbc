/**
 * An operator's path through failures, on the real dev server and through the real CLI:
 * a shard whose retries run out blocks the run (named in status and in the UI's details)
 * instead of failing it; `retry` completes it with nothing trained twice, `skip` completes it
 * with the shard recorded as skipped; `stop --after-step` is exact or refused; `set` changes
 * live hyperparameters.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { StepRecord } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import type { RunConfig } from '../../common/config';
import { scoreFaultSwitch } from '../../activities/faults';
import type { TrainingRunResult } from '../../workflows/trainingRun';
import { statusQuery, type RunStatus } from '../../workflows/messages';
import { runTirflow } from '../support/cli';
import { useRunHarness } from '../support/runHarness';
import { uniqueName } from '../support/temporal';
import { tinyRunConfig } from '../support/tinyRun';

const harness = useRunHarness();
const dir = mkdtempSync(join(tmpdir(), 'tirflow-operating-'));
const fault = join(dir, 'score-fault.json');

before(() => {
  process.env[scoreFaultSwitch] = fault;
});
after(() => {
  delete process.env[scoreFaultSwitch];
});

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

async function startRun(config: RunConfig, prefix: string): Promise<string> {
  const runId = uniqueName(prefix);
  const started = await runTirflow([
    'train',
    '-c',
    configFile(config),
    '--run-id',
    runId,
    '--detach',
    ...cluster(),
  ]);
  assert.equal(started.exitCode, 0, started.all);
  return runId;
}

async function waitForStatus(runId: string, done: (s: RunStatus) => boolean): Promise<RunStatus> {
  const handle = harness().temporal.client.workflow.getHandle(runId);
  const deadline = Date.now() + 300_000;
  let last: RunStatus | string = 'no answer yet';
  for (;;) {
    // The worker may still be bundling its workflow code right after start: keep asking.
    const status = await handle.query(statusQuery).catch((err: Error) => err.message);
    if (typeof status !== 'string' && done(status)) return status;
    last = status;
    assert.ok(Date.now() < deadline, `status never matched; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

function metrics(runId: string): StepRecord[] {
  return readFileSync(join(harness().worker.artifactRoot, artifactKeys.metrics(runId)), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as StepRecord);
}

/** Steps the trainer actually trained (its step log has one line per committed update). */
function trainedSteps(runId: string): number[] {
  const log = join(harness().worker.artifactRoot, artifactKeys.checkpointsRoot(runId), 'trainer-steps.log');
  return readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { step: number }).step);
}

test('a shard that exhausts its retries blocks the run; status names it; retry completes the run', async () => {
  writeFileSync(fault, JSON.stringify({ step: 1, shard: 1 }));
  const runId = await startRun(tinyRunConfig(harness().model), 'blocked');
  const blocked = await waitForStatus(runId, (s) => s.phase === 'blocked');
  const work = blocked.blocked![0]!;
  assert.equal(work.id, 'step-1/shard-1');
  assert.equal(work.what, 'rollout shard');
  assert.equal(work.activity, 'score');
  assert.equal(work.errorType, 'InjectedFault');
  assert.match(work.error, /injected score fault for step 1 shard 1/);
  assert.equal((await harness().temporal.client.workflow.getHandle(runId).describe()).status.name, 'RUNNING');

  const shown = await runTirflow(['status', runId, ...cluster()]);
  assert.equal(shown.exitCode, 0, shown.all);
  assert.match(shown.stdout, /running \| step 1\/2 \| blocked/);
  assert.match(
    shown.stdout,
    /BLOCKED step-1\/shard-1 \(rollout shard, score, failed 1×.*\): \[InjectedFault\] injected score fault/,
  );
  assert.match(shown.stdout, new RegExp(`tirflow retry ${runId} --work step-1/shard-1`));

  const refusedSkip = await runTirflow(['skip', runId, '--work', 'step-9/shard-0', ...cluster()]);
  assert.equal(refusedSkip.exitCode, 2);
  assert.match(refusedSkip.stderr, /no blocked work "step-9\/shard-0" \(blocked: step-1\/shard-1\)/);

  rmSync(fault); // the operator fixes the cause
  const retried = await runTirflow(['retry', runId, ...cluster()]);
  assert.equal(retried.exitCode, 0, retried.all);
  assert.match(retried.stdout, /retrying step-1\/shard-1/);
  const result = (await harness().temporal.client.workflow.getHandle(runId).result()) as TrainingRunResult;
  assert.equal(result.completedSteps, 2);
  assert.deepEqual(trainedSteps(runId), [1, 2], 'each step trained once');
  const records = metrics(runId);
  assert.deepEqual(
    records.map((r) => [r.step, r.rollout.trajectories, r.skipped ?? []]),
    [
      [1, 4, []],
      [2, 4, []],
    ],
  );
  const nothing = await runTirflow(['retry', runId, ...cluster()]);
  assert.equal(nothing.exitCode, 2);
  assert.match(nothing.stderr, /is not running/);
});

test('skip drops a blocked shard from its step, recorded in the step metrics', async () => {
  writeFileSync(fault, JSON.stringify({ step: 1, shard: 0 }));
  const runId = await startRun(tinyRunConfig(harness().model), 'skipped');
  await waitForStatus(runId, (s) => s.phase === 'blocked');
  const skipped = await runTirflow(['skip', runId, '--work', 'step-1/shard-0', ...cluster()]);
  assert.equal(skipped.exitCode, 0, skipped.all);
  rmSync(fault);
  const result = (await harness().temporal.client.workflow.getHandle(runId).result()) as TrainingRunResult;
  assert.equal(result.completedSteps, 2);
  assert.deepEqual(trainedSteps(runId), [1, 2]);
  const [first, second] = metrics(runId);
  assert.equal(first!.rollout.trajectories, 2, 'the skipped shard’s trajectories are not trained on');
  assert.deepEqual(
    first!.skipped?.map((s) => [s.id, s.what]),
    [['step-1/shard-0', 'rollout shard']],
  );
  assert.match(first!.skipped[0]!.error, /injected score fault/);
  assert.equal(second!.rollout.trajectories, 4);
  assert.equal(second!.skipped, undefined);
});

test('stop --after-step is exact: a step under way is refused naming the earliest; set changes knobs', async () => {
  // Step 2's scoring keeps failing (retryably) until the file goes: step 2 is certainly under way.
  writeFileSync(fault, JSON.stringify({ step: 2, retryable: true }));
  const runId = await startRun(tinyRunConfig(harness().model, { steps: 4 }), 'stop');
  await waitForStatus(runId, (s) => s.completedSteps === 1 && s.step === 2);

  const early = await runTirflow(['stop', runId, '--after-step', '1', ...cluster()]);
  assert.equal(early.exitCode, 2, early.all);
  assert.match(
    early.stderr,
    /cannot stop after step 1: step 2 is already under way \(the earliest step this run can stop after is 2\)/,
  );
  const exact = await runTirflow(['stop', runId, '--after-step', '2', ...cluster()]);
  assert.equal(exact.exitCode, 0, exact.all);
  assert.match(exact.stdout, /will stop after step 2/);

  const set = await runTirflow(['set', runId, '--temperature', '0.7', '--tool-budget', '1', ...cluster()]);
  assert.equal(set.exitCode, 0, set.all);
  assert.match(set.stdout, /temperature 0\.7 \| tool budget 1/);
  const refused = await runTirflow(['set', runId, '--lr', '3', ...cluster()]);
  assert.equal(refused.exitCode, 2);
  assert.match(refused.stderr, /learningRate must be in \(0, 1\), got 3/);

  rmSync(fault);
  const result = (await harness().temporal.client.workflow.getHandle(runId).result()) as TrainingRunResult;
  assert.equal(result.completedSteps, 2);
  assert.equal(result.stoppedEarly, true);
  assert.deepEqual(
    metrics(runId).map((r) => r.step),
    [1, 2],
  );
});

/**
 * The trainer worker process is killed with SIGKILL in the middle of `updatePolicy`; a new
 * trainer worker picks the run up and every step is applied exactly once (the trainer's step
 * log has one line per step, the metrics one line per step).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import proto from '@temporalio/proto';
import { taskQueues } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import type { TrainingRunResult } from '../../workflows/trainingRun';
import { fixtureModel } from '../generation/fixtureModel';
import { runTirflow } from '../support/cli';
import { startLocalWorker, type LocalWorker } from '../support/localWorker';
import { connectTestTemporal, uniqueName, type TestTemporal } from '../support/temporal';
import { tinyRunConfig } from '../support/tinyRun';

let temporal: TestTemporal;
let otherRoles: LocalWorker;
let model: string;
const artifactRoot = mkdtempSync(join(tmpdir(), 'tirflow-crash-'));

before(async () => {
  temporal = await connectTestTemporal();
  model = (await fixtureModel()).hfDir;
  otherRoles = startLocalWorker(temporal.address, { artifactRoot, roles: ['rollout', 'sandbox', 'reward'] });
});
after(async () => {
  await otherRoles?.stop();
  await temporal?.close();
});

/** `stallAtStep`: the trainer hangs in that step's update, so the kill surely lands mid-update. */
function startTrainerWorker(stallAtStep?: number) {
  return runTirflow(
    [
      'worker',
      '--role',
      'trainer',
      '--no-workflows',
      '--address',
      temporal.address,
      '--artifacts',
      artifactRoot,
    ],
    {
      detached: true,
      ...(stallAtStep === undefined
        ? {}
        : { env: { TIRFLOW_FAULT_TRAINER_STALL_AT_STEP: String(stallAtStep) } }),
    },
  );
}

async function waitFor(condition: () => Promise<boolean>, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('SIGKILL of the trainer worker during updatePolicy: the step is applied exactly once', async () => {
  const runId = uniqueName('crash');
  const config = tinyRunConfig(model, { steps: 2, timeouts: { trainerHeartbeatS: 5 } });
  const handle = await temporal.client.workflow.start('trainingRun', {
    taskQueue: taskQueues.workflows,
    workflowId: runId,
    args: [{ runId, config }],
  });

  const first = startTrainerWorker(1);
  // Kill it while step 1's update is running: the trainer is stalled inside it.
  await waitFor(async () => {
    const { pendingActivities } = await handle.describe().then((d) => d.raw);
    return (pendingActivities ?? []).some(
      (a) =>
        a.activityType?.name === 'updatePolicy' &&
        a.state === proto.temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED &&
        a.attempt === 1,
    );
  }, 'step 1 updatePolicy to start');
  process.kill(-first.pid!, 'SIGKILL'); // the whole group: the worker and its trainer process
  await first;

  const second = startTrainerWorker();
  try {
    const result = (await handle.result()) as TrainingRunResult;
    assert.equal(result.completedSteps, 2);
    assert.equal(result.policy.version, 2);
  } finally {
    process.kill(-second.pid!, 'SIGTERM');
    await second;
  }

  const stepLog = readFileSync(
    join(artifactRoot, artifactKeys.runRoot(runId), 'checkpoints', 'trainer-steps.log'),
    'utf8',
  )
    .trim()
    .split('\n');
  assert.equal(stepLog.length, 2, `one committed training per step:\n${stepLog.join('\n')}`);
  const metrics = readFileSync(join(artifactRoot, artifactKeys.metrics(runId)), 'utf8')
    .trim()
    .split('\n');
  assert.equal(metrics.length, 2);
  const history = await handle.fetchHistory();
  const updateAttempts = (history.events ?? [])
    .map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0)
    .filter((attempt) => attempt > 1);
  assert.ok(updateAttempts.length >= 1, 'the killed update was retried');
});

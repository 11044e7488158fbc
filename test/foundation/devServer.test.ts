import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import * as activities from './fixtures/harnessActivities';
import { harnessWorkflow, progressQuery, releaseSignal } from './fixtures/harnessWorkflows';
import { connectTestTemporal, uniqueName, type TestTemporal } from '../support/temporal';

let temporal: TestTemporal;
before(async () => {
  temporal = await connectTestTemporal();
});
after(async () => {
  await temporal?.close();
});

test('a real workflow runs on a real worker against the dev server', async () => {
  const taskQueue = uniqueName('harness');
  const worker = await Worker.create({
    connection: temporal.workerConnection,
    taskQueue,
    workflowsPath: fileURLToPath(new URL('./fixtures/harnessWorkflows.ts', import.meta.url)),
    activities,
  });
  const result = await worker.runUntil(async () => {
    const handle = await temporal.client.workflow.start(harnessWorkflow, {
      taskQueue,
      workflowId: uniqueName('harness-wf'),
      args: [40],
    });
    assert.equal(await handle.query(progressQuery), 'waiting');
    await handle.signal(releaseSignal, 2);
    return handle.result();
  });
  assert.equal(result, 42);
});

/**
 * Following a run for a long time (`tirflow train` prints its progress for days) must not
 * accumulate listeners: the Temporal client adds an abort listener to a call's signal and never
 * removes it, so a follow that shared one signal across its status polls gained one per second
 * (Node's MaxListenersExceededWarning after 11 polls, and memory for as long as it ran).
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '@temporalio/client';
import { followRun } from '../../cli/commands/train';
import { taskQueues } from '../../common/activityContracts';
import { statusQuery } from '../../workflows/messages';
import { runWorkerProcess } from '../../workers/runWorkers';
import type { TrainingRunInput } from '../../workflows/trainingRun';
import { fixtureModel } from '../generation/fixtureModel';
import {
  connectTestTemporal,
  registerTestNamespace,
  uniqueName,
  type TestTemporal,
} from '../support/temporal';
import { tinyRunConfig } from '../support/tinyRun';

let temporal: TestTemporal;
let namespace: string;

before(async () => {
  temporal = await connectTestTemporal();
  // Its own namespace: the run waits there for a rollout worker that never comes.
  namespace = await registerTestNamespace(temporal.client, 'follow');
});
after(async () => {
  await temporal?.close();
});

test('following a run for 15 status polls adds no listeners that outlive their call', async () => {
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);
  process.on('warning', onWarning);
  let stopWorker!: () => void;
  // The workflow worker answers status queries; no rollout worker: the run stays in `preparing`.
  const worker = runWorkerProcess({
    roles: ['sandbox'],
    address: temporal.address,
    namespace,
    artifactRoot: mkdtempSync(join(tmpdir(), 'tirflow-follow-')),
    poolSize: 1,
    stopSignal: new Promise<void>((resolve) => (stopWorker = resolve)),
    log: () => undefined,
  });
  const client = new Client({ connection: temporal.client.connection, namespace });
  const runId = uniqueName('followed');
  try {
    const input: TrainingRunInput = { runId, config: tinyRunConfig((await fixtureModel()).hfDir) };
    await client.workflow.start('trainingRun', {
      taskQueue: taskQueues.workflows,
      workflowId: runId,
      args: [input],
    });
    // Follow only once the worker answers (it bundles the workflow code first): every poll of the
    // 15 s below is then a query that returns, about one a second.
    const handle = client.workflow.getHandle(runId);
    for (const deadline = Date.now() + 120_000; ;) {
      if (
        await handle.query(statusQuery).then(
          () => true,
          () => false,
        )
      )
        break;
      assert.ok(Date.now() < deadline, 'the workflow worker never answered a query');
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const lines: string[] = [];
    const detach = new Promise<void>((resolve) => setTimeout(resolve, 15_000));
    const outcome = await followRun(client, runId, (line) => lines.push(line), detach, namespace);
    assert.equal(outcome, 'detached');
    assert.ok(
      lines.some((line) => /preparing/.test(line)),
      `the follow printed the run's phase:\n${lines.join('\n')}`,
    );
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    assert.deepEqual(
      warnings.filter((w) => w.startsWith('MaxListenersExceededWarning')),
      [],
      'one abort listener per status poll on a shared signal',
    );
  } finally {
    process.off('warning', onWarning);
    await client.workflow
      .getHandle(runId)
      .terminate('test over')
      .catch(() => undefined);
    stopWorker();
    await worker;
  }
});

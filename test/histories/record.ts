/**
 * Records workflow histories for replay tests: runs each recorder against a real dev server
 * and writes the history JSON into test/histories/. Re-record only on purpose (a history is a
 * promise to running workflows):  npx tsx test/histories/record.ts harness|run
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { temporal } from '@temporalio/proto';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import * as harnessActivities from '../foundation/fixtures/harnessActivities';
import { harnessWorkflow, releaseSignal } from '../foundation/fixtures/harnessWorkflows';
import { projectRoot } from '../../activities/projectPaths';
import { taskQueues } from '../../common/activityContracts';
import { fixtureModel } from '../generation/fixtureModel';
import { startLocalWorker } from '../support/localWorker';
import { connectTestTemporal, uniqueName } from '../support/temporal';
import { tinyRunConfig } from '../support/tinyRun';

type Recorder = () => Promise<void>;

/** A 2-step tiny run (random fixture model) with evaluation, so every workflow type appears. */
async function recordTrainingRun(): Promise<void> {
  const temporal = await connectTestTemporal();
  const worker = startLocalWorker(temporal.address);
  try {
    const model = (await fixtureModel()).hfDir;
    const runId = 'recorded-run';
    const handle = await temporal.client.workflow.start('trainingRun', {
      taskQueue: taskQueues.workflows,
      workflowId: runId,
      args: [{ runId, config: tinyRunConfig(model, { evaluation: { every: 2, prompts: 2 } }) }],
    });
    await handle.result();
    write('trainingRun', await handle.fetchHistory());
    write(
      'rolloutShard',
      await temporal.client.workflow.getHandle(`${runId}/step-0001/shard-0`).fetchHistory(),
    );
    write('evaluate', await temporal.client.workflow.getHandle(`${runId}/eval-step-0002`).fetchHistory());
  } finally {
    await worker.stop();
    await temporal.close();
  }
}

const recorders: Record<string, Recorder> = {
  run: recordTrainingRun,
  async harness() {
    const temporal = await connectTestTemporal();
    try {
      const taskQueue = uniqueName('record-harness');
      const worker = await Worker.create({
        connection: temporal.workerConnection,
        taskQueue,
        workflowsPath: fileURLToPath(new URL('../foundation/fixtures/harnessWorkflows.ts', import.meta.url)),
        activities: harnessActivities,
      });
      const history = await worker.runUntil(async () => {
        const handle = await temporal.client.workflow.start(harnessWorkflow, {
          taskQueue,
          workflowId: 'recorded-harness',
          args: [40],
        });
        await handle.signal(releaseSignal, 2);
        await handle.result();
        return handle.fetchHistory();
      });
      write('harness', history);
    } finally {
      await temporal.close();
    }
  },
};

/**
 * Payloads name this machine's folders (project checkout, temp dirs); the workflows only pass
 * them on, so replay is indifferent to them. Replace them so committed files name no machine path.
 */
function anonymizePayloads(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(anonymizePayloads);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>).map(([key, v]) => {
    if (key === 'data' && typeof v === 'string') {
      const text = Buffer.from(v, 'base64').toString('utf8');
      const cleaned = text
        .split(projectRoot)
        .join('/project')
        .replace(new RegExp(`${tmpdir()}/tirflow-[\\w-]+`, 'g'), '/tmp/tirflow-fixture');
      return [key, Buffer.from(cleaned, 'utf8').toString('base64')];
    }
    return [key, anonymizePayloads(v)];
  });
  return Object.fromEntries(entries);
}

function write(name: string, history: temporal.api.history.v1.IHistory): void {
  const path = fileURLToPath(new URL(`./${name}.history.json`, import.meta.url));
  // Proto3 JSON, the format of `temporal workflow show --output json` and the Web UI download.
  const json = anonymizePayloads(JSON.parse(historyToJSON(history)));
  writeFileSync(path, JSON.stringify(json, null, 2) + '\n');
  console.log(`recorded ${path}`);
}

const names = process.argv.slice(2);
if (names.length === 0 || names.some((n) => !(n in recorders))) {
  console.error(`usage: npx tsx test/histories/record.ts ${Object.keys(recorders).join('|')} ...`);
  process.exit(2);
}
for (const name of names) await recorders[name]!();

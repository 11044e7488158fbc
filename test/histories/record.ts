/**
 * Records workflow histories for replay tests: runs each recorder against a real dev server
 * and writes the history JSON into test/histories/. Re-record only on purpose (a history is a
 * promise to running workflows):  npx tsx test/histories/record.ts harness
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { temporal } from '@temporalio/proto';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import * as harnessActivities from '../foundation/fixtures/harnessActivities';
import { harnessWorkflow, releaseSignal } from '../foundation/fixtures/harnessWorkflows';
import { connectTestTemporal, uniqueName } from '../support/temporal';

type Recorder = () => Promise<void>;

const recorders: Record<string, Recorder> = {
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

function write(name: string, history: temporal.api.history.v1.IHistory): void {
  const path = fileURLToPath(new URL(`./${name}.history.json`, import.meta.url));
  // Proto3 JSON, the format of `temporal workflow show --output json` and the Web UI download.
  writeFileSync(path, JSON.stringify(JSON.parse(historyToJSON(history)), null, 2) + '\n');
  console.log(`recorded ${path}`);
}

const names = process.argv.slice(2);
if (names.length === 0 || names.some((n) => !(n in recorders))) {
  console.error(`usage: npx tsx test/histories/record.ts ${Object.keys(recorders).join('|')} ...`);
  process.exit(2);
}
for (const name of names) await recorders[name]!();

/**
 * Recorded histories of the product workflows replay against today's code. A change that
 * would break runs already in flight fails here; put it behind patched() and re-record a
 * history with the patch (test/histories/record.ts run).
 */
import { test } from 'node:test';
import { Worker } from '@temporalio/worker';
import { workflowsPath } from '../../workers/runWorkers';
import { loadRecordedHistory } from '../support/replay';

for (const [name, workflowId] of [
  ['trainingRun', 'recorded-run'],
  ['rolloutShard', 'recorded-run/step-0001/shard-0'],
  ['evaluate', 'recorded-run/eval-step-0002'],
] as const) {
  test(`a recorded ${name} history replays against the workflow code`, async () => {
    await Worker.runReplayHistory({ workflowsPath }, loadRecordedHistory(name), workflowId);
  });
}

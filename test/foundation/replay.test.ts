/**
 * Replay needs exactly one protobufjs in node_modules (package.json pins it and overrides the
 * copies @temporalio/* would bring); with two, runReplayHistory fails with "type must be a Type".
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import { loadRecordedHistory, workflowsPath } from '../support/replay';

test('a recorded history replays against the workflow code', async () => {
  const history = loadRecordedHistory('harness');
  await Worker.runReplayHistory(
    { workflowsPath: workflowsPath('foundation/fixtures/harnessWorkflows.ts') },
    history,
    'recorded-harness',
  );
});

test('replay detects an incompatible change to the workflow', async () => {
  const history = loadRecordedHistory('harness');
  await assert.rejects(
    Worker.runReplayHistory(
      { workflowsPath: workflowsPath('foundation/fixtures/harnessWorkflowsChanged.ts') },
      history,
      'recorded-harness',
    ),
    (err: unknown) => err instanceof DeterminismViolationError,
  );
});

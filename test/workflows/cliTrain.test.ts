/** `tirflow train` and friends as a script sees them: exit codes and one clear message. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WorkflowNotFoundError } from '@temporalio/client';
import { runTirflow } from '../support/cli';
import { connectTestTemporal, uniqueName, type TestTemporal } from '../support/temporal';

let temporal: TestTemporal;
before(async () => {
  temporal = await connectTestTemporal();
});
after(async () => {
  await temporal?.close();
});

const dir = mkdtempSync(join(tmpdir(), 'tirflow-cli-'));
function configFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

test('an invalid config exits 2 naming each bad field, and starts no workflow', async () => {
  const runId = uniqueName('badcfg');
  const path = configFile(
    'bad.yaml',
    [
      'steps: two',
      'rollout:',
      '  toolBudget: -1',
      '  promptsPerStep: 6',
      '  shards: 4',
      'learningrate: 0.1',
      '',
    ].join('\n'),
  );
  const result = await runTirflow(['train', '-c', path, '--run-id', runId, '--address', temporal.address]);
  assert.equal(result.exitCode, 2);
  assert.match(result.stderr, /invalid config .*bad\.yaml/);
  assert.match(result.stderr, /steps: /);
  assert.match(result.stderr, /rollout\.toolBudget: /);
  assert.match(result.stderr, /Unrecognized key: "learningrate"/);
  await assert.rejects(temporal.client.workflow.getHandle(runId).describe(), WorkflowNotFoundError);

  // Cross-field rules are checked once every field is well-typed.
  const shards = configFile('shards.yaml', 'rollout:\n  promptsPerStep: 6\n  shards: 4\n');
  const uneven = await runTirflow(['train', '-c', shards, '--run-id', runId, '--address', temporal.address]);
  assert.equal(uneven.exitCode, 2);
  assert.match(uneven.stderr, /rollout\.shards: 6 prompts per step do not divide into 4 equal shards/);
  await assert.rejects(temporal.client.workflow.getHandle(runId).describe(), WorkflowNotFoundError);
});

test('malformed YAML and a missing config file are one clear line each', async () => {
  const malformed = await runTirflow([
    'train',
    '-c',
    configFile('broken.yaml', 'steps: [1, 2\n'),
    '--address',
    temporal.address,
  ]);
  assert.equal(malformed.exitCode, 2);
  assert.match(malformed.stderr, /not valid YAML\/JSON/);
  const missing = await runTirflow(['train', '-c', join(dir, 'nope.yaml'), '--address', temporal.address]);
  assert.equal(missing.exitCode, 2);
  assert.match(missing.stderr, /cannot read the file: ENOENT/);
});

test('status of an unknown run exits 2; an unreachable Temporal exits 3', async () => {
  const unknown = await runTirflow(['status', 'no-such-run', '--address', temporal.address]);
  assert.equal(unknown.exitCode, 2);
  assert.match(unknown.stderr, /no run with id no-such-run/);
  const unreachable = await runTirflow(['runs', '--address', '127.0.0.1:1']);
  assert.equal(unreachable.exitCode, 3);
  assert.match(unreachable.stderr, /cannot reach Temporal at 127\.0\.0\.1:1/);
});

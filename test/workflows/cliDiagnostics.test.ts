/**
 * What the CLI tells an operator when nothing is listening, and how it behaves in pipes: in a
 * namespace where no worker polls, `train` warns instead of waiting in silence and `status`
 * names the queues without pollers and shows what the artifact store knows, without hanging on
 * a query; `| head` does not crash; a misspelt config key gets a suggestion; `grade` exits 2 on
 * bad input.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '@temporalio/client';
import { execa } from 'execa';
import { fixtureModel } from '../generation/fixtureModel';
import { runTirflow, tirflowBin } from '../support/cli';
import {
  connectTestTemporal,
  registerTestNamespace,
  uniqueName,
  type TestTemporal,
} from '../support/temporal';
import { tinyRunConfig } from '../support/tinyRun';

let temporal: TestTemporal;
let namespace: string;
const dir = mkdtempSync(join(tmpdir(), 'tirflow-diagnostics-'));

before(async () => {
  temporal = await connectTestTemporal();
  // A namespace no worker has ever polled: every tirflow queue in it is empty of pollers.
  namespace = await registerTestNamespace(temporal.client, 'lonely');
});
after(async () => {
  await temporal?.close();
});

test('with no worker: train warns about the unpolled queues; status diagnoses without hanging', async () => {
  const runId = uniqueName('nobody');
  const config = join(dir, 'tiny.json');
  writeFileSync(config, JSON.stringify(tinyRunConfig((await fixtureModel()).hfDir)));
  const cluster = ['--address', temporal.address, '--namespace', namespace, '--artifacts', dir];

  // Its output goes to a file the test reads as it grows (the command runs until detached).
  const log = join(dir, 'train.log');
  const train = execa(process.execPath, [tirflowBin, 'train', '-c', config, '--run-id', runId, ...cluster], {
    stdout: { file: log },
    stderr: { file: `${log}.err` },
    reject: false,
    // Its own process group, so Ctrl-C reaches it as a terminal delivers it.
    detached: true,
  });
  const output = (): string => (existsSync(log) ? readFileSync(log, 'utf8') : '');
  const deadline = Date.now() + 120_000;
  while (!/warning: no worker polls tirflow-workflows/.test(output())) {
    assert.equal(train.exitCode, null, output());
    assert.ok(Date.now() < deadline, `no warning in:\n${output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  process.kill(-train.pid!, 'SIGINT'); // Ctrl-C detaches; the run stays
  const detached = await train;
  assert.equal(detached.exitCode, 0, output());
  assert.match(output(), /Detached\. The run goes on/);

  const status = await runTirflow(['status', runId, ...cluster]);
  assert.equal(status.exitCode, 0, status.all);
  assert.match(status.stdout, new RegExp(`${runId}: running \\(no worker answered the status query\\)`));
  for (const queue of ['workflows', 'rollout', 'sandbox', 'reward', 'trainer'])
    assert.match(status.stdout, new RegExp(`no worker polls tirflow-${queue}`));
  const json = JSON.parse((await runTirflow(['status', runId, '--json', ...cluster])).stdout) as {
    workflowStatus: string;
    missingPollers: string[];
  };
  assert.equal(json.workflowStatus, 'RUNNING');
  assert.equal(json.missingPollers.length, 5);

  // A failed (here: terminated) run names its reason and the way on.
  const client = new Client({ connection: temporal.client.connection, namespace });
  await client.workflow.getHandle(runId).terminate('disk on fire');
  const closed = await runTirflow(['status', runId, ...cluster]);
  assert.equal(closed.exitCode, 0, closed.all);
  assert.match(closed.stdout, new RegExp(`${runId}: terminated at `));
  assert.match(closed.stdout, /reason: disk on fire/);
  assert.match(closed.stdout, new RegExp(`tirflow train --resume --run-id ${runId}`));
});

test('output into a closed pipe ends quietly', async () => {
  // More than a pipe holds (each line is rejected on stderr), read by a `head -1` that leaves.
  const input = join(dir, 'many.jsonl');
  writeFileSync(input, `${JSON.stringify({ id: 'no-pred-or-ref' })}\n`.repeat(5000));
  const result = await execa(
    'bash',
    [
      '-o',
      'pipefail',
      '-c',
      `"${process.execPath}" "${tirflowBin}" grade --jsonl "${input}" 2>&1 >/dev/null | head -1`,
    ],
    { reject: false },
  );
  // The command's own exit code (2: its input has bad lines), not a crash on EPIPE.
  assert.equal(result.exitCode, 2, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, /^\{"line":1,"status":"error"/);
  assert.doesNotMatch(result.stderr, /EPIPE/);
});

test('a misspelt config key suggests the setting meant; grade exits 2 on bad input', async () => {
  const config = join(dir, 'typo.yaml');
  writeFileSync(config, 'rollout:\n  tempreature: 0.7\nlearningrate: 0.1\n');
  const train = await runTirflow(['train', '-c', config, '--address', temporal.address]);
  assert.equal(train.exitCode, 2);
  assert.match(train.stderr, /"tempreature": did you mean rollout\.temperature\?/);
  assert.match(train.stderr, /"learningrate": did you mean trainer\.learningRate\?/);

  const usage = await runTirflow(['grade', '--pred', '1']);
  assert.equal(usage.exitCode, 2);
  assert.match(usage.stderr, /--ref is required/);
  const missing = await runTirflow(['grade', '--jsonl', join(dir, 'no-such.jsonl')]);
  assert.equal(missing.exitCode, 2);
  assert.match(missing.stderr, /cannot read .*no-such\.jsonl: ENOENT/);
});

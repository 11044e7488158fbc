/**
 * A worker that starts before its server waits for it (saying so) instead of exiting, and a
 * writer killed mid-write leaves no temp file behind for good: the next worker sweeps it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { sweepDeadWriters } from '../../activities/artifactStore';
import { freePort, startDevServer } from '../../cli/devServer';
import { tirflowBin } from '../support/cli';

test('a worker started while Temporal is down waits with backoff, then connects when it comes up', async () => {
  const port = await freePort();
  const artifacts = mkdtempSync(join(tmpdir(), 'tirflow-early-worker-'));
  const worker = execa(
    process.execPath,
    [
      tirflowBin,
      'worker',
      '--role',
      'reward',
      '--pool-size',
      '1',
      '--address',
      `127.0.0.1:${port}`,
      '--artifacts',
      artifacts,
    ],
    { all: true, reject: false },
  );
  let output = '';
  worker.all?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const waitFor = async (pattern: RegExp, what: string): Promise<void> => {
    const deadline = Date.now() + 120_000;
    while (!pattern.test(output)) {
      assert.equal(worker.exitCode, null, `the worker exited while waiting for ${what}:\n${output}`);
      assert.ok(Date.now() < deadline, `never saw ${what}:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  let server;
  try {
    await waitFor(
      /Temporal at 127\.0\.0\.1:\d+ is unreachable .* retrying in \d+ s \(attempt 2\)/,
      'a second attempt',
    );
    server = await startDevServer({ port });
    await waitFor(/tirflow worker up: roles reward/, 'the worker coming up');
  } finally {
    worker.kill('SIGTERM');
    await worker;
    await server?.stop();
  }
});

test('the sweep removes temp files of dead writers on this host and keeps live and recent ones', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tirflow-sweep-'));
  const dir = join(root, 'runs', 'r', 'steps', '0001');
  mkdirSync(dir, { recursive: true });
  const dead = (await execa('bash', ['-c', 'echo $$'])).stdout.trim(); // a process that has exited
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, '_');
  const files = {
    deadHere: `turn-00.generated.jsonl.tmp-${host}~${dead}-a1b2c3d4`,
    liveHere: `turn-01.generated.jsonl.tmp-${host}~${process.pid}-a1b2c3d4`,
    otherHost: `turn-02.generated.jsonl.tmp-other-host~${dead}-a1b2c3d4`,
    untaggedOld: `scored.jsonl.tmp-${dead}-deadbeef`,
    untaggedRecent: `metrics.jsonl.tmp-${dead}-deadbeef`,
    artifact: 'turn-00.generated.jsonl',
  };
  for (const name of Object.values(files)) writeFileSync(join(dir, name), 'x');
  const checkpointTemp = join(root, 'runs', 'r', 'checkpoints', `step-0002.tmp-${dead}`);
  mkdirSync(join(checkpointTemp, 'hf'), { recursive: true });
  writeFileSync(join(checkpointTemp, 'hf', 'model.safetensors'), 'partial');
  const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
  utimesSync(join(dir, files.untaggedOld), twoHoursAgo, twoHoursAgo);
  utimesSync(checkpointTemp, twoHoursAgo, twoHoursAgo);

  const removed = await sweepDeadWriters(root);
  assert.deepEqual(
    readdirSync(dir).sort(),
    [files.liveHere, files.otherHost, files.untaggedRecent, files.artifact].sort(),
  );
  assert.deepEqual(readdirSync(join(root, 'runs', 'r', 'checkpoints')), []);
  assert.equal(removed.length, 3);
});

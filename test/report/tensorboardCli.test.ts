/** `tirflow tensorboard`: a run's metrics become event files; a run without metrics exits 2. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { artifactKeys } from '../../common/artifactKeys';
import { runTirflow } from '../support/cli';

test('writes one event folder per run and says how to view it', async () => {
  const artifacts = mkdtempSync(join(tmpdir(), 'tirflow-tb-'));
  const metrics = join(artifacts, artifactKeys.metrics('run-a'));
  mkdirSync(join(metrics, '..'), { recursive: true });
  writeFileSync(metrics, JSON.stringify({ step: 1, policyVersion: 1, rollout: { accuracy: 0.5 } }) + '\n');
  const result = await runTirflow(['tensorboard', 'run-a', '--artifacts', artifacts]);
  assert.equal(result.exitCode, 0, result.all);
  assert.match(result.stdout, /run-a: 1 steps →/);
  assert.match(result.stdout, /tensorboard --logdir .*tensorboard/);
  const files = readdirSync(join(artifacts, 'tensorboard', 'run-a'));
  assert.equal(files.filter((f) => f.startsWith('events.out.tfevents.')).length, 1);

  const missing = await runTirflow(['tensorboard', 'no-such-run', '--artifacts', artifacts]);
  assert.equal(missing.exitCode, 2);
  assert.match(missing.stderr, /no metrics for run no-such-run/);
});

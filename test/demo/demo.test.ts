/**
 * `tirflow demo` CI-sized: the real command on the shipped tiny model, shrunk to one step per
 * run and two seeds, against the test's dev server. It checks that the loop turns (every run
 * records its step and both evaluations), that each seed's report renders in headless Chromium
 * with drawn charts, and that the scaling-law tables cover both seeds. No learning is asserted:
 * one step on a handful of prompts cannot show any (the README's numbers come from the full run).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { projectRoot } from '../../activities/projectPaths';
import { artifactKeys } from '../../common/artifactKeys';
import { measureCharts } from '../support/chromium';
import { runTirflow } from '../support/cli';
import { connectTestTemporal, type TestTemporal } from '../support/temporal';

let temporal: TestTemporal;
let scratch: string;

before(async () => {
  temporal = await connectTestTemporal();
  scratch = await mkdtemp(join(tmpdir(), 'tirflow-demo-'));
});
after(async () => {
  await temporal.close();
  await rm(scratch, { recursive: true, force: true });
});

test('the demo runs ZeroTIR and ZeroRL per seed, writes rendering reports and the findings over seeds', async () => {
  const config = join(scratch, 'demo-ci.yaml');
  await writeFile(
    config,
    stringify({
      model: join(projectRoot, 'models/tiny-base'),
      data: {
        train: join(projectRoot, 'data/tasks/train.jsonl'),
        validation: join(projectRoot, 'data/tasks/validation.jsonl'),
      },
      steps: 1,
      rollout: { promptsPerStep: 4, samplesPerPrompt: 2, shards: 2, maxResponseTokens: 96 },
      evaluation: { every: 1, prompts: 10 },
    }),
  );
  const artifacts = join(scratch, 'artifacts');
  const port = temporal.address.split(':').at(-1)!;
  const result = await runTirflow([
    'demo',
    '-c',
    config,
    '--seeds',
    '1,2',
    '--port',
    port,
    '--artifacts',
    artifacts,
  ]);
  assert.equal(result.exitCode, 0, result.all);

  const started = [...result.stdout.matchAll(/^== (ZeroTIR|ZeroRL \(no tool\)), seed (\d+): run (\S+)/gm)];
  assert.deepEqual(
    started.map((m) => `${m[1]} ${m[2]}`),
    ['ZeroTIR 1', 'ZeroRL (no tool) 1', 'ZeroTIR 2', 'ZeroRL (no tool) 2'],
  );
  const runIds = started.map((m) => m[3]!);
  assert.equal(new Set(runIds).size, 4, 'each run has its own id');
  assert.deepEqual(
    runIds.map((id) => id.replace(/^(zerotir|zerorl)-\d{8}-\d{6}-/, '$1-')),
    ['zerotir-seed1', 'zerorl-seed1', 'zerotir-seed2', 'zerorl-seed2'],
  );

  for (const runId of runIds) {
    const metrics = (await readFile(join(artifacts, artifactKeys.metrics(runId)), 'utf8')).trim().split('\n');
    assert.equal(metrics.length, 1, `${runId}: one training step recorded`);
    for (const step of [0, 1])
      assert.ok(
        existsSync(join(artifacts, artifactKeys.evaluation(runId, step, 'validation'))),
        `${runId}: validation at step ${step}`,
      );
  }

  const reports = [...result.stdout.matchAll(/^Report: (\S+report\.html)/gm)].map((m) => m[1]!);
  assert.equal(reports.length, 2, 'one report per seed');
  for (const report of reports) {
    const charts = await measureCharts(report, scratch);
    assert.ok(charts.length >= 4, `${report}: charts in the page`);
    for (const chart of charts) {
      assert.ok(chart.width > 0 && chart.height > 0, `${chart.id} lays out`);
      assert.ok(
        Object.values(chart.drawn).some((n) => n > 0),
        `${chart.id} draws marks`,
      );
    }
  }

  // The seed table (code ratio, hard-level accuracy, margin): 9 columns; the trend table repeats the ids.
  const seedRows = result.stdout
    .split('\n')
    .filter((line) => line.startsWith('| zerotir-') && line.split('|').length === 10);
  assert.deepEqual(
    seedRows.map((line) => line.split('|')[1]!.trim()),
    [runIds[0], runIds[2]],
  );
  assert.ok(
    result.stdout.includes(`npx tirflow scaling-law ${runIds[0]}:${runIds[1]} ${runIds[2]}:${runIds[3]}`),
    'says how to recheck the findings',
  );
});

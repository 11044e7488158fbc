/**
 * `tirflow scaling-law`: the paper's findings over seed pairs, on synthetic runs in a temp store.
 * The numbers are recomputed here from what the runs wrote; the exit code says whether every
 * finding held in every seed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalDirArtifactStore } from '../../activities/artifactStore';
import { spearman, spearmanTest } from '../../activities/report/correlation';
import { loadRun } from '../../activities/report/runData';
import {
  SCALING_LAW_TARGETS,
  type SeedOutcome,
  scalingLawFindings,
  seedOutcome,
  spread,
} from '../../activities/report/scalingLaw';
import { HARD_LEVELS } from '../../data/levels';
import { runTirflow } from '../support/cli';
import { type WrittenRun, writeSyntheticRun } from './syntheticRuns';

const hardMean = (byLevel: Record<string, number>): number =>
  HARD_LEVELS.reduce((sum, level) => sum + byLevel[level]!, 0) / HARD_LEVELS.length;

describe('scaling-law findings', () => {
  let root: string;
  const runs: Record<string, WrittenRun> = {};

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tirflow-scaling-'));
    for (const [runId, template, steps] of [
      ['tir-1', 'tool', 12],
      ['rl-1', 'noTool', 12],
      ['tir-2', 'tool', 8],
      ['rl-2', 'noTool', 8],
    ] as const)
      runs[runId] = await writeSyntheticRun(root, { runId, template, steps, evaluateEvery: 4 });
    await writeSyntheticRun(root, { runId: 'tir-noeval', template: 'tool', steps: 5, evaluateEvery: 0 });
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('computes each seed from the runs it names', async () => {
    const store = new LocalDirArtifactStore(root);
    const outcome = seedOutcome(await loadRun(store, 'tir-1'), await loadRun(store, 'rl-1'));
    const tir = runs['tir-1']!;
    const rl = runs['rl-1']!;
    assert.equal(outcome.steps, 12);
    const steps = tir.records.map((r) => r.step);
    assert.deepEqual(
      outcome.trends.responseLength,
      spearmanTest(
        steps,
        tir.records.map((r) => r.rollout.responseTokens.mean),
      ),
    );
    assert.equal(
      outcome.trends.accuracy.rho,
      spearman(
        steps,
        tir.records.map((r) => r.rollout.accuracy),
      ),
    );
    assert.equal(outcome.codeRatio.first, tir.records[0]!.rollout.codeRatio);
    assert.equal(outcome.codeRatio.last, tir.records.at(-1)!.rollout.codeRatio);
    assert.equal(outcome.hardAccuracy.first, hardMean(tir.evaluations.get(0)!.accuracyByLevel));
    assert.equal(outcome.hardAccuracy.last, hardMean(tir.evaluations.get(12)!.accuracyByLevel));
    assert.equal(outcome.baselineHardAccuracy, hardMean(rl.evaluations.get(12)!.accuracyByLevel));
    assert.equal(outcome.hardMarginOverBaseline, outcome.hardAccuracy.last - outcome.baselineHardAccuracy);
    assert.equal(
      outcome.accuracyCodeSpearman,
      spearman(
        tir.records.map((r) => r.rollout.accuracy),
        tir.records.map((r) => r.rollout.codeRatio),
      ),
    );
  });

  it('a finding holds only when every seed meets it', () => {
    const base: SeedOutcome = {
      tool: 'a',
      baseline: 'b',
      steps: 30,
      codeRatio: { first: 0.04, last: 0.9 },
      responseTokens: { first: 58, last: 62 },
      hardAccuracy: { first: 0.0, last: 0.5 },
      accuracyCodeSpearman: 0.8,
      accuracyCodePValue: 0.001,
      trends: {
        accuracy: { rho: 0.9, pValue: 0.001, n: 30 },
        codeRatio: { rho: 0.95, pValue: 0.0001, n: 30 },
        responseLength: { rho: 0.5, pValue: 0.01, n: 30 },
      },
      baselineHardAccuracy: 0.05,
      hardMarginOverBaseline: 0.45,
    };
    const justUnder = {
      ...base,
      codeRatio: { first: 0.04, last: SCALING_LAW_TARGETS.finalCodeRatio - 0.01 },
    };
    const noBaseline = { ...base, baseline: null, baselineHardAccuracy: null, hardMarginOverBaseline: null };
    const byName = (outcomes: SeedOutcome[]) =>
      Object.fromEntries(scalingLawFindings(outcomes).map((f) => [f.name, f.holds]));
    assert.deepEqual(Object.values(byName([base, base])), [true, true, true, true, true, true, true]);
    // A trend holds only with rho > 0 at p < 0.05 in every seed: a rising but noisy one does not.
    const noisyLength = {
      ...base,
      trends: { ...base.trends, responseLength: { rho: 0.3, pValue: 0.2, n: 30 } },
    };
    const fallingLength = {
      ...base,
      trends: { ...base.trends, responseLength: { rho: -0.6, pValue: 0.001, n: 30 } },
    };
    assert.equal(byName([base, noisyLength])['response length rises with the step'], false);
    assert.equal(byName([base, fallingLength])['response length rises with the step'], false);
    assert.equal(byName([base, noisyLength])['code ratio rises with the step'], true);
    assert.equal(byName([base, justUnder])['final code ratio'], false);
    assert.equal(byName([base, noBaseline])['hard-level margin over ZeroRL'], false);
    assert.equal(byName([base, noBaseline])['final code ratio'], true);
  });

  it('spreads are the mean, sample sd and range', () => {
    const s = spread([0.5, 0.7, 0.9])!;
    assert.ok(Math.abs(s.mean - 0.7) < 1e-12);
    assert.ok(Math.abs(s.sd - 0.2) < 1e-12);
    assert.deepEqual([s.min, s.max, s.n], [0.5, 0.9, 3]);
    assert.equal(spread([0.3])!.sd, 0);
    assert.equal(spread([]), null);
  });

  it('the command prints one row per seed, writes the tables and exits 0 when every finding holds', async () => {
    const out = join(root, 'summary');
    const result = await runTirflow([
      'scaling-law',
      'tir-1:rl-1',
      'tir-2:rl-2',
      '--artifacts',
      root,
      '--out',
      out,
    ]);
    assert.equal(result.exitCode, 0, result.all);
    const markdown = await readFile(join(out, 'scaling-law.md'), 'utf8');
    assert.ok(result.stdout.includes(markdown.trim()), 'prints what it writes');
    const seedRows = markdown
      .split('\n\n')[0]!
      .split('\n')
      .filter((line) => /^\| tir-\d /.test(line));
    assert.deepEqual(
      seedRows.map((line) => line.split('|')[1]!.trim()),
      ['tir-1', 'tir-2'],
    );
    const json = JSON.parse(await readFile(join(out, 'scaling-law.json'), 'utf8')) as {
      findings: { name: string; holds: boolean; perSeed: (number | null)[] }[];
    };
    assert.equal(json.findings.length, 7);
    // The trends of the paper's picture, with p-values, and thresholds named as the demo's.
    assert.match(markdown, /\| tir-1 \| 0\.\d\d \(p [<\d.]/);
    assert.match(markdown, /\| finding \| the demo's target \|/);
    assert.ok(json.findings.every((f) => f.holds && f.perSeed.length === 2));
  });

  it('exits 1 when a finding cannot be shown (no baseline), 2 on bad pairs and unknown runs', async () => {
    const lone = await runTirflow(['scaling-law', 'tir-1', '--artifacts', root, '--out', join(root, 'lone')]);
    assert.equal(lone.exitCode, 1, lone.all);
    assert.match(lone.stdout, /hard-level margin over ZeroRL \| .* \| n\/a \| no \|/);
    for (const args of [['tir-1:rl-1:x'], ['rl-1:tir-1'], ['tir-1:nope'], ['tir-noeval:rl-1']]) {
      const bad = await runTirflow(['scaling-law', ...args, '--artifacts', root, '--out', join(root, 'bad')]);
      assert.equal(bad.exitCode, 2, `${args.join(' ')}: ${bad.all}`);
      assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    }
  });
});

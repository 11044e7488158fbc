/**
 * `tirflow report` as a user runs it, on synthetic runs in a temp artifact store: the files it
 * writes, valid PNGs, and the page opened in headless Chromium, where every chart must lay out
 * with drawn marks and the correlation and per-level tables must show the runs' numbers.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Resvg } from '@resvg/resvg-js';
import { spearman, pearson } from '../../activities/report/correlation';
import { formatCorrelation, formatShare } from '../../activities/report/html';
import { dumpDom, measureCharts } from '../support/chromium';
import { runTirflow } from '../support/cli';
import { type WrittenRun, writeSyntheticRun } from './syntheticRuns';

const CHART_IDS = [
  'code-ratio',
  'response-length',
  'training-accuracy',
  'validation-accuracy',
  'execution-status',
];
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Cell texts (tags stripped) of each body row of the table with this id. */
function tableRows(dom: string, id: string): string[][] {
  const table = new RegExp(`<table id="${id}">([\\s\\S]*?)</table>`).exec(dom);
  assert.ok(table, `table #${id} is in the page`);
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(table[1]!)![1]!;
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) =>
    [...row[1]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((cell) =>
      cell[1]!
        .replace(/<[^>]+>/g, '')
        .replace(/\s+/g, ' ')
        .trim(),
    ),
  );
}

function pngSize(png: Buffer): { width: number; height: number } {
  assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE, 'PNG signature');
  assert.equal(png.subarray(12, 16).toString('ascii'), 'IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe('tirflow report', () => {
  let root: string;
  let tir: WrittenRun;
  let rl: WrittenRun;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tirflow-report-'));
    tir = await writeSyntheticRun(root, { runId: 'tir-a', template: 'tool', steps: 12, evaluateEvery: 4 });
    rl = await writeSyntheticRun(root, { runId: 'rl-b', template: 'noTool', steps: 12, evaluateEvery: 4 });
    await writeSyntheticRun(root, { runId: 'tir-noeval', template: 'tool', steps: 5, evaluateEvery: 0 });
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes a self-contained page whose charts render in Chromium, with the runs’ numbers', async () => {
    const result = await runTirflow(['report', 'tir-a', 'rl-b', '--artifacts', root]);
    assert.equal(result.exitCode, 0, String(result.all));
    const outDir = join(root, 'reports', 'tir-a+rl-b');
    const htmlPath = join(outDir, 'report.html');
    assert.equal(String(result.stdout).trim(), htmlPath, 'prints the report’s path');
    assert.deepEqual(
      (await readdir(outDir)).sort(),
      [...CHART_IDS.map((id) => `${id}.png`), 'report.html'].sort(),
    );

    const html = await readFile(htmlPath, 'utf8');
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|src=/i, 'nothing loaded from elsewhere');
    for (const id of CHART_IDS) assert.match(html, new RegExp(`href="${id}\\.png">${id}\\.png</a>`));

    // PNGs: valid, twice the chart's SVG size, and far from a blank image of that size.
    for (const id of CHART_IDS) {
      const png = await readFile(join(outDir, `${id}.png`));
      const size = pngSize(png);
      const svg = new RegExp(`<figure id="chart-${id}">\\s*<svg[^>]* width="(\\d+)" height="(\\d+)"`).exec(
        html,
      );
      assert.ok(svg, `chart ${id} is inline SVG`);
      assert.deepEqual(size, { width: 2 * Number(svg[1]), height: 2 * Number(svg[2]) }, `${id}.png size`);
      const blank = new Resvg(
        `<svg xmlns="http://www.w3.org/2000/svg" width="${svg[1]}" height="${svg[2]}"><rect width="100%" height="100%" fill="white"/></svg>`,
        { fitTo: { mode: 'zoom', value: 2 }, background: 'white' },
      )
        .render()
        .asPng();
      assert.ok(png.length > 4 * blank.length, `${id}.png (${png.length} B) holds a drawing, not a blank`);
    }

    // Rendered by a browser: every chart laid out, with drawn data marks.
    const measured = await measureCharts(htmlPath, root);
    assert.deepEqual(
      measured.map((m) => m.id),
      CHART_IDS.map((id) => `chart-${id}`),
    );
    const byId = new Map(measured.map((m) => [m.id.slice('chart-'.length), m]));
    for (const m of measured) {
      assert.ok(m.width > 100 && m.height > 100, `${m.id} is laid out (${m.width}×${m.height})`);
      assert.match(m.text, /ZeroTIR \(tir-a\)/, `${m.id} names the ZeroTIR run`);
    }
    for (const id of ['code-ratio', 'response-length', 'training-accuracy', 'validation-accuracy']) {
      const m = byId.get(id)!;
      assert.equal(m.drawn.line, 2, `${id}: one line per run`);
      assert.match(m.text, /ZeroRL \(rl-b\)/, `${id}: legend names the ZeroRL run`);
    }
    // Validation points: one per evaluation, step 0 included.
    assert.equal(byId.get('validation-accuracy')!.drawn.symbol, tir.evaluations.size + rl.evaluations.size);
    // Sandbox outcomes: one visible bar segment per (step, outcome) that happened; ZeroRL has none.
    const segments = [...tir.records, ...rl.records]
      .flatMap((r) => Object.values(r.rollout.executions))
      .filter((n) => n > 0).length;
    assert.ok(segments > 0);
    assert.equal(byId.get('execution-status')!.drawn.rect, segments);

    const dom = await dumpDom(htmlPath);
    // Correlations over steps: both statistics, both pairs, per run.
    const accuracy = (w: WrittenRun) => w.records.map((r) => r.rollout.accuracy);
    const codeRatio = (w: WrittenRun) => w.records.map((r) => r.rollout.codeRatio);
    const length = (w: WrittenRun) => w.records.map((r) => r.rollout.responseTokens.mean);
    const rows = tableRows(dom, 'correlations');
    assert.deepEqual(rows, [
      [
        'ZeroTIR (tir-a)',
        '12',
        formatCorrelation(spearman(accuracy(tir), codeRatio(tir))),
        formatCorrelation(pearson(accuracy(tir), codeRatio(tir))),
        formatCorrelation(spearman(accuracy(tir), length(tir))),
        formatCorrelation(pearson(accuracy(tir), length(tir))),
      ],
      [
        'ZeroRL (rl-b)',
        '12',
        'n/a', // the code ratio of a run without tools is constant
        'n/a',
        formatCorrelation(spearman(accuracy(rl), length(rl))),
        formatCorrelation(pearson(accuracy(rl), length(rl))),
      ],
    ]);
    assert.ok(Number(rows[0]![2]) > 0.5, 'the synthetic ZeroTIR run’s accuracy rises with its code ratio');

    // Headline: steps, code ratio and validation accuracy first → last.
    const headline = tableRows(dom, 'headline');
    const firstEval = (w: WrittenRun) => w.evaluations.get(0)!.accuracy;
    const lastEval = (w: WrittenRun) => w.evaluations.get(12)!.accuracy;
    assert.equal(headline[0]![2], '12');
    assert.equal(
      headline[0]![3],
      `${formatShare(codeRatio(tir)[0]!)} → ${formatShare(codeRatio(tir).at(-1)!)} (step 1 → 12)`,
    );
    assert.equal(
      headline[0]![4],
      `${formatShare(firstEval(tir))} → ${formatShare(lastEval(tir))} (step 0 → 12)`,
    );
    assert.equal(
      headline[1]![4],
      `${formatShare(firstEval(rl))} → ${formatShare(lastEval(rl))} (step 0 → 12)`,
    );

    // Final validation accuracy per level: levels as rows, ZeroTIR and ZeroRL as columns.
    const finalTir = tir.evaluations.get(12)!.accuracyByLevel;
    const finalRl = rl.evaluations.get(12)!.accuracyByLevel;
    assert.deepEqual(tableRows(dom, 'levels'), [
      ...Object.keys(finalTir).map((level) => [
        level,
        formatShare(finalTir[level]!),
        formatShare(finalRl[level]!),
      ]),
      ['all', formatShare(lastEval(tir)), formatShare(lastEval(rl))],
    ]);
  });

  it('renders a run without evaluations, saying so, under --label and --out', async () => {
    const out = join(root, 'custom-out');
    const result = await runTirflow([
      'report',
      'tir-noeval',
      '--artifacts',
      root,
      '--out',
      out,
      '--label',
      'tir-noeval=Tool run, no eval',
    ]);
    assert.equal(result.exitCode, 0, String(result.all));
    assert.equal(String(result.stdout).trim(), join(out, 'report.html'));
    const measured = await measureCharts(join(out, 'report.html'), root);
    const validation = measured.find((m) => m.id === 'chart-validation-accuracy')!;
    assert.match(validation.text, /no evaluations/);
    assert.equal(validation.drawn.line, undefined, 'no validation line is drawn');
    const codeRatio = measured.find((m) => m.id === 'chart-code-ratio')!;
    assert.equal(codeRatio.drawn.line, 1);
    assert.match(codeRatio.text, /Tool run, no eval/);
    const dom = await dumpDom(join(out, 'report.html'));
    assert.match(dom, /No evaluations: no per-level accuracy to show/);
    assert.equal(tableRows(dom, 'headline')[0]![4], 'none');
  });

  it('exits 2 naming an unknown run and the artifacts dir, and writes nothing', async () => {
    const result = await runTirflow(['report', 'tir-a', 'no-such-run', '--artifacts', root]);
    assert.equal(result.exitCode, 2, String(result.all));
    const lines = String(result.stderr).trim().split('\n');
    assert.equal(lines.length, 1, String(result.stderr));
    assert.match(lines[0]!, /unknown run "no-such-run"/);
    assert.ok(lines[0]!.includes(root), 'names the artifacts dir');
    assert.equal(String(result.stdout), '');
    assert.equal(existsSync(join(root, 'reports', 'tir-a+no-such-run')), false);
  });

  it('exits 2 when --label names a run that is not reported', async () => {
    const result = await runTirflow(['report', 'tir-a', '--artifacts', root, '--label', 'rl-b=Baseline']);
    assert.equal(result.exitCode, 2, String(result.all));
    assert.match(String(result.stderr), /--label names run "rl-b", which is not reported/);
  });
});

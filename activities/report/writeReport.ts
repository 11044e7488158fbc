/**
 * `writeReport`: the runs' metrics and evaluations from the artifact store → one self-contained
 * report.html plus a PNG of each chart, in one output folder. Reads only files, so it works on a
 * finished run, a running one, or a copy of the artifacts on another machine.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ArtifactStore } from '../artifactStore';
import { reportCharts } from './charts';
import { type RenderedChart, reportHtml } from './html';
import { renderSvg, svgToPng } from './render';
import { loadRun, ReportInputError, type RunData } from './runData';
import { summarizeRun } from './summary';

export interface ReportRequest {
  store: ArtifactStore;
  runIds: string[];
  /** Display names by run id; the rest get "ZeroTIR (id)" / "ZeroRL (id)". */
  labels?: Record<string, string>;
  outDir: string;
}

export interface WrittenReport {
  htmlPath: string;
  pngPaths: string[];
  runs: RunData[];
}

/** Where a report goes unless told: <artifacts>/reports/<run1>+<run2>… */
export const defaultReportDir = (artifactRoot: string, runIds: readonly string[]): string =>
  join(artifactRoot, 'reports', runIds.join('+'));

export const REPORT_FILE = 'report.html';

export async function writeReport(request: ReportRequest): Promise<WrittenReport> {
  const { store, runIds, labels = {} } = request;
  if (runIds.length === 0) throw new ReportInputError('no runs to report');
  const repeated = runIds.find((id, i) => runIds.indexOf(id) !== i);
  if (repeated !== undefined) throw new ReportInputError(`run "${repeated}" is named twice`);
  const unused = Object.keys(labels).find((id) => !runIds.includes(id));
  if (unused !== undefined)
    throw new ReportInputError(`--label names run "${unused}", which is not reported`);

  const runs: RunData[] = [];
  for (const runId of runIds) runs.push(await loadRun(store, runId, labels[runId]));
  const labelClash = runs.find((run, i) => runs.findIndex((r) => r.label === run.label) !== i);
  if (labelClash !== undefined) {
    throw new ReportInputError(`two runs are labelled "${labelClash.label}": give each a distinct --label`);
  }

  const outDir = resolve(request.outDir);
  await mkdir(outDir, { recursive: true });
  const charts: RenderedChart[] = [];
  const pngPaths: string[] = [];
  for (const chart of reportCharts(runs)) {
    const svg = await renderSvg(chart.spec);
    const pngFile = `${chart.id}.png`;
    const pngPath = join(outDir, pngFile);
    await writeFile(pngPath, svgToPng(svg));
    pngPaths.push(pngPath);
    charts.push({ chart, svg, pngFile });
  }

  const html = reportHtml({
    title: `tirflow report: ${runs.map((r) => r.label).join(' vs ')}`,
    artifactRoot: store.root,
    summaries: runs.map(summarizeRun),
    charts,
  });
  // The page last and whole, so a reader never opens one that names PNGs not yet written.
  const htmlPath = join(outDir, REPORT_FILE);
  const temp = `${htmlPath}.tmp-${process.pid}`;
  await writeFile(temp, html);
  await rename(temp, htmlPath);
  return { htmlPath, pngPaths, runs };
}

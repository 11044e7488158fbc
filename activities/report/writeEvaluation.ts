/**
 * Writes a standalone evaluation's results next to the reports: results.md (the tables
 * `tirflow eval` prints), results.json (the record) and, for a tool-budget sweep, its chart as
 * tool-budget-sweep.png.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EvaluationRecord } from '../../common/activityContracts';
import { toolBudgetSweepChart } from './charts';
import { evaluationMarkdown } from './evaluationTables';
import { renderSvg, svgToPng } from './render';

export interface WrittenEvaluation {
  markdownPath: string;
  jsonPath: string;
  chartPath: string | null;
}

/** `<artifacts>/reports/<evaluation id>` unless the caller names a folder. */
export const defaultEvaluationDir = (artifactRoot: string, evaluationId: string): string =>
  join(artifactRoot, 'reports', evaluationId);

export async function writeEvaluation(record: EvaluationRecord, outDir: string): Promise<WrittenEvaluation> {
  await mkdir(outDir, { recursive: true });
  const markdownPath = join(outDir, 'results.md');
  const jsonPath = join(outDir, 'results.json');
  await writeFile(markdownPath, evaluationMarkdown(record));
  await writeFile(jsonPath, `${JSON.stringify(record, null, 1)}\n`);
  let chartPath: string | null = null;
  if (record.toolBudgets.length > 1) {
    const chart = toolBudgetSweepChart(record);
    chartPath = join(outDir, `${chart.id}.png`);
    await writeFile(chartPath, svgToPng(await renderSvg(chart.spec)));
  }
  return { markdownPath, jsonPath, chartPath };
}

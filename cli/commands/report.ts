/**
 * `tirflow report RUN [RUN…]`: the scaling-law report of finished (or running) runs, from the
 * artifact store alone: report.html (self-contained) and a PNG of each chart. Prints the page's
 * path. An unknown run or a bad --label exits 2 with one line.
 */
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { LocalDirArtifactStore } from '../../activities/artifactStore';
import { ReportInputError } from '../../activities/report/runData';
import { defaultReportDir, writeReport } from '../../activities/report/writeReport';
import { defaultArtifactRoot } from '../connection';
import { CliError, exitCodes } from '../exitCodes';

interface ReportOptions {
  artifacts: string;
  out?: string;
  label?: Record<string, string>;
}

/** Collects repeated `--label RUN=NAME` into a map. */
function collectLabel(value: string, labels: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  const runId = value.slice(0, eq);
  const name = value.slice(eq + 1).trim();
  if (eq <= 0 || name === '') throw new InvalidArgumentError(`"${value}" is not RUN=NAME.`);
  return { ...labels, [runId]: name };
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('Write the HTML report (and PNG charts) of one or more runs: code ratio, length, accuracy.')
    .argument('<runs...>', 'run ids, e.g. a ZeroTIR run and its ZeroRL baseline')
    .option('--artifacts <dir>', 'artifact store root (env TIRFLOW_ARTIFACTS)', defaultArtifactRoot())
    .option('--out <dir>', 'output folder (default: <artifacts>/reports/<run1>+<run2>…)')
    .option('--label <run=name>', 'display name of a run (repeatable)', collectLabel)
    .action(async (runIds: string[], opts: ReportOptions) => {
      const artifacts = resolve(opts.artifacts);
      try {
        const report = await writeReport({
          store: new LocalDirArtifactStore(artifacts),
          runIds,
          labels: opts.label,
          outDir: opts.out ?? defaultReportDir(artifacts, runIds),
        });
        console.log(report.htmlPath);
      } catch (err) {
        if (err instanceof ReportInputError) throw new CliError(err.message, exitCodes.badInput);
        throw err;
      }
    });
}

/**
 * `tirflow scaling-law TOOL_RUN[:BASELINE_RUN]…`: the paper's findings over seeds, from the
 * artifact store alone. One argument per seed: a ZeroTIR run and, after a colon, its ZeroRL
 * baseline. Prints the Markdown tables and writes them (and JSON) under the reports folder.
 * Exit 0 when every finding holds in every seed, 1 when one does not, 2 on bad input.
 */
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { LocalDirArtifactStore } from '../../activities/artifactStore';
import { ReportInputError } from '../../activities/report/runData';
import {
  type SeedPair,
  defaultScalingLawDir,
  writeScalingLaw,
} from '../../activities/report/writeScalingLaw';
import { defaultArtifactRoot } from '../connection';
import { CliError, exitCodes } from '../exitCodes';

export function parseSeedPair(value: string): SeedPair {
  const [tool, baseline, ...rest] = value.split(':');
  if (!tool || rest.length > 0 || baseline === '')
    throw new InvalidArgumentError(`"${value}" is not ZEROTIR_RUN or ZEROTIR_RUN:ZERORL_RUN.`);
  return { tool, baseline: baseline ?? null };
}

/** The argument `parseSeedPair` reads back. */
export const formatSeedPair = (pair: SeedPair): string =>
  pair.baseline === null ? pair.tool : `${pair.tool}:${pair.baseline}`;

/** Writes and prints the summary; returns whether every finding held. */
export async function printScalingLaw(
  artifacts: string,
  pairs: readonly SeedPair[],
  outDir?: string,
): Promise<boolean> {
  try {
    const written = await writeScalingLaw(
      new LocalDirArtifactStore(artifacts),
      pairs,
      outDir ?? defaultScalingLawDir(artifacts, pairs),
    );
    console.log(`\n${written.markdown}`);
    console.log(`Written to ${written.markdownPath} (and scaling-law.json)`);
    return written.findings.every((f) => f.holds);
  } catch (err) {
    if (err instanceof ReportInputError) throw new CliError(err.message, exitCodes.badInput);
    throw err;
  }
}

interface ScalingLawOptions {
  artifacts: string;
  out?: string;
}

export function registerScalingLaw(program: Command): void {
  program
    .command('scaling-law')
    .description(
      "Check the paper's findings over seeds against the demo's targets: code ratio, hard-level gain, Spearman,\n" +
        'margin over ZeroRL, and accuracy, code ratio and response length rising with the step (Spearman, p-value).',
    )
    .argument('<pairs...>', 'one per seed: ZEROTIR_RUN:ZERORL_RUN (or ZEROTIR_RUN alone)')
    .option('--artifacts <dir>', 'artifact store root (env TIRFLOW_ARTIFACTS)', defaultArtifactRoot())
    .option('--out <dir>', 'output folder (default: <artifacts>/reports/scaling-law-<first run>)')
    .action(async (values: string[], opts: ScalingLawOptions) => {
      let pairs: SeedPair[];
      try {
        pairs = values.map(parseSeedPair);
      } catch (err) {
        throw new CliError((err as Error).message, exitCodes.badInput);
      }
      const holds = await printScalingLaw(resolve(opts.artifacts), pairs, opts.out);
      if (!holds) process.exitCode = 1;
    });
}

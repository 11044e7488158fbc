/**
 * `tirflow tensorboard RUN [RUN...]`: each run's metrics.jsonl as TensorBoard event files (one
 * folder per run under --out), rewritten whole each time; `--follow` keeps them current while
 * the runs go on. View them with `tensorboard --logdir OUT` (TensorBoard itself is not a
 * dependency of tirflow: `pip install tensorboard`, or `uvx tensorboard --logdir OUT`).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { execa } from 'execa';
import { pythonProjectDir, requireVenvTool, venvPython } from '../../activities/projectPaths';
import { artifactKeys } from '../../common/artifactKeys';
import { defaultArtifactRoot } from '../connection';
import { CliError, exitCodes } from '../exitCodes';
import { parsePositiveInt } from '../options';

interface TensorboardOptions {
  artifacts: string;
  out?: string;
  follow?: boolean;
  every: number;
}

async function exportRun(artifacts: string, runId: string, out: string): Promise<number> {
  const metrics = join(artifacts, artifactKeys.metrics(runId));
  if (!existsSync(metrics))
    throw new CliError(`no metrics for run ${runId} in ${artifacts}`, exitCodes.badInput);
  const result = await execa(
    requireVenvTool(venvPython),
    ['-m', 'tirflow_py.tensorboard_export', metrics, join(out, runId)],
    { cwd: pythonProjectDir },
  );
  return (JSON.parse(result.stdout) as { steps: number }).steps;
}

export function registerTensorboard(program: Command): void {
  program
    .command('tensorboard')
    .description(
      "Write runs' step metrics as TensorBoard event files (one folder per run), for\n" +
        '`tensorboard --logdir OUT`. Every numeric field of metrics.jsonl becomes a scalar by its path.',
    )
    .argument('<runs...>', 'run ids')
    .option('--artifacts <dir>', 'artifact store root (env TIRFLOW_ARTIFACTS)', defaultArtifactRoot())
    .option('--out <dir>', 'where to write (default: ARTIFACTS/tensorboard)')
    .option('--follow', 'rewrite them every --every seconds until Ctrl-C, as the runs go on')
    .option('--every <s>', 'seconds between rewrites with --follow', parsePositiveInt, 30)
    .action(async (runIds: string[], opts: TensorboardOptions) => {
      const out = opts.out ?? join(opts.artifacts, 'tensorboard');
      let stopped = false;
      process.once('SIGINT', () => (stopped = true));
      for (;;) {
        for (const runId of runIds) {
          const steps = await exportRun(opts.artifacts, runId, out);
          console.log(`${runId}: ${steps} steps → ${join(out, runId)}`);
        }
        if (!opts.follow || stopped) break;
        await new Promise((r) => setTimeout(r, opts.every * 1000));
        if (stopped) break;
      }
      console.log(`View: tensorboard --logdir ${out}`);
    });
}

/**
 * `tirflow demo` (`npm run demo`): the embedded default end to end on a laptop CPU — local
 * Temporal, an all-roles worker, a ZeroTIR run on the shipped tiny model and tasks, then the
 * ZeroRL baseline (same model, data, steps; no tool), then the report.
 */
import type { Command } from 'commander';
import { LocalDirArtifactStore } from '../../activities/artifactStore';
import { defaultReportDir, writeReport } from '../../activities/report/writeReport';
import type { RunConfig } from '../../common/config';
import { defaultArtifactRoot } from '../connection';
import { startLocalStack } from '../localStack';
import { parsePort, parsePositiveInt } from '../options';
import { connectOrThrow, defaultRunId, followRun, readConfigOrThrow, startOrAttach } from './train';
import { CliError, exitCodes } from '../exitCodes';

interface DemoOptions {
  config?: string;
  steps?: number;
  seed?: number;
  baseline: boolean;
  port: number;
  uiPort: number;
  artifacts: string;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('Run ZeroTIR and the ZeroRL baseline on the tiny model locally, then write the report.')
    .option('-c, --config <file>', 'run config (default: the embedded tiny run)')
    .option('--steps <n>', 'training steps per run', parsePositiveInt)
    .option('--seed <n>', 'run seed', (v) => Number.parseInt(v, 10))
    .option('--no-baseline', 'skip the ZeroRL (no tool) comparison run')
    .option('--port <port>', 'Temporal gRPC port', parsePort, 7233)
    .option('--ui-port <port>', 'Temporal Web UI port', parsePort, 8233)
    .option('--artifacts <dir>', 'artifact store root', defaultArtifactRoot())
    .action(async (opts: DemoOptions) => {
      const base = readConfigOrThrow(opts.config);
      const zerotir: RunConfig = {
        ...base,
        template: 'tool',
        steps: opts.steps ?? base.steps,
        seed: opts.seed ?? base.seed,
      };
      const log = (line: string): void => console.log(line);
      const stack = await startLocalStack({
        port: opts.port,
        uiPort: opts.uiPort,
        artifactRoot: opts.artifacts,
        log,
      });
      log(`Temporal Web UI: ${stack.uiUrl}  (each step, shard, turn and update is listed there)`);
      const interrupted = new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
      const { client, close } = await connectOrThrow({
        address: stack.address,
        namespace: 'default',
        artifacts: opts.artifacts,
      });
      const runIds: string[] = [];
      try {
        const plans: RunConfig[] = [zerotir];
        if (opts.baseline) plans.push({ ...zerotir, template: 'noTool' });
        for (const config of plans) {
          const runId = defaultRunId(config);
          runIds.push(runId);
          const name = config.template === 'tool' ? 'ZeroTIR' : 'ZeroRL (no tool)';
          log(
            `\n== ${name}: run ${runId} — ${config.steps} steps × ${config.rollout.promptsPerStep} prompts × ${config.rollout.samplesPerPrompt} samples ==`,
          );
          const started = Date.now();
          await startOrAttach(client, runId, config);
          const outcome = await followRun(client, runId, log, interrupted);
          if (outcome === 'detached') {
            log(
              `Interrupted. Run ${runId} is saved; resume with \`tirflow worker --role all\` and \`tirflow train --run-id ${runId}\`.`,
            );
            return;
          }
          log(
            `${name} finished in ${((Date.now() - started) / 60_000).toFixed(1)} min (policy v${outcome.policy.version}).`,
          );
        }
        const report = await writeReport({
          store: new LocalDirArtifactStore(opts.artifacts),
          runIds,
          outDir: defaultReportDir(opts.artifacts, runIds),
        });
        log(`\nRuns: ${runIds.join(' ')}   artifacts: ${opts.artifacts}`);
        log(`Report: ${report.htmlPath}  (charts also as PNG next to it)`);
        log(`Rebuild it any time: npx tirflow report ${runIds.join(' ')}`);
      } catch (err) {
        if (err instanceof CliError) throw err;
        throw new CliError(`demo failed: ${(err as Error).message}`, exitCodes.runFailed);
      } finally {
        await close();
        await stack.stop();
      }
    });
}

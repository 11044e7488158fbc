/**
 * `tirflow demo` (`npm run demo`): the embedded default end to end on a laptop CPU — local
 * Temporal, an all-roles worker, a ZeroTIR run on the shipped tiny model and tasks, then the
 * ZeroRL baseline (same model, data, steps; no tool), then the report and the scaling-law
 * findings. `--seeds 1,2,3` repeats the pair per seed and summarises the findings over seeds.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { LocalDirArtifactStore } from '../../activities/artifactStore';
import { defaultReportDir, writeReport } from '../../activities/report/writeReport';
import type { RunConfig } from '../../common/config';
import { defaultArtifactRoot } from '../connection';
import { startLocalStack } from '../localStack';
import { parsePort, parsePositiveInt } from '../options';
import { type SeedPair } from '../../activities/report/writeScalingLaw';
import { formatSeedPair, printScalingLaw } from './scalingLaw';
import { connectOrThrow, defaultRunId, followRun, readConfigOrThrow, startOrAttach } from './train';
import { CliError, exitCodes } from '../exitCodes';
import { HARD_LEVELS } from '../../data/levels';

/** "1,2,3" → [1, 2, 3]; seeds are non-negative integers, each at most once. */
export function parseSeedList(value: string): number[] {
  const seeds = value.split(',').map((part) => part.trim());
  if (seeds.some((part) => !/^\d+$/.test(part)) || new Set(seeds).size !== seeds.length)
    throw new InvalidArgumentError(`"${value}" is not a comma-separated list of distinct seeds, e.g. 1,2,3.`);
  return seeds.map(Number);
}

interface DemoOptions {
  config?: string;
  steps?: number;
  seed?: number;
  seeds?: number[];
  baseline: boolean;
  port: number;
  uiPort: number;
  artifacts: string;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      "Run ZeroTIR and the ZeroRL baseline on the tiny model locally, then write the report and check the paper's findings.",
    )
    .option('-c, --config <file>', 'run config (default: the embedded tiny run)')
    .option('--steps <n>', 'training steps per run', parsePositiveInt)
    .option('--seed <n>', 'run seed', (v) => Number.parseInt(v, 10))
    .option(
      '--seeds <list>',
      'one ZeroTIR/ZeroRL pair per seed, e.g. 1,2,3; then the findings over seeds',
      parseSeedList,
    )
    .option('--no-baseline', 'skip the ZeroRL (no tool) comparison run')
    .option('--port <port>', 'Temporal gRPC port', parsePort, 7233)
    .option('--ui-port <port>', 'Temporal Web UI port', parsePort, 8233)
    .option('--artifacts <dir>', 'artifact store root', defaultArtifactRoot())
    .action(async (opts: DemoOptions) => {
      const base = readConfigOrThrow(opts.config);
      if (opts.seed !== undefined && opts.seeds !== undefined)
        throw new CliError('give --seed or --seeds, not both', exitCodes.badInput);
      const seeds = opts.seeds ?? [opts.seed ?? base.seed];
      const steps = opts.steps ?? base.steps;
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
      const pairs: SeedPair[] = [];
      try {
        for (const seed of seeds) {
          const zerotir: RunConfig = { ...base, template: 'tool', steps, seed };
          const plans: RunConfig[] = [zerotir];
          if (opts.baseline) plans.push({ ...zerotir, template: 'noTool' });
          const runIds: string[] = [];
          for (const config of plans) {
            // With --seeds the seed is part of the id, so the findings table says which is which.
            const runId = opts.seeds ? `${defaultRunId(config)}-seed${seed}` : defaultRunId(config);
            runIds.push(runId);
            const name = config.template === 'tool' ? 'ZeroTIR' : 'ZeroRL (no tool)';
            log(
              `\n== ${name}, seed ${seed}: run ${runId} — ${config.steps} steps × ${config.rollout.promptsPerStep} prompts × ${config.rollout.samplesPerPrompt} samples ==`,
            );
            const started = Date.now();
            await startOrAttach(client, runId, config, { artifacts: opts.artifacts });
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
          pairs.push({ tool: runIds[0]!, baseline: runIds[1] ?? null });
          const report = await writeReport({
            store: new LocalDirArtifactStore(opts.artifacts),
            runIds,
            outDir: defaultReportDir(opts.artifacts, runIds),
          });
          log(`\nRuns: ${runIds.join(' ')}   artifacts: ${opts.artifacts}`);
          log(`Report: ${report.htmlPath}  (charts also as PNG next to it)`);
          log(`Rebuild it any time: npx tirflow report ${runIds.join(' ')}`);
        }
        log(
          `\nThe paper's findings (targets of the tiny demo; ZeroTIR vs ZeroRL on the hard levels ${HARD_LEVELS.join(', ')}):`,
        );
        try {
          await printScalingLaw(opts.artifacts, pairs);
        } catch (err) {
          // The runs and their reports are done; a config without step-0 evaluation cannot show these.
          if (!(err instanceof CliError)) throw err;
          log(`(no findings: ${err.message})`);
        }
        log(`Recheck them any time: npx tirflow scaling-law ${pairs.map(formatSeedPair).join(' ')}`);
      } catch (err) {
        if (err instanceof CliError) throw err;
        throw new CliError(`demo failed: ${(err as Error).message}`, exitCodes.runFailed);
      } finally {
        await close();
        await stack.stop();
      }
    });
}

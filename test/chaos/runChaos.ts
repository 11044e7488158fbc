/**
 * `npm run chaos`: a tiny training run on a fleet of real processes while workers are SIGKILLed
 * and the dev server restarts; exits 0 only when the run finished with every invariant intact.
 *   tsx test/chaos/runChaos.ts --steps 8 --kills 8 [--seed N]
 * A failing schedule replays with the seed it printed.
 */
import { rmSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parsePositiveInt } from '../../cli/options';
import { chaosModels, type ChaosModel } from './chaosConfig';
import { runChaos } from './chaosRun';

function parseNonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a non-negative integer.`);
  return Number(value);
}

function parseRange(value: string): [number, number] {
  const match = /^(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?$/.exec(value);
  if (!match) throw new InvalidArgumentError(`"${value}" is not seconds or a range like 2-6.`);
  const low = Number(match[1]);
  const high = match[2] === undefined ? low : Number(match[2]);
  if (high < low) throw new InvalidArgumentError(`"${value}": the range ends before it starts.`);
  return [low * 1000, high * 1000];
}

const program = new Command('chaos')
  .description(
    'Run a tiny training run on a dev server + one worker process per role, SIGKILL random workers ' +
      '(each role at least once, restarted after a pause) and restart the dev server, then check: one ' +
      'policy version per step, no step trained twice, trajectories complete, one metrics line per step.',
  )
  .option('--seed <n>', 'seed of the fault schedule (default: random, printed)', parseNonNegativeInt)
  .addOption(
    new Option(
      '--model <name>',
      'tiny-base learns; code-writer runs a busy loop in every response (sandbox busy)',
    )
      .choices(chaosModels)
      .default('tiny-base'),
  )
  .option('--steps <n>', 'training steps', parsePositiveInt, 8)
  .option('--kills <n>', 'worker SIGKILLs, at least one per role (4)', parsePositiveInt, 8)
  .option(
    '--server-restarts <n>',
    'dev server restarts (same port, same SQLite file)',
    parseNonNegativeInt,
    1,
  )
  .option('--eval-every <n>', 'evaluate every N steps (0 = never)', parseNonNegativeInt, 4)
  .option('--steps-per-execution <n>', 'continue-as-new after N steps', parsePositiveInt, 3)
  .option(
    '--max-staleness <n>',
    'pipeline.maxStaleness: 0 = synchronous steps, ≥ 1 = rollout overlapping the update',
    parseNonNegativeInt,
    0,
  )
  .addOption(
    new Option('--wait <s>', 'pause before each fault, seconds or a range')
      .argParser(parseRange)
      .default([1000, 5000], '1-5'),
  )
  .addOption(
    new Option('--down <s>', 'time a killed target stays down, seconds or a range')
      .argParser(parseRange)
      .default([1000, 5000], '1-5'),
  )
  .option('--aim <s>', 'longest wait for the target role to be busy before a kill', Number, 60)
  .option('--deadline <s>', 'the run counts as hung after this many seconds', Number, 1800)
  .option('--dir <path>', 'work folder: SQLite file, artifacts, worker logs (default: a temp folder)')
  .option('--keep', 'keep the temp work folder after a passing run (a failing run always keeps it)')
  .addHelpText(
    'after',
    '\nExit status: 0 when every check passed and every planned fault was injected, 1 otherwise.',
  );

const opts = program.parse().opts<{
  seed?: number;
  model: ChaosModel;
  steps: number;
  kills: number;
  serverRestarts: number;
  evalEvery: number;
  stepsPerExecution: number;
  maxStaleness: number;
  wait: [number, number];
  down: [number, number];
  aim: number;
  deadline: number;
  dir?: string;
  keep?: boolean;
}>();

const seed = opts.seed ?? Math.floor(Math.random() * 1_000_000);
const report = await runChaos({
  seed,
  model: opts.model,
  steps: opts.steps,
  kills: opts.kills,
  serverRestarts: opts.serverRestarts,
  evaluationEvery: opts.evalEvery,
  stepsPerExecution: opts.stepsPerExecution,
  maxStaleness: opts.maxStaleness,
  waitMs: opts.wait,
  downMs: opts.down,
  aimMs: opts.aim * 1000,
  deadlineMs: opts.deadline * 1000,
  dir: opts.dir,
});

console.log(`\nInjected faults (seed ${seed}) and what recovered them:\n${report.table}\n`);
for (const check of report.checks)
  console.log(`${check.ok ? 'PASS' : 'FAIL'}  ${check.name}: ${check.detail}`);
if (report.error) console.log(`FAIL  ${report.error}`);
console.log(
  `\nrun ${report.runId}: ${(report.runMs / 1000).toFixed(1)} s of training under fire, ` +
    `${(report.wallMs / 1000).toFixed(1)} s in all; temp files left by killed writers: ${report.leftoverTempFiles}; ` +
    `work dir ${report.dir}`,
);
if (report.ok && !opts.dir && !opts.keep) {
  rmSync(report.dir, { recursive: true, force: true });
  console.log('(work dir removed; --keep keeps it)');
}
console.log(report.ok ? 'chaos: PASS' : `chaos: FAIL (replay with --seed ${seed})`);
process.exit(report.ok ? 0 : 1);

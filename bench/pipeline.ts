/**
 * The asynchronous pipeline against the synchronous loop, on this machine:
 *   npx tsx bench/pipeline.ts [--steps 8] [--staleness 0,1,2] [--eval-every 4]
 * Runs the same N-step tiny ZeroTIR run once per `pipeline.maxStaleness`, each on its own dev
 * server, with the same fixed resources in every mode: the rollout side (rollout, sandbox and
 * reward workers, workflow tasks) pinned to CPU 0 with one ONNX thread, the trainer pinned to
 * CPU 1 with one torch thread. Prints wall seconds per step, each role's busy fraction (from
 * Temporal's histories), the turn-barrier wait inside shards, the speed-up over s = 0 (the
 * baseline, measured in the same run) and each mode's final code ratio and validation accuracy.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Command } from 'commander';
import { execa, type ResultPromise } from 'execa';
import { taskQueues, type StepRecord } from '../common/activityContracts';
import { artifactKeys } from '../common/artifactKeys';
import { freePort, startDevServer } from '../cli/devServer';
import { loadRunConfig } from '../cli/runConfigFile';
import { parsePositiveInt } from '../cli/options';
import { describeMissingPollers, queuePollers } from '../cli/clusterChecks';
import type { TrainingRunInput } from '../workflows/trainingRun';
import { coveredMs, runTimeline } from './runTimeline';

const tirflow = join(import.meta.dirname, '..', 'bin', 'tirflow.js');

/**
 * Trajectory-seconds spent waiting at turn barriers (a finished trajectory waiting for the
 * slowest of its shard) against the trajectory-seconds of the turns, summed over the run.
 */
function barrierOf(records: readonly StepRecord[]): { waitS: number; rolloutS: number } {
  let waitS = 0;
  let rolloutS = 0;
  for (const record of records) {
    waitS += record.timings?.barrierWaitS ?? 0;
    rolloutS += record.timings?.turnTrajectoryS ?? 0;
  }
  return { waitS, rolloutS };
}

interface ModeResult {
  staleness: number;
  wallS: number;
  perStepS: number;
  /** First training rollout activity → last update, per step: without start-up and the last evaluation. */
  steadyPerStepS: number;
  /** Workflow start → first training rollout activity (prepare, first export, step-0 evaluation). */
  startupS: number;
  trainerBusySteady: number;
  busy: Record<'rollout' | 'sandbox' | 'reward' | 'trainer', number>;
  barrier: { waitS: number; rolloutS: number };
  finalCodeRatio: number;
  finalValidation: number | null;
}

async function allQueuesPolled(client: Client): Promise<void> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const queues = await queuePollers(client, 'default');
    if (queues.every((q) => q.pollers > 0)) return;
    if (Date.now() > deadline)
      throw new Error(`workers did not start: ${describeMissingPollers(queues).join('; ')}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function runMode(
  staleness: number,
  steps: number,
  evalEvery: number,
  spansFile?: string,
): Promise<ModeResult> {
  const dir = mkdtempSync(join(tmpdir(), `tirflow-bench-pipeline-s${staleness}-`));
  const artifacts = join(dir, 'artifacts');
  const server = await startDevServer({ port: await freePort(), dbFile: join(dir, 'temporal.sqlite') });
  const cluster = ['--address', server.address, '--artifacts', artifacts];
  const workers: ResultPromise[] = [];
  const worker = (cpu: number, args: string[], env: Record<string, string> = {}): void => {
    workers.push(
      execa('taskset', ['-c', String(cpu), process.execPath, tirflow, 'worker', ...args, ...cluster], {
        env,
        reject: false,
        stdio: 'ignore',
      }),
    );
  };
  // The rollout side on CPU 0, the trainer on CPU 1: the same resources in every mode.
  worker(0, ['--role', 'rollout', '--onnx-threads', '1']);
  worker(0, ['--role', 'sandbox', '--no-workflows', '--pool-size', '1']);
  worker(0, ['--role', 'reward', '--no-workflows', '--pool-size', '1']);
  worker(1, ['--role', 'trainer', '--no-workflows'], { OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  try {
    // The clock starts once every queue is polled: worker start-up is not part of a run (on a
    // cluster the workers are up before it starts), and it would dilute every mode alike.
    await allQueuesPolled(client);
    const base = loadRunConfig(undefined);
    const config = {
      ...base,
      steps,
      evaluation: { ...base.evaluation, every: evalEvery },
      pipeline: { maxStaleness: staleness },
      trainer: { ...base.trainer, device: 'cpu' as const },
    };
    const runId = `bench-pipeline-s${staleness}`;
    const input: TrainingRunInput = { runId, config, searchAttributes: true };
    const started = Date.now();
    const handle = await client.workflow.start('trainingRun', {
      taskQueue: taskQueues.workflows,
      workflowId: runId,
      args: [input],
    });
    await handle.result();
    const wallMs = Date.now() - started;
    const spans = await runTimeline(client, runId);
    if (spansFile) writeFileSync(spansFile, JSON.stringify({ startedMs: started, wallMs, spans }, null, 1));
    const busyIn = (queue: string, from: number, to: number): number =>
      coveredMs(
        spans
          .filter((s) => s.taskQueue === queue)
          .map((s) => [Math.max(from, s.startedMs), Math.min(to, s.closedMs)] as const)
          .filter(([a, b]) => b > a),
      ) /
      (to - from);
    const busy = (queue: string): number => busyIn(queue, started, started + wallMs);
    // The steady state: from the first training rollout's first activity to the last update.
    const steadyFrom = Math.min(
      ...spans.filter((s) => /\/step-\d+\/shard-/.test(s.workflowId)).map((s) => s.startedMs),
    );
    const steadyTo = Math.max(
      ...spans.filter((s) => s.activityType === 'updatePolicy').map((s) => s.closedMs),
    );
    const records = readFileSync(join(artifacts, artifactKeys.metrics(runId)), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as StepRecord);
    const last = records.at(-1)!;
    const lastEval = [...records].reverse().find((r) => r.evaluation)?.evaluation ?? null;
    return {
      staleness,
      wallS: wallMs / 1000,
      perStepS: wallMs / 1000 / steps,
      steadyPerStepS: (steadyTo - steadyFrom) / 1000 / steps,
      startupS: (steadyFrom - started) / 1000,
      trainerBusySteady: busyIn(taskQueues.trainer, steadyFrom, steadyTo),
      busy: {
        rollout: busy(taskQueues.rollout),
        sandbox: busy(taskQueues.sandbox),
        reward: busy(taskQueues.reward),
        trainer: busy(taskQueues.trainer),
      },
      barrier: barrierOf(records),
      finalCodeRatio: last.rollout.codeRatio,
      finalValidation: lastEval?.accuracy ?? null,
    };
  } finally {
    await connection.close();
    for (const w of workers) w.kill('SIGTERM');
    await Promise.allSettled(workers);
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const opts = new Command('bench-pipeline')
  .option('--steps <n>', 'training steps per mode', parsePositiveInt, 8)
  .option('--staleness <list>', 'pipeline.maxStaleness values; the first is the baseline', '0,1,2')
  .option('--eval-every <n>', 'evaluate every N steps', parsePositiveInt, 4)
  .option('--spans <prefix>', "write each mode's activity spans to <prefix>-s<N>.json")
  .parse()
  .opts<{ steps: number; staleness: string; evalEvery: number; spans?: string }>();

const modes = opts.staleness.split(',').map(Number);
const pct = (x: number): string => `${(100 * x).toFixed(0)}%`;
console.log(
  `pipeline bench: ${opts.steps} steps of the tiny ZeroTIR run per mode, evaluation every ${opts.evalEvery}; ` +
    `rollout side pinned to CPU 0, trainer to CPU 1; load average before: ${loadavg()[0]!.toFixed(2)}`,
);
const results: ModeResult[] = [];
for (const staleness of modes) {
  const result = await runMode(
    staleness,
    opts.steps,
    opts.evalEvery,
    opts.spans ? `${opts.spans}-s${staleness}.json` : undefined,
  );
  results.push(result);
  console.log(`  s = ${staleness}: ${result.wallS.toFixed(1)} s (load average ${loadavg()[0]!.toFixed(2)})`);
}
const baseline = results[0]!;
console.log(
  `\n| maxStaleness | wall s/step (whole run) | speed-up vs s=${baseline.staleness} | start-up s | steady s/step | ` +
    'steady speed-up | trainer busy (whole run / steady) | rollout busy | sandbox busy | reward busy | ' +
    'barrier wait (share of rollout) | final code ratio | final val. acc. |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  console.log(
    `| ${r.staleness} | ${r.perStepS.toFixed(2)} | ${(baseline.perStepS / r.perStepS).toFixed(2)}× | ` +
      `${r.startupS.toFixed(1)} | ${r.steadyPerStepS.toFixed(2)} | ${(baseline.steadyPerStepS / r.steadyPerStepS).toFixed(2)}× | ` +
      `${pct(r.busy.trainer)} / ${pct(r.trainerBusySteady)} | ${pct(r.busy.rollout)} | ${pct(r.busy.sandbox)} | ${pct(r.busy.reward)} | ` +
      `${r.barrier.waitS.toFixed(1)} s (${pct(r.barrier.rolloutS > 0 ? r.barrier.waitS / r.barrier.rolloutS : 0)}) | ` +
      `${pct(r.finalCodeRatio)} | ${r.finalValidation === null ? '–' : pct(r.finalValidation)} |`,
  );
}
console.log(
  '\nwhole run: workflow start (every queue polled) → run closed. Steady: first training rollout activity → ' +
    'last update, so start-up (prepare, first ONNX export, step-0 evaluation) and the final evaluation are out. ' +
    'Busy: share of the window in which at least one activity of that queue ran.',
);

/**
 * The paper-scale dry run (issue 20): the whole orchestration at 128 prompts × 16 samples with
 * responses up to 8192 tokens, on CPUs only. Everything is real (Temporal dev server, worker
 * processes per role, the artifact store, the bubblewrap sandbox running the responses' Python,
 * math-verify grading, the trainer's data path) except the two GPU parts: the `simulated` engine
 * writes token streams at a configured pace, and the `simulated` update packs the step's batch as
 * the trainer does and then waits for the configured update time.
 *
 * It runs the steps once per worker count (default 1 and 3 processes per role), then prints per
 * step what Temporal, the artifact store, the sandbox and the reward pool did, each worker's
 * peak memory, and the part of a step's critical path that orchestration (Temporal's handoffs and
 * dispatch, the artifact store's I/O and JSON, the trainer's read) adds on top of a GPU step of
 * `--gpu-step-s` seconds. Runs with the same seed must give the same counts: the worker counts
 * are compared with each other, and with `--compare` against a previous report.
 *
 *   npm run dryrun -- [--steps 3] [--workers 1,3] [--prompts 128] [--samples 16] [--shards 16]
 *                     [--max-tokens 8192] [--min-tokens 2048] [--fleet-tokens-per-second 150000]
 *                     [--update-s 15] [--gpu-step-s 600] [--out FILE] [--compare FILE]
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { taskQueues } from '../common/activityContracts';
import { artifactKeys } from '../common/artifactKeys';
import { parseRunConfig, type RunConfig } from '../common/config';
import { LocalDirArtifactStore, readJsonl } from '../activities/artifactStore';
import { projectRoot, stateDir } from '../activities/projectPaths';
import { freePort, startDevServer } from '../cli/devServer';
import { statusQuery } from '../workflows/messages';
import { workflowsPath } from '../workers/runWorkers';
import type { TrainingRunResult } from '../workflows/trainingRun';
import { Fleet, type FleetMember } from './paperScale/fleet';
import { fetchRunHistories, percentile, type ActivitySpan, type Capacity } from './paperScale/history';
import { makeStandInModel } from './paperScale/standInModel';
import {
  dispatchLatencies,
  stepReports,
  type JsonCost,
  type StepCounts,
  type StepReport,
} from './paperScale/stepReport';

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '3' },
    workers: { type: 'string', default: '1,3' },
    prompts: { type: 'string', default: '128' },
    samples: { type: 'string', default: '16' },
    shards: { type: 'string', default: '16' },
    'max-tokens': { type: 'string', default: '8192' },
    'min-tokens': { type: 'string', default: '2048' },
    'fleet-tokens-per-second': { type: 'string', default: '150000' },
    'update-s': { type: 'string', default: '15' },
    'gpu-step-s': { type: 'string', default: '600' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string' },
    compare: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help) {
  console.log(
    readFileSync(new URL(import.meta.url), 'utf8')
      .split('*/')[0]!
      .replace(/^\/\*\*?|^ \* ?/gm, ''),
  );
  process.exit(0);
}

const steps = Number(args.steps);
if (args.compare && !existsSync(args.compare)) {
  console.error(`--compare ${args.compare}: no such report (written by an earlier run's --out)`);
  process.exit(2);
}
const workerCounts = args.workers.split(',').map(Number);
const gpuStepS = Number(args['gpu-step-s']);
const fleetRate = Number(args['fleet-tokens-per-second']);
/** Activity slots per worker process (maxConcurrentActivities in workers/roles.ts). */
const rolePerProcess = { rollout: 4, sandbox: 8, reward: 8, trainer: 1 };

function dryRunConfig(modelDir: string, workersPerRole: number): RunConfig {
  return parseRunConfig({
    seed: Number(args.seed),
    model: modelDir,
    data: {
      train: join(projectRoot, 'data/tasks/train.jsonl'),
      validation: join(projectRoot, 'data/tasks/validation.jsonl'),
    },
    template: 'tool',
    steps,
    rollout: {
      promptsPerStep: Number(args.prompts),
      samplesPerPrompt: Number(args.samples),
      shards: Number(args.shards),
      toolBudget: 2,
      observationTokenCap: 256,
      maxResponseTokens: Number(args['max-tokens']),
    },
    engine: {
      kind: 'simulated',
      // One replica per rollout process; the fleet's rate is the same for every worker count.
      tokensPerSecond: fleetRate / workersPerRole,
      responseTokens: { min: Number(args['min-tokens']), max: Number(args['max-tokens']) },
      codeRate: 0.8,
      codeErrorRate: 0.1,
      codeTimeoutRate: 0.005,
      correctRate: 0.5,
      answerKey: [
        join(projectRoot, 'data/tasks/train.jsonl'),
        join(projectRoot, 'data/tasks/validation.jsonl'),
      ],
    },
    trainer: {
      kind: 'simulated',
      simulatedUpdateS: Number(args['update-s']),
      algorithm: 'reinforce_pp_baseline',
      microBatchSize: 2,
      dynamicFiltering: true,
    },
    sandbox: { timeoutS: 5, memoryMb: 1024 },
    evaluation: { every: 0 },
  });
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
const kb = (bytes: number): string => `${(bytes / 1e3).toFixed(1)} kB`;
const fmt = (value: number, digits = 0): string => (Number.isFinite(value) ? value.toFixed(digits) : '-');
const ts = (): string => new Date().toISOString().slice(11, 19);

/** JSON cost of the artifacts' JSONL, measured on this run's largest turn file. */
async function measureJson(store: LocalDirArtifactStore, runId: string): Promise<JsonCost> {
  const keys = (await store.list(artifactKeys.stepRoot(runId, 1))).filter((k) =>
    k.endsWith('.generated.jsonl'),
  );
  let largest = keys[0]!;
  let size = 0;
  for (const key of keys) {
    const bytes = (await store.read(key)).byteLength;
    if (bytes > size) [largest, size] = [key, bytes];
  }
  const text = (await store.read(largest)).toString('utf8');
  const cpuMs = (since: NodeJS.CpuUsage): number => {
    const used = process.cpuUsage(since);
    return (used.user + used.system) / 1000;
  };
  const parse: number[] = [];
  const stringify: number[] = [];
  const parseCpu: number[] = [];
  const stringifyCpu: number[] = [];
  for (let i = 0; i < 3; i++) {
    let started = performance.now();
    let cpu = process.cpuUsage();
    const records = text
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as unknown);
    parse.push(performance.now() - started);
    parseCpu.push(cpuMs(cpu));
    started = performance.now();
    cpu = process.cpuUsage();
    records.map((r) => JSON.stringify(r) + '\n').join('');
    stringify.push(performance.now() - started);
    stringifyCpu.push(cpuMs(cpu));
  }
  const perMB = (values: number[]): number => percentile(values, 0.5) / (size / 1e6);
  return {
    parseMsPerMB: perMB(parse),
    stringifyMsPerMB: perMB(stringify),
    parseCpuMsPerMB: perMB(parseCpu),
    stringifyCpuMsPerMB: perMB(stringifyCpu),
  };
}

interface ConfigurationResult {
  workersPerRole: number;
  runId: string;
  totalS: number;
  stepsS: number;
  loadAverage: { min: number; mean: number; max: number };
  steps: StepReport[];
  members: FleetMember[];
  cpuS: Record<string, number>;
  dispatchP50Ms: number;
  dispatchP99Ms: number;
  json: JsonCost;
  recordedOnce: boolean;
  fingerprint: string;
  /** Every activity of the run (for a closer look at the report file). */
  activities: ActivitySpan[];
}

function fingerprint(counts: StepCounts[]): string {
  return createHash('sha256').update(JSON.stringify(counts)).digest('hex').slice(0, 16);
}

async function runConfiguration(
  client: Client,
  address: string,
  temporalPid: number | undefined,
  bundlePath: string,
  modelDir: string,
  workersPerRole: number,
  baseDir: string,
): Promise<ConfigurationResult> {
  const runDir = join(baseDir, `workers-${workersPerRole}`);
  const artifactRoot = join(runDir, 'artifacts');
  mkdirSync(artifactRoot, { recursive: true });
  const store = new LocalDirArtifactStore(artifactRoot);
  const config = dryRunConfig(modelDir, workersPerRole);
  const loads: number[] = [];
  const load = (): number => {
    const value = loadavg()[0]!;
    loads.push(value);
    return value;
  };
  const label = `[dryrun ${workersPerRole}×]`;
  const started = Date.now();
  console.log(
    `${ts()} ${label} starting ${workersPerRole} worker process(es) per role (+ workflow pollers) ...`,
  );
  const fleet = await Fleet.start(
    { workersPerRole, address, artifactRoot, workflowBundle: bundlePath, runDir, temporalPid },
    load,
  );
  console.log(
    `${ts()} ${label} workers up in ${((Date.now() - started) / 1000).toFixed(0)} s; logs in ${fleet.logFile}`,
  );

  const runId = `dryrun-${workersPerRole}x-${Date.now().toString(36)}`;
  const handle = await client.workflow.start('trainingRun', {
    taskQueue: taskQueues.workflows,
    workflowId: runId,
    args: [{ runId, config }],
  });
  const runStarted = Date.now();
  let lastLine = '';
  const progress = setInterval(() => {
    handle
      .query(statusQuery)
      .then((status) => {
        const line = `step ${status.step}/${status.totalSteps} ${status.phase}`;
        if (line !== lastLine) {
          lastLine = line;
          const record = status.lastRecord;
          const done = record
            ? ` | last step ${record.step}: ${record.rollout.trajectories} trajectories, code ratio ${fmt(record.rollout.codeRatio * 100)}%`
            : '';
          console.log(
            `${ts()} ${label} ${line}${done} (${((Date.now() - runStarted) / 1000).toFixed(0)} s, load ${fmt(loadavg()[0]!, 1)})`,
          );
        }
      })
      .catch(() => undefined);
  }, 3000);
  let result: TrainingRunResult;
  try {
    result = (await handle.result()) as TrainingRunResult;
  } finally {
    clearInterval(progress);
  }
  const runEnded = Date.now();
  const stats = await fleet.stop();
  console.log(
    `${ts()} ${label} run ${runId} completed ${result.completedSteps} steps in ${((runEnded - runStarted) / 1000).toFixed(0)} s; analysing ...`,
  );

  const { parent, shards } = await fetchRunHistories(client, runId, steps, config.rollout.shards);
  // Slots of one worker process per queue: a task waits for a slot on the worker that takes it.
  const capacity: Capacity = {
    [taskQueues.rollout]: rolePerProcess.rollout,
    [taskQueues.sandbox]: rolePerProcess.sandbox,
    [taskQueues.reward]: rolePerProcess.reward,
    [taskQueues.trainer]: rolePerProcess.trainer,
  };
  const json = await measureJson(store, runId);
  const reports = await stepReports({
    runId,
    steps,
    parent,
    shards,
    stats,
    samples: fleet.samples,
    capacity,
    store,
    json,
  });
  const all = [...parent.activities, ...[...shards.values()].flatMap((h) => h.activities)];
  const dispatch = dispatchLatencies(all, capacity);

  // Every step recorded once: one metrics line and one committed update per step.
  const metricsSteps = (await readJsonl<{ step: number }>(store, artifactKeys.metrics(runId))).map(
    (r) => r.step,
  );
  const trainerSteps = readFileSync(
    join(store.pathOf(artifactKeys.runRoot(runId)), 'checkpoints', 'trainer-steps.log'),
    'utf8',
  )
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { step: number }).step);
  const expected = Array.from({ length: steps }, (_, i) => i + 1);
  const recordedOnce =
    JSON.stringify(metricsSteps) === JSON.stringify(expected) &&
    JSON.stringify(trainerSteps) === JSON.stringify(expected);

  const first = fleet.samples[0]!;
  const lastSample = fleet.samples.at(-1)!;
  const cpuS: Record<string, number> = {};
  for (const [name, value] of Object.entries(lastSample.cpuS)) cpuS[name] = value - (first.cpuS[name] ?? 0);
  return {
    workersPerRole,
    runId,
    totalS: (runEnded - started) / 1000,
    stepsS: reports.reduce((sum, r) => sum + r.wallS, 0),
    loadAverage: {
      min: Math.min(...loads),
      mean: loads.reduce((a, b) => a + b, 0) / loads.length,
      max: Math.max(...loads),
    },
    steps: reports,
    members: fleet.members,
    cpuS,
    dispatchP50Ms: percentile(dispatch, 0.5),
    dispatchP99Ms: percentile(dispatch, 0.99),
    json,
    recordedOnce,
    fingerprint: fingerprint(reports.map((r) => r.counts)),
    activities: all.map((a) => ({ ...a, input: null, result: null })),
  };
}

function printConfiguration(result: ConfigurationResult): void {
  const { steps: reports } = result;
  const rows: [string, (r: StepReport) => string][] = [
    ['step wall time (critical path)', (r) => `${fmt(r.wallS, 1)} s`],
    ['activities / child workflows', (r) => `${r.counts.activities} / ${r.counts.childWorkflows}`],
    ['history events / bytes', (r) => `${r.historyEvents} / ${kb(r.historyBytes)}`],
    ['  of which trainingRun', (r) => `${r.parentEvents} / ${kb(r.parentBytes)}`],
    ['  largest shard', (r) => `${r.maxShardEvents} / ${kb(r.maxShardBytes)}`],
    [
      'workflow-task latency p50 / p99',
      (r) => `${fmt(r.workflowTaskP50Ms)} / ${fmt(r.workflowTaskP99Ms)} ms`,
    ],
    ['artifact bytes written / read', (r) => `${mb(r.artifactWrittenBytes)} / ${mb(r.artifactReadBytes)}`],
    ['trajectories / correct', (r) => `${r.counts.trajectories} / ${r.counts.correct}`],
    [
      'response tokens (mean) / model tokens',
      (r) =>
        `${fmt(r.counts.responseTokens / r.counts.trajectories)} / ${(r.counts.modelTokens / 1e6).toFixed(2)} M`,
    ],
    ['generated tokens/s (while generating)', (r) => fmt(r.generatePerS)],
    [
      'sandbox executions ok/error/timeout',
      (r) =>
        `${r.counts.executions}: ${r.counts.executionsByStatus.ok ?? 0}/${r.counts.executionsByStatus.error ?? 0}/${r.counts.executionsByStatus.timeout ?? 0}`,
    ],
    ['sandbox execution p50 / p99', (r) => `${fmt(r.sandboxP50Ms)} / ${fmt(r.sandboxP99Ms)} ms`],
    ['gradings/s (while scoring)', (r) => fmt(r.gradingsPerS, 1)],
    [
      'critical path: generate / execute / score',
      (r) =>
        `${fmt((r.critical.executionMs.generate ?? 0) / 1000, 1)} / ${fmt((r.critical.executionMs.executeCode ?? 0) / 1000, 1)} / ${fmt((r.critical.executionMs.score ?? 0) / 1000, 1)} s`,
    ],
    [
      'critical path: update / record / prune',
      (r) =>
        `${fmt((r.critical.executionMs.updatePolicy ?? 0) / 1000, 1)} / ${fmt((r.critical.executionMs.recordStep ?? 0) / 1000, 1)} / ${fmt((r.critical.executionMs.pruneCheckpoints ?? 0) / 1000, 1)} s`,
    ],
    ['  waiting for a worker slot', (r) => `${fmt(r.critical.capacityWaitMs / 1000, 1)} s`],
    [
      '  Temporal: handoffs / dispatch',
      (r) => `${fmt(r.critical.handoffMs / 1000, 2)} / ${fmt(r.critical.dispatchMs / 1000, 2)} s`,
    ],
    [
      '  artifacts: I/O / JSON / trainer read',
      (r) =>
        `${fmt(r.criticalArtifact.ioMs / 1000, 2)} / ${fmt(r.criticalArtifact.jsonMs / 1000, 2)} / ${fmt(r.criticalArtifact.trainerReadMs / 1000, 2)} s`,
    ],
    [
      '  of which CPU: JSON / trainer read',
      (r) =>
        `${fmt(r.criticalArtifactCpu.jsonMs / 1000, 2)} / ${fmt(r.criticalArtifactCpu.trainerReadMs / 1000, 2)} s`,
    ],
    [
      'trainer packing wall / CPU (not store)',
      (r) => `${fmt(r.trainerPackS, 1)} / ${fmt(r.trainerPackCpuS, 1)} s`,
    ],
    ['orchestration on the critical path', (r) => `${fmt(r.orchestrationS, 2)} s`],
    [`share of a ${gpuStepS} s GPU step`, (r) => `${fmt((100 * r.orchestrationS) / gpuStepS, 2)}%`],
    [
      '  Temporal / artifact store',
      (r) => {
        const temporal = (r.critical.handoffMs + r.critical.dispatchMs) / 1000;
        return `${fmt((100 * temporal) / gpuStepS, 2)}% / ${fmt((100 * (r.orchestrationS - temporal)) / gpuStepS, 2)}%`;
      },
    ],
    [
      'CPU s: rollout/sandbox/reward/trainer/Temporal',
      (r) =>
        ['rollout', 'sandbox', 'reward', 'trainer', 'temporal']
          .map((role) =>
            fmt(
              Object.entries(r.cpuS)
                .filter(([name]) => name.split('#')[0] === role)
                .reduce((sum, [, value]) => sum + value, 0),
              0,
            ),
          )
          .join('/'),
    ],
    ['load average during the step', (r) => fmt(r.loadAverage, 1)],
  ];
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  const colWidth = Math.max(18, ...reports.flatMap((r) => rows.map(([, cell]) => cell(r).length + 2)));
  console.log(
    `\n== ${result.workersPerRole} worker process(es) per role · ${args.prompts} prompts × ${args.samples} samples · ` +
      `responses ${args['min-tokens']}–${args['max-tokens']} tokens · ${args.shards} shards · run ${result.runId}`,
  );
  console.log(''.padEnd(width) + reports.map((r) => `step ${r.step}`.padStart(colWidth)).join(''));
  for (const [name, cell] of rows)
    console.log(name.padEnd(width) + reports.map((r) => cell(r).padStart(colWidth)).join(''));
  console.log(
    `\nTemporal dispatch latency over the run's ${result.steps.reduce((s, r) => s + r.counts.activities, 0)} activities: ` +
      `p50 ${fmt(result.dispatchP50Ms)} ms, p99 ${fmt(result.dispatchP99Ms)} ms; JSONL cost: parse ${fmt(result.json.parseMsPerMB, 1)} ms/MB, ` +
      `stringify ${fmt(result.json.stringifyMsPerMB, 1)} ms/MB`,
  );
  console.log('\nprocess (tree)          peak RSS process / tree      CPU s (whole run)');
  for (const member of result.members) {
    console.log(
      `${member.label.padEnd(22)}  ${mb(member.peakRss).padStart(10)} / ${mb(member.peakTreeRss).padStart(10)}      ${fmt(result.cpuS[member.label] ?? 0, 1).padStart(8)}`,
    );
  }
  console.log(
    `\n${steps} steps: ${fmt(result.stepsS, 0)} s of critical path, ${fmt(result.totalS, 0)} s with start-up; load average ` +
      `${fmt(result.loadAverage.min, 1)}–${fmt(result.loadAverage.max, 1)} (mean ${fmt(result.loadAverage.mean, 1)}) on ${availableParallelism()} cores; ` +
      `every step recorded once: ${result.recordedOnce ? 'yes' : 'NO'}; counts fingerprint ${result.fingerprint}`,
  );
}

async function main(): Promise<void> {
  const baseDir = mkdtempSync(join(tmpdir(), 'tirflow-dryrun-'));
  console.log(
    `${ts()} paper-scale dry run: ${steps} steps × ${args.prompts} prompts × ${args.samples} samples, up to ${args['max-tokens']} tokens; ` +
      `fleet ${fleetRate} tokens/s; update ${args['update-s']} s; worker counts ${workerCounts.join(', ')}; ` +
      `${availableParallelism()} cores, load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}; work dir ${baseDir}`,
  );
  const modelDir = makeStandInModel(
    join(projectRoot, 'models/tiny-base'),
    join(baseDir, 'model'),
    Number(args['max-tokens']) + 2048,
  );
  const server = await startDevServer({ port: await freePort(), dbFile: join(baseDir, 'temporal.sqlite') });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const results: ConfigurationResult[] = [];
  try {
    const bundle = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
    const bundlePath = join(baseDir, 'workflows-bundle.js');
    writeFileSync(bundlePath, bundle.code);
    for (const workers of workerCounts) {
      const result = await runConfiguration(
        client,
        server.address,
        server.process.pid,
        bundlePath,
        modelDir,
        workers,
        baseDir,
      );
      results.push(result);
      printConfiguration(result);
    }
  } finally {
    await connection.close();
    await server.stop();
  }

  const counts = results.map((r) => JSON.stringify(r.steps.map((s) => s.counts)));
  const agree = counts.every((c) => c === counts[0]);
  console.log(
    `\ncounts (activities, child workflows, non-workflow-task events, trajectories, tokens, executions, grades, packed digest) ` +
      `${agree ? 'agree' : 'DIFFER'} across worker counts ${workerCounts.join(', ')}: ${results.map((r) => r.fingerprint).join(', ')}`,
  );
  let comparedOk = true;
  if (args.compare) {
    const previous = JSON.parse(readFileSync(args.compare, 'utf8')) as { results: ConfigurationResult[] };
    const before = previous.results[0]!.fingerprint;
    comparedOk = results.every((r) => r.fingerprint === before);
    console.log(`counts against ${args.compare} (${before}): ${comparedOk ? 'agree' : 'DIFFER'}`);
  }
  const out =
    args.out ?? join(stateDir, 'bench', `paper-scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, JSON.stringify({ args, cores: availableParallelism(), results }, null, 2) + '\n');
  console.log(`report: ${out}`);
  // The artifacts are gigabytes: keep the logs and the workers' records only.
  for (const workers of workerCounts)
    rmSync(join(baseDir, `workers-${workers}`, 'artifacts'), { recursive: true, force: true });
  rmSync(join(baseDir, 'model'), { recursive: true, force: true });
  console.log(`worker logs and store records: ${baseDir}`);
  const ok = agree && comparedOk && results.every((r) => r.recordedOnce);
  process.exit(ok ? 0 : 1);
}

await main();

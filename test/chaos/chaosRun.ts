/**
 * One chaos run: the fleet up (dev server on a SQLite file + one worker process per role), a
 * tiny training run started, the seeded fault plan executed against it while it runs, then the
 * invariants checked and the recoveries read back from the histories.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { taskQueues, type WorkerRole } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import { freePort } from '../../cli/devServer';
import { workerRoles } from '../../workers/roles';
import type { TrainingRunResult } from '../../workflows/trainingRun';
import { chaosModelDir, chaosRunConfig, writeChaosTasks, type ChaosModel } from './chaosConfig';
import { planFaults, type FaultTarget, type PlannedFault } from './faultPlan';
import {
  attributeRecoveries,
  formatFaultTable,
  type InjectedFault,
  type RecoveryReport,
} from './faultReport';
import { ChaosFleet } from './fleet';
import { describeActivity, runningActivities } from './inFlight';
import { checkInvariants, leftoverTempFiles, type InvariantCheck } from './invariants';
import { readRunActivityLog } from './recoveries';

export interface ChaosOptions {
  seed: number;
  model: ChaosModel;
  steps: number;
  /** Worker kills (each role at least once). */
  kills: number;
  serverRestarts: number;
  evaluationEvery: number;
  stepsPerExecution: number;
  /** `pipeline.maxStaleness` of the run (default 0: the synchronous loop). */
  maxStaleness?: number;
  /** Pause before each fault, drawn from this range (ms). */
  waitMs: readonly [number, number];
  /** Time a killed target stays down, drawn from this range (ms). */
  downMs: readonly [number, number];
  /** How long a kill waits for its role to be working before it fires anyway. */
  aimMs: number;
  /** The run must finish within this; otherwise it counts as hung. */
  deadlineMs: number;
  /** Work folder (SQLite file, artifacts, worker logs); default: a new temp folder. */
  dir?: string;
  log?: (line: string) => void;
}

export interface ChaosReport {
  runId: string;
  seed: number;
  dir: string;
  wallMs: number;
  runMs: number;
  result: TrainingRunResult | null;
  error: string | null;
  faults: InjectedFault[];
  recoveries: RecoveryReport | null;
  checks: InvariantCheck[];
  leftoverTempFiles: number;
  /** Every check passed and every planned fault was injected. */
  ok: boolean;
  table: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const startMs = Date.now();
  const log = (line: string): void =>
    (options.log ?? console.log)(`[chaos +${((Date.now() - startMs) / 1000).toFixed(1)}s] ${line}`);
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'tirflow-chaos-'));
  const roles: readonly WorkerRole[] = workerRoles;
  const plan = planFaults({ ...options, roles });
  log(
    `seed ${options.seed}: ${plan.map((f) => `${f.target}@step${f.notBeforeStep}`).join(' → ')} | work dir ${dir}`,
  );

  const fleet = new ChaosFleet({ dir, port: await freePort(), log });
  const runId = `chaos-${options.seed}-${Date.now().toString(36)}`;
  const modelDir = await chaosModelDir(options.model);
  const config = chaosRunConfig(options, options.model, modelDir, writeChaosTasks(dir));
  const faults: InjectedFault[] = plan.map((f) => ({ ...f, atMs: null, repairedMs: null, inFlight: [] }));
  let connection: Connection | undefined;
  let result: TrainingRunResult | null = null;
  let error: string | null = null;
  let recoveries: RecoveryReport | null = null;
  let checks: InvariantCheck[] = [];
  let runMs = 0;
  try {
    await fleet.startServer();
    await Promise.all(roles.map((role) => fleet.startWorker(role)));
    // The client's connection reconnects by itself after the server restart.
    connection = await Connection.connect({ address: fleet.address });
    const client = new Client({ connection });
    const runStart = Date.now();
    await client.workflow.start('trainingRun', {
      taskQueue: taskQueues.workflows,
      workflowId: runId,
      args: [{ runId, config }],
    });
    log(`run ${runId} started: ${config.steps} steps`);

    let finished = false;
    const outcome = awaitResult(client, runId, options.deadlineMs).finally(() => (finished = true));
    const injector = injectFaults(faults, {
      fleet,
      client,
      runId,
      steps: config.steps,
      aimMs: options.aimMs,
      finished: () => finished,
      log,
    });
    injector.catch(() => undefined); // awaited after the run's result
    try {
      // A target that fails to come back ends the wait at once instead of at the deadline.
      result = await Promise.race([outcome, injector.then(() => outcome)]);
      runMs = Date.now() - runStart;
      log(`run finished: ${result.completedSteps} steps, policy v${result.policy.version}`);
    } catch (err) {
      error = (err as Error).message;
      log(`run did not finish: ${error}`);
    }
    await injector;

    recoveries = attributeRecoveries(faults, await readRunActivityLog(client, runId));
    if (result) checks = checkInvariants({ artifactRoot: fleet.artifactRoot, runId, config, result });
  } catch (err) {
    error = error ?? (err as Error).message;
  } finally {
    await connection?.close().catch(() => undefined);
    await fleet.stopAll();
  }

  const skipped = faults.filter((f) => f.atMs === null);
  if (result) {
    checks.push({
      name: 'every planned fault injected',
      ok: skipped.length === 0,
      detail:
        skipped.length === 0
          ? `${faults.length} of ${faults.length}`
          : `the run finished before faults ${skipped.map((f) => f.index).join(', ')}`,
    });
  }
  const ok = error === null && checks.length > 0 && checks.every((c) => c.ok);
  const table = recoveries ? formatFaultTable(recoveries, startMs) : '(no recoveries read)';
  return {
    runId,
    seed: options.seed,
    dir,
    wallMs: Date.now() - startMs,
    runMs,
    result,
    error,
    faults,
    recoveries,
    checks,
    leftoverTempFiles: result ? leftoverTempFiles(fleet.artifactRoot, runId).length : 0,
    ok,
    table,
  };
}

/**
 * The run's result, asked again while the server is away (the long poll fails then); a
 * workflow that failed or a run past the deadline ends the wait.
 */
async function awaitResult(client: Client, runId: string, deadlineMs: number): Promise<TrainingRunResult> {
  const hung = new Error(`the run did not finish within ${deadlineMs / 1000} s (hung?)`);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(hung), deadlineMs);
  });
  try {
    for (;;) {
      try {
        return (await Promise.race([
          client.workflow.getHandle(runId).result(),
          deadline,
        ])) as TrainingRunResult;
      } catch (err) {
        if (err === hung || err instanceof WorkflowFailedError) throw err;
        await Promise.race([sleep(1000), deadline]); // the server is restarting
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

interface InjectorContext {
  fleet: ChaosFleet;
  client: Client;
  runId: string;
  steps: number;
  aimMs: number;
  finished: () => boolean;
  log: (line: string) => void;
}

/**
 * Executes the plan in order. A killed target comes back in the background while the next
 * fault is aimed (so two roles can be down at once), but a fault never hits a target that is
 * still coming back, and the server restarts only with every worker up. Faults planned after
 * the run finished keep atMs null.
 */
async function injectFaults(faults: InjectedFault[], context: InjectorContext): Promise<void> {
  const repairs = new Map<FaultTarget, Promise<void>>();
  try {
    for (const fault of faults) {
      await untilStep(fault.notBeforeStep, context);
      // On the last step, faults still to come fire at once (each after its target is back):
      // a dead worker holds up the step, so the run cannot end before the next fault.
      const lastStep = (): boolean => completedSteps(context) >= context.steps - 1;
      if (!lastStep()) await sleep(fault.waitMs);
      if (context.finished()) return;
      const pending =
        fault.target === 'server'
          ? [...repairs.values()]
          : [repairs.get(fault.target), repairs.get('server')];
      await Promise.all(pending.map((repair) => repair ?? Promise.resolve()));
      fault.inFlight = lastStep() ? await inFlightNow(fault, context) : await aim(fault, context);
      if (context.finished()) return;
      const repair = inject(fault, context);
      repair.catch(() => undefined); // awaited below; a failed restart fails the chaos run there
      repairs.set(fault.target, repair);
    }
  } finally {
    await Promise.all(repairs.values());
  }
}

/** Steps the run has recorded (lines of metrics.jsonl), read from the store: no server needed. */
function completedSteps(context: InjectorContext): number {
  const metrics = join(context.fleet.artifactRoot, artifactKeys.metrics(context.runId));
  return existsSync(metrics) ? readFileSync(metrics, 'utf8').split('\n').filter(Boolean).length : 0;
}

/** Waits until the run works on `step` (steps before it are recorded) or finished. */
async function untilStep(step: number, context: InjectorContext): Promise<void> {
  while (completedSteps(context) < step - 1 && !context.finished()) await sleep(500);
}

/** What the fault's target runs right now. */
async function inFlightNow(fault: PlannedFault, context: InjectorContext): Promise<string[]> {
  const running = await runningActivities(context.client, context.runId);
  return running
    .filter((a) => fault.target === 'server' || a.role === fault.target)
    .map((a) => describeActivity(a, context.runId));
}

/**
 * Waits until the target role runs an activity, and returns what is in flight then. Gives up
 * after aimMs, or once the run records a step: the fault's own step, or for a fault behind
 * schedule the next one. So a role with nothing to do (the sandbox of a model that writes no
 * code) holds the faults after it up by one step at most.
 */
async function aim(fault: PlannedFault, context: InjectorContext): Promise<string[]> {
  const deadline = Date.now() + context.aimMs;
  const lastOkStep = Math.max(completedSteps(context), fault.notBeforeStep - 1);
  for (;;) {
    const hit = await inFlightNow(fault, context);
    const late = Date.now() >= deadline || completedSteps(context) > lastOkStep;
    if (hit.length > 0 || late || context.finished()) return hit;
    await sleep(250);
  }
}

/** Hits the target now; resolves when it is back (after downMs and its start-up). */
async function inject(fault: InjectedFault, context: InjectorContext): Promise<void> {
  const { fleet, log } = context;
  log(
    `fault ${fault.index}: ${fault.kind} ${fault.target} (in flight: ${fault.inFlight.join('; ') || 'idle'})`,
  );
  fault.atMs = Date.now();
  if (fault.target === 'server') {
    await fleet.stopServer();
    await sleep(fault.downMs);
    await fleet.startServer();
  } else {
    await fleet.killWorker(fault.target);
    await sleep(fault.downMs);
    await fleet.startWorker(fault.target);
  }
  fault.repairedMs = Date.now();
}

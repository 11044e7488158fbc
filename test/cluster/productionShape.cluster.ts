/**
 * tirflow on the production shape (test/cluster/productionCluster.ts): Temporal's four
 * services from the pinned server build on PostgreSQL, mTLS on the frontend, one tirflow worker
 * per role on its own host. Not part of `npm test` (its files end in .cluster.ts, which
 * scripts/test.sh's `*.test.ts` does not match): `npm run test:cluster` runs it.
 *
 * - the frontend admits only clients with a certificate from the cluster's CA (the CLI's client,
 *   a worker, the Temporal CLI; the server's TLS alert says why);
 * - a worker host reaches no Temporal port but the frontend's, and cannot log in to PostgreSQL;
 * - two steps of a tiny run complete;
 * - SIGKILL of the history service mid-step, and a PostgreSQL crash-restart mid-step, each
 *   leave the run finishing with every step trained once and final weights byte-identical to
 *   the undisturbed run's (runs are seeded and bit-deterministic on CPU).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { projectRoot, requireVenvTool, temporalBinary } from '../../activities/projectPaths';
import type { StepRecord } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import type { RunConfig } from '../../common/config';
import type { TrainingRunResult } from '../../workflows/trainingRun';
import { chaosRunConfig, writeChaosTasks } from '../chaos/chaosConfig';
import { checkInvariants } from '../chaos/invariants';
import { runOnHost, type NetHost } from '../deploy/netHosts';
import { tirflowBin } from '../support/cli';
import { uniqueName } from '../support/temporal';
import type { Result } from 'execa';
import type { CertificateSet } from './certs';
import { logTail } from './hostProcess';
import { postgresBinDir } from './postgres';
import { frontendPort, frontendServerName } from './temporalServices';
import { removeWorkDir, startProductionCluster, type ProductionCluster } from './productionCluster';

const started = Date.now();
const log = (line: string): void =>
  console.log(`[cluster +${((Date.now() - started) / 1000).toFixed(0)}s] ${line}`);

let cluster: ProductionCluster;
let config: RunConfig;
let configFile: string;
let failures = 0;

before(async () => {
  cluster = await startProductionCluster(log);
  // The tiny base on the levels it sometimes solves: groups of mixed reward survive dynamic
  // filtering, so both steps really train (and a fault lands on real work).
  const chaos = chaosRunConfig(
    { steps: 2, evaluationEvery: 0, stepsPerExecution: 2 },
    'tiny-base',
    join(projectRoot, 'models/tiny-base'),
    writeChaosTasks(cluster.dir),
  );
  // Every step's weights kept, so each can be compared with the undisturbed run's.
  config = { ...chaos, checkpoints: { ...chaos.checkpoints, keepWeightsEvery: 0 } };
  configFile = join(cluster.dir, 'run.json');
  writeFileSync(configFile, JSON.stringify(config));
});

after(async () => {
  await cluster?.stop();
  if (cluster && failures === 0) removeWorkDir(cluster);
  else if (cluster) log(`kept ${cluster.dir} for its logs`);
  log('done');
});

/** Counts failed tests, so the work dir of a failed run is kept. */
function tracked(name: string, body: () => Promise<void>): void {
  test(name, async () => {
    try {
      await body();
    } catch (err) {
      failures += 1;
      throw err;
    }
  });
}

/** `tirflow <args>` on the operator host. */
function operatorTirflow(args: string[]) {
  return runOnHost(cluster.hosts.operator, process.execPath, [tirflowBin, ...args], { detached: false });
}

// ---------------------------------------------------------------- who can reach what

/** stdout and stderr of a finished process, interleaved. */
const output = (result: Result): string => (typeof result.all === 'string' ? result.all : '');

/** `tirflow runs` (the CLI's client connection, grpc-js) with the given certificate, or none. */
function listRuns(certs: CertificateSet | null): Promise<Result> {
  return operatorTirflow(['runs', '--limit', '1', ...cluster.connectionArgs('operator', certs)]);
}

/**
 * `tirflow worker` (the worker's native connection, Rust core) with the given certificate, or
 * none: its output up to its first attempt to connect, then it is stopped. A worker waits for
 * an unreachable server, retrying, so a refused worker keeps trying: its first failed attempt
 * is the refusal; a worker that connects says it is up.
 */
async function firstWorkerAttempt(certs: CertificateSet | null): Promise<string> {
  const worker = runOnHost(cluster.hosts.operator, process.execPath, [
    tirflowBin,
    ...['worker', '--role', 'reward', '--no-workflows', '--pool-size', '1'],
    ...['--artifacts', join(cluster.dir, 'refused-worker')],
    ...cluster.connectionArgs('operator', certs),
  ]);
  let seen = '';
  await new Promise<void>((resolve) => {
    worker.all?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (/is unreachable|tirflow worker up/.test(seen)) resolve();
    });
    void worker.then(
      () => resolve(),
      () => resolve(),
    );
  });
  try {
    process.kill(-worker.pid!, 'SIGTERM'); // its process group: the CLI and the worker it runs
  } catch {
    // already gone
  }
  await worker;
  return seen;
}

/**
 * What the frontend answers a TLS handshake with (openssl s_client from the operator host):
 * the clients above only say they could not connect; the server's alert says why.
 */
async function frontendTlsAnswer(certs: CertificateSet | null): Promise<string> {
  const client = certs?.client('operator');
  const result = await runOnHost(
    cluster.hosts.operator,
    'openssl',
    [
      ...['s_client', '-connect', cluster.frontendAddress, '-CAfile', cluster.certs.ca],
      ...['-servername', frontendServerName, '-ign_eof'],
      ...(client ? ['-cert', client.cert, '-key', client.key] : []),
    ],
    { detached: false, input: '', timeout: 5 * 60_000 },
  );
  return output(result);
}

/** Whether a TCP connection from `from` to address:port is accepted. */
async function tcpAccepts(from: NetHost, address: string, port: number): Promise<boolean> {
  const probe = await runOnHost(from, 'bash', ['-c', `exec 3<>/dev/tcp/${address}/${port}`], {
    detached: false,
  });
  return probe.exitCode === 0;
}

tracked('a client with a certificate from the cluster CA is admitted', async () => {
  const admitted = await listRuns(cluster.certs);
  assert.equal(admitted.exitCode, 0, `tirflow runs with the operator's certificate:\n${output(admitted)}`);
});

tracked('the frontend refuses a client without a certificate', async () => {
  const refused = await listRuns(null);
  assert.equal(refused.exitCode, 3, `tirflow runs without a certificate connected:\n${output(refused)}`);
  assert.match(output(refused), /cannot reach Temporal/);

  const worker = await firstWorkerAttempt(null);
  assert.doesNotMatch(worker, /tirflow worker up/, 'a worker without a certificate connected');
  assert.match(worker, /is unreachable \(Failed to call GetSystemInfo/);

  const cli = await runOnHost(
    cluster.hosts.operator,
    requireVenvTool(temporalBinary),
    [
      ...['operator', 'cluster', 'health', '--address', cluster.frontendAddress],
      ...['--tls-ca-path', cluster.certs.ca, '--tls-server-name', frontendServerName],
    ],
    { detached: false },
  );
  assert.notEqual(cli.exitCode, 0, `the Temporal CLI without a certificate connected:\n${output(cli)}`);

  assert.match(await frontendTlsAnswer(null), /alert certificate required/);
});

tracked('the frontend refuses a client whose certificate comes from another CA', async () => {
  const refused = await listRuns(cluster.strangerCerts);
  assert.equal(
    refused.exitCode,
    3,
    `tirflow runs with a stranger's certificate connected:\n${output(refused)}`,
  );
  assert.match(output(refused), /cannot reach Temporal/);

  const worker = await firstWorkerAttempt(cluster.strangerCerts);
  assert.doesNotMatch(worker, /tirflow worker up/, "a worker with a stranger's certificate connected");
  assert.match(worker, /is unreachable \(Failed to call GetSystemInfo/);

  assert.match(await frontendTlsAnswer(cluster.strangerCerts), /alert unknown ca/);
});

tracked('a worker host reaches only the frontend: no other Temporal port, no PostgreSQL login', async () => {
  const worker = cluster.hosts.sandbox;
  const temporal = cluster.hosts.temporal.address;
  assert.ok(await tcpAccepts(worker, temporal, frontendPort), 'the frontend accepts connections');
  for (const [service, port] of [
    ['history', 7234],
    ['matching', 7235],
    ['worker', 7239],
  ] as const) {
    assert.equal(await tcpAccepts(worker, temporal, port), false, `${service} (port ${port}) is reachable`);
  }

  const { postgres } = cluster;
  const login = (from: NetHost): Promise<Result> =>
    runOnHost(
      from,
      join(postgresBinDir(), 'psql'),
      ['-h', postgres.host.address, '-p', String(postgres.port), '-U', postgres.user, '-d', 'temporal'],
      {
        detached: false,
        input: 'SELECT 1;',
        env: { PGPASSWORD: postgres.password, PGCONNECT_TIMEOUT: '30' },
      },
    );
  const fromTemporal = await login(cluster.hosts.temporal);
  assert.equal(fromTemporal.exitCode, 0, `the Temporal host logs in:\n${output(fromTemporal)}`);
  const fromWorker = await login(worker);
  assert.notEqual(fromWorker.exitCode, 0, 'a worker host logged in to PostgreSQL with the password');
  assert.match(output(fromWorker), /no pg_hba\.conf entry/);
});

// ---------------------------------------------------------------- runs

interface FollowedRun {
  runId: string;
  /** Whether `tirflow train` is still following the run. */
  following: () => boolean;
}

interface FinishedRun {
  runId: string;
  result: TrainingRunResult;
  /** Checkpoint weights per step (hf/model.safetensors). */
  weights: Buffer[];
}

const weightsOf = (runId: string, step: number): Buffer =>
  readFileSync(join(cluster.artifactRoot, artifactKeys.checkpoint(runId, step), 'hf', 'model.safetensors'));

/** The run's workflow result, read back through the Temporal CLI. */
async function workflowResult(runId: string): Promise<TrainingRunResult> {
  const shown = await cluster.temporalCli(['workflow', 'result', '--workflow-id', runId, '-o', 'json']);
  assert.equal(shown.exitCode, 0, `temporal workflow result:\n${output(shown)}`);
  const shownRun = JSON.parse(String(shown.stdout)) as { status: string; result: TrainingRunResult };
  assert.equal(shownRun.status, 'COMPLETED', `run ${runId}`);
  return shownRun.result;
}

/**
 * Runs `tirflow train` on the operator host to the end; `fault` runs alongside it and gets the
 * run id. Returns the finished run after checking that every step was trained exactly once.
 */
async function trainToTheEnd(
  prefix: string,
  fault?: (run: FollowedRun) => Promise<void>,
): Promise<FinishedRun> {
  const runId = uniqueName(prefix);
  log(`run ${runId}: started`);
  const training = operatorTirflow([
    'train',
    '-c',
    configFile,
    '--run-id',
    runId,
    ...cluster.connectionArgs('operator'),
  ]);
  let following = true;
  void training.finally(() => (following = false));
  const faulted = fault?.({ runId, following: () => following });
  const train = await Promise.race([training, cluster.workerExit]);
  following = false;
  await faulted;
  assert.equal(train.exitCode, 0, `tirflow train:\n${String(train.all).split('\n').slice(-40).join('\n')}`);
  assert.match(String(train.stdout), /completed after 2 steps \(policy v2\)/);
  log(`run ${runId}: completed`);

  const result = await workflowResult(runId);
  for (const check of checkInvariants({ artifactRoot: cluster.artifactRoot, runId, config, result })) {
    assert.ok(check.ok, `run ${runId}, ${check.name}: ${check.detail}`);
  }
  return { runId, result, weights: [1, 2].map((step) => weightsOf(runId, step)) };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `step` of the run is under way: its first shard has generated a turn, its checkpoint is not written. */
async function midStep({ runId, following }: FollowedRun, step: number): Promise<void> {
  const generated = join(cluster.artifactRoot, artifactKeys.generated(runId, step, 0, 0));
  while (!existsSync(generated)) {
    assert.ok(following(), `run ${runId} ended before step ${step} was under way`);
    await sleep(100);
  }
  assert.ok(
    !existsSync(join(cluster.artifactRoot, artifactKeys.checkpoint(runId, step))),
    `step ${step} was already trained when the fault was to land`,
  );
}

let clean: FinishedRun | undefined;

tracked('two steps of a tiny run complete on Temporal on PostgreSQL, every worker over mTLS', async () => {
  clean = await trainToTheEnd('cluster-clean');
  assert.equal(clean.result.completedSteps, 2);
  // Both steps really trained (groups of mixed reward survived filtering), so equal weights
  // after a fault mean the same training, not none.
  const records = readFileSync(join(cluster.artifactRoot, artifactKeys.metrics(clean.runId)), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as StepRecord);
  for (const record of records) {
    assert.ok((record.update?.trainedTokens ?? 0) > 0, `step ${record.step} trained on tokens`);
  }
  assert.notDeepEqual(clean.weights[1], clean.weights[0], 'step 2 changed the policy');
});

function assertSameWeights(run: FinishedRun): void {
  assert.ok(clean, 'the undisturbed run completed (the test before)');
  for (const [index, weights] of run.weights.entries()) {
    assert.ok(
      weights.equals(clean.weights[index]!),
      `step ${index + 1}: the weights of ${run.runId} differ from the undisturbed run ${clean.runId}`,
    );
  }
}

tracked(
  'SIGKILL of the history service mid-step: the run finishes, each step trained once, same weights',
  async () => {
    const run = await trainToTheEnd('cluster-history-kill', async (followed) => {
      const { runId } = followed;
      await midStep(followed, 1);
      const history = cluster.temporal.process('history');
      log(`run ${runId}: SIGKILL history (pid ${history.child.pid}) mid-step 1`);
      await history.kill();
      const ended = await history.child;
      assert.equal(
        ended.signal,
        'SIGKILL',
        `history was killed, not ended otherwise:\n${logTail(history.log)}`,
      );
      await sleep(3000);
      log(`run ${runId}: history restarted`);
      cluster.temporal.start('history');
    });
    assert.ok(cluster.temporal.process('history').running(), 'the restarted history service still runs');
    assertSameWeights(run);
  },
);

tracked(
  'a PostgreSQL crash and restart mid-step: the run finishes, each step trained once, same weights',
  async () => {
    const run = await trainToTheEnd('cluster-postgres-restart', async (followed) => {
      const { runId } = followed;
      await midStep(followed, 2);
      log(`run ${runId}: PostgreSQL stopped (immediate: no checkpoint) mid-step 2`);
      await cluster.postgres.crashRestart(3000);
      log(`run ${runId}: PostgreSQL restarted`);
    });
    assertSameWeights(run);
  },
);

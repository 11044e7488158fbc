/**
 * Multi-host on one machine: Temporal, the rollout, sandbox, reward and trainer workers and
 * the operator's `tirflow train` each run on their own "host" (a network namespace with a
 * private address, linked to the others by veth and a bridge), sharing only the Temporal
 * server's address and one artifact directory. Two steps of a tiny run complete, and the run's
 * history shows each kind of activity done by the process on its role's host.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { ResultPromise } from 'execa';
import { requireVenvTool, temporalBinary } from '../../activities/projectPaths';
import type { WorkerRole } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import type { ExecutionResult } from '../../common/trajectory';
import { tirflowBin } from '../support/cli';
import { uniqueName } from '../support/temporal';
import { tinyRunConfig } from '../support/tinyRun';
import { codeWritingModel } from './codeWritingModel';
import { createHostNetwork, netnsOf, runOnHost, type HostNetwork, type NetHost } from './netHosts';

const roles: readonly WorkerRole[] = ['rollout', 'sandbox', 'reward', 'trainer'];
/** Which role's process each activity of a run must have run on. */
const roleOfActivity: Record<string, WorkerRole> = {
  prepareRun: 'rollout',
  generate: 'rollout',
  executeCode: 'sandbox',
  score: 'reward',
  recordStep: 'reward',
  updatePolicy: 'trainer',
  exportPolicy: 'trainer',
};

let network: HostNetwork | undefined;
const running = new Map<string, ResultPromise>();

async function stopProcess(name: string, child: ResultPromise): Promise<void> {
  running.delete(name);
  if (child.exitCode === null && child.pid) {
    try {
      process.kill(-child.pid, 'SIGTERM'); // the group: the CLI and the processes it spawned
    } catch {
      // already gone
    }
  }
  const kill = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }, 15_000);
  await child;
  clearTimeout(kill);
}

after(async () => {
  // Workers and the operator first (they hand their tasks back to Temporal), then Temporal,
  // then the network.
  const others = [...running].filter(([name]) => name !== 'temporal');
  await Promise.all(others.map(([name, child]) => stopProcess(name, child)));
  const temporal = running.get('temporal');
  if (temporal) await stopProcess('temporal', temporal);
  await network?.remove();
});

/** The last lines of a process's output, for failure messages. */
const tail = (text: unknown, lines = 30): string =>
  (typeof text === 'string' ? text : '').split('\n').slice(-lines).join('\n');

/** Runs the Temporal CLI as a client on `host`; returns its stdout. */
async function temporalCli(host: NetHost, args: string[]): Promise<string> {
  const result = await runOnHost(host, requireVenvTool(temporalBinary), args, { detached: false });
  assert.equal(result.exitCode, 0, `temporal ${args.join(' ')}:\n${tail(result.all)}`);
  return String(result.stdout);
}

async function waitForTemporal(client: NetHost, address: string, server: ResultPromise): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const probe = await runOnHost(
      client,
      requireVenvTool(temporalBinary),
      ['operator', 'cluster', 'health', '--address', address],
      { detached: false },
    );
    if (probe.exitCode === 0 && String(probe.stdout).includes('SERVING')) return;
    if (server.exitCode !== null) assert.fail(`Temporal exited during start-up:\n${tail(server.all)}`);
    assert.ok(attempt < 240, `Temporal did not answer on ${address}:\n${tail(probe.all)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

interface HistoryEvent {
  eventId: string;
  eventType: string;
  activityTaskScheduledEventAttributes?: { activityType: { name: string }; taskQueue: { name: string } };
  activityTaskStartedEventAttributes?: { scheduledEventId: string; identity: string };
  childWorkflowExecutionStartedEventAttributes?: { workflowExecution: { workflowId: string } };
  workflowTaskStartedEventAttributes?: { identity: string };
}

async function history(host: NetHost, address: string, workflowId: string): Promise<HistoryEvent[]> {
  const out = await temporalCli(host, [
    'workflow',
    'show',
    '-w',
    workflowId,
    '--address',
    address,
    '-o',
    'json',
  ]);
  return (JSON.parse(out) as { events: HistoryEvent[] }).events;
}

/** [activity type, worker identity] of every started activity in the events. */
function startedActivities(events: HistoryEvent[]): [string, string][] {
  const scheduled = new Map(
    events
      .filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => [e.eventId, e.activityTaskScheduledEventAttributes!.activityType.name]),
  );
  return events
    .filter((e) => e.activityTaskStartedEventAttributes)
    .map((e) => {
      const { scheduledEventId, identity } = e.activityTaskStartedEventAttributes!;
      return [scheduled.get(scheduledEventId)!, identity];
    });
}

/** Worker identities are `pid@hostname`. */
const pidOf = (identity: string): number => Number(identity.split('@')[0]);

test(
  'rollout, sandbox, reward and trainer on separate hosts complete two steps through one Temporal',
  { timeout: 15 * 60_000 },
  async () => {
    network = await createHostNetwork(['temporal', ...roles, 'operator']);
    const { hosts } = network;
    const operator = hosts.operator!;
    const address = `${hosts.temporal!.address}:7233`;

    // Every address of the Temporal host: its private one, and loopback, which the dev server's
    // own services dial each other on.
    const temporal = runOnHost(hosts.temporal!, requireVenvTool(temporalBinary), [
      'server',
      'start-dev',
      '--ip',
      '0.0.0.0',
      '--port',
      '7233',
      '--headless',
      '--log-level',
      'warn',
    ]);
    running.set('temporal', temporal);
    await waitForTemporal(operator, address, temporal);

    const artifactRoot = mkdtempSync(join(tmpdir(), 'tirflow-multihost-'));
    const configFile = join(artifactRoot, 'run.json');
    // A model that writes and runs code in every rollout, so the sandbox host has work too.
    const config = tinyRunConfig(await codeWritingModel(), {
      rollout: { promptsPerStep: 2, samplesPerPrompt: 2, shards: 2, maxResponseTokens: 64 },
    });
    writeFileSync(configFile, JSON.stringify(config));

    for (const role of roles) {
      const args = [
        'worker',
        '--role',
        role,
        '--address',
        address,
        '--artifacts',
        artifactRoot,
        '--pool-size',
        '1',
      ];
      // Workflow tasks on the rollout host only: one webpack bundle on a 2-core machine.
      if (role !== 'rollout') args.push('--no-workflows');
      running.set(role, runOnHost(hosts[role]!, process.execPath, [tirflowBin, ...args]));
    }
    const workerDied = Promise.race(
      roles.map((role) =>
        running.get(role)!.then((result) => {
          throw new Error(`the ${role} worker exited (${result.exitCode}):\n${tail(result.all)}`);
        }),
      ),
    );
    workerDied.catch(() => undefined);

    const runId = uniqueName('multihost');
    const training = runOnHost(operator, process.execPath, [
      tirflowBin,
      'train',
      '-c',
      configFile,
      '--run-id',
      runId,
      '--address',
      address,
    ]);
    running.set('operator', training);
    const train = await Promise.race([training, workerDied]);
    assert.equal(train.exitCode, 0, `tirflow train:\n${tail(train.all)}`);
    assert.match(String(train.stdout), /completed after 2 steps \(policy v2\)/);

    // The shared artifact directory holds every role's output.
    const lines = (key: string): string[] => readFileSync(join(artifactRoot, key), 'utf8').trim().split('\n');
    assert.equal(lines(artifactKeys.metrics(runId)).length, 2, 'the reward host recorded both steps');
    const trainerLog = join(artifactKeys.runRoot(runId), 'checkpoints', 'trainer-steps.log');
    assert.equal(lines(trainerLog).length, 2, 'the trainer host trained each step once');
    const runRoot = artifactKeys.runRoot(runId);
    const executions = readdirSync(join(artifactRoot, runRoot), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.executed.jsonl'))
      .flatMap((file) => lines(join(runRoot, file)).map((line) => JSON.parse(line) as ExecutionResult));
    assert.ok(executions.length > 0, 'the sandbox host executed code');
    for (const execution of executions) {
      assert.deepEqual([execution.status, execution.stdout.trim()], ['ok', '42'], 'print(6*7) ran');
    }

    // Each activity ran in the process on its role's host, reached over the private network.
    const netnsOfRole = new Map<number, WorkerRole>();
    for (const role of roles) {
      const child = running.get(role)!;
      assert.equal(child.exitCode, null, `${role} worker still running`);
    }
    const parent = await history(operator, address, runId);
    const shardIds = parent.flatMap((e) =>
      e.childWorkflowExecutionStartedEventAttributes
        ? [e.childWorkflowExecutionStartedEventAttributes.workflowExecution.workflowId]
        : [],
    );
    assert.equal(shardIds.length, 4, 'two shards per step');
    const events = [parent, ...(await Promise.all(shardIds.map((id) => history(operator, address, id))))];
    const started = events.flatMap(startedActivities);
    const seen = new Set(started.map(([type]) => type));
    for (const type of Object.keys(roleOfActivity)) {
      assert.ok(seen.has(type), `${type} ran`);
    }
    for (const [type, identity] of started) {
      const expected = roleOfActivity[type];
      if (!expected) continue;
      const pid = pidOf(identity);
      let role = netnsOfRole.get(pid);
      if (!role) {
        const netns = await netnsOf(pid);
        role = roles.find((r) => hosts[r]!.netns === netns);
        assert.ok(role, `${type} ran in process ${pid}, in namespace "${netns}", not on a worker host`);
        netnsOfRole.set(pid, role);
      }
      assert.equal(role, expected, `${type} ran on the ${role} host, not the ${expected} host`);
    }
    // Workflow tasks ran on the rollout host, the only one polling for them.
    for (const event of events.flat().filter((e) => e.workflowTaskStartedEventAttributes)) {
      const pid = pidOf(event.workflowTaskStartedEventAttributes!.identity);
      assert.equal(await netnsOf(pid), hosts.rollout!.netns);
    }
  },
);

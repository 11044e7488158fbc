/** The `executeCode` activity in a mock activity context, with a real artifact store and the real sandbox. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { LocalDirArtifactStore, readJsonl, writeJsonl } from '../../activities/artifactStore';
import { createSandboxActivities, faultEnvVar } from '../../activities/sandbox/executeCode';
import { SandboxPool } from '../../activities/sandbox/pool';
import type { ExecuteCodeResult } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import type { ExecutionResult, Trajectory } from '../../common/trajectory';

function trajectory(id: string, fields: Partial<Trajectory>): Trajectory {
  return {
    id,
    promptId: 'p0',
    sampleIndex: 0,
    problem: 'What is 3 * 4?',
    referenceAnswer: '12',
    level: 'L1',
    seed: 1,
    promptTokenIds: [1, 2],
    responseTokenIds: [3, 4],
    actionMask: [1, 1],
    responseText: ' ```python\n',
    phase: 'awaitingExecution',
    stopReason: 'code',
    toolCalls: 1,
    executions: [],
    pendingCode: null,
    ...fields,
  };
}

const shard = [
  trajectory('s0-p0-n0', { pendingCode: 'print(3 * 4)' }),
  trajectory('s0-p0-n1', { phase: 'finished', stopReason: 'answer', pendingCode: null }),
  trajectory('s0-p0-n2', { pendingCode: '1 / 0' }),
  trajectory('s0-p0-n3', { pendingCode: 'while True:\n    pass' }),
  trajectory('s0-p0-n4', { pendingCode: 'import sympy\nprint(sympy.Rational(1, 3) + sympy.Rational(1, 6))' }),
];

describe('executeCode activity', () => {
  let root: string;
  let store: LocalDirArtifactStore;
  let pool: SandboxPool;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tirflow-execute-'));
    store = new LocalDirArtifactStore(root);
    pool = new SandboxPool({ size: 2 });
    await pool.start();
  });
  after(async () => {
    await pool.close();
    await rm(root, { recursive: true, force: true });
  });

  const input = (runId: string) => ({
    runId,
    step: 2,
    shard: 1,
    turn: 0,
    generatedKey: artifactKeys.generated(runId, 2, 1, 0),
    timeoutS: 1,
  });

  void it('runs the pending code blocks and writes one result per awaiting trajectory, in order', async () => {
    await writeJsonl(store, input('run-a').generatedKey, shard);
    const { executeCode } = createSandboxActivities({ store, pool });
    const env = new MockActivityEnvironment();
    const heartbeats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => heartbeats.push(details));

    const result = await env.run(executeCode, input('run-a'));

    const executedKey = artifactKeys.executed('run-a', 2, 1, 0);
    assert.deepEqual(result, { executedKey, executions: 4, byStatus: { ok: 2, error: 1, timeout: 1 } });
    const written = await readJsonl<ExecutionResult>(store, executedKey);
    assert.deepEqual(
      written.map((r) => [r.trajectoryId, r.status, r.stdout]),
      [
        ['s0-p0-n0', 'ok', '12\n'],
        ['s0-p0-n2', 'error', ''],
        ['s0-p0-n3', 'timeout', ''],
        ['s0-p0-n4', 'ok', '1/2\n'],
      ],
    );
    assert.match(written[1]!.stderr, /ZeroDivisionError/);
    // One heartbeat per completed execution, plus a clock heartbeat every second in between.
    const completions = heartbeats.map((h) => (h as { completed: number }).completed);
    assert.deepEqual(
      [...new Set(completions)].filter((n) => n > 0),
      [1, 2, 3, 4],
    );
    assert.deepEqual(heartbeats.at(-1), { completed: 4, total: 4 });

    // A retry finds the artifact: same summary, nothing run, nothing rewritten.
    const before = await stat(store.pathOf(executedKey));
    const retryHeartbeats: unknown[] = [];
    const retryEnv = new MockActivityEnvironment();
    retryEnv.on('heartbeat', (details: unknown) => retryHeartbeats.push(details));
    assert.deepEqual(await retryEnv.run(executeCode, input('run-a')), result);
    assert.equal(retryHeartbeats.length, 0);
    assert.equal((await stat(store.pathOf(executedKey))).mtimeMs, before.mtimeMs);
    assert.deepEqual(await store.list(artifactKeys.stepRoot('run-a', 2)), [
      executedKey,
      input('run-a').generatedKey,
    ]);
  });

  void it('fails once, retryably, when the fault switch names a new file, and then succeeds', async () => {
    await writeJsonl(store, input('run-b').generatedKey, shard.slice(0, 1));
    const marker = join(root, 'fault-once');
    process.env[faultEnvVar] = marker;
    try {
      const { executeCode } = createSandboxActivities({ store, pool });
      await assert.rejects(new MockActivityEnvironment().run(executeCode, input('run-b')), (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure);
        assert.equal(err.type, 'InjectedFault');
        assert.equal(err.nonRetryable, false);
        return true;
      });
      assert.ok(existsSync(marker));
      assert.equal(
        await store.exists(artifactKeys.executed('run-b', 2, 1, 0)),
        false,
        'nothing half-written',
      );
      const retried: ExecuteCodeResult = await new MockActivityEnvironment().run(executeCode, input('run-b'));
      assert.deepEqual(retried.byStatus, { ok: 1 });
    } finally {
      delete process.env[faultEnvVar];
    }
  });

  void it('fails permanently on a missing artifact or a trajectory without code', async () => {
    const { executeCode } = createSandboxActivities({ store, pool });
    const permanent = (type: string) => (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, type);
      assert.equal(err.nonRetryable, true);
      return true;
    };
    await assert.rejects(
      new MockActivityEnvironment().run(executeCode, input('run-missing')),
      permanent('MissingArtifact'),
    );
    await writeJsonl(store, input('run-c').generatedKey, [trajectory('s0-p0-n0', { pendingCode: null })]);
    await assert.rejects(
      new MockActivityEnvironment().run(executeCode, input('run-c')),
      permanent('MalformedTrajectory'),
    );
    await writeJsonl(store, input('run-d').generatedKey, shard.slice(0, 1));
    await assert.rejects(
      new MockActivityEnvironment().run(executeCode, { ...input('run-d'), timeoutS: 0 }),
      permanent('InvalidSandboxLimits'),
    );
  });

  void it('a turn with many code blocks queues them all without a listener-leak warning', async () => {
    const many = Array.from({ length: 24 }, (_, i) =>
      trajectory(`s0-p${i}-n0`, { pendingCode: `print(${i} * 2)` }),
    );
    await writeJsonl(store, input('run-many').generatedKey, many);
    const { executeCode } = createSandboxActivities({ store, pool });
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      const result: ExecuteCodeResult = await new MockActivityEnvironment().run(
        executeCode,
        input('run-many'),
      );
      assert.equal(result.executions, many.length);
      assert.equal(result.byStatus.ok, many.length);
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(
      warnings.filter((w) => w.startsWith('MaxListenersExceededWarning')),
      [],
    );
  });
});

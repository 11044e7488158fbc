/**
 * The artifact store's disk full (ENOSPC), read-only (EROFS) and permission denied (EACCES), for
 * real: a `tirflow worker --role reward` process runs in a private mount namespace whose artifact
 * store is a small tmpfs (made by `unshare --mount`, gone with the process; the host's mounts are
 * untouched), as root without the capabilities that override file permissions (so a folder's
 * mode binds it, as it binds any unprivileged worker). For each condition a `score` call through the product's retry
 * policy fails retryably with a message naming the key, the path and the errno, leaves no temp
 * file and no partial artifact, and completes once the condition is cleared.
 *
 * The test reaches into the namespace through /proc/<pid>/root (files) and nsenter (remount).
 * It needs root for the mount namespace; without it, it fails saying so.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { execa, type ResultPromise } from 'execa';
import type { ScoreResult } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import type { ScoredTrajectory } from '../../common/trajectory';
import { trajectory } from '../reward/trajectories';
import { tirflowBin } from '../support/cli';
import { tempEntries } from '../support/storeFiles';
import { connectTestTemporal, uniqueName, type TestTemporal } from '../support/temporal';

/** Capabilities dropped from the worker: with them root ignores a folder's mode (no EACCES). */
const PERMISSION_OVERRIDES = '-dac_override,-dac_read_search,-fowner';
const workflowsPath = fileURLToPath(new URL('./fixtures/storeWorkflows.ts', import.meta.url));

/** `unshare` arguments that run the shell `script` with `args` in a new private mount namespace. */
function inPrivateMounts(script: string, ...args: string[]): string[] {
  return ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', ...args];
}

/** Fails, naming what is missing, unless this process may make a private mount namespace. */
async function requirePrivateMounts(): Promise<void> {
  const probe = mkdtempSync(join(tmpdir(), 'tirflow-mount-probe-'));
  const result = await execa(
    'unshare',
    inPrivateMounts('mount -t tmpfs -o size=64k tirflow-probe "$1"', probe),
    { reject: false, all: true },
  );
  await rm(probe, { recursive: true, force: true });
  if (result.exitCode !== 0) {
    throw new Error(
      'store-failure tests need root (CAP_SYS_ADMIN) to mount a tmpfs in a private mount namespace ' +
        `(unshare --mount), plus setpriv and nsenter: ${String(result.all ?? result.message)}`,
    );
  }
}

void describe('artifact store full, read-only or denied: retryable, clear, nothing partial, resumes', () => {
  let temporal: TestTemporal;
  let mountPoint: string;
  let storeWorker: ResultPromise<{ reject: false; all: true }>;
  let workflowWorker: Worker;
  let workflowWorkerRun: Promise<void>;
  const taskQueue = uniqueName('store-failures');

  /** A path inside the worker's store, as seen from this (host) namespace. */
  const inStore = (key = ''): string => join(`/proc/${storeWorker.pid}/root`, mountPoint, key);

  before(async () => {
    await requirePrivateMounts();
    temporal = await connectTestTemporal();
    mountPoint = mkdtempSync(join(tmpdir(), 'tirflow-store-mount-'));
    const inNamespace =
      'mount -t tmpfs -o size=256k,mode=0777 tirflow-test-store "$1" && shift && ' +
      `exec setpriv --bounding-set ${PERMISSION_OVERRIDES} -- "$@"`;
    storeWorker = execa(
      'unshare',
      inPrivateMounts(
        inNamespace,
        mountPoint,
        process.execPath,
        tirflowBin,
        'worker',
        '--role',
        'reward',
        '--no-workflows',
        '--pool-size',
        '1',
        '--artifacts',
        mountPoint,
        '--address',
        temporal.address,
      ),
      { reject: false, all: true },
    );
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      storeWorker.all.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes('tirflow worker up')) resolve();
      });
      void storeWorker.then((r) => reject(new Error(`the store worker exited: ${String(r.all)}`)));
    });
    workflowWorker = await Worker.create({
      connection: temporal.workerConnection,
      taskQueue,
      workflowsPath,
    });
    workflowWorkerRun = workflowWorker.run();
  });

  after(async () => {
    if (workflowWorker?.getState() === 'RUNNING') workflowWorker.shutdown();
    await workflowWorkerRun;
    storeWorker?.kill('SIGTERM');
    await storeWorker;
    await temporal?.close();
    await rm(mountPoint, { recursive: true, force: true });
  });

  /** Writes a shard's generated trajectories (~40 KB) into the store. */
  async function writeShard(runId: string): Promise<string> {
    const key = artifactKeys.generated(runId, 1, 0, 0);
    await mkdir(dirname(inStore(key)), { recursive: true });
    // Long responses make the scored artifact larger than the room left on a "full" disk, so the
    // write really starts, fails half way and must clean its temp file up.
    const reasoning = ' ' + 'thinking about it '.repeat(1100);
    const rows = [0, 1].map((n) =>
      trajectory({
        id: `s1-p0-n${n}`,
        sampleIndex: n,
        responseText: `${reasoning}3 + 4 = ${7 + n}. </think> <answer> \\boxed{${7 + n}} </answer>`,
      }),
    );
    await writeFile(inStore(key), rows.map((r) => JSON.stringify(r) + '\n').join(''));
    return key;
  }

  /** Polls until the activity has failed `attempts` times; returns its last failure. */
  async function failedAttempts(handle: WorkflowHandle, attempts: number) {
    for (;;) {
      const pending = (await handle.describe()).raw.pendingActivities?.[0];
      if (pending?.lastFailure && (pending.attempt ?? 0) > attempts) return pending.lastFailure;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  interface StoreCondition {
    errno: string;
    reason: RegExp;
    cause(runId: string): Promise<void>;
    clear(runId: string): Promise<void>;
  }

  async function failsThenResumes(
    t: { diagnostic(message: string): void },
    name: string,
    condition: StoreCondition,
  ): Promise<void> {
    const runId = uniqueName(name);
    const generatedKey = await writeShard(runId);
    const scoredKey = artifactKeys.scored(runId, 1, 0);
    await condition.cause(runId);
    const handle = await temporal.client.workflow.start('scoreOnce', {
      taskQueue,
      workflowId: runId,
      args: [{ runId, step: 1, shard: 0, generatedKey }],
    });
    try {
      // Two failed attempts: the activity is being retried, not failed for good.
      const failure = await failedAttempts(handle, 2);
      t.diagnostic(`attempt 2 failed: ${failure.message}`);
      assert.equal(failure.applicationFailureInfo?.type, 'ArtifactWriteError');
      assert.equal(failure.applicationFailureInfo?.nonRetryable ?? false, false);
      const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      assert.match(
        failure.message ?? '',
        new RegExp(
          `^artifact store cannot write ${escape(scoredKey)} at ${escape(join(mountPoint, scoredKey))}: ${condition.errno} \\(`,
        ),
      );
      assert.match(failure.message ?? '', condition.reason);
      assert.deepEqual(await tempEntries(inStore()), [], 'no temp file left by the failed writes');
      await assert.rejects(readFile(inStore(scoredKey)), { code: 'ENOENT' }, 'no partial artifact');
    } finally {
      await condition.clear(runId);
    }
    const result = (await handle.result()) as ScoreResult;
    assert.equal(result.trajectories, 2);
    assert.equal(result.correct, 1);
    const scored = (await readFile(inStore(scoredKey), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as ScoredTrajectory);
    assert.deepEqual(
      scored.map((t) => [t.id, t.reward]),
      [
        ['s1-p0-n0', 1],
        ['s1-p0-n1', 0],
      ],
    );
    assert.deepEqual(await tempEntries(inStore()), []);
    const attempts = ((await handle.fetchHistory()).events ?? []).flatMap((e) =>
      e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt ?? 1] : [],
    );
    assert.equal(attempts.length, 1);
    assert.ok(attempts[0]! >= 3, `completed on a retry (attempt ${attempts[0]})`);
  }

  void it('disk full (ENOSPC): freeing space lets the retry write the artifact', async (t) => {
    const filler = (): string => inStore('.filler');
    await failsThenResumes(t, 'enospc', {
      errno: 'ENOSPC',
      reason: /no space left on device/,
      async cause() {
        const handle = await open(filler(), 'w');
        const chunk = Buffer.alloc(16 * 1024, 1);
        try {
          for (;;) await handle.write(chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        } finally {
          await handle.close();
        }
        // Room for a few pages: the scored artifact starts to be written, then runs out.
        const { size } = await stat(filler());
        await truncate(filler(), size - 16 * 1024);
      },
      async clear() {
        await rm(filler());
      },
    });
  });

  void it('read-only file system (EROFS): remounting read-write lets the retry write it', async (t) => {
    const remount = (mode: 'ro' | 'rw') =>
      execa('nsenter', [
        '--target',
        String(storeWorker.pid),
        '--mount',
        '--',
        'mount',
        '-o',
        `remount,${mode}`,
        mountPoint,
      ]);
    await failsThenResumes(t, 'erofs', {
      errno: 'EROFS',
      reason: /read-only file system/,
      cause: async () => void (await remount('ro')),
      clear: async () => void (await remount('rw')),
    });
  });

  void it('permission denied (EACCES): making the folder writable lets the retry write it', async (t) => {
    const shardDir = (runId: string): string => inStore(dirname(artifactKeys.scored(runId, 1, 0)));
    await failsThenResumes(t, 'eacces', {
      errno: 'EACCES',
      reason: /permission denied/,
      cause: (runId) => chmod(shardDir(runId), 0o555),
      clear: (runId) => chmod(shardDir(runId), 0o755),
    });
  });
});

/** The warm pool's life cycle: concurrency, restarting a killed sandbox, clean shutdown, infrastructure errors. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SandboxPool } from '../../activities/sandbox/pool';

/** Every host process descending from `roots` (the sandboxes' bwrap processes). */
function descendants(roots: number[]): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = /^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'));
      if (ppid) parentOf.set(Number(entry), Number(ppid[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found = new Set(roots);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parentOf) {
      if (found.has(ppid) && !found.has(pid)) {
        found.add(pid);
        grew = true;
      }
    }
  }
  return [...found];
}

/** The process's name (the sandbox names its own processes by role), '' once it is gone. */
function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls until `condition` holds; a bound on waiting, not a performance assertion. */
async function eventually(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 50) {
    if (waited > 120_000) assert.fail(`never happened: ${what}`);
    await sleep(50);
  }
}

describe('sandbox pool', () => {
  let pool: SandboxPool;
  before(async () => {
    pool = new SandboxPool({ size: 2 });
    await pool.start();
  });
  after(async () => {
    await pool.close();
  });

  void it('runs executions concurrently, each in a fresh process', async () => {
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => pool.run(`import os\nprint(${i}, os.getpid())`)),
    );
    assert.deepEqual(
      results.map((r) => Number(r.stdout.split(' ')[0])),
      Array.from({ length: 12 }, (_, i) => i),
    );
    assert.ok(results.every((r) => r.status === 'ok'));
    // Pids inside a sandbox's namespace grow with every fork: never the same process twice per sandbox.
    const pids = results.map((r) => r.stdout.trim().split(' ')[1]);
    assert.ok(new Set(pids).size >= 6, `processes served: ${pids.join(',')}`);
  });

  void it('reports an execution whose sandbox dies as killed, and restarts the sandbox', async () => {
    const [victim, other] = pool.pids();
    assert.ok(victim && other);
    const sleepers = [
      pool.run('import time\ntime.sleep(30)', { timeoutS: 20 }),
      pool.run('import time\ntime.sleep(30)', { timeoutS: 20 }),
    ];
    await sleep(500); // both sleepers have been handed to a sandbox (a wait, not an assertion)
    process.kill(victim, 'SIGKILL');
    const first = await Promise.race(sleepers);
    assert.equal(first.status, 'killed');
    assert.equal(first.exitCode, null);
    await eventually(
      () => pool.pids().length === 2 && !pool.pids().includes(victim),
      'a replacement sandbox',
    );
    const after = await Promise.all(Array.from({ length: 4 }, () => pool.run('print("fine")')));
    assert.ok(after.every((r) => r.status === 'ok' && r.stdout === 'fine\n'));
    process.kill(other, 'SIGKILL'); // ends the second sleeper early
    assert.equal((await Promise.all(sleepers))[1]!.status, 'killed');
  });

  void it('replaces spare runners that die before their execution, without restarting the sandbox', async () => {
    await eventually(() => pool.pids().length === 2, 'both sandboxes up'); // one restarted just now
    const sandboxes = pool.pids();
    const spares = (): number[] => descendants(sandboxes).filter((pid) => comm(pid) === 'tirflow-spare');
    await eventually(() => spares().length === 2 * sandboxes.length, 'two spare runners in each sandbox');
    const killed = spares();
    for (const pid of killed) process.kill(pid, 'SIGKILL');
    await eventually(
      () => spares().length === killed.length && spares().every((pid) => !killed.includes(pid)),
      'replacement spares',
    );
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => pool.run(`print(${i})`)));
    assert.deepEqual(
      results.map((r) => [r.status, r.stdout]),
      Array.from({ length: 6 }, (_, i) => ['ok', `${i}\n`]),
    );
    assert.deepEqual(pool.pids(), sandboxes);
  });

  void it('leaves no process behind when closed', async () => {
    const local = new SandboxPool({ size: 1 });
    await local.start();
    await local.run('import subprocess\nsubprocess.Popen(["sleep", "600"])');
    const tree = descendants(local.pids());
    assert.ok(tree.length >= 4, `bwrap, namespace init, zygote, supervisor...: ${tree.join(',')}`);
    await local.close();
    await eventually(() => tree.every((pid) => !alive(pid)), 'every sandbox process gone');
    await assert.rejects(local.run('print(1)'), /closed/);
  });

  void it('says what is missing and how to install it when bubblewrap is absent', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await assert.rejects(
        new SandboxPool({ size: 1 }).start(),
        /bubblewrap \(bwrap\).*apt-get install bubblewrap/,
      );
    } finally {
      process.env.PATH = path;
    }
  });

  void it('rejects nonsense limits as a caller error', async () => {
    await assert.rejects(pool.run('print(1)', { timeoutS: -1 }), /timeoutS/);
    await assert.rejects(pool.run('print(1)', { memoryMb: 1.5 }), /memoryMb/);
  });
});

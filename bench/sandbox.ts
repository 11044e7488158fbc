/**
 * Sandbox speed: the warm pool against the naive baseline, in the same run.
 *   pool:     SandboxPool (warm zygotes, runners forked ahead, a fresh process per execution)
 *   baseline: one `bwrap ... python -c CODE` per execution, with the same bwrap isolation
 *             (the same mounts, namespaces and interpreter), as a per-call sandbox would do it.
 * For `print(2+2)` and a sympy one-liner: latency at concurrency 1 (back to back, p50/p99, and
 * arriving at an idle pool), throughput with `--concurrency` executions in flight (as the
 * executeCode activity submits a turn's blocks all at once), the pool's CPU per execution, and
 * the pool/baseline ratios. The machine's load average is printed with every workload: other
 * processes slow both paths alike, and the CPU per execution least.
 *
 *   npx tsx bench/sandbox.ts [--trivial N] [--sympy N] [--baseline-trivial N] [--baseline-sympy N]
 *                            [--pool-size N] [--concurrency N]
 */
import { availableParallelism, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { readdirSync, readFileSync } from 'node:fs';
import { execa } from 'execa';
import {
  bwrapArgs,
  discoverPython,
  findBwrap,
  sandboxExecutable,
  sandboxSitePackages,
} from '../activities/sandbox/isolation';
import { SandboxPool } from '../activities/sandbox/pool';
import { venvPython } from '../activities/projectPaths';

const workloads = {
  trivial: 'print(2+2)',
  sympy: 'import sympy; print(sympy.factor(sympy.Symbol("x")**2 - 1))',
} as const;
type Workload = keyof typeof workloads;

interface Measurement {
  /** Concurrency 1: each execution starts when the one before it has answered. */
  p50Ms: number;
  p99Ms: number;
  /** Concurrency 1, arriving at an idle pool (20 ms apart), as a single model's code block does. */
  idleP50Ms: number;
  /** With `concurrency` executions in flight. */
  perSecond: number;
}

type Execute = (code: string) => Promise<string>;

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function measure(
  execute: Execute,
  code: string,
  count: number,
  concurrency: number,
): Promise<Measurement> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await execute(code);
    latencies.push(performance.now() - start);
  }
  latencies.sort((a, b) => a - b);
  const idle: number[] = [];
  for (let i = 0; i < Math.min(count, 50); i++) {
    await sleep(20);
    const start = performance.now();
    await execute(code);
    idle.push(performance.now() - start);
  }
  idle.sort((a, b) => a - b);
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < count) await execute(code);
    }),
  );
  const perSecond = count / ((performance.now() - start) / 1000);
  return {
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    idleP50Ms: percentile(idle, 0.5),
    perSecond,
  };
}

/**
 * CPU seconds used so far by the sandbox processes (bwrap, zygotes, supervisors and every
 * reaped runner, via cutime/cstime) plus this Node process: the pool's own cost per
 * execution, which other load on the machine does not change the way it changes latency.
 */
function poolCpuSeconds(roots: number[]): number {
  const ticks = 100; // USER_HZ on Linux
  const stats = new Map<number, string[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      stats.set(Number(entry), stat.slice(stat.lastIndexOf(')') + 2).split(' '));
    } catch {
      // exited meanwhile
    }
  }
  const tree = new Set(roots);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, fields] of stats) {
      if (!tree.has(pid) && tree.has(Number(fields[1]))) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  let total = 0;
  for (const pid of tree) {
    const fields = stats.get(pid);
    // utime, stime, cutime, cstime: fields 14-17 of /proc/<pid>/stat (11-14 after "pid (comm) ").
    if (fields) total += [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0) / ticks;
  }
  const node = process.cpuUsage();
  return total + (node.user + node.system) / 1e6;
}

async function naiveBaseline(): Promise<Execute> {
  const [bwrap, layout] = await Promise.all([findBwrap(), discoverPython(venvPython)]);
  const args = await bwrapArgs(layout, { tmpBytes: 64 * 1024 * 1024, privileged: process.getuid?.() === 0 });
  const python = sandboxExecutable(layout);
  const path = `import sys; sys.path[:0] = ${JSON.stringify(sandboxSitePackages(layout))}\n`;
  return async (code) => {
    const result = await execa(bwrap, [...args, python, '-I', '-c', path + code], {
      reject: false,
      extendEnv: false,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    if (result.exitCode !== 0) throw new Error(`baseline failed: ${String(result.stderr)}`);
    return String(result.stdout);
  };
}

function row(name: string, m: Measurement): string {
  const ms = (v: number): string => `${v.toFixed(2).padStart(8)} ms`;
  return `${name.padEnd(20)} c=1 p50 ${ms(m.p50Ms)}  p99 ${ms(m.p99Ms)}  idle p50 ${ms(m.idleP50Ms)}  ${m.perSecond.toFixed(1).padStart(7)} exec/s`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      trivial: { type: 'string', default: '400' },
      sympy: { type: 'string', default: '100' },
      'baseline-trivial': { type: 'string', default: '30' },
      'baseline-sympy': { type: 'string', default: '6' },
      'pool-size': { type: 'string' },
      concurrency: { type: 'string' },
    },
  });
  const counts = {
    pool: { trivial: Number(values.trivial), sympy: Number(values.sympy) },
    baseline: { trivial: Number(values['baseline-trivial']), sympy: Number(values['baseline-sympy']) },
  };
  const cores = availableParallelism();
  const size = Number(values['pool-size'] ?? cores);
  const concurrency = Number(values.concurrency ?? 4 * size);
  const pool = new SandboxPool({ size });
  const poolStart = performance.now();
  await pool.start();
  const load = (): string =>
    loadavg()
      .map((l) => l.toFixed(1))
      .join(' ');
  console.log(
    `sandbox bench: ${cores} cores, pool of ${size} warm sandboxes (started in ${(performance.now() - poolStart).toFixed(0)} ms), ` +
      `throughput at concurrency ${concurrency}, load average ${load()}`,
  );
  const viaPool: Execute = async (code) => {
    const result = await pool.run(code);
    if (result.status !== 'ok') throw new Error(`pool execution failed: ${result.stderr}`);
    return result.stdout;
  };
  const baseline = await naiveBaseline();
  try {
    for (const workload of Object.keys(workloads) as Workload[]) {
      const code = workloads[workload];
      await viaPool(code); // warm the path once
      const cpuBefore = poolCpuSeconds(pool.pids());
      const loadBefore = load();
      const pooled = await measure(viaPool, code, counts.pool[workload], concurrency);
      // measure() runs each execution 2x (latency, throughput) plus up to 50 idle ones.
      const executed = 2 * counts.pool[workload] + Math.min(counts.pool[workload], 50);
      const cpuMs = ((poolCpuSeconds(pool.pids()) - cpuBefore) * 1000) / executed;
      const naive = await measure(baseline, code, counts.baseline[workload], concurrency);
      console.log(`\n${workload}: ${code}   (load average ${loadBefore} before, ${load()} after)`);
      console.log(row(`pool (n=${counts.pool[workload]})`, pooled));
      console.log(row(`baseline (n=${counts.baseline[workload]})`, naive));
      console.log(
        `pool CPU per execution ${cpuMs.toFixed(2)} ms (all sandbox processes + Node): ` +
          `${((cores * 1000) / cpuMs).toFixed(0)} exec/s on ${cores} otherwise idle cores at full use`,
      );
      console.log(
        `ratio baseline/pool  c=1 p50 latency ${(naive.p50Ms / pooled.p50Ms).toFixed(1)}x   idle p50 ${(naive.idleP50Ms / pooled.idleP50Ms).toFixed(1)}x   ` +
          `throughput pool/baseline ${(pooled.perSecond / naive.perSecond).toFixed(1)}x`,
      );
    }
  } finally {
    await pool.close();
  }
  console.log(`\nload average at the end: ${load()} (other processes on the machine slow both paths alike)`);
}

await main();

/**
 * Grading throughput: items/s through the grader pool (one process per core) against one
 * grader process, same items, same run. Rounds alternate between the two so that load from
 * other work on the machine hits both alike; the medians and their ratio are printed.
 * Startup (importing sympy) is excluded and printed separately.
 *
 * Usage: npx tsx bench/grading.ts [items=400] [rounds=3]
 */
import { availableParallelism } from 'node:os';
import { type GradeRequest, GraderPool } from '../activities/reward/graderPool';

/** A mix like a training step's: samples of many prompts, about three in four right. */
function makeItems(count: number): GradeRequest[] {
  const shapes: ((k: number) => GradeRequest)[] = [
    (k) => ({ pred: `\\frac{${2 * k}}{${4 * k}}`, ref: '0.5' }),
    (k) => ({ pred: `${k}\\sqrt{2}`, ref: `\\sqrt{${2 * k * k}}` }),
    (k) => ({ pred: `${k + 1}`, ref: `${k}` }),
    (k) => ({ pred: `x=${k}`, ref: `${k}` }),
    (k) => ({ pred: `\\frac{${k}\\pi}{3}`, ref: `${k}\\pi/3` }),
    (k) => ({ pred: `(${k}, ${k + 1})`, ref: `(${k + 1}, ${k})` }),
    (k) => ({ pred: `${k * 1000}`.replace(/\B(?=(\d{3})+(?!\d))/g, ','), ref: `${k * 1000}` }),
    (k) => ({ pred: `${k}.5`, ref: `\\frac{${2 * k + 1}}{2}` }),
  ];
  return Array.from({ length: count }, (_, i) =>
    shapes[i % shapes.length]!(Math.floor(i / shapes.length) + 1),
  );
}

interface Round {
  itemsPerS: number;
  correct: number;
  /** Mean time a grader process spent on one item: rises when processes share too few cores. */
  serviceMs: number;
  /** Share of the wall time each process was working: near 100% means the pool kept it fed. */
  busy: number[];
}

async function round(pool: GraderPool, items: GradeRequest[]): Promise<Round> {
  const t0 = performance.now();
  const outcomes = await pool.gradeAll(items);
  const wallMs = performance.now() - t0;
  const failed = outcomes.filter((o) => o.status === 'timeout' || o.status === 'error');
  if (failed.length > 0) throw new Error(`${failed.length} items failed: ${failed[0]!.message}`);
  const serviceMs = outcomes.map((o) => o.finishedAtMs - o.startedAtMs);
  const busyByPid = new Map<number, number>();
  outcomes.forEach((o, i) => busyByPid.set(o.pid, (busyByPid.get(o.pid) ?? 0) + serviceMs[i]!));
  return {
    itemsPerS: items.length / (wallMs / 1000),
    correct: outcomes.filter((o) => o.correct).length,
    serviceMs: serviceMs.reduce((a, b) => a + b, 0) / serviceMs.length,
    busy: [...busyByPid.values()].map((ms) => ms / wallMs),
  };
}

async function startTimed(size: number): Promise<{ pool: GraderPool; startMs: number }> {
  const t0 = performance.now();
  const pool = await GraderPool.start({ size, itemTimeoutMs: 30_000 });
  return { pool, startMs: performance.now() - t0 };
}

const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const count = Number(process.argv[2] ?? 400);
const rounds = Number(process.argv[3] ?? 3);
const items = makeItems(count);
const cores = availableParallelism();
console.log(`grading ${count} items x ${rounds} rounds; ${cores} cores`);

const single = await startTimed(1);
const pooled = await startTimed(cores);
try {
  // Warm-up: sympy imports some modules on first use.
  await single.pool.gradeAll(items.slice(0, 16));
  await pooled.pool.gradeAll(items.slice(0, 16));
  const results: { single: Round; pooled: Round }[] = [];
  for (let r = 0; r < rounds; r++) {
    const one = await round(single.pool, items);
    const many = await round(pooled.pool, items);
    if (one.correct !== many.correct) throw new Error('pool and single process disagree on correctness');
    results.push({ single: one, pooled: many });
    const busy = many.busy.map((b) => `${(100 * b).toFixed(0)}%`).join(' ');
    console.log(
      `round ${r + 1}: one process ${one.itemsPerS.toFixed(1)} items/s (${one.serviceMs.toFixed(1)} ms/item) | ` +
        `pool of ${cores} ${many.itemsPerS.toFixed(1)} items/s (${many.serviceMs.toFixed(1)} ms/item, busy ${busy})`,
    );
  }
  const oneRate = median(results.map((r) => r.single.itemsPerS));
  const poolRate = median(results.map((r) => r.pooled.itemsPerS));
  console.log(
    `startup: one process ${single.startMs.toFixed(0)} ms, pool of ${cores} ${pooled.startMs.toFixed(0)} ms`,
  );
  console.log(
    `median: one process ${oneRate.toFixed(1)} items/s, pool of ${cores} ${poolRate.toFixed(1)} items/s`,
  );
  console.log(
    `ratio pool/one: ${(poolRate / oneRate).toFixed(2)}x   (${results[0]!.pooled.correct}/${count} correct)`,
  );
} finally {
  await Promise.all([single.pool.close(), pooled.pool.close()]);
}

/**
 * Grading throughput: items/s through the grader pool (one process per core) against one
 * grader process, same items, same run. Startup (importing sympy) is excluded from both and
 * printed separately. Usage: npx tsx bench/grading.ts [items=400]
 */
import { availableParallelism } from 'node:os';
import { type GradeRequest, GraderPool } from '../activities/reward/graderPool';

/** A mix like a training step's: samples of many prompts, about half of them right. */
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

async function measure(
  size: number,
  items: GradeRequest[],
): Promise<{ startMs: number; itemsPerS: number; correct: number }> {
  const t0 = performance.now();
  const pool = await GraderPool.start({ size, itemTimeoutMs: 30_000 });
  const startMs = performance.now() - t0;
  try {
    await pool.gradeAll(items.slice(0, 4 * size)); // warm-up: first sympy calls import lazily
    const t1 = performance.now();
    const outcomes = await pool.gradeAll(items);
    const seconds = (performance.now() - t1) / 1000;
    const failed = outcomes.filter((o) => o.status === 'timeout' || o.status === 'error');
    if (failed.length > 0) throw new Error(`${failed.length} items failed: ${failed[0]!.message}`);
    return { startMs, itemsPerS: items.length / seconds, correct: outcomes.filter((o) => o.correct).length };
  } finally {
    await pool.close();
  }
}

const count = Number(process.argv[2] ?? 400);
const items = makeItems(count);
const cores = availableParallelism();
console.log(`grading ${count} items; ${cores} cores`);
const single = await measure(1, items);
const pooled = await measure(cores, items);
if (single.correct !== pooled.correct) throw new Error('pool and single process disagree on correctness');
console.log(
  `one process     : ${single.itemsPerS.toFixed(1)} items/s (startup ${single.startMs.toFixed(0)} ms)`,
);
console.log(
  `pool of ${cores}       : ${pooled.itemsPerS.toFixed(1)} items/s (startup ${pooled.startMs.toFixed(0)} ms)`,
);
console.log(
  `ratio pool/one  : ${(pooled.itemsPerS / single.itemsPerS).toFixed(2)}x   (${pooled.correct}/${count} correct in both)`,
);

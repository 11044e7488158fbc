/**
 * Evaluation throughput: prompts per second per benchmark through the `evaluate` workflow, our
 * sharded path against a one-shard baseline, in the same run, on a private Temporal dev server
 * with an all-roles worker in this process (the real activities: onnx engine, sandbox, grader).
 *   sharded:   evaluation.promptsPerShard prompts per shard, all shards at once (what
 *              `tirflow eval` does): one shard's sandbox and grading turns overlap another's
 *              generation, and the shared engine thread batches across them;
 *   one shard: the same prompts in a single rolloutShard, turn after turn.
 * Both run greedy at the same tool budget on the same seeded sample of each benchmark, with the
 * policy exported to ONNX once beforehand and one untimed warm-up, alternating the two paths.
 * Prompts longer than the model's context are skipped by both alike and not counted: the rate is
 * of generated prompts. The load average is printed with each benchmark (the machine is shared).
 *
 *   npx tsx bench/evaluation.ts [--model models/tiny-base] [--benchmarks aime24,aime25,amc23,math500]
 *                               [--prompts 64] [--prompts-per-shard 8] [--tool-budget 2] [--repeats 1]
 */
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { execa } from 'execa';
import { projectRoot, pythonProjectDir, requireVenvTool, venvPython } from '../activities/projectPaths';
import { startDevServer, freePort } from '../cli/devServer';
import { taskQueues, type EvaluationSummary } from '../common/activityContracts';
import { isBuiltinBenchmark } from '../common/benchmarks';
import { parseRunConfig } from '../common/config';
import type { PolicyRef } from '../common/policy';
import type { EvaluateInput, evaluate } from '../workflows/evaluate';
import { workerRoles } from '../workers/roles';
import { runWorkerProcess } from '../workers/runWorkers';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: join(projectRoot, 'models', 'tiny-base') },
    benchmarks: { type: 'string', default: 'aime24,aime25,amc23,math500' },
    prompts: { type: 'string', default: '64' },
    'prompts-per-shard': { type: 'string', default: '8' },
    'tool-budget': { type: 'string', default: '2' },
    repeats: { type: 'string', default: '1' },
  },
});
const benchmarks = args.benchmarks.split(',');
for (const name of benchmarks) if (!isBuiltinBenchmark(name)) throw new Error(`unknown benchmark ${name}`);
const prompts = Number(args.prompts);
const perShard = Number(args['prompts-per-shard']);
const repeats = Number(args.repeats);
const toolBudget = Number(args['tool-budget']);
const model = resolve(args.model);

const scratch = mkdtempSync(join(tmpdir(), 'tirflow-bench-eval-'));
console.log(`exporting ${model} to ONNX once (untimed) ...`);
await execa(requireVenvTool(venvPython), ['-m', 'tirflow_py.onnx_export', model, join(scratch, 'onnx')], {
  cwd: pythonProjectDir,
});
const policy: PolicyRef = {
  version: 0,
  hfDir: { store: 'filesystem', path: model },
  onnxDir: { store: 'filesystem', path: join(scratch, 'onnx') },
};

const server = await startDevServer({ port: await freePort(), dbFile: join(scratch, 'temporal.sqlite') });
let stopWorker!: () => void;
const worker = runWorkerProcess({
  roles: [...workerRoles],
  address: server.address,
  namespace: 'default',
  artifactRoot: join(scratch, 'artifacts'),
  stopSignal: new Promise<void>((r) => (stopWorker = r)),
  log: () => undefined,
});
const connection = await Connection.connect({ address: server.address });
const client = new Client({ connection });

let runs = 0;
async function timeEvaluation(
  name: string,
  promptsPerShard: number,
  count: number,
): Promise<{ seconds: number; summary: EvaluationSummary }> {
  const config = parseRunConfig({
    model,
    evaluation: { promptsPerShard, samples: 1 },
    trainer: { device: 'cpu' },
  });
  const runId = `bench-${++runs}`;
  const input: EvaluateInput = {
    runId,
    step: 0,
    policy,
    config,
    split: name,
    splitRows: 0,
    set: { name, prompts: count },
    toolBudget,
  };
  const started = performance.now();
  const summary = await client.workflow.execute<typeof evaluate>('evaluate', {
    taskQueue: taskQueues.workflows,
    workflowId: runId,
    args: [input],
  });
  return { seconds: (performance.now() - started) / 1000, summary };
}

try {
  await timeEvaluation('math500', perShard, 4); // warm-up: engine session, sandbox and grader pools
  console.log(
    `\n${prompts} prompts per benchmark (a seeded sample), greedy, tool budget ${toolBudget}; ` +
      `sharded = ${perShard} prompts per shard, all at once; baseline = one shard\n`,
  );
  console.log(
    '| benchmark | generated prompts | skipped | one shard (prompts/s) | sharded (prompts/s) | sharded / one shard | load avg |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const name of benchmarks) {
    const rates = { one: [] as number[], sharded: [] as number[] };
    let generated = 0;
    let skipped = 0;
    for (let repeat = 0; repeat < repeats; repeat += 1) {
      for (const mode of repeat % 2 === 0 ? (['one', 'sharded'] as const) : (['sharded', 'one'] as const)) {
        const { seconds, summary } = await timeEvaluation(
          name,
          mode === 'one' ? 1_000_000 : perShard,
          prompts,
        );
        skipped = summary.promptsSkipped ?? 0;
        generated = summary.prompts - skipped;
        rates[mode].push(generated / seconds);
      }
    }
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const one = mean(rates.one);
    const sharded = mean(rates.sharded);
    console.log(
      `| ${name} | ${generated} | ${skipped} | ${one.toFixed(2)} | ${sharded.toFixed(2)} | ${(sharded / one).toFixed(2)}× | ${loadavg()[0]!.toFixed(1)} |`,
    );
  }
} finally {
  stopWorker();
  await worker;
  await connection.close();
  await server.stop();
}

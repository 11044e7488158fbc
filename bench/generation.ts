/**
 * Tokens/s of the `onnx` engine vs torch CPU generation (transformers `generate` with KV cache,
 * python/tirflow_py/torch_generate.py) on the same model, same prompts, same batch sizes, in one
 * run; prints the ratio and the FLOP-bound estimate (2 × params × tokens/s against the measured
 * fp32 matmul rate). Both sides generate exactly --new-tokens per sequence (EOS ignored) and
 * sample at temperature 1. Model loading is outside the timings on both sides, and both warm up
 * with a short untimed run at each batch size. On a shared machine wall-clock rates swing with
 * the load, so the load average is printed and, beside the wall-clock ratio, the ratio of tokens
 * per CPU-second (spin-waiting threads count as CPU time on both sides).
 *
 *   npx tsx bench/generation.ts [--model HF_DIR] [--new-tokens 64] [--batch-sizes 1,8,32,64] [--threads N]
 *
 * --model defaults to models/tiny-base when it exists, else a random fixture made in a temp dir.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { loadModelTokenizer, loadOnnxLayout } from '../activities/generation/modelFolder';
import { OnnxEngine, stopOnnxEngineThread } from '../activities/generation/onnxEngine';
import { projectRoot, pythonProjectDir, requireVenvTool, venvPython } from '../activities/projectPaths';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    'new-tokens': { type: 'string', default: '64' },
    'batch-sizes': { type: 'string', default: '1,8,32,64' },
    threads: { type: 'string' },
  },
});
const newTokens = Number(values['new-tokens']);
/** Tokens of the untimed run at each batch size, on both sides (python/tirflow_py/torch_generate.py). */
const WARMUP_TOKENS = 4;
const batchSizes = values['batch-sizes'].split(',').map(Number);
const threads = values.threads ? Number(values.threads) : undefined;

/** Generated tokens per wall-clock second and per CPU-second of the whole process (all its threads). */
interface Rate {
  batch: number;
  tokensPerSecond: number;
  tokensPerCpuSecond: number;
}

const PROBLEMS = [
  'What is 12 + 7?',
  'Solve 3x + 5 = 20 for x.',
  'What is the remainder of 1234567 divided by 89?',
  'Compute 123 * 456.',
  'A rectangle has sides 7 and 9. What is its area?',
  'What is 2 to the power 20?',
  'Find the sum of the integers from 1 to 100.',
  'What is the greatest common divisor of 84 and 126?',
];

const python = requireVenvTool(venvPython);
const scratch = await mkdtemp(join(tmpdir(), 'tirflow-bench-'));
try {
  const tinyBase = join(projectRoot, 'models', 'tiny-base');
  let hfDir =
    (values.model && resolve(values.model)) ?? (existsSync(join(tinyBase, 'config.json')) ? tinyBase : null);
  if (!hfDir) {
    hfDir = join(scratch, 'hf');
    await execa(python, ['-m', 'tirflow_py.fixtures', hfDir], { cwd: pythonProjectDir });
    console.log('model: random tiny Qwen2 fixture (models/tiny-base not found)');
  } else {
    console.log(`model: ${hfDir}`);
  }
  const onnxDir = join(scratch, 'onnx');
  await execa(python, ['-m', 'tirflow_py.onnx_export', hfDir, onnxDir], { cwd: pythonProjectDir });
  const layout = await loadOnnxLayout(onnxDir);
  const tokenizer = await loadModelTokenizer(onnxDir);
  const prompts = PROBLEMS.map((p) => tokenizer.encode(`User: ${p}\nAssistant: <think>`));
  const longest = Math.max(...prompts.map((p) => p.length));
  if (layout.maxPositionEmbeddings && longest + newTokens > layout.maxPositionEmbeddings) {
    throw new Error(
      `prompts (${longest}) + new tokens (${newTokens}) exceed the model's ${layout.maxPositionEmbeddings} positions`,
    );
  }
  console.log(
    `parameters: ${layout.parameters.toLocaleString()}  layers: ${layout.numLayers}  kv heads: ${layout.numKeyValueHeads}  ` +
      `head dim: ${layout.headDim}  vocab: ${layout.vocabSize}  prompt tokens: ${Math.min(...prompts.map((p) => p.length))}-${longest}  new tokens: ${newTokens}`,
  );

  const runOnnx = async (batch: number): Promise<Rate> => {
    // Each batch size is its own session (as in a worker). Loading it is outside the timing,
    // as the torch side loads its model before timing; both warm up at each batch size.
    const engine = new OnnxEngine(onnxDir, {
      maxBatchSize: batch,
      ...(threads ? { intraOpNumThreads: threads } : {}),
    });
    const generate = (maxTokens: number) =>
      Promise.all(
        Array.from({ length: batch }, (_, i) =>
          engine.complete({
            promptTokenIds: prompts[i % prompts.length]!,
            stop: [],
            maxTokens,
            temperature: 1,
            topP: 1,
            seed: i,
            ignoreEos: true,
          }),
        ),
      );
    await generate(WARMUP_TOKENS);
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    const results = await generate(newTokens);
    const cpu = process.cpuUsage(cpuBefore);
    const tokens = results.reduce((n, r) => n + r.tokenIds.length, 0);
    return {
      batch,
      tokensPerSecond: tokens / ((performance.now() - started) / 1000),
      tokensPerCpuSecond: tokens / ((cpu.user + cpu.system) / 1e6),
    };
  };
  const loadBefore = loadavg();
  const onnx: Rate[] = [];
  for (const batch of batchSizes) onnx.push(await runOnnx(batch));
  await stopOnnxEngineThread();

  const torchRun = await execa(python, ['-m', 'tirflow_py.torch_generate'], {
    cwd: pythonProjectDir,
    input: JSON.stringify({
      model: hfDir,
      prompts,
      batchSizes,
      newTokens,
      warmupTokens: WARMUP_TOKENS,
      seed: 0,
    }),
    ...(threads ? { env: { ...process.env, OMP_NUM_THREADS: String(threads) } } : {}),
  });
  const torch = JSON.parse(torchRun.stdout) as {
    threads: number;
    torch: string;
    matmulGflops: number;
    results: Rate[];
  };
  const loadAfter = loadavg();

  console.log(
    `torch ${torch.torch}, ${torch.threads} threads; measured fp32 matmul (1024³): ${torch.matmulGflops.toFixed(1)} GFLOP/s`,
  );
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  console.log(`load average: ${load(loadBefore)} before, ${load(loadAfter)} after (${cpus().length} CPUs)`);
  console.log(
    'batch | onnx tok/s | torch tok/s | onnx/torch | onnx GFLOP/s (2·P·tok/s) | % of matmul rate | onnx/torch per CPU-second',
  );
  for (const batch of batchSizes) {
    const ours = onnx.find((r) => r.batch === batch)!;
    const base = torch.results.find((r) => r.batch === batch)!;
    const gflops = (2 * layout.parameters * ours.tokensPerSecond) / 1e9;
    const cpuRatio = ours.tokensPerCpuSecond / base.tokensPerCpuSecond;
    console.log(
      `${String(batch).padStart(5)} | ${ours.tokensPerSecond.toFixed(0).padStart(10)} | ${base.tokensPerSecond.toFixed(0).padStart(11)} | ` +
        `${(ours.tokensPerSecond / base.tokensPerSecond).toFixed(2).padStart(9)}x | ${gflops.toFixed(2).padStart(24)} | ` +
        `${((100 * gflops) / torch.matmulGflops).toFixed(1).padStart(15)}% | ${cpuRatio.toFixed(2).padStart(24)}x`,
    );
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}

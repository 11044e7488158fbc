/**
 * Tokens/s of the `onnx` engine vs torch CPU generation (transformers `generate` with KV cache,
 * python/tirflow_py/torch_generate.py) on the same model, same prompts, same batch sizes, in one
 * run; prints the ratio and the FLOP-bound estimate (2 × params × tokens/s against the measured
 * fp32 matmul rate). Both sides generate exactly --new-tokens per sequence (EOS ignored) and
 * sample at temperature 1.
 *
 *   npx tsx bench/generation.ts [--model HF_DIR] [--new-tokens 64] [--batch-sizes 1,8,32,64] [--threads N]
 *
 * --model defaults to models/tiny-base when it exists, else a random fixture made in a temp dir.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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
const batchSizes = values['batch-sizes'].split(',').map(Number);
const threads = values.threads ? Number(values.threads) : undefined;

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

  const runOnnx = async (batch: number): Promise<number> => {
    const engine = new OnnxEngine(onnxDir, {
      maxBatchSize: batch,
      ...(threads ? { intraOpNumThreads: threads } : {}),
    });
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: batch }, (_, i) =>
        engine.complete({
          promptTokenIds: prompts[i % prompts.length]!,
          stop: [],
          maxTokens: newTokens,
          temperature: 1,
          topP: 1,
          seed: i,
          ignoreEos: true,
        }),
      ),
    );
    const tokens = results.reduce((n, r) => n + r.tokenIds.length, 0);
    return tokens / ((performance.now() - started) / 1000);
  };
  await runOnnx(1); // warm up, as the torch side does
  const onnx: { batch: number; tokensPerSecond: number }[] = [];
  for (const batch of batchSizes) onnx.push({ batch, tokensPerSecond: await runOnnx(batch) });
  await stopOnnxEngineThread();

  const torchRun = await execa(python, ['-m', 'tirflow_py.torch_generate'], {
    cwd: pythonProjectDir,
    input: JSON.stringify({ model: hfDir, prompts, batchSizes, newTokens, seed: 0 }),
    ...(threads ? { env: { ...process.env, OMP_NUM_THREADS: String(threads) } } : {}),
  });
  const torch = JSON.parse(torchRun.stdout) as {
    threads: number;
    torch: string;
    matmulGflops: number;
    results: { batch: number; tokensPerSecond: number }[];
  };

  console.log(
    `torch ${torch.torch}, ${torch.threads} threads; measured fp32 matmul (1024³): ${torch.matmulGflops.toFixed(1)} GFLOP/s`,
  );
  console.log('batch | onnx tok/s | torch tok/s | onnx/torch | onnx GFLOP/s (2·P·tok/s) | % of matmul rate');
  for (const batch of batchSizes) {
    const ours = onnx.find((r) => r.batch === batch)!.tokensPerSecond;
    const base = torch.results.find((r) => r.batch === batch)!.tokensPerSecond;
    const gflops = (2 * layout.parameters * ours) / 1e9;
    console.log(
      `${String(batch).padStart(5)} | ${ours.toFixed(0).padStart(10)} | ${base.toFixed(0).padStart(11)} | ${(ours / base).toFixed(2).padStart(9)}x | ` +
        `${gflops.toFixed(2).padStart(24)} | ${((100 * gflops) / torch.matmulGflops).toFixed(1).padStart(6)}%`,
    );
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}

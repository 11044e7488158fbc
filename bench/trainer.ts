/**
 * Trainer throughput: training tokens/s of real policy updates through the production path
 * (TrainerProcess -> python -m tirflow_py.trainer), on a synthetic scored batch of a chosen shape.
 *
 *   npx tsx bench/trainer.ts [--model DIR] [--device cpu|cuda] [--prompts 8] [--samples 4]
 *                            [--prompt-len 64] [--response-len 192] [--micro-batch 8] [--steps 3]
 *                            [--algorithm grpo] [--peak-tflops N] [--processes N]
 *
 * Without --model it builds the tiny random Qwen2 fixture. The first step is a warm-up and is
 * not counted. tokens/s counts every (prompt + response) token that went through forward and
 * backward, over the update's compute time (old-logprob pass included, checkpoint write not);
 * the wall column adds the checkpoint. MFU (with --peak-tflops, default 989 = H100 dense bf16
 * on cuda) uses 6 * parameters FLOPs per trained token: it ignores attention and the
 * old-logprob forward, so it understates the hardware's real work.
 *
 * --processes N (N > 1) measures the same batch twice in one run, with one process and with N
 * torchrun ranks (trainer.processesPerNode; FSDP2, one GPU each on cuda, gloo on cpu), and prints
 * the ratio. Both get the same CPU threads in all (OMP_NUM_THREADS: N for the one process, 1 per
 * rank), so on a CPU the ratio measures the sharding's overhead on shared cores, not a speed-up.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { pythonProjectDir, venvPython } from '../activities/projectPaths';
import { TrainerProcess } from '../activities/trainer/trainerProcess';
import { toWireSettings } from '../activities/trainer/settingsSchema';
import { trainerSchema, trainerSettings } from '../common/config';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    device: { type: 'string', default: 'cpu' },
    prompts: { type: 'string', default: '8' },
    samples: { type: 'string', default: '4' },
    'prompt-len': { type: 'string', default: '64' },
    'response-len': { type: 'string', default: '192' },
    'micro-batch': { type: 'string', default: '8' },
    steps: { type: 'string', default: '3' },
    algorithm: { type: 'string', default: 'grpo' },
    'peak-tflops': { type: 'string' },
    processes: { type: 'string', default: '1' },
  },
});
const int = (name: keyof typeof values): number => Number.parseInt(String(values[name]), 10);
const prompts = int('prompts');
const samples = int('samples');
const promptLen = int('prompt-len');
const responseLen = int('response-len');
const steps = int('steps');
const device = values.device as 'cpu' | 'cuda';
const peakTflops = values['peak-tflops'] ? Number(values['peak-tflops']) : device === 'cuda' ? 989 : null;

const processes = int('processes');

/** Mean training tokens/s over `steps` updates (after a warm-up) with this many trainer ranks. */
async function measure(dir: string, model: string, scored: string, ranks: number): Promise<number> {
  // Compared runs get the same CPU threads in all; a lone run keeps torch's default.
  const threads = processes === 1 ? null : ranks > 1 ? 1 : processes;
  const trainer = new TrainerProcess({
    log: () => undefined,
    processesPerNode: ranks,
    env: threads === null ? {} : { OMP_NUM_THREADS: String(threads) },
  });
  const who =
    (ranks > 1 ? `${ranks} processes (torchrun)` : '1 process') +
    (threads === null ? '' : ` x ${threads} CPU thread${threads > 1 ? 's' : ''}`);
  try {
    const loaded = await trainer.request('load', { path: model, device });
    const parameters = Number(loaded.parameters);
    console.log(
      `trainer bench: ${String(values.algorithm)} on ${device}, ${who}, ` +
        `${parameters.toLocaleString()} parameters, batch ${prompts} prompts x ${samples} samples = ` +
        `${prompts * samples} sequences of ${promptLen}+${responseLen} tokens, micro-batch ${int('micro-batch')}`,
    );
    const rates: number[] = [];
    for (let step = 1; step <= steps + 1; step++) {
      const started = performance.now();
      const result = await trainer.request('train_step', {
        step,
        scored_paths: [scored],
        checkpoint_dir: join(dir, `checkpoints-${ranks}`, `step-${step}`),
        // The whole settings record, as the trainer activity sends it.
        settings: toWireSettings(
          trainerSettings(
            trainerSchema.parse({
              algorithm: values.algorithm,
              learningRate: 1e-5,
              microBatchSize: int('micro-batch'),
              device,
            }),
            0,
            1,
          ),
        ),
      });
      const wall = (performance.now() - started) / 1000;
      const rate = Number(result.tokens_per_second);
      const warmup = step === 1;
      if (!warmup) rates.push(rate);
      console.log(
        `step ${step}${warmup ? ' (warm-up)' : ''}: ${rate.toFixed(0)} tokens/s, ${String(result.trained_tokens)} tokens, ` +
          `update ${Number(result.update_seconds).toFixed(2)} s, wall with checkpoint ${wall.toFixed(2)} s, loss ${Number(result.loss).toFixed(4)}`,
      );
    }
    const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
    const mfu =
      peakTflops === null
        ? ''
        : `, MFU ${((100 * 6 * parameters * mean) / (ranks * peakTflops * 1e12)).toFixed(2)}% of ${ranks} x ${peakTflops} TFLOPS`;
    console.log(`mean over ${rates.length} steps: ${mean.toFixed(0)} training tokens/s${mfu}`);
    return mean;
  } finally {
    await trainer.close();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'tirflow-bench-trainer-'));
try {
  let model = values.model;
  if (model === undefined) {
    model = join(dir, 'model');
    await execa(venvPython, ['-m', 'tirflow_py.fixtures', model], { cwd: pythonProjectDir });
  }

  // A deterministic synthetic batch: half of each group rewarded, a tool-output span masked.
  let seed = 1;
  const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const rows: Record<string, unknown>[] = [];
  for (let p = 0; p < prompts; p++) {
    const prompt = Array.from({ length: promptLen }, () => 1 + rand(250));
    for (let n = 0; n < samples; n++) {
      const response = Array.from({ length: responseLen }, () => 1 + rand(250));
      const mask = response.map((_, i) => (i >= responseLen / 2 && i < responseLen / 2 + 16 ? 0 : 1));
      rows.push({
        id: `p${p}-n${n}`,
        promptId: `p${p}`,
        promptTokenIds: prompt,
        responseTokenIds: response,
        actionMask: mask,
        reward: n % 2,
      });
    }
  }
  const scored = join(dir, 'scored.jsonl');
  writeFileSync(scored, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');

  const single = await measure(dir, model, scored, 1);
  if (processes > 1) {
    const sharded = await measure(dir, model, scored, processes);
    console.log(
      `${processes} torchrun ranks / 1 process: ${(sharded / single).toFixed(2)}x training tokens/s ` +
        `(${sharded.toFixed(0)} vs ${single.toFixed(0)}, same batch, same run)`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

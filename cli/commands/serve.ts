/**
 * `tirflow serve --model DIR`: the in-process `onnx` engine behind the OpenAI-compatible
 * completions API on 127.0.0.1, a vLLM stand-in (per-token log-probs, stop-string trimming,
 * streaming, 400s for what it cannot do), so the `openai` engine and any OpenAI client can use it.
 * DIR is an exported folder (model.onnx + tokenizer files, from python -m tirflow_py.onnx_export).
 */
import { basename, resolve } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { Command } from 'commander';
import { createCompletionServer, listenLocal } from '../../activities/generation/completionServer';
import { loadModelTokenizer, loadOnnxLayout } from '../../activities/generation/modelFolder';
import { OnnxEngine, stopOnnxEngineThread } from '../../activities/generation/onnxEngine';
import { CliError, exitCodes } from '../exitCodes';
import { parsePort, parsePositiveInt } from '../options';

interface ServeOptions {
  model: string;
  port: number;
  name?: string;
  maxBatchSize: number;
  threads?: number;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Serve an exported policy (onnx engine) with the OpenAI completions API on 127.0.0.1.')
    .requiredOption('--model <dir>', 'folder with model.onnx, tirflow-onnx.json and tokenizer files')
    .option('--port <port>', 'TCP port on 127.0.0.1', parsePort, 8000)
    .option('--name <name>', 'model name clients send (default: the folder name)')
    .option('--max-batch-size <n>', 'sequences decoded together', parsePositiveInt, 64)
    .option('--threads <n>', 'onnxruntime intra-op threads (default: all cores)', parsePositiveInt)
    .action(async (opts: ServeOptions) => {
      const dir = resolve(opts.model);
      const engine = new OnnxEngine(dir, {
        maxBatchSize: opts.maxBatchSize,
        ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
      });
      let tokenizer: Awaited<ReturnType<typeof loadModelTokenizer>>;
      let layout: Awaited<ReturnType<typeof loadOnnxLayout>>;
      try {
        tokenizer = await loadModelTokenizer(dir);
        layout = await loadOnnxLayout(dir);
        // Load the session before announcing readiness, so a bad folder fails here and now.
        await engine.complete({
          promptTokenIds: tokenizer.encode('warm up'),
          stop: [],
          maxTokens: 1,
          temperature: 0,
          topP: 1,
          seed: 0,
        });
      } catch (err) {
        await stopOnnxEngineThread();
        // A folder that cannot be served is the user's input, not a crash: exit 2, one line.
        if (err instanceof ApplicationFailure && err.type === 'ModelFolderInvalid') {
          throw new CliError(err.message, exitCodes.badInput);
        }
        throw err;
      }
      const name = opts.name ?? basename(dir);
      const server = createCompletionServer({
        engine,
        tokenizer,
        modelName: name,
        limits: {
          contextLength: layout.maxPositionEmbeddings > 0 ? layout.maxPositionEmbeddings : Infinity,
          vocabSize: layout.vocabSize,
        },
      });
      const port = await listenLocal(server, opts.port);
      console.log(`tirflow serve: model "${name}" on http://127.0.0.1:${port}/v1 (POST /v1/completions)`);
      const stop = (): void => {
        server.close();
        server.closeAllConnections();
        void stopOnnxEngineThread();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await new Promise((r) => server.once('close', r));
    });
}

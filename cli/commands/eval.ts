/** `tirflow eval -c cfg.yaml --policy REF`: evaluate one policy on the validation split. */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { taskQueues, type EvaluationSummary } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import type { PolicyRef } from '../../common/policy';
import type { evaluatePolicy } from '../../workflows/evaluatePolicy';
import { withClusterOptions, type ClusterOptions } from '../connection';
import { CliError, exitCodes } from '../exitCodes';
import { parsePositiveInt } from '../options';
import { describeFailure, runFailureExitCode } from '../runFailure';
import { connectOrThrow, readConfigOrThrow } from './train';

/**
 * A policy on the command line: `RUN:STEP` (a checkpoint of a run in the artifact store) or a
 * Hugging Face model folder (evaluated as version 0).
 */
export function parsePolicyRef(text: string, artifactRoot: string): PolicyRef {
  const checkpoint = /^(.+):(\d+)$/.exec(text);
  if (checkpoint && !existsSync(text)) {
    const [, runId, step] = checkpoint;
    const root = artifactKeys.checkpoint(runId!, Number(step));
    if (!existsSync(join(artifactRoot, root, 'hf'))) {
      throw new CliError(
        `no checkpoint ${text}: ${join(artifactRoot, root)} has no hf/ folder`,
        exitCodes.badInput,
      );
    }
    const onnx = existsSync(join(artifactRoot, root, 'onnx', 'model.onnx'));
    return {
      version: Number(step),
      hfDir: { store: 'artifacts', key: `${root}/hf` },
      onnxDir: onnx ? { store: 'artifacts', key: `${root}/onnx` } : null,
    };
  }
  if (!existsSync(join(text, 'config.json'))) {
    throw new CliError(
      `--policy ${text} is neither RUN:STEP nor a model folder with config.json`,
      exitCodes.badInput,
    );
  }
  return { version: 0, hfDir: { store: 'filesystem', path: resolve(text) }, onnxDir: null };
}

export function formatEvaluation(summary: EvaluationSummary): string {
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  const levels = Object.entries(summary.accuracyByLevel)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([level, accuracy]) => `${level} ${pct(accuracy)}`)
    .join(' | ');
  return [
    `policy v${summary.policyVersion} on ${summary.split}: ${summary.prompts} prompts × ${summary.samplesPerPrompt} samples`,
    `  accuracy (avg@k) ${pct(summary.accuracy)} | pass@k ${pct(summary.passAtK)} | code ratio ${pct(summary.codeRatio)} | mean response ${summary.meanResponseTokens.toFixed(0)} tokens`,
    `  by level: ${levels}`,
  ].join('\n');
}

export function registerEval(program: Command): void {
  withClusterOptions(
    program
      .command('eval')
      .description(
        'Evaluate a policy (RUN:STEP or a model folder) on the validation split; workers must be running.',
      )
      .requiredOption('--policy <ref>', 'RUN:STEP (a run checkpoint) or a Hugging Face model folder')
      .option('-c, --config <file>', 'run config for data, engine, template and evaluation settings')
      .option('--samples <k>', 'samples per prompt (1 = greedy)', parsePositiveInt)
      .option('--prompts <n>', 'validation prompts (0 = all)', (v) => Number.parseInt(v, 10)),
  ).action(
    async (
      opts: ClusterOptions & { policy: string; config?: string; samples?: number; prompts?: number },
    ) => {
      const base = readConfigOrThrow(opts.config);
      const config = {
        ...base,
        evaluation: {
          ...base.evaluation,
          samples: opts.samples ?? base.evaluation.samples,
          prompts: opts.prompts ?? base.evaluation.prompts,
        },
      };
      const policy = parsePolicyRef(opts.policy, opts.artifacts);
      const evaluationId = `eval-${new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`;
      const { client, close } = await connectOrThrow(opts);
      try {
        console.log(`Evaluating ${opts.policy} as ${evaluationId} ...`);
        const summary: EvaluationSummary = await client.workflow.execute<typeof evaluatePolicy>(
          'evaluatePolicy',
          {
            taskQueue: taskQueues.workflows,
            workflowId: evaluationId,
            args: [{ evaluationId, config, policy }],
          },
        );
        console.log(formatEvaluation(summary));
      } catch (err) {
        throw new CliError(`evaluation failed: ${describeFailure(err)}`, runFailureExitCode(err));
      } finally {
        await close();
      }
    },
  );
}

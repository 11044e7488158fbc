/**
 * `tirflow eval --policy REF --benchmarks aime24,aime25,amc23,math500`: evaluate one policy
 * on the field's benchmarks (or the run's validation split, or any dataset file), greedy or with
 * k samples, at one tool budget or a sweep of them. Runs as an `evaluatePolicy` workflow (sets
 * and shards are retryable children, visible in the UI), prints progress with an ETA, then the
 * tables (or --json), and writes results.md / results.json (and the sweep's chart) under the
 * reports folder. A run's policy (RUN:STEP, RUN:0 = its base model) is evaluated with the run's
 * stored config unless -c names another, and the results are filed with the run for its report.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { defaultEvaluationDir, writeEvaluation } from '../../activities/report/writeEvaluation';
import { evaluationMarkdown } from '../../activities/report/evaluationTables';
import { taskQueues, type EvaluationRecord, type EvaluationSummary } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import {
  BUILTIN_BENCHMARKS,
  EVALUATION_SET_NAME,
  VALIDATION_SET,
  isBuiltinBenchmark,
  type EvaluationSet,
} from '../../common/benchmarks';
import { ConfigError, parseRunConfig, type RunConfig } from '../../common/config';
import type { PolicyRef } from '../../common/policy';
import { evaluationProgressQuery, type EvaluationProgress } from '../../workflows/evaluate';
import {
  evaluatePolicyProgressQuery,
  type EvaluatePolicyInput,
  type evaluatePolicy,
} from '../../workflows/evaluatePolicy';
import { withClusterOptions, type ClusterOptions } from '../connection';
import { CliError, exitCodes } from '../exitCodes';
import { parsePositiveInt } from '../options';
import { describeFailure, runFailureExitCode } from '../runFailure';
import { connectOrThrow, readConfigOrThrow } from './train';

/** `RUN:STEP` → the run and step, or null for anything else (a folder). */
export function parseRunStep(text: string): { runId: string; step: number } | null {
  const match = /^(.+):(\d+)$/.exec(text);
  return match && !existsSync(text) ? { runId: match[1]!, step: Number(match[2]) } : null;
}

/** The config a run stored when it started (runs/<id>/config.json): paths already resolved. */
export function readStoredConfig(artifactRoot: string, runId: string): RunConfig {
  const path = join(artifactRoot, artifactKeys.runConfig(runId));
  if (!existsSync(path))
    throw new CliError(`run ${runId} has no stored config (${path}): give one with -c`, exitCodes.badInput);
  try {
    return parseRunConfig(JSON.parse(readFileSync(path, 'utf8')), path);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, exitCodes.badInput);
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`, exitCodes.badInput);
  }
}

/**
 * A policy on the command line: `RUN:STEP` (a checkpoint of a run in the artifact store; `RUN:0`
 * is the run's base model, from its stored config) or a Hugging Face model folder (version 0).
 */
export function parsePolicyRef(text: string, artifactRoot: string, runConfig?: RunConfig): PolicyRef {
  const runStep = parseRunStep(text);
  if (runStep) {
    const root = artifactKeys.checkpoint(runStep.runId, runStep.step);
    const onnx = existsSync(join(artifactRoot, root, 'onnx', 'model.onnx'));
    const onnxDir = onnx ? ({ store: 'artifacts', key: `${root}/onnx` } as const) : null;
    if (runStep.step === 0) {
      const model = (runConfig ?? readStoredConfig(artifactRoot, runStep.runId)).model;
      return { version: 0, hfDir: { store: 'filesystem', path: model }, onnxDir };
    }
    if (!existsSync(join(artifactRoot, root, 'hf'))) {
      throw new CliError(
        `no checkpoint ${text}: ${join(artifactRoot, root)} has no hf/ folder`,
        exitCodes.badInput,
      );
    }
    return { version: runStep.step, hfDir: { store: 'artifacts', key: `${root}/hf` }, onnxDir };
  }
  if (!existsSync(join(text, 'config.json'))) {
    throw new CliError(
      `--policy ${text} is neither RUN:STEP nor a model folder with config.json`,
      exitCodes.badInput,
    );
  }
  return { version: 0, hfDir: { store: 'filesystem', path: resolve(text) }, onnxDir: null };
}

/** "0,1,2,4,8" → [0, 1, 2, 4, 8]: distinct integers from 0 to 20, in the order given. */
export function parseToolBudgets(value: string): number[] {
  const parts = value.split(',').map((p) => p.trim());
  if (parts.some((p) => !/^\d+$/.test(p) || Number(p) > 20) || new Set(parts).size !== parts.length)
    throw new InvalidArgumentError(
      `"${value}" is not a tool budget or a list of distinct ones (0 to 20), e.g. 0,1,2,4,8.`,
    );
  return parts.map(Number);
}

export function parseTemperature(value: string): number {
  const t = Number(value);
  if (!(t > 0 && t <= 2)) throw new InvalidArgumentError(`"${value}" is not a temperature in (0, 2].`);
  return t;
}

/**
 * `--benchmarks` entries: shipped short names, `validation` (the config's validation split), or
 * a dataset file (JSONL, JSON array or Parquet), named after its file.
 */
export function parseEvaluationSets(value: string, config: RunConfig): EvaluationSet[] {
  const sets = value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map((entry): EvaluationSet => {
      if (isBuiltinBenchmark(entry)) {
        // A config may point a shipped name at its own copy of the file; its sample size is the config's business.
        const configured = config.evaluation.benchmarks.find((b) => b.name === entry);
        return {
          name: entry,
          ...(configured?.path !== undefined ? { path: configured.path } : {}),
          ...(configured?.fields !== undefined ? { fields: configured.fields } : {}),
        };
      }
      if (entry === VALIDATION_SET)
        return {
          name: VALIDATION_SET,
          path: config.data.validation,
          ...(config.data.fields ? { fields: config.data.fields } : {}),
          prompts: config.evaluation.prompts,
        };
      const configured = config.evaluation.benchmarks.find((b) => b.name === entry);
      if (configured) return configured;
      if (existsSync(entry)) {
        const name = basename(entry, extname(entry))
          .toLowerCase()
          .replace(/[^a-z0-9_-]+/g, '-')
          .slice(0, 40);
        if (!EVALUATION_SET_NAME.test(name))
          throw new CliError(`cannot name a benchmark after ${entry}: rename the file`, exitCodes.badInput);
        return { name, path: resolve(entry) };
      }
      throw new CliError(
        `--benchmarks: "${entry}" is neither a shipped benchmark (${Object.keys(BUILTIN_BENCHMARKS).join(', ')}), ` +
          `"${VALIDATION_SET}", a benchmark of the config, nor a dataset file`,
        exitCodes.badInput,
      );
    });
  if (sets.length === 0) throw new CliError('--benchmarks names no benchmark', exitCodes.badInput);
  const repeated = sets.find((s, i) => sets.findIndex((t) => t.name === s.name) !== i);
  if (repeated) throw new CliError(`--benchmarks names "${repeated.name}" twice`, exitCodes.badInput);
  return sets;
}

/** A readable, sortable evaluation id that two evaluations started in the same second never share. */
export function newEvaluationId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `eval-${stamp}-${randomBytes(3).toString('hex')}`;
}

const duration = (ms: number): string => {
  const s = Math.round(ms / 1000);
  return s < 60
    ? `${s}s`
    : s < 3600
      ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
      : `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
};

/** One progress line from the units' states; null while nothing is known yet. */
export function progressLine(
  units: readonly EvaluationProgress[],
  unitCount: number,
  elapsedMs: number,
): string | null {
  const known = units.filter((u) => u.prompts !== null);
  if (unitCount === 0 || known.length === 0) return null;
  const prompts = known.reduce((sum, u) => sum + u.prompts!, 0);
  const skipped = known.reduce((sum, u) => sum + u.skipped, 0);
  const done = known.reduce((sum, u) => sum + u.promptsDone, 0);
  const generatedDone = done - skipped;
  const toGenerate = prompts - skipped;
  const finished = units.filter((u) => u.done).length;
  const parts = [
    `${done}/${prompts}${known.length < unitCount ? '+' : ''} prompts (${skipped} skipped as too long)`,
    `sets done ${finished}/${unitCount}`,
    `elapsed ${duration(elapsedMs)}`,
  ];
  // A rate from the first few prompts says little: wait for 5% of the work.
  if (
    generatedDone >= Math.max(1, 0.05 * toGenerate) &&
    known.length === unitCount &&
    toGenerate > generatedDone
  )
    parts.push(`ETA ${duration((elapsedMs / generatedDone) * (toGenerate - generatedDone))}`);
  return `  ${parts.join(' | ')}`;
}

/** A finished set's progress from its result (a set that finished between two polls). */
async function finishedUnit(client: Client, unit: string, workflowId: string): Promise<EvaluationProgress> {
  const summary = (await client.workflow.getHandle(workflowId).result()) as EvaluationSummary;
  return {
    unit,
    prompts: summary.prompts,
    skipped: summary.promptsSkipped ?? 0,
    shards: 0,
    shardsDone: 0,
    promptsDone: summary.prompts,
    done: true,
  };
}

/** Follows an evaluation until it ends, printing a progress line whenever it changes. */
async function followEvaluation(
  client: Client,
  evaluationId: string,
  print: (line: string) => void,
  stop: Promise<void>,
): Promise<EvaluationRecord | EvaluationSummary | 'detached'> {
  const handle = client.workflow.getHandle<typeof evaluatePolicy>(evaluationId);
  const result = handle.result();
  let done = false;
  let detached = false;
  void result.finally(() => (done = true)).catch(() => undefined);
  void stop.then(() => (detached = true));
  const started = Date.now();
  const units = new Map<string, EvaluationProgress>();
  let phase = '';
  let last = '';
  while (!done && !detached) {
    try {
      const parent = await handle.query(evaluatePolicyProgressQuery);
      if (parent.phase !== phase) {
        phase = parent.phase;
        if (phase !== 'evaluating' && phase !== 'done') print(`  ${phase} ...`);
      }
      for (const unit of parent.units) {
        const seen = units.get(unit.unit);
        if (seen?.done) continue;
        try {
          units.set(
            unit.unit,
            unit.done
              ? await finishedUnit(client, unit.unit, unit.workflowId)
              : await client.workflow.getHandle(unit.workflowId).query(evaluationProgressQuery),
          );
        } catch {
          // Not started yet, or no worker answers queries right now.
        }
      }
      const line = progressLine([...units.values()], parent.units.length, Date.now() - started);
      // Print when the counts move, not every poll because the clock did.
      const counts = line?.replace(/ \| elapsed .*$/, '') ?? '';
      if (line !== null && counts !== last) {
        print(line);
        last = counts;
      }
    } catch {
      // No worker answers queries right now: keep waiting for the result.
    }
    await Promise.race([new Promise((r) => setTimeout(r, 2000)), result.catch(() => undefined), stop]);
  }
  if (detached && !done) return 'detached';
  return result;
}

interface EvalOptions extends ClusterOptions {
  policy: string;
  config?: string;
  benchmarks?: string;
  samples?: number;
  temperature?: number;
  toolBudget?: number[];
  prompts?: number;
  maxResponseTokens?: number;
  template?: 'tool' | 'noTool';
  evalId?: string;
  json?: boolean;
  out?: string;
}

/** The config an evaluation runs with: -c, else the run's stored one (RUN:STEP), else the defaults. */
function evaluationConfig(opts: EvalOptions): { config: RunConfig; source: string; runId: string | null } {
  const runStep = parseRunStep(opts.policy);
  let base: RunConfig;
  let source: string;
  if (opts.config !== undefined) {
    base = readConfigOrThrow(opts.config);
    source = opts.config;
  } else if (runStep) {
    base = readStoredConfig(opts.artifacts, runStep.runId);
    source = `stored config of run ${runStep.runId}`;
  } else {
    base = readConfigOrThrow(undefined);
    source = 'built-in defaults';
  }
  const config: RunConfig = {
    ...base,
    template: opts.template ?? base.template,
    evaluation: {
      ...base.evaluation,
      samples: opts.samples ?? base.evaluation.samples,
      temperature: opts.temperature ?? base.evaluation.temperature,
      ...(opts.maxResponseTokens !== undefined ? { maxResponseTokens: opts.maxResponseTokens } : {}),
    },
  };
  return { config, source, runId: runStep?.runId ?? null };
}

export function registerEval(program: Command): void {
  withClusterOptions(
    program
      .command('eval')
      .description(
        'Evaluate a policy on benchmarks (aime24, aime25, amc23, math500), the validation split or a dataset ' +
          'file: greedy accuracy or avg@k, pass@k, maj@k, code use and length per benchmark; a tool-budget ' +
          'sweep with --tool-budget 0,1,2,4,8. Workers must be running.\n' +
          'Exit codes: 0 done (or detached), 1 evaluation failed, 2 invalid input, 3 Temporal unreachable.',
      )
      .requiredOption(
        '--policy <ref>',
        'RUN:STEP (a run checkpoint; RUN:0 = its base model) or a Hugging Face model folder',
      )
      .option(
        '-c, --config <file>',
        "run config (default: the run's stored config for RUN:STEP, else the built-in one)",
      )
      .option(
        '--benchmarks <list>',
        `comma-separated: ${Object.keys(BUILTIN_BENCHMARKS).join(', ')}, validation, or dataset files ` +
          "(default: the config's evaluation.benchmarks, else validation)",
      )
      .option(
        '--samples <k>',
        'samples per prompt: 1 = greedy; k > 1 gives avg@k, pass@k, maj@k',
        parsePositiveInt,
      )
      .option('--temperature <t>', 'sampling temperature when k > 1', parseTemperature)
      .option(
        '--tool-budget <b>',
        'max code executions per response, or a list for the sweep: 0,1,2,4,8',
        parseToolBudgets,
      )
      .option(
        '--prompts <n>',
        'a fixed seeded sample of n prompts per benchmark (default: all)',
        parsePositiveInt,
      )
      .option(
        '--max-response-tokens <n>',
        "response token limit (default: evaluation.maxResponseTokens, else rollout's)",
        parsePositiveInt,
      )
      .addOption(
        new Option('--template <name>', "prompt template (default: the config's)").choices([
          'tool',
          'noTool',
        ]),
      )
      .option(
        '--eval-id <id>',
        'workflow id of the evaluation (default: eval-<UTC time>-<random>); an id still running is followed',
      )
      .option('--json', 'print the results as JSON (progress goes to stderr)')
      .option(
        '--out <dir>',
        'folder for results.md, results.json and the sweep chart (default: <artifacts>/reports/<eval id>)',
      ),
  ).action(async (opts: EvalOptions) => {
    const evaluation = evaluationConfig(opts);
    const { source, runId } = evaluation;
    let config = evaluation.config;
    const policy = parsePolicyRef(
      opts.policy,
      opts.artifacts,
      opts.config === undefined ? undefined : config,
    );
    // A model folder is the model: prepareRun checks it, and the evaluation's stored config names it.
    if (runId === null) config = { ...config, model: resolve(opts.policy) };
    let sets: EvaluationSet[] =
      opts.benchmarks !== undefined
        ? parseEvaluationSets(opts.benchmarks, config)
        : config.evaluation.benchmarks.length > 0
          ? config.evaluation.benchmarks
          : parseEvaluationSets(VALIDATION_SET, config);
    if (opts.prompts !== undefined) sets = sets.map((set) => ({ ...set, prompts: opts.prompts }));
    const toolBudgets = opts.toolBudget ?? [config.evaluation.toolBudget ?? config.rollout.toolBudget];
    const evaluationId = opts.evalId ?? newEvaluationId();
    const log = opts.json ? (line: string) => console.error(line) : (line: string) => console.log(line);

    const input: EvaluatePolicyInput = {
      evaluationId,
      config,
      policy,
      sets,
      toolBudgets,
      about: { ref: opts.policy, runId: runId, configSource: source },
    };
    const { client, close } = await connectOrThrow(opts);
    try {
      let started = true;
      try {
        await client.workflow.start<typeof evaluatePolicy>('evaluatePolicy', {
          taskQueue: taskQueues.workflows,
          workflowId: evaluationId,
          args: [input],
          staticSummary: `evaluate ${opts.policy} on ${sets.map((s) => s.name).join(', ')}`,
        });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        started = false;
      }
      log(
        `${started ? 'Evaluating' : 'Following running evaluation'} ${evaluationId}: ${opts.policy} (policy v${policy.version}) on ` +
          `${sets.map((s) => s.name).join(', ')} | ${config.evaluation.samples === 1 ? 'greedy' : `k = ${config.evaluation.samples}`} | ` +
          `tool budget ${toolBudgets.join(', ')} | template ${config.template} | config: ${source}`,
      );
      log('Ctrl-C detaches (the evaluation goes on; rerun with --eval-id to follow it).');
      const stop = new Promise<void>((r) => process.once('SIGINT', () => r()));
      const outcome = await followEvaluation(client, evaluationId, log, stop);
      if (outcome === 'detached') {
        log(
          `Detached. The evaluation goes on: \`tirflow eval --policy ${opts.policy} --eval-id ${evaluationId}\`.`,
        );
        return;
      }
      if (!('results' in outcome)) {
        console.log(JSON.stringify(outcome, null, 1)); // an evaluation started before sets existed
        return;
      }
      const written = await writeEvaluation(
        outcome,
        opts.out ?? defaultEvaluationDir(opts.artifacts, evaluationId),
      );
      if (opts.json) console.log(JSON.stringify(outcome, null, 1));
      else console.log(`\n${evaluationMarkdown(outcome)}`);
      log(
        `Written: ${written.markdownPath}, results.json${written.chartPath ? `, ${basename(written.chartPath)}` : ''}` +
          (runId !== null ? ` | filed with run ${runId}: \`tirflow report ${runId}\`` : ''),
      );
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw new CliError(
        `evaluation ${evaluationId} failed: ${describeFailure(err)}`,
        runFailureExitCode(err),
      );
    } finally {
      await close();
    }
  });
}

/**
 * The run configuration: one YAML/JSON file, validated here with clear error paths. Defaults
 * give the embedded tiny run (`npm run demo`). The one home of config names and defaults.
 *
 * Workflows import the types only; validation runs in the CLI before any workflow starts.
 */
import { z } from 'zod';
import { formatModes } from './answer';
import { DEFAULT_FILTER_BAND, type FilterBand } from './dynamicFiltering';
import {
  BUILTIN_BENCHMARKS,
  EVALUATION_SET_NAME,
  VALIDATION_SET,
  isBuiltinBenchmark,
  type EvaluationSet,
} from './benchmarks';
import type { DatasetFields } from './dataset';

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

/** Column names (dotted for nested objects) for a dataset layout the reader does not know. */
export const datasetFieldsSchema = z
  .object({
    id: z.string().min(1).optional(),
    problem: z.string().min(1).optional(),
    answer: z.string().min(1).optional(),
    solution: z.string().min(1).optional(),
    level: z.string().min(1).optional(),
  })
  .strict() satisfies z.ZodType<DatasetFields>;

const builtinNames = Object.keys(BUILTIN_BENCHMARKS).join(', ');

/**
 * One benchmark: a short name of a shipped one (`math500`), or `{ name, path, fields?, prompts? }`
 * for any dataset file (a shipped name with a path evaluates that file under the name).
 */
export const evaluationSetSchema = z.union([
  z.string().refine(isBuiltinBenchmark, {
    message: `unknown benchmark: the shipped ones are ${builtinNames} (or give { name, path })`,
  }),
  z
    .object({
      name: z
        .string()
        .regex(EVALUATION_SET_NAME, 'lower-case letters, digits, - and _ (at most 40)')
        .refine((n) => n !== VALIDATION_SET, `"${VALIDATION_SET}" is the run's validation split`),
      path: z.string().min(1).optional(),
      fields: datasetFieldsSchema.optional(),
      /** A fixed seeded sample of this many rows; 0 or absent = all rows. */
      prompts: nonNegativeInt.optional(),
    })
    .strict(),
]);

function toEvaluationSet(entry: z.infer<typeof evaluationSetSchema>): EvaluationSet {
  return typeof entry === 'string' ? { name: entry } : entry;
}

const rate = z.number().min(0).max(1);

/**
 * A stand-in for a GPU engine at paper scale (bench/paperScale.ts, `npm run dryrun`): real token
 * ids of the policy's tokenizer, real ```python blocks and answers in the template's format, paced
 * like an inference replica. No model runs. activities/generation/simulatedEngine.ts says how.
 */
export const simulatedEngineSchema = z
  .object({
    kind: z.literal('simulated'),
    /** Generated tokens per second of one replica (one per rollout worker process), shared by its requests. */
    tokensPerSecond: z.number().positive().default(5000),
    /** Each response's length in tokens (observations included) is drawn uniformly from [min, max]. */
    responseTokens: z
      .object({ min: positiveInt.default(256), max: positiveInt.default(8192) })
      .strict()
      .refine((r) => r.min <= r.max, { message: 'min must not exceed max' })
      .prefault({}),
    /** Chance that a response opens a ```python block where it may (while the tool budget lasts). */
    codeRate: rate.default(0.8),
    /** Chance that a code block raises (NameError, ZeroDivisionError, ...) or loops until the sandbox's timeout. */
    codeErrorRate: rate.default(0.1),
    codeTimeoutRate: rate.default(0.005),
    /** Chance that the boxed answer is the dataset row's reference answer. */
    correctRate: rate.default(0.5),
    /** Datasets whose rows give the reference answers, found by the prompt's problem text. */
    answerKey: z
      .array(z.string().min(1))
      .min(1)
      .default(['data/tasks/train.jsonl', 'data/tasks/validation.jsonl']),
  })
  .strict();

export const engineSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('onnx'),
      /** Sequences decoded together in one batch by the in-process engine. */
      maxBatchSize: positiveInt.default(64),
    })
    .strict(),
  z
    .object({
      kind: z.literal('openai'),
      /** OpenAI-compatible server (vLLM, SGLang, or `tirflow serve`), e.g. http://127.0.0.1:8000/v1 */
      baseUrl: z.string().url(),
      model: z.string().min(1),
      /** How the server loads a new policy after each update; 'none' must be chosen explicitly. */
      weightReload: z.enum(['none', 'vllm', 'sglang']),
      /**
       * vLLM only (required with weightReload 'vllm'): the path the server was started on
       * (`--model`), a symlink the rollout worker re-points at each new policy's HF folder before
       * asking vLLM to reload, since vLLM re-reads the folder it started from.
       */
      servedPolicyLink: z.string().min(1).optional(),
      requestTimeoutS: z.number().positive().default(600),
    })
    .strict(),
  simulatedEngineSchema,
]);

/** The run's seed (top-level `seed`): rollouts, prompt order and the trainer's mini-batch shuffles. */
const runSeed = nonNegativeInt.default(1);
/** Sampling temperature of the rollouts (`rollout.temperature`), which the trainer's log-probs use too. */
const samplingTemperature = z.number().positive().max(2).default(1.0);

/**
 * What one policy update reads, each a `trainer.*` config key: the Python trainer receives every
 * one of them (plus the run seed and the step's temperature, see trainerSettingsSchema) and
 * refuses a record that lacks one or has another. Defaults are the tiny demo's; where the
 * paper's value differs, configs/zerotir-qwen2.5-7b.yaml sets it and the comment says why the
 * tiny run does not. README "The paper's recipe and tirflow" lists each with its source.
 */
export const trainerUpdateShape = {
  algorithm: z.enum(['grpo', 'reinforce_pp_baseline', 'ppo']).default('reinforce_pp_baseline'),
  // The 1.75M-param tiny base (stage 3, models/tiny-base/README.md) grows tool use at 2e-4:
  // code ratio 4% → 97% in 30 steps; 3e-5 barely moved it in 20 (4% → 8%). Real 7B runs use
  // 1e-6 (the paper).
  learningRate: z.number().positive().default(2e-4),
  /** PPO's critic. The paper's scripts: 9e-6 beside an actor at 1e-6; the tiny default keeps the
   *  tiny actor's rate (PPO was never tuned on the tiny model). */
  criticLearningRate: z.number().positive().default(2e-4),
  epsLow: z.number().positive().lt(1).default(0.2),
  epsHigh: z.number().positive().default(0.28),
  /** Dual-clip PPO: for a negative advantage the per-token loss is capped at dualClip * |A|
   *  (the paper's README runs --use_dual_policy_loss, c = 3). 0 = off. With one epoch and one
   *  mini-batch (the tiny default) the ratio is 1 and the cap never binds. */
  dualClip: z.number().nonnegative().default(3),
  klCoef: z.number().nonnegative().default(0),
  lossAggregation: z.enum(['token', 'sequence']).default('token'),
  ppoEpochs: positiveInt.default(1),
  miniBatches: positiveInt.default(1),
  microBatchSize: positiveInt.default(16),
  maxGradNorm: z.number().positive().default(1.0),
  // The paper's script uses --l2 0.01 (configs/zerotir-qwen2.5-7b.yaml); the tiny demo's
  // findings were measured without weight decay, so the tiny default keeps 0.
  weightDecay: z.number().nonnegative().default(0),
  adamBeta1: z.number().min(0).lt(1).default(0.9),
  adamBeta2: z.number().min(0).lt(1).default(0.95),
  /** PPO's generalized advantage estimation (the paper's PPO script: gamma 1, lambda 1). */
  gaeGamma: z.number().min(0).max(1).default(1.0),
  gaeLambda: z.number().min(0).max(1).default(1.0),
  /** PPO's value clip (OpenRLHF's default, which the paper's scripts keep). */
  valueClip: z.number().positive().default(0.5),
  device: z.enum(['cpu', 'cuda', 'auto']).default('auto'),
  /** Train only on groups whose mean reward lies strictly inside (filterRewardLow,
   *  filterRewardHigh) (common/dynamicFiltering.ts). The tiny default (0, 1) drops the groups
   *  whose rewards are all equal; the paper's README uses (0.05, 0.8). */
  dynamicFiltering: z.boolean().default(true),
  filterRewardLow: z.number().min(0).max(1).default(DEFAULT_FILTER_BAND.low),
  filterRewardHigh: z.number().min(0).max(1).default(DEFAULT_FILTER_BAND.high),
  /** Sample masks (the paper's --use_loss_mask): trajectories `score` marked for a reason
   *  (activities/reward/sampleMasks.ts) leave the loss but still count in their group's
   *  baseline. Off in the tiny default, whose findings were measured without them. */
  maskTruncated: z.boolean().default(false),
  maskRepetitive: z.boolean().default(false),
  maskUnpairedCode: z.boolean().default(false),
  /** Correction for rollouts from an older policy (or another numeric path): 'none'; 'tis'
   *  truncated importance weights min(π_old/π_behaviour, cap); 'decoupled' decoupled PPO, the
   *  behaviour policy for the weight and the pre-update weights as the proximal policy, tokens
   *  over the cap dropped. Both need the engines' behaviour log-probs. */
  offPolicyCorrection: z.enum(['none', 'tis', 'decoupled']).default('none'),
  importanceWeightCap: z.number().gt(1).default(2),
};

/** The trainer's keys that are not settings of an update: how the process is launched. */
const trainerLaunchShape = {
  /**
   * Trainer ranks on the trainer worker's machine. 1: one process (one GPU, or the CPU). N > 1:
   * torchrun with N ranks, one GPU each, the policy sharded over them with FSDP2; the update is
   * the same as one process's (python/tirflow_py/trainer/README.md).
   */
  processesPerNode: positiveInt.default(1),
};

/** Cross-field rules of the update settings (zod refinements; the Python side checks them again). */
function checkUpdateSettings(
  s: { filterRewardLow: number; filterRewardHigh: number; dualClip: number },
  ctx: z.RefinementCtx,
): void {
  if (s.filterRewardLow >= s.filterRewardHigh) {
    ctx.addIssue({
      code: 'custom',
      path: ['filterRewardHigh'],
      message: `the filter band (${s.filterRewardLow}, ${s.filterRewardHigh}) is empty: low must be below high`,
    });
  }
  if (s.dualClip !== 0 && s.dualClip <= 1) {
    ctx.addIssue({
      code: 'custom',
      path: ['dualClip'],
      message: `dualClip must be 0 (off) or above 1, got ${s.dualClip}`,
    });
  }
}

/**
 * `trainer.kind: simulated` (bench/paperScale.ts, `npm run dryrun`): read and pack the step's
 * trajectories as the torch trainer does, wait `simulatedUpdateS`, write a small checkpoint
 * (tokenizer, no weights). Absent: the torch trainer. Not part of the Python trainer's settings.
 */
const trainerSimulationShape = {
  kind: z.enum(['torch', 'simulated']).optional(),
  simulatedUpdateS: z.number().nonnegative().optional(),
};

export const trainerSchema = z
  .object({ ...trainerUpdateShape, ...trainerLaunchShape, ...trainerSimulationShape })
  .strict()
  .superRefine(checkUpdateSettings);

/**
 * The record the Python trainer receives with each update (`train_step`'s `settings`, keys in
 * snake_case): every trainerUpdateShape key, the run seed (mini-batch shuffles) and the
 * temperature the step's rollouts sampled at (an operator may change it mid-run). The one
 * definition of these settings: python/tirflow_py/trainer/settings.schema.json is generated from
 * it (`npx tsx activities/trainer/settingsSchema.ts --write`; a test keeps them equal).
 */
export const trainerSettingsSchema = z
  .object({ ...trainerUpdateShape, seed: runSeed, temperature: samplingTemperature })
  .strict()
  .superRefine(checkUpdateSettings);

export const runConfigSchema = z
  .object({
    seed: runSeed,
    /** Hugging Face format folder of the base model (weights + tokenizer). */
    model: z.string().min(1).default('models/tiny-base'),
    data: z
      .object({
        train: z.string().min(1).default('data/tasks/train.jsonl'),
        validation: z.string().min(1).default('data/tasks/validation.jsonl'),
        /** Column mapping of both files, for a layout the reader does not know by itself. */
        fields: datasetFieldsSchema.optional(),
      })
      .strict()
      .prefault({}),
    /** 'tool' is ZeroTIR (code execution allowed); 'noTool' the ZeroRL baseline. */
    template: z.enum(['tool', 'noTool']).default('tool'),
    steps: positiveInt.default(30),
    rollout: z
      .object({
        promptsPerStep: positiveInt.default(16),
        samplesPerPrompt: positiveInt.default(8),
        /** Concurrent rolloutShard child workflows per step; prompts are split among them. */
        shards: positiveInt.default(2),
        /** Executed code blocks allowed per response; after it is spent the code stops are removed. */
        toolBudget: z.number().int().min(0).max(20).default(2),
        observationTokenCap: positiveInt.default(256),
        temperature: samplingTemperature,
        topP: z.number().positive().max(1).default(1.0),
        maxResponseTokens: positiveInt.default(256),
        /**
         * When dynamic filtering keeps fewer groups than promptsPerStep, sample more prompts in
         * up to this many further rounds (as further shards), as the paper's code samples until
         * the batch is full; the update then trains on exactly promptsPerStep kept groups. 0: no
         * refill (the step trains on what it kept).
         */
        refillRounds: z.number().int().min(0).max(16).default(0),
      })
      .strict()
      .prefault({}),
    engine: engineSchema.default({ kind: 'onnx', maxBatchSize: 64 }),
    trainer: trainerSchema.prefault({}),
    reward: z
      .object({ formatMode: z.enum(formatModes).default('answerTag') })
      .strict()
      .prefault({}),
    sandbox: z
      .object({
        timeoutS: z.number().positive().max(600).default(5),
        memoryMb: positiveInt.default(512),
      })
      .strict()
      .prefault({}),
    evaluation: z
      .object({
        /** Evaluate every N steps (and before the first); 0 turns periodic evaluation off. */
        every: nonNegativeInt.default(5),
        /** Validation prompts used (the first N rows, which mix every level); 0 = all. */
        prompts: nonNegativeInt.default(100),
        /** Samples per prompt: 1 = greedy, >1 = sampled at `temperature` for pass@k / avg@k. */
        samples: positiveInt.default(1),
        temperature: z.number().positive().max(2).default(1.0),
        toolBudget: z.number().int().min(0).max(20).optional(),
        /**
         * Benchmarks evaluated with the validation split every `every` steps (and at step 0), each
         * charted in the report: shipped short names (aime24, aime25, amc23, math500) or
         * { name, path, fields?, prompts? }.
         */
        benchmarks: z
          .array(evaluationSetSchema)
          .default([])
          .transform((entries) => entries.map(toEvaluationSet))
          .superRefine((sets, ctx) => {
            const seen = new Set<string>();
            sets.forEach((set, index) => {
              if (seen.has(set.name))
                ctx.addIssue({
                  code: 'custom',
                  path: [index],
                  message: `benchmark "${set.name}" is named twice`,
                });
              seen.add(set.name);
              if (set.path === undefined && !isBuiltinBenchmark(set.name))
                ctx.addIssue({
                  code: 'custom',
                  path: [index, 'path'],
                  message: `"${set.name}" is not a shipped benchmark (${builtinNames}): give its path`,
                });
            });
          }),
        /** Prompts per evaluation shard of a benchmark (more shards: finer progress, more concurrency). */
        promptsPerShard: positiveInt.default(32),
        /** Response token limit at evaluation (default: rollout.maxResponseTokens). */
        maxResponseTokens: positiveInt.optional(),
      })
      .strict()
      .prefault({}),
    timeouts: z
      .object({
        /** A trainer worker silent this long is presumed dead and its update or export is retried elsewhere. */
        trainerHeartbeatS: z.number().positive().default(120),
        /** The same for the rollout, sandbox and reward activities (they heartbeat every few seconds). */
        activityHeartbeatS: z.number().positive().default(60),
      })
      .strict()
      .prefault({}),
    pipeline: z
      .object({
        /**
         * How many policy versions a step's rollouts may lag the policy they update. 0: rollout,
         * update, evaluate and record each wait for the last (the synchronous loop). s ≥ 1: step
         * k+1's rollout runs while step k trains (the paper's one-batch queue at s = 1), and
         * evaluation runs beside the next step.
         */
        maxStaleness: z.number().int().min(0).max(8).default(0),
      })
      .strict()
      .prefault({}),
    checkpoints: z
      .object({
        /** Full trainer state (optimizer, RNG, critic) is kept for the last N policies. */
        keepTrainerState: positiveInt.default(2),
        /** Weights are kept every K steps, plus the last and the best; 0 keeps every step's. */
        keepWeightsEvery: nonNegativeInt.default(10),
        /** ONNX exports are kept for the last N policies (and any a rollout still samples from). */
        keepOnnx: positiveInt.default(1),
      })
      .strict()
      .prefault({}),
    /** Steps per workflow execution before continue-as-new (history stays small). */
    stepsPerExecution: positiveInt.default(25),
  })
  .strict()
  .superRefine((config, ctx) => {
    const { engine } = config;
    if (engine.kind === 'openai' && engine.weightReload === 'vllm' && engine.servedPolicyLink === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['engine', 'servedPolicyLink'],
        message:
          'vLLM reloads from the folder it was started on: set servedPolicyLink to that path ' +
          '(a symlink tirflow re-points at each new policy)',
      });
    }
    if (
      config.trainer.kind === 'simulated' &&
      (engine.kind === 'onnx' || (engine.kind === 'openai' && engine.weightReload !== 'none'))
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['trainer', 'kind'],
        message:
          'a simulated update writes no weights, so no engine can load its policy: use engine.kind ' +
          'simulated (or an openai engine with weightReload none)',
      });
    }
    const { shards, promptsPerStep } = config.rollout;
    if (promptsPerStep % shards !== 0) {
      // Equal shards keep every shard's work (and the UI's step view) the same size.
      ctx.addIssue({
        code: 'custom',
        path: ['rollout', 'shards'],
        message: `${promptsPerStep} prompts per step do not divide into ${shards} equal shards`,
      });
    }
  });

export type RunConfig = z.infer<typeof runConfigSchema>;
export type EngineConfig = z.infer<typeof engineSchema>;
export type SimulatedEngineConfig = z.infer<typeof simulatedEngineSchema>;
export type TrainerConfig = z.infer<typeof trainerSchema>;
export type TrainerSettings = z.infer<typeof trainerSettingsSchema>;

/** The complete settings of one update: the config's trainer keys (live learning rate applied by
 *  the caller), the run seed and the temperature the step's rollouts sampled at. */
export function trainerSettings(trainer: TrainerConfig, seed: number, temperature: number): TrainerSettings {
  const update = Object.fromEntries(
    Object.keys(trainerUpdateShape).map((key) => [key, trainer[key as keyof typeof trainerUpdateShape]]),
  );
  return trainerSettingsSchema.parse({ ...update, seed, temperature });
}

/** The dynamic-filtering band of a trainer config; null when filtering is off. */
export function filterBandOf(trainer: TrainerConfig): FilterBand | null {
  return trainer.dynamicFiltering ? { low: trainer.filterRewardLow, high: trainer.filterRewardHigh } : null;
}

/** Hyperparameters an operator may change on a live run (the `setHyperparameters` update). */
export interface HyperparameterChange {
  learningRate?: number;
  temperature?: number;
  toolBudget?: number;
}

export class ConfigError extends Error {
  constructor(
    readonly issues: readonly string[],
    source: string,
  ) {
    super(`invalid config ${source}:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Validates a parsed config object; throws ConfigError listing each bad field by its path. */
export function parseRunConfig(value: unknown, source = '(inline)'): RunConfig {
  const result = runConfigSchema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    const hints =
      issue.code === 'unrecognized_keys'
        ? issue.keys.flatMap((key) => {
            const nearest = nearestSettingPath([...issue.path.map(String), key]);
            return nearest ? [`"${key}": did you mean ${nearest}?`] : [];
          })
        : [];
    return `${path}: ${issue.message}${hints.length > 0 ? ` (${hints.join('; ')})` : ''}`;
  });
  throw new ConfigError(issues, source);
}

/** Every setting's dotted path (objects and leaves), for suggestions. */
function settingPaths(schema: z.ZodType, prefix: string[] = []): string[][] {
  let inner: z.ZodType = schema;
  // Unwrap defaults and optionals to reach the object (or union of objects) underneath.
  for (;;) {
    const def = (inner as unknown as { def: { innerType?: z.ZodType } }).def;
    if (!def.innerType) break;
    inner = def.innerType;
  }
  const objects =
    inner instanceof z.ZodObject
      ? [inner]
      : inner instanceof z.ZodDiscriminatedUnion
        ? (inner.options as z.ZodType[]).filter((o): o is z.ZodObject => o instanceof z.ZodObject)
        : [];
  return objects.flatMap((object) =>
    Object.entries(object.shape as Record<string, z.ZodType>).flatMap(([key, child]) => [
      [...prefix, key],
      ...settingPaths(child, [...prefix, key]),
    ]),
  );
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/**
 * The known setting nearest to an unknown one: a sibling with a similar name, or a setting of
 * that name elsewhere (`learningrate` at the top level → `trainer.learningRate`).
 */
export function nearestSettingPath(unknown: string[]): string | null {
  const key = unknown.at(-1)!.toLowerCase();
  const parent = unknown.slice(0, -1).join('.');
  let best: { path: string; score: number } | null = null;
  for (const path of settingPaths(runConfigSchema)) {
    const name = path.at(-1)!.toLowerCase();
    const distance = editDistance(key, name);
    if (distance > Math.max(1, Math.floor(name.length / 3))) continue;
    // Prefer a sibling, then the closest name.
    const score = distance * 10 + (path.slice(0, -1).join('.') === parent ? 0 : 5);
    if (!best || score < best.score) best = { path: path.join('.'), score };
  }
  return best?.path ?? null;
}

/** Validates a hyperparameter change; returns the reason it is rejected, or null. */
export function hyperparameterChangeError(change: HyperparameterChange): string | null {
  const allowed = new Set(['learningRate', 'temperature', 'toolBudget']);
  for (const key of Object.keys(change)) {
    if (!allowed.has(key))
      return `"${key}" cannot be changed on a live run (allowed: ${[...allowed].join(', ')})`;
  }
  const { learningRate, temperature, toolBudget } = change;
  if (learningRate !== undefined && !(learningRate > 0 && learningRate < 1)) {
    return `learningRate must be in (0, 1), got ${learningRate}`;
  }
  if (temperature !== undefined && !(temperature > 0 && temperature <= 2)) {
    return `temperature must be in (0, 2], got ${temperature}`;
  }
  if (toolBudget !== undefined && !(Number.isInteger(toolBudget) && toolBudget >= 0 && toolBudget <= 20)) {
    return `toolBudget must be an integer from 0 to 20, got ${toolBudget}`;
  }
  return null;
}

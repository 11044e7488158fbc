/**
 * Synthetic runs written the way a training run writes them: metrics.jsonl (one StepRecord per
 * step), runs/<id>/eval/step-NNNN-validation.json (step 0 = the base policy) and config.json.
 * A ZeroTIR run whose code ratio, length and accuracy rise together (with deterministic wiggle),
 * and a ZeroRL run that never executes code.
 */
import type { EvaluationSummary, StepRecord } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import { parseRunConfig } from '../../common/config';
import type { StepMetrics } from '../../common/metrics';
import { LocalDirArtifactStore, writeJsonl } from '../../activities/artifactStore';

export interface SyntheticRun {
  runId: string;
  template: 'tool' | 'noTool';
  steps: number;
  /** Evaluate every N steps and before the first; 0 = never. */
  evaluateEvery: number;
}

export interface WrittenRun {
  records: StepRecord[];
  evaluations: Map<number, EvaluationSummary>;
}

const LEVELS = ['L1', 'L2', 'L3', 'L4', 'L5'];
const TRAJECTORIES = 128;

/** Deterministic wiggle in [-1, 1): keeps the series from being perfectly monotone. */
const wiggle = (step: number, salt: number): number => {
  const x = Math.sin(step * 12.9898 + salt * 78.233) * 43758.5453;
  return 2 * (x - Math.floor(x)) - 1;
};
const clamp01 = (x: number): number => Math.min(1, Math.max(0, x));
const round = (x: number, digits = 4): number => Number(x.toFixed(digits));

function rolloutMetrics(run: SyntheticRun, step: number): StepMetrics {
  const tool = run.template === 'tool';
  const progress = step / run.steps;
  const codeRatio = tool ? round(clamp01(0.05 + 0.75 * progress + 0.06 * wiggle(step, 1))) : 0;
  const accuracy = round(
    clamp01((tool ? 0.15 + 0.45 * progress : 0.15 + 0.1 * progress) + 0.05 * wiggle(step, 2)),
  );
  const meanLength = round(40 + (tool ? 90 : 25) * progress + 8 * wiggle(step, 3), 2);
  const executed = Math.round(TRAJECTORIES * codeRatio * 1.4);
  const errors = Math.round(executed * 0.2);
  const timeouts = step % 3 === 0 ? Math.min(2, executed - errors) : 0;
  const memory = step % 4 === 0 ? Math.min(1, executed - errors - timeouts) : 0;
  const correct = Math.round(accuracy * TRAJECTORIES);
  const accuracyByLevel = Object.fromEntries(
    LEVELS.map((level, i) => [level, round(clamp01(accuracy * (1.6 - 0.3 * i)))]),
  );
  return {
    trajectories: TRAJECTORIES,
    rewardMean: correct / TRAJECTORIES,
    accuracy,
    codeRatio,
    meanToolCalls: round(executed / TRAJECTORIES),
    executions: {
      ok: executed - errors - timeouts - memory,
      error: errors,
      timeout: timeouts,
      memory,
      killed: 0,
    },
    responseTokens: { mean: meanLength, p90: Math.round(meanLength * 1.5) },
    totalResponseTokens: { mean: round(meanLength + 20 * codeRatio, 2), p90: Math.round(meanLength * 1.8) },
    truncationRate: round(0.3 * (1 - progress)),
    formatFailureRate: round(0.4 * (1 - progress)),
    gradingStatus: { correct, incorrect: TRAJECTORIES - correct - 10, format: 10 },
    groups: 16,
    groupsDropped: 4,
    accuracyByLevel,
  };
}

function evaluation(run: SyntheticRun, step: number): EvaluationSummary {
  const tool = run.template === 'tool';
  const progress = step / run.steps;
  const accuracy = round(
    clamp01((tool ? 0.12 + 0.5 * progress : 0.12 + 0.12 * progress) + 0.02 * wiggle(step, 4)),
  );
  return {
    split: 'validation',
    policyVersion: step,
    prompts: 50,
    samplesPerPrompt: 1,
    accuracy,
    passAtK: accuracy,
    // Hard levels gain most from the tool: distinct values per level and run.
    accuracyByLevel: Object.fromEntries(
      LEVELS.map((level, i) => [level, round(clamp01(accuracy * (tool ? 0.8 + 0.1 * i : 1.5 - 0.25 * i)))]),
    ),
    codeRatio: tool ? round(clamp01(0.04 + 0.8 * progress)) : 0,
    meanResponseTokens: round(40 + 60 * progress, 2),
  };
}

/** Writes the run's artifacts into the store at `root` and returns what it wrote. */
export async function writeSyntheticRun(root: string, run: SyntheticRun): Promise<WrittenRun> {
  const store = new LocalDirArtifactStore(root);
  const evaluates = (step: number): boolean =>
    run.evaluateEvery > 0 && (step % run.evaluateEvery === 0 || step === run.steps);
  await store.write(
    artifactKeys.runConfig(run.runId),
    JSON.stringify(parseRunConfig({ template: run.template, steps: run.steps }), null, 2) + '\n',
  );
  const evaluations = new Map<number, EvaluationSummary>();
  for (let step = 0; step <= run.steps; step += 1) {
    if (!evaluates(step)) continue;
    const summary = evaluation(run, step);
    evaluations.set(step, summary);
    await store.write(artifactKeys.evaluation(run.runId, step, 'validation'), JSON.stringify(summary) + '\n');
  }
  const records: StepRecord[] = [];
  for (let step = 1; step <= run.steps; step += 1) {
    records.push({
      step,
      policyVersion: step,
      rollout: rolloutMetrics(run, step),
      update: {
        loss: round(0.5 * wiggle(step, 5)),
        gradNorm: round(1 + wiggle(step, 6) ** 2),
        kl: 0,
        clipFraction: round(0.05 + 0.02 * wiggle(step, 7)),
        entropy: round(1.2 - 0.02 * step),
        tokensPerSecond: 900,
        trainedTokens: 6000,
        groupsFiltered: 4,
      },
      evaluation: evaluations.get(step) ?? null,
    });
  }
  await writeJsonl(store, artifactKeys.metrics(run.runId), records);
  return { records, evaluations };
}

/**
 * What must hold after a run that was shot at, read from the artifact store the workers wrote:
 * one policy version per step, no step trained twice (the trainer's own step log), every
 * step's trajectories complete, one metrics line per step.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StepRecord } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import type { RunConfig } from '../../common/config';
import type { ExecutionResult, ScoredTrajectory, Trajectory } from '../../common/trajectory';
import type { TrainingRunResult } from '../../workflows/trainingRun';

export interface InvariantCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface RunOutcome {
  artifactRoot: string;
  runId: string;
  config: RunConfig;
  result: TrainingRunResult;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
const sameList = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((value, i) => value === b[i]);

function jsonl<T>(path: string): T[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}

/** A check returns what it verified, or throws what it found wrong (a missing file throws too). */
type Check = (outcome: RunOutcome) => string;

export function checkInvariants(outcome: RunOutcome): InvariantCheck[] {
  const checks: [string, Check][] = [
    ['run completed every step', runCompleted],
    ['exactly one policy version per step', onePolicyPerStep],
    ['no step trained twice (trainer step log)', noStepTrainedTwice],
    ["every step's trajectories complete", trajectoriesComplete],
    ['metrics.jsonl has one line per step', oneMetricsLinePerStep],
    ['every step sampled from a policy within the staleness bound', stalenessBounded],
  ];
  return checks.map(([name, check]) => {
    try {
      return { name, ok: true, detail: check(outcome) };
    } catch (err) {
      return { name, ok: false, detail: (err as Error).message };
    }
  });
}

/** Step k trains policy v(k-1) on rollouts from a policy at most `maxStaleness` versions older. */
function stalenessBounded({ artifactRoot, runId, config }: RunOutcome): string {
  const bound = config.pipeline.maxStaleness;
  const records = jsonl<StepRecord>(join(artifactRoot, artifactKeys.metrics(runId)));
  const lags = records.map((r) => {
    const behaviour = r.behaviourPolicyVersion ?? fail(`step ${r.step} does not record its behaviour policy`);
    const lag = r.step - 1 - behaviour;
    if (lag < 0 || lag > bound) fail(`step ${r.step} sampled from v${behaviour}: lag ${lag}, bound ${bound}`);
    return lag;
  });
  return `lags ${lags.join(', ')} (bound ${bound})`;
}

function fail(problem: string): never {
  throw new Error(problem);
}

function runCompleted({ result, config }: RunOutcome): string {
  if (result.completedSteps !== config.steps || result.stoppedEarly) {
    fail(
      `completed ${result.completedSteps} of ${config.steps} steps (stopped early: ${result.stoppedEarly})`,
    );
  }
  if (result.policy.version !== config.steps) {
    fail(`final policy v${result.policy.version}, expected v${config.steps}`);
  }
  return `${result.completedSteps} steps, final policy v${result.policy.version}`;
}

function checkpointsRoot({ artifactRoot, runId }: RunOutcome): string {
  return join(artifactRoot, artifactKeys.runRoot(runId), 'checkpoints');
}

function onePolicyPerStep(outcome: RunOutcome): string {
  const { artifactRoot, runId, config } = outcome;
  const name = (step: number): string => artifactKeys.checkpoint(runId, step).split('/').pop()!;
  // Committed checkpoints only: a killed trainer's `step-N.tmp-PID` is removed by the next
  // writer. step-0000 holds just the base policy's ONNX export: policy v0 is the base model.
  const committed = readdirSync(checkpointsRoot(outcome))
    .filter((entry) => /^step-\d+$/.test(entry) && entry !== name(0))
    .sort();
  const expected = range(config.steps).map(name);
  if (committed.join() !== expected.join()) {
    fail(`checkpoints [${committed.join(', ')}], expected [${expected.join(', ')}]`);
  }
  for (const step of range(config.steps)) {
    const meta = JSON.parse(
      readFileSync(join(artifactRoot, artifactKeys.checkpoint(runId, step), 'meta.json'), 'utf8'),
    ) as { step: number; version: number };
    if (meta.step !== step || meta.version !== step) {
      fail(`checkpoint of step ${step} holds step ${meta.step}, policy v${meta.version}`);
    }
  }
  return `checkpoints ${expected[0]}..${expected.at(-1)}, each policy v = its step`;
}

function noStepTrainedTwice(outcome: RunOutcome): string {
  const trained = jsonl<{ step: number; pid: number }>(join(checkpointsRoot(outcome), 'trainer-steps.log'));
  const steps = trained.map((line) => line.step);
  if (!sameList(steps, range(outcome.config.steps))) {
    fail(
      `trainer step log lists steps [${steps.join(', ')}], expected [${range(outcome.config.steps).join(', ')}]`,
    );
  }
  const processes = new Set(trained.map((line) => line.pid)).size;
  return `${steps.length} lines, steps 1..${outcome.config.steps} once each, by ${processes} trainer process(es)`;
}

function oneMetricsLinePerStep({ artifactRoot, runId, config }: RunOutcome): string {
  const records = jsonl<StepRecord>(join(artifactRoot, artifactKeys.metrics(runId)));
  const steps = records.map((record) => record.step);
  if (!sameList(steps, range(config.steps))) {
    fail(`metrics.jsonl lists steps [${steps.join(', ')}], expected [${range(config.steps).join(', ')}]`);
  }
  const wrong = records.find((record) => record.policyVersion !== record.step);
  if (wrong) fail(`metrics of step ${wrong.step} name policy v${wrong.policyVersion}`);
  return `${records.length} lines, steps 1..${config.steps}`;
}

/**
 * Per step and shard: the scored file holds every sample of every prompt, finished and scored,
 * with token ids and action mask of equal length; every executed turn answers exactly the
 * trajectories its generated turn left awaiting execution, and the next turn was generated.
 */
function trajectoriesComplete({ artifactRoot, runId, config }: RunOutcome): string {
  const { shards, promptsPerStep, samplesPerPrompt } = config.rollout;
  const perShard = (promptsPerStep / shards) * samplesPerPrompt;
  const path = (key: string): string => join(artifactRoot, key);
  let trajectories = 0;
  let executedTurns = 0;
  for (const step of range(config.steps)) {
    for (let shard = 0; shard < shards; shard++) {
      const where = `step ${step} shard ${shard}`;
      const scored = jsonl<ScoredTrajectory>(path(artifactKeys.scored(runId, step, shard)));
      if (scored.length !== perShard)
        fail(`${where}: ${scored.length} scored trajectories, expected ${perShard}`);
      if (new Set(scored.map((t) => t.id)).size !== scored.length) fail(`${where}: duplicate trajectory ids`);
      const unfinished = scored.find(
        (t) =>
          t.phase !== 'finished' ||
          typeof t.reward !== 'number' ||
          t.responseTokenIds.length !== t.actionMask.length,
      );
      if (unfinished) fail(`${where}: trajectory ${unfinished.id} is not finished and scored`);
      const groups = new Map<string, number>();
      for (const t of scored) groups.set(t.promptId, (groups.get(t.promptId) ?? 0) + 1);
      const partial = [...groups].find(([, count]) => count !== samplesPerPrompt);
      if (partial) fail(`${where}: prompt ${partial[0]} has ${partial[1]} of ${samplesPerPrompt} samples`);
      trajectories += scored.length;

      for (let turn = 0; existsSync(path(artifactKeys.executed(runId, step, shard, turn))); turn++) {
        const awaiting = jsonl<Trajectory>(path(artifactKeys.generated(runId, step, shard, turn)))
          .filter((t) => t.phase === 'awaitingExecution')
          .map((t) => t.id);
        const results = jsonl<ExecutionResult>(path(artifactKeys.executed(runId, step, shard, turn)));
        if (results.map((r) => r.trajectoryId).join() !== awaiting.join()) {
          fail(
            `${where} turn ${turn}: ${results.length} execution results for ${awaiting.length} pending code blocks`,
          );
        }
        if (!existsSync(path(artifactKeys.generated(runId, step, shard, turn + 1)))) {
          fail(`${where} turn ${turn}: executed, but the next generate turn is missing`);
        }
        executedTurns += 1;
      }
    }
  }
  return `${trajectories} trajectories in ${config.steps * shards} shards, ${executedTurns} executed turns`;
}

/** Temp files of writers killed mid-write: never listed or read, reported for the curious. */
export function leftoverTempFiles(artifactRoot: string, runId: string): string[] {
  const root = join(artifactRoot, artifactKeys.runRoot(runId));
  return readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((name) => /\.tmp-/.test(name));
}

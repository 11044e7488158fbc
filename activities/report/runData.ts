/**
 * What the report reads of a run, straight from the artifact store (no Temporal needed):
 * metrics.jsonl (one StepRecord per training step), the validation summaries under
 * runs/<id>/eval/ (step 0 is the base policy, evaluated before the first step) and the
 * template from config.json (tool = ZeroTIR, noTool = ZeroRL); the benchmarks the run evaluated
 * (runs/<id>/eval/step-NNNN-<benchmark>.json) and the standalone evaluations `tirflow eval` filed
 * with it (runs/<id>/evaluations/<eval id>.json).
 */
import type { EvaluationRecord, EvaluationSummary, StepRecord } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import { type ArtifactStore, readJsonl } from '../artifactStore';

export const VALIDATION_SPLIT = 'validation';

export interface RunEvaluation {
  step: number;
  summary: EvaluationSummary;
}

export interface RunData {
  runId: string;
  /** The name the report shows (legend, table headers); unique among the report's runs. */
  label: string;
  template: 'tool' | 'noTool' | null;
  /** Training steps in step order. */
  steps: StepRecord[];
  /** Validation evaluations in step order, step 0 (the base policy) first when it ran. */
  evaluations: RunEvaluation[];
  /** Benchmarks evaluated during training (evaluation.benchmarks), by name, each in step order. */
  benchmarks: { name: string; evaluations: RunEvaluation[] }[];
  /** Standalone evaluations of this run's policies (`tirflow eval --policy RUN:STEP`), oldest first. */
  standaloneEvaluations: EvaluationRecord[];
}

/** Input the report cannot be made from (the CLI exits 2 with the message). */
export class ReportInputError extends Error {
  override name = 'ReportInputError';
}

/** A run id with no metrics.jsonl: nothing to report. */
export class UnknownRunError extends ReportInputError {
  constructor(
    readonly runId: string,
    readonly artifactRoot: string,
  ) {
    super(`unknown run "${runId}": no ${artifactKeys.metrics(runId)} in artifacts dir ${artifactRoot}`);
  }
}

const templateNames = { tool: 'ZeroTIR', noTool: 'ZeroRL' } as const;

/** "ZeroTIR (run-a)" for a tool run, "ZeroRL (run-b)" without tools, the bare id when unknown. */
export function defaultLabel(runId: string, template: RunData['template']): string {
  return template === null ? runId : `${templateNames[template]} (${runId})`;
}

async function readTemplate(store: ArtifactStore, runId: string): Promise<RunData['template']> {
  const key = artifactKeys.runConfig(runId);
  if (!(await store.exists(key))) return null;
  const config = JSON.parse((await store.read(key)).toString('utf8')) as { template?: unknown };
  // The config schema defaults the template to 'tool'; a stored config always has it.
  return config.template === 'noTool' ? 'noTool' : 'tool';
}

/**
 * Validation summaries by step: the stored eval files, and for steps without one the summary
 * carried in the step's metrics line.
 */
async function readEvaluations(
  store: ArtifactStore,
  runId: string,
  steps: StepRecord[],
): Promise<RunEvaluation[]> {
  const byStep = new Map<number, EvaluationSummary>();
  for (const record of steps) {
    if (record.evaluation && record.evaluation.split === VALIDATION_SPLIT)
      byStep.set(record.step, record.evaluation);
  }
  const pattern = new RegExp(`/step-(\\d+)-${VALIDATION_SPLIT}\\.json$`);
  for (const key of await store.list(`${artifactKeys.runRoot(runId)}/eval`)) {
    const match = pattern.exec(key);
    if (!match) continue;
    const step = Number(match[1]);
    if (key !== artifactKeys.evaluation(runId, step, VALIDATION_SPLIT)) continue;
    byStep.set(step, JSON.parse((await store.read(key)).toString('utf8')) as EvaluationSummary);
  }
  return [...byStep].sort(([a], [b]) => a - b).map(([step, summary]) => ({ step, summary }));
}

/** Benchmark summaries stored by the run's evaluations, grouped by benchmark. */
async function readBenchmarks(store: ArtifactStore, runId: string): Promise<RunData['benchmarks']> {
  const pattern = /\/step-(\d+)-([a-z0-9][a-z0-9_-]*)\.json$/;
  const byName = new Map<string, RunEvaluation[]>();
  for (const key of await store.list(`${artifactKeys.runRoot(runId)}/eval`)) {
    const match = pattern.exec(key);
    if (!match || match[2] === VALIDATION_SPLIT) continue;
    const [, step, name] = match;
    if (key !== artifactKeys.evaluation(runId, Number(step), name!)) continue;
    const summary = JSON.parse((await store.read(key)).toString('utf8')) as EvaluationSummary;
    byName.set(name!, [...(byName.get(name!) ?? []), { step: Number(step), summary }]);
  }
  return [...byName]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, evaluations]) => ({ name, evaluations: evaluations.sort((a, b) => a.step - b.step) }));
}

async function readStandaloneEvaluations(store: ArtifactStore, runId: string): Promise<EvaluationRecord[]> {
  const records: EvaluationRecord[] = [];
  for (const key of await store.list(`${artifactKeys.runRoot(runId)}/evaluations`)) {
    if (!key.endsWith('.json')) continue;
    records.push(JSON.parse((await store.read(key)).toString('utf8')) as EvaluationRecord);
  }
  // Ids start with their UTC start time: name order is start order.
  return records.sort((a, b) => a.evaluationId.localeCompare(b.evaluationId));
}

export async function loadRun(store: ArtifactStore, runId: string, label?: string): Promise<RunData> {
  const metricsKey = artifactKeys.metrics(runId);
  // A run id that would leave the store (`../x`) names no run either.
  const found = await store.exists(metricsKey).catch(() => false);
  if (!found) throw new UnknownRunError(runId, store.root);
  const steps = (await readJsonl<StepRecord>(store, metricsKey)).sort((a, b) => a.step - b.step);
  const template = await readTemplate(store, runId);
  return {
    runId,
    label: label ?? defaultLabel(runId, template),
    template,
    steps,
    evaluations: await readEvaluations(store, runId, steps),
    benchmarks: await readBenchmarks(store, runId),
    standaloneEvaluations: await readStandaloneEvaluations(store, runId),
  };
}

/**
 * `prepareRun` (rollout queue): the run's permanent inputs checked once, before any step —
 * the model folder exists, datasets parse, the weights are whole, the tokenizer loads and every
 * prompt fits the model's context — and the config stored next to the run's artifacts. Every
 * problem found here is non-retryable (retrying cannot fix it) and found before anything is
 * written, so a rejected run leaves nothing in the artifact store.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { PrepareRunInput, PrepareRunResult } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import { parseRunConfig, type RunConfig } from '../../common/config';
import type { ArtifactStore } from '../artifactStore';
import { loadTaskRows } from '../dataset';
import { loadModelTokenizer } from '../generation/modelFolder';
import { checkModelFiles, checkPromptsFit, checkWeights } from './modelCheck';

export async function prepareRun(store: ArtifactStore, input: PrepareRunInput): Promise<PrepareRunResult> {
  checkModelFiles(input.modelDir);
  const config = input.config as Partial<RunConfig> | null;
  const fields = config?.data?.fields ?? {};
  const loaded = await Promise.all(
    input.datasets.map(async (path) => ({ path, rows: await loadTaskRows(path, fields) })),
  );
  if (!config?.rollout) {
    throw ApplicationFailure.nonRetryable('prepareRun needs the validated run config', 'BadPrepareInput');
  }
  await checkWeights(input.modelDir);
  const tokenizer = await loadModelTokenizer(input.modelDir);
  await checkPromptsFit(input.modelDir, tokenizer, loaded, {
    template: config.template ?? 'tool',
    maxResponseTokens: config.rollout.maxResponseTokens,
  });
  const datasets = loaded.map(({ path, rows }) => {
    const levels: Record<string, number> = {};
    for (const row of rows) if (row.level !== null) levels[row.level] = (levels[row.level] ?? 0) + 1;
    return { path, rows: rows.length, levels };
  });
  await claimRunId(store, input);
  const configKey = artifactKeys.runConfig(input.runId);
  if (!(await store.exists(configKey))) {
    await store.write(configKey, JSON.stringify(input.config, null, 2) + '\n');
  }
  return { datasets };
}

interface RunIdentityFile {
  runId: string;
  /** First-execution run ids of every Temporal chain this run was (the first, then resumptions). */
  executionChains: string[];
}

/**
 * A run id names one run forever: a new chain that finds another's artifacts under the id is
 * refused (unless it resumes that run), so two runs never mix their files.
 */
async function claimRunId(store: ArtifactStore, input: PrepareRunInput): Promise<void> {
  const chain = input.executionChain;
  if (chain === undefined) return;
  const key = artifactKeys.runIdentity(input.runId);
  const identity: RunIdentityFile | null = (await store.exists(key))
    ? (JSON.parse((await store.read(key)).toString('utf8')) as RunIdentityFile)
    : null;
  if (identity?.executionChains.includes(chain)) return; // a retry of this chain's prepareRun
  const taken = identity !== null || (await store.exists(artifactKeys.runConfig(input.runId)));
  if (taken && input.resume !== true) {
    throw ApplicationFailure.nonRetryable(
      `run id ${input.runId} already names a run in the artifact store (${store.pathOf(artifactKeys.runRoot(input.runId))}): ` +
        'choose another run id, or continue that run with `tirflow train --resume --run-id ' +
        input.runId +
        '`',
      'RunIdTaken',
    );
  }
  if (input.resume === true) {
    const stored = (await store.exists(artifactKeys.runConfig(input.runId)))
      ? (JSON.parse((await store.read(artifactKeys.runConfig(input.runId))).toString('utf8')) as unknown)
      : null;
    // Compared with defaults filled in, so keys added to the schema since do not count as changes.
    const normalized = (config: unknown): string => JSON.stringify(parseRunConfig(config));
    if (stored !== null && normalized(stored) !== normalized(input.config)) {
      throw ApplicationFailure.nonRetryable(
        `cannot resume ${input.runId} with a config that differs from its stored config.json`,
        'ResumeConfigMismatch',
      );
    }
  }
  const next: RunIdentityFile = {
    runId: input.runId,
    executionChains: [...(identity?.executionChains ?? []), chain],
  };
  await store.write(key, JSON.stringify(next, null, 2) + '\n');
}

/**
 * What the artifact store knows about a run, read directly from its files: for `status` when
 * no worker answers queries, or when the Temporal server has forgotten the run.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StepRecord } from '../common/activityContracts';
import { artifactKeys } from '../common/artifactKeys';
import type { RunConfig } from '../common/config';

export interface StoreView {
  root: string;
  config: RunConfig | null;
  records: StepRecord[];
  checkpoints: number[];
}

export function readStoreView(artifacts: string, runId: string): StoreView | null {
  const runDir = join(artifacts, artifactKeys.runRoot(runId));
  if (!existsSync(runDir)) return null;
  const configPath = join(artifacts, artifactKeys.runConfig(runId));
  const metricsPath = join(artifacts, artifactKeys.metrics(runId));
  const checkpointsDir = join(artifacts, artifactKeys.checkpointsRoot(runId));
  const checkpoints = existsSync(checkpointsDir)
    ? readdirSync(checkpointsDir)
        .map((name) => /^step-(\d+)$/.exec(name))
        .filter((m): m is RegExpExecArray => m !== null)
        .filter((m) => existsSync(join(checkpointsDir, m[0], 'meta.json')))
        .map((m) => Number(m[1]))
        .sort((a, b) => a - b)
    : [];
  return {
    root: artifacts,
    config: existsSync(configPath) ? (JSON.parse(readFileSync(configPath, 'utf8')) as RunConfig) : null,
    records: existsSync(metricsPath)
      ? readFileSync(metricsPath, 'utf8')
          .split('\n')
          .filter((line) => line.trim() !== '')
          .map((line) => JSON.parse(line) as StepRecord)
      : [],
    checkpoints,
  };
}

export function describeStoreView(view: StoreView): string[] {
  const last = view.records.at(-1);
  const config = view.config;
  return [
    `artifact store ${view.root}: ` +
      (config
        ? `${config.template === 'tool' ? 'ZeroTIR' : 'ZeroRL'}, ${config.steps} steps × ${config.rollout.promptsPerStep} prompts × ${config.rollout.samplesPerPrompt} samples; `
        : '') +
      `${view.records.length} step${view.records.length === 1 ? '' : 's'} recorded` +
      (last ? ` (last: step ${last.step}, policy v${last.policyVersion})` : '') +
      `; committed checkpoints: ${view.checkpoints.length > 0 ? view.checkpoints.map((s) => `step ${s}`).join(', ') : 'none'}`,
  ];
}

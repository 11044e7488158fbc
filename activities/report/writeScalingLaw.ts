/**
 * Writes the scaling-law summary of seed pairs (a ZeroTIR run and its ZeroRL baseline per seed)
 * next to the reports: scaling-law.md (the tables the README quotes) and scaling-law.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactStore } from '../artifactStore';
import { loadRun } from './runData';
import {
  type Finding,
  type SeedOutcome,
  scalingLawFindings,
  scalingLawMarkdown,
  seedOutcome,
} from './scalingLaw';

export interface SeedPair {
  tool: string;
  baseline: string | null;
}

export interface WrittenScalingLaw {
  markdown: string;
  markdownPath: string;
  outcomes: SeedOutcome[];
  findings: Finding[];
}

export async function writeScalingLaw(
  store: ArtifactStore,
  pairs: readonly SeedPair[],
  outDir: string,
): Promise<WrittenScalingLaw> {
  const outcomes: SeedOutcome[] = [];
  for (const pair of pairs) {
    const tool = await loadRun(store, pair.tool);
    const baseline = pair.baseline === null ? null : await loadRun(store, pair.baseline);
    outcomes.push(seedOutcome(tool, baseline));
  }
  const markdown = scalingLawMarkdown(outcomes);
  const findings = scalingLawFindings(outcomes);
  await mkdir(outDir, { recursive: true });
  const markdownPath = join(outDir, 'scaling-law.md');
  await writeFile(markdownPath, markdown);
  await writeFile(join(outDir, 'scaling-law.json'), `${JSON.stringify({ outcomes, findings }, null, 1)}\n`);
  return { markdown, markdownPath, outcomes, findings };
}

/** `<artifacts>/reports/scaling-law-<first ZeroTIR run>` unless the caller names a folder. */
export const defaultScalingLawDir = (artifactRoot: string, pairs: readonly SeedPair[]): string =>
  join(artifactRoot, 'reports', `scaling-law-${pairs[0]?.tool ?? 'none'}`);

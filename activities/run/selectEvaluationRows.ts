/**
 * `selectEvaluationRows` (rollout queue): which rows of an evaluation set are generated. A
 * benchmark is evaluated whole (the field's convention) unless its `prompts` asks for a fixed
 * seeded sample. A prompt that cannot fit the policy's context together with a whole response
 * (rendered prompt tokens + maxResponseTokens > max_position_embeddings) is skipped, counted and
 * named by the rule, and scored wrong by summarizeEvaluation: truncating a problem would change
 * it, and refusing the benchmark would leave a small model no number at all. Reads only.
 */
import { join } from 'node:path';
import type { SelectEvaluationRowsInput, SelectEvaluationRowsResult } from '../../common/activityContracts';
import { builtinBenchmarkFile, isBuiltinBenchmark } from '../../common/benchmarks';
import { ApplicationFailure } from '@temporalio/common';
import { stepPromptIndices } from '../../common/schedule';
import { renderPrompt } from '../../common/toolProtocol';
import { modelPath, type ArtifactStore } from '../artifactStore';
import { loadTaskRows } from '../dataset';
import { loadModelTokenizer } from '../generation/modelFolder';
import { projectRoot } from '../projectPaths';
import { contextLength } from './modelCheck';

/** The seed of an evaluation set's row sample: the same rows at every evaluation of a run. */
export const EVALUATION_SAMPLE_SEED = 0xe7a1;

/** A set's file: its path, or a shipped benchmark in this worker's checkout. */
export function evaluationSetPath(set: SelectEvaluationRowsInput['set']): string {
  if (set.path !== undefined) return set.path;
  if (!isBuiltinBenchmark(set.name))
    throw ApplicationFailure.nonRetryable(
      `evaluation set "${set.name}" has no path and is not a shipped benchmark`,
      'BadEvaluationSet',
    );
  return join(projectRoot, builtinBenchmarkFile(set.name));
}

export async function selectEvaluationRows(
  store: ArtifactStore,
  input: SelectEvaluationRowsInput,
): Promise<SelectEvaluationRowsResult> {
  const path = evaluationSetPath(input.set);
  const rows = await loadTaskRows(path, input.set.fields ?? {});
  const wanted = input.set.prompts ?? 0;
  const candidates =
    wanted > 0 && wanted < rows.length
      ? stepPromptIndices(EVALUATION_SAMPLE_SEED, 1, wanted, rows.length).sort((a, b) => a - b)
      : rows.map((_, index) => index);

  const modelDir = modelPath(store, input.policy.hfDir);
  const context = await contextLength(modelDir);
  const skippedByLevel: Record<string, number> = {};
  let rowIndices = candidates;
  let rule = 'none: the model states no context length';
  if (context !== null) {
    const room = context - input.maxResponseTokens;
    rule = `prompt tokens + ${input.maxResponseTokens} response tokens > the model's context of ${context} positions`;
    const tokenizer = await loadModelTokenizer(modelDir);
    // One token per UTF-8 byte is byte-level BPE's worst case: shorter problems fit without tokenizing.
    const frame = tokenizer.encode(renderPrompt(input.template, '')).length + 4;
    rowIndices = candidates.filter((index) => {
      const row = rows[index]!;
      if (room > 0 && frame + Buffer.byteLength(row.problem) <= room) return true;
      const fits = room > 0 && tokenizer.encode(renderPrompt(input.template, row.problem)).length <= room;
      if (!fits && row.level !== null) skippedByLevel[row.level] = (skippedByLevel[row.level] ?? 0) + 1;
      return fits;
    });
  }
  return {
    path,
    rows: rows.length,
    rowIndices,
    skipped: { prompts: candidates.length - rowIndices.length, byLevel: skippedByLevel, rule },
  };
}

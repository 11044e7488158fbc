/** Live progress of a run in the terminal: one line per phase change, one metrics line per step. */
import type { StepRecord } from '../common/activityContracts';
import type { RunStatus } from '../workflows/messages';

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

export function formatStepRecord(record: StepRecord, totalSteps: number): string {
  const r = record.rollout;
  const parts = [
    `step ${String(record.step).padStart(3)}/${totalSteps}`,
    `acc ${pct(r.accuracy)}`,
    `code ${pct(r.codeRatio)}`,
    `len ${r.responseTokens.mean.toFixed(0)}`,
    `reward ${r.rewardMean.toFixed(3)}`,
  ];
  if (record.update) {
    parts.push(`loss ${record.update.loss.toFixed(4)}`, `gnorm ${record.update.gradNorm.toFixed(3)}`);
    parts.push(`filtered ${record.update.groupsFiltered}/${r.groups}`);
  }
  if (record.evaluation)
    parts.push(`val acc ${pct(record.evaluation.accuracy)} (code ${pct(record.evaluation.codeRatio)})`);
  return parts.join(' | ');
}

/** Prints what changed since the previous status; returns the new status to compare against next. */
export function reportProgress(
  previous: RunStatus | null,
  status: RunStatus,
  print: (line: string) => void,
): void {
  if (!previous || previous.phase !== status.phase || previous.step !== status.step) {
    print(
      `  [${status.runId}] step ${status.step}/${status.totalSteps}: ${status.phase} (policy v${status.policyVersion})`,
    );
  }
  const seen = previous?.lastRecord?.step ?? 0;
  for (const record of status.history.filter((r) => r.step > seen))
    print(formatStepRecord(record, status.totalSteps));
}

/** Live progress of a run in the terminal: one line per phase change, one metrics line per step. */
import type { StepRecord, StepTimings } from '../common/activityContracts';
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
  if (record.skipped && record.skipped.length > 0)
    parts.push(`skipped ${record.skipped.map((s) => s.id).join(', ')}`);
  if (record.timings) parts.push(`${record.timings.stepS.toFixed(1)} s`);
  return parts.join(' | ');
}

const secs = (x: number): string => `${x.toFixed(1)} s`;

/** Where a step's time went: wall times, then the busy time of the rollout's activities. */
export function formatTimings(t: StepTimings): string {
  return (
    `${secs(t.stepS)}: rollout ${secs(t.rolloutS)} (busy: generate ${secs(t.generateS)}, execute ` +
    `${secs(t.executeS)}, score ${secs(t.scoreS)}), update ${secs(t.updateS)}, evaluation ` +
    `${secs(t.evaluationS)}, waiting in task queues ${secs(t.queueWaitS)}` +
    (t.turnTrajectoryS
      ? `; trajectories waited at turn barriers ${((100 * (t.barrierWaitS ?? 0)) / t.turnTrajectoryS).toFixed(0)}% of their turn time`
      : '')
  );
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
  const wasBlocked = new Set((previous?.blocked ?? []).map((w) => `${w.id}#${w.failures}`));
  for (const work of status.blocked ?? []) {
    if (wasBlocked.has(`${work.id}#${work.failures}`)) continue;
    print(
      `  [${status.runId}] BLOCKED ${work.id}: ${work.error} — fix the cause, then \`tirflow retry ${status.runId}\`` +
        (work.skippable ? ` or \`tirflow skip ${status.runId}\`` : '') +
        ' (`tirflow status` has the details)',
    );
  }
  const seen = previous?.lastRecord?.step ?? 0;
  for (const record of status.history.filter((r) => r.step > seen))
    print(formatStepRecord(record, status.totalSteps));
}

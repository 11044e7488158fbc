/**
 * Matches each injected fault with what repaired it (activity retries, workflow task
 * redeliveries, queued tasks taken by the restarted worker) and prints the summary table.
 * Pure: the inputs are the injector's log and the histories read after the run.
 */
import type { PlannedFault } from './faultPlan';
import type { ActivityRun, RunActivityLog } from './recoveries';

export interface InjectedFault extends PlannedFault {
  /** Wall-clock time of the kill or the server stop; null when the run finished first. */
  atMs: number | null;
  /** When the target was back (worker polling again, server answering). */
  repairedMs: number | null;
  /** Activities of the target (all activities, for the server) started when it was hit. */
  inFlight: string[];
}

export interface FaultRecovery {
  fault: InjectedFault;
  recoveredBy: string[];
}

export interface RecoveryReport {
  faults: FaultRecovery[];
  /** Retries no fault explains (a heartbeat missed on a slow machine, a transient error). */
  unexplainedRetries: string[];
}

const seconds = (ms: number): string => (ms / 1000).toFixed(1);

function retryLine(run: ActivityRun, fault: InjectedFault): string {
  const after =
    run.startedMs !== null && fault.atMs !== null ? `, +${seconds(run.startedMs - fault.atMs)}s` : '';
  return `activity retry after ${run.previousFailure ?? 'a failed attempt'}: ${run.summary} (attempt ${run.attempt}${after})`;
}

/** The latest injected fault hit before `time` that `accepts` the event, if any. */
function latestFaultBefore(
  faults: readonly InjectedFault[],
  time: number,
  accepts: (fault: InjectedFault) => boolean,
): InjectedFault | undefined {
  return faults
    .filter((f) => f.atMs !== null && f.atMs < time && accepts(f))
    .sort((a, b) => b.atMs! - a.atMs!)[0];
}

/**
 * A fault explains a retry that started after it of an activity scheduled before its target was
 * back: the attempt ran on the dead worker, or (scheduled just after the kill) was handed to the
 * dead worker's last poll, which the server had not yet noticed was gone.
 */
function explains(fault: InjectedFault, run: ActivityRun): boolean {
  return run.scheduledMs < (fault.repairedMs ?? Infinity);
}

export function attributeRecoveries(faults: readonly InjectedFault[], log: RunActivityLog): RecoveryReport {
  const lines = new Map<InjectedFault, string[]>(faults.map((fault) => [fault, []]));
  const unexplainedRetries: string[] = [];

  for (const run of log.activities) {
    if (run.attempt <= 1 || run.startedMs === null) continue;
    // A dead worker of the activity's own role explains a retry before a server restart does.
    const started = run.startedMs;
    const fault =
      latestFaultBefore(faults, started, (f) => f.target === run.role && explains(f, run)) ??
      latestFaultBefore(faults, started, (f) => f.target === 'server' && explains(f, run));
    if (fault) lines.get(fault)!.push(retryLine(run, fault));
    else unexplainedRetries.push(`${run.summary}: attempt ${run.attempt} after ${run.previousFailure}`);
  }

  // Every worker process hosts workflows too, so any fault can strand a workflow task.
  const redeliveries = new Map<InjectedFault, Map<string, number>>();
  for (const timeout of log.workflowTaskTimeouts) {
    const fault = latestFaultBefore(faults, timeout.timeMs, () => true);
    if (!fault) {
      unexplainedRetries.push(`workflow task of ${timeout.workflowId}: ${timeout.timeoutType} timeout`);
      continue;
    }
    const byType = redeliveries.get(fault) ?? new Map<string, number>();
    byType.set(timeout.timeoutType, (byType.get(timeout.timeoutType) ?? 0) + 1);
    redeliveries.set(fault, byType);
  }

  return {
    faults: faults.map((fault) => {
      const recoveredBy = [...lines.get(fault)!];
      for (const [type, count] of redeliveries.get(fault) ?? []) {
        recoveredBy.push(
          `workflow task redelivered after ${type.toLowerCase()} timeout ×${count} (replayed by another worker)`,
        );
      }
      if (fault.atMs !== null && fault.repairedMs !== null) {
        const queued = log.activities.filter(
          (run) =>
            (fault.target === 'server' || run.role === fault.target) &&
            run.attempt === 1 &&
            run.scheduledMs < fault.repairedMs! &&
            run.startedMs !== null &&
            run.startedMs >= fault.repairedMs!,
        ).length;
        if (queued > 0) {
          recoveredBy.push(
            fault.target === 'server'
              ? `${queued} task(s) scheduled before the restart dispatched after it (state kept in SQLite)`
              : `${queued} queued task(s) taken by the restarted worker`,
          );
        }
      }
      if (fault.target === 'server' && fault.atMs !== null) {
        recoveredBy.unshift('workers and client reconnected to the restarted server; history from SQLite');
      }
      if (recoveredBy.length === 0) recoveredBy.push(fault.atMs === null ? '-' : 'nothing was waiting on it');
      return { fault, recoveredBy };
    }),
    unexplainedRetries,
  };
}

/** The fault table: one row per fault, its recoveries on continuation rows. */
export function formatFaultTable(report: RecoveryReport, startMs: number): string {
  const header = ['#', 't (s)', 'target', 'kind', 'down (s)', 'in flight when hit', 'recovered by'];
  const rows: string[][] = [];
  for (const { fault, recoveredBy } of report.faults) {
    const inFlight = fault.inFlight.length > 0 ? fault.inFlight : [fault.atMs === null ? '-' : 'idle'];
    const height = Math.max(inFlight.length, recoveredBy.length);
    for (let i = 0; i < height; i++) {
      rows.push(
        i === 0
          ? [
              String(fault.index),
              fault.atMs === null ? 'skipped' : seconds(fault.atMs - startMs),
              fault.target,
              fault.kind,
              fault.atMs !== null && fault.repairedMs !== null ? seconds(fault.repairedMs - fault.atMs) : '-',
              inFlight[0] ?? '',
              recoveredBy[0] ?? '',
            ]
          : ['', '', '', '', '', inFlight[i] ?? '', recoveredBy[i] ?? ''],
      );
    }
  }
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (column < header.length - 1 ? row[column]!.length : 0))),
  );
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) => (column < cells.length - 1 ? cell.padEnd(widths[column]!) : cell))
      .join(' | ')
      .trimEnd();
  const table = [line(header), widths.map((w) => '-'.repeat(w)).join('-+-'), ...rows.map(line)];
  if (report.unexplainedRetries.length > 0) {
    table.push('', 'retries no injected fault explains:', ...report.unexplainedRetries.map((r) => `  ${r}`));
  }
  return table.join('\n');
}

/**
 * One row per step of the dry run, from the run's Temporal histories, the workers' store
 * records, the artifacts and the CPU samples: what Temporal, the artifact store, the sandbox and
 * the reward pool did, and what orchestration added to the step's critical path.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionResult, ScoredTrajectory } from '../../common/trajectory';
import { artifactKeys } from '../../common/artifactKeys';
import { readJsonl, type ArtifactStore } from '../../activities/artifactStore';
import type { CpuSample } from './fleet';
import {
  busyMs,
  criticalPath,
  percentile,
  splitWait,
  stepEnd,
  type ActivitySpan,
  type Capacity,
  type CriticalPath,
  type ParsedHistory,
} from './history';
import type { StoreOp } from './meteredStore';
import type { WorkerStats } from './worker';

/** Counts that must come out the same whenever the run is repeated with the same seed. */
export interface StepCounts {
  activities: number;
  childWorkflows: number;
  /** History events other than workflow-task events (whose batching depends on timing). */
  nonWorkflowTaskEvents: number;
  trajectories: number;
  responseTokens: number;
  modelTokens: number;
  executions: number;
  executionsByStatus: Record<string, number>;
  correct: number;
  /** sha256 of every tensor the simulated update packed. */
  packedDigest: string;
}

export interface StepReport {
  step: number;
  counts: StepCounts;
  wallS: number;
  historyEvents: number;
  historyBytes: number;
  /** The trainingRun's own share (what accumulates until continue-as-new) and the largest shard's. */
  parentEvents: number;
  parentBytes: number;
  maxShardEvents: number;
  maxShardBytes: number;
  /** JSON size of the step's record, which the run keeps (up to 50) and carries over continue-as-new. */
  stepRecordBytes: number;
  workflowTaskP50Ms: number;
  workflowTaskP99Ms: number;
  artifactWrittenBytes: number;
  artifactReadBytes: number;
  /** Bytes written by kind of artifact (turn files, execution results, scored, checkpoint, metrics). */
  writtenByKind: Record<string, number>;
  sandboxP50Ms: number;
  sandboxP99Ms: number;
  gradingsPerS: number;
  generatePerS: number;
  critical: CriticalPath;
  /** Artifact store time on the critical path: I/O, JSON (estimated from bytes), the trainer's read. */
  criticalArtifact: { ioMs: number; jsonMs: number; trainerReadMs: number };
  /** CPU of that work: JSON (from bytes) and the trainer's read; the store's I/O calls are syscalls. */
  criticalArtifactCpu: { jsonMs: number; trainerReadMs: number };
  trainerPackS: number;
  trainerPackCpuS: number;
  orchestrationS: number;
  cpuS: Record<string, number>;
  loadAverage: number;
}

/** Wall and CPU milliseconds per MB of JSONL, measured in the same run. */
export interface JsonCost {
  parseMsPerMB: number;
  stringifyMsPerMB: number;
  parseCpuMsPerMB: number;
  stringifyCpuMsPerMB: number;
}

export interface StepInputs {
  runId: string;
  steps: number;
  parent: ParsedHistory;
  shards: ReadonlyMap<string, ParsedHistory>;
  stats: readonly WorkerStats[];
  samples: readonly CpuSample[];
  capacity: Capacity;
  store: ArtifactStore;
  json: JsonCost;
}

const pad = (n: number, width = 4): string => String(n).padStart(width, '0');

function pidOf(identity: string): number {
  return Number(identity.split('@')[0]);
}

function cpuBetween(
  samples: readonly CpuSample[],
  from: number,
  to: number,
): { cpuS: Record<string, number>; load: number } {
  const nearest = (t: number): CpuSample =>
    samples.reduce((best, s) => (Math.abs(s.at - t) < Math.abs(best.at - t) ? s : best), samples[0]!);
  const a = nearest(from);
  const b = nearest(to);
  const cpuS: Record<string, number> = {};
  for (const [label, value] of Object.entries(b.cpuS)) cpuS[label] = value - (a.cpuS[label] ?? value);
  const during = samples.filter((s) => s.at >= from && s.at <= to);
  const load =
    during.length > 0 ? during.reduce((sum, s) => sum + s.loadAverage, 0) / during.length : b.loadAverage;
  return { cpuS, load };
}

function checkpointMeta(store: ArtifactStore, runId: string, step: number): Record<string, unknown> {
  const meta = JSON.parse(
    readFileSync(join(store.pathOf(artifactKeys.checkpoint(runId, step)), 'meta.json'), 'utf8'),
  ) as {
    metrics: Record<string, unknown>;
  };
  return meta.metrics;
}

function dirBytes(path: string): number {
  let total = 0;
  for (const entry of readdirSync(path, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).size;
  }
  return total;
}

export async function stepReports(inputs: StepInputs): Promise<StepReport[]> {
  const { runId, parent, shards, stats, samples, capacity, store, json } = inputs;
  const ops: (StoreOp & { pid: number })[] = stats.flatMap((s) => s.ops.map((op) => ({ ...op, pid: s.pid })));
  const allActivities: ActivitySpan[] = [
    ...parent.activities,
    ...[...shards.values()].flatMap((h) => h.activities),
  ];
  const stepStarts = Array.from({ length: inputs.steps }, (_, i) =>
    Math.min(
      ...parent.children.filter((c) => c.workflowId.includes(`/step-${pad(i + 1)}/`)).map((c) => c.initiated),
    ),
  );
  const reports: StepReport[] = [];
  for (let step = 1; step <= inputs.steps; step++) {
    const stepTag = `/step-${pad(step)}/`;
    const stepShards = [...shards.entries()].filter(([id]) => id.includes(stepTag)).map(([, h]) => h);
    const from = stepStarts[step - 1]!;
    const to = step < inputs.steps ? stepStarts[step]! : Infinity;
    const parentSlice = parent.timeline.filter((e) => e.time >= from && e.time < to);
    const parentTasks = parent.workflowTasks.filter((t) => t.scheduled >= from && t.scheduled < to);
    const parentActivities = parent.activities.filter((a) => a.input?.step === step);
    const shardActivities = stepShards.flatMap((h) => h.activities);
    const stepActivities = [...parentActivities, ...shardActivities];
    const critical = criticalPath(step, parent, shards, allActivities, capacity);

    const historyEvents = parentSlice.length + stepShards.reduce((sum, h) => sum + h.events, 0);
    const historyBytes =
      parentSlice.reduce((sum, e) => sum + e.bytes, 0) + stepShards.reduce((sum, h) => sum + h.bytes, 0);
    const workflowTaskEvents =
      parentSlice.filter((e) => e.workflowTask).length +
      stepShards.reduce((sum, h) => sum + h.timeline.filter((e) => e.workflowTask).length, 0);
    const taskLatencies = [...parentTasks, ...stepShards.flatMap((h) => h.workflowTasks)].map(
      (t) => t.completed - t.scheduled,
    );

    // The artifact store: every operation on this step's keys, and the metrics line its record wrote.
    const record = parentActivities.find((a) => a.type === 'recordStep')!;
    // The record and checkpoint retention run on the reward worker after the update.
    const finishing = parentActivities.filter(
      (a) => a.type === 'recordStep' || a.type === 'pruneCheckpoints',
    );
    const stepPrefix = `${artifactKeys.stepRoot(runId, step)}/`;
    const checkpointPrefix = artifactKeys.checkpoint(runId, step);
    const inRecord = (op: StoreOp & { pid: number }): boolean =>
      finishing.some((a) => op.pid === pidOf(a.identity) && op.at >= a.started && op.at <= a.completed);
    const stepOps = ops.filter(
      (op) => op.key.startsWith(stepPrefix) || op.key.startsWith(checkpointPrefix) || inRecord(op),
    );
    const trainer = checkpointMeta(store, runId, step);
    const checkpointBytes = dirBytes(store.pathOf(checkpointPrefix));
    const artifactWrittenBytes =
      stepOps.filter((op) => op.kind === 'write').reduce((sum, op) => sum + op.bytes, 0) + checkpointBytes;
    const writtenByKind: Record<string, number> = { checkpoint: checkpointBytes };
    for (const op of stepOps.filter((o) => o.kind === 'write')) {
      const kind =
        /\.(generated|executed)\.jsonl$/.exec(op.key)?.[1] ?? op.key.split('/').at(-1)!.split('.')[0]!;
      writtenByKind[kind] = (writtenByKind[kind] ?? 0) + op.bytes;
    }
    const artifactReadBytes =
      stepOps.filter((op) => op.kind === 'read').reduce((sum, op) => sum + op.bytes, 0) +
      Number(trainer.bytes_read ?? 0);

    // Artifact time on the critical path: the critical shard's own operations, the record's, the trainer's read.
    const shardNumber = Number(critical.criticalShard.split('shard-')[1]);
    const shardPrefix = `${stepPrefix}shards/${pad(shardNumber, 3)}/`;
    const shardWindows = critical.activities
      .filter((a) => a.workflowId === critical.criticalShard)
      .map((a) => ({ pid: pidOf(a.identity), from: a.started, to: a.completed }));
    const criticalOps = ops.filter(
      (op) =>
        (op.key.startsWith(shardPrefix) &&
          shardWindows.some((w) => w.pid === op.pid && op.at >= w.from && op.at <= w.to)) ||
        inRecord(op),
    );
    const mb = (bytes: number): number => bytes / 1e6;
    const jsonMs = (parse: number, stringify: number): number =>
      criticalOps.reduce(
        (sum, op) =>
          sum +
          (op.kind === 'read' && op.key.endsWith('.jsonl') ? mb(op.bytes) * parse : 0) +
          (op.kind === 'write' && op.key.endsWith('.jsonl') ? mb(op.bytes) * stringify : 0),
        0,
      );
    const criticalArtifactCpu = {
      jsonMs: jsonMs(json.parseCpuMsPerMB, json.stringifyCpuMsPerMB),
      trainerReadMs: Number(trainer.read_cpu_seconds ?? 0) * 1000,
    };
    const criticalArtifact = {
      // Operations of one activity overlap (a shard's files are read together): count wall time once.
      ioMs: busyMs(criticalOps.map((op) => [op.at, op.at + op.ms])),
      jsonMs: jsonMs(json.parseMsPerMB, json.stringifyMsPerMB),
      trainerReadMs: Number(trainer.read_seconds ?? 0) * 1000,
    };

    // Rollout content: trajectories, executions and grades from the artifacts.
    const scored = (
      await Promise.all(
        stepShards.map((_, shard) =>
          readJsonl<ScoredTrajectory>(store, artifactKeys.scored(runId, step, shard)),
        ),
      )
    ).flat();
    const executedKeys = (await store.list(artifactKeys.stepRoot(runId, step))).filter((k) =>
      k.endsWith('.executed.jsonl'),
    );
    const executions = (
      await Promise.all(executedKeys.map((k) => readJsonl<ExecutionResult>(store, k)))
    ).flat();
    const executionsByStatus: Record<string, number> = {};
    for (const e of executions) executionsByStatus[e.status] = (executionsByStatus[e.status] ?? 0) + 1;
    const durations = executions.map((e) => e.durationMs);
    const scoreSpans = shardActivities.filter((a) => a.type === 'score');
    const generateSpans = shardActivities.filter((a) => a.type === 'generate');
    const modelTokens = scored.reduce((sum, t) => sum + t.actionMask.reduce((a, m) => a + m, 0), 0);

    const finishedAt = stepEnd(parent, step)!;
    const stepBegin = step === 1 ? from : stepEnd(parent, step - 1)!;
    const cpu = cpuBetween(samples, stepBegin, finishedAt);
    const orchestrationMs =
      critical.handoffMs +
      critical.dispatchMs +
      criticalArtifact.ioMs +
      criticalArtifact.jsonMs +
      criticalArtifact.trainerReadMs;

    reports.push({
      step,
      counts: {
        activities: stepActivities.length,
        childWorkflows: stepShards.length,
        nonWorkflowTaskEvents: historyEvents - workflowTaskEvents,
        trajectories: scored.length,
        responseTokens: scored.reduce((sum, t) => sum + t.responseTokenIds.length, 0),
        modelTokens,
        executions: executions.length,
        executionsByStatus,
        correct: scored.filter((t) => t.reward === 1).length,
        packedDigest: typeof trainer.digest === 'string' ? trainer.digest : '',
      },
      wallS: critical.wallMs / 1000,
      historyEvents,
      historyBytes,
      parentEvents: parentSlice.length,
      parentBytes: parentSlice.reduce((sum, e) => sum + e.bytes, 0),
      maxShardEvents: Math.max(...stepShards.map((h) => h.events)),
      maxShardBytes: Math.max(...stepShards.map((h) => h.bytes)),
      stepRecordBytes: JSON.stringify(record.result).length,
      workflowTaskP50Ms: percentile(taskLatencies, 0.5),
      workflowTaskP99Ms: percentile(taskLatencies, 0.99),
      artifactWrittenBytes,
      artifactReadBytes,
      writtenByKind,
      sandboxP50Ms: percentile(durations, 0.5),
      sandboxP99Ms: percentile(durations, 0.99),
      gradingsPerS: scored.length / (busyMs(scoreSpans.map((a) => [a.started, a.completed])) / 1000),
      generatePerS: modelTokens / (busyMs(generateSpans.map((a) => [a.started, a.completed])) / 1000),
      critical,
      criticalArtifact,
      criticalArtifactCpu,
      trainerPackS: Number(trainer.pack_seconds ?? 0),
      trainerPackCpuS: Number(trainer.pack_cpu_seconds ?? 0),
      orchestrationS: orchestrationMs / 1000,
      cpuS: cpu.cpuS,
      loadAverage: cpu.load,
    });
  }
  return reports;
}

/** Temporal dispatch latency of every activity of the run (scheduled → started with a slot free), ms. */
export function dispatchLatencies(activities: readonly ActivitySpan[], capacity: Capacity): number[] {
  return activities.map((a) => splitWait(a, activities, capacity).dispatch);
}

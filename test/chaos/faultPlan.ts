/**
 * The fault schedule of a chaos run, drawn from one seed so a failing schedule can be replayed
 * (`--seed`): which process is hit in what order, how long the injector waits before each
 * fault and how long a killed worker stays down. Pure; the run itself executes it.
 */
import type { WorkerRole } from '../../common/activityContracts';
import { mulberry32 } from '../../common/schedule';

export type FaultTarget = WorkerRole | 'server';

export interface PlannedFault {
  /** 1-based position in the schedule. */
  index: number;
  target: FaultTarget;
  /** Workers are SIGKILLed (the whole process group); the dev server is stopped and restarted. */
  kind: 'SIGKILL' | 'restart';
  /** The fault is aimed while the run works on this step: faults spread over the run, not its start. */
  notBeforeStep: number;
  /** Then this long before it is aimed. */
  waitMs: number;
  /** How long the target stays down before it is started again. */
  downMs: number;
}

export interface FaultPlanOptions {
  seed: number;
  steps: number;
  roles: readonly WorkerRole[];
  /** Worker kills; at least one per role. */
  kills: number;
  serverRestarts: number;
  /** Range of `waitMs`. */
  waitMs: readonly [number, number];
  /** Range of `downMs`. */
  downMs: readonly [number, number];
}

export function planFaults(options: FaultPlanOptions): PlannedFault[] {
  const { roles, kills, serverRestarts } = options;
  if (kills < roles.length) {
    throw new Error(`${kills} kills cannot hit each of the ${roles.length} roles (${roles.join(', ')}) once`);
  }
  const random = mulberry32(options.seed);
  const between = ([low, high]: readonly [number, number]): number =>
    Math.round(low + random() * (high - low));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

  // Every role once, the remaining kills on random roles, the server restarts among them.
  const targets: FaultTarget[] = [...roles];
  while (targets.length < kills) targets.push(pick(roles));
  for (let i = 0; i < serverRestarts; i++) targets.push('server');
  for (let i = targets.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [targets[i], targets[j]] = [targets[j]!, targets[i]!];
  }
  return targets.map((target, i) => ({
    index: i + 1,
    target,
    // Spread over steps 1..steps-1, so the last fault still finds the run going.
    notBeforeStep: 1 + Math.floor((i * Math.max(0, options.steps - 1)) / targets.length),
    kind: target === 'server' ? 'restart' : 'SIGKILL',
    waitMs: between(options.waitMs),
    downMs: between(options.downMs),
  }));
}

/**
 * The CI-sized chaos run: a 4-step tiny run on its own dev server (it restarts it) and one
 * worker process per role, while every role's worker is SIGKILLed once and the server is
 * restarted once, in a seeded order. The model writes and runs code in every response, so
 * every role, the sandbox included, has work that a kill can interrupt. The run must finish with one policy version per step, no
 * step trained twice, every step's trajectories complete and one metrics line per step.
 * `npm run chaos` is the longer version (test/chaos/runChaos.ts).
 */
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { test } from 'node:test';
import { workerRoles } from '../../workers/roles';
import { runChaos } from './chaosRun';
import { planFaults } from './faultPlan';

test('a fault plan hits every role at least once and replays from its seed', () => {
  const options = {
    seed: 42,
    steps: 8,
    roles: workerRoles,
    kills: 6,
    serverRestarts: 1,
    waitMs: [1000, 5000],
    downMs: [500, 2000],
  } as const;
  const plan = planFaults(options);
  assert.deepEqual(planFaults(options), plan, 'same seed, same schedule');
  assert.notDeepEqual(planFaults({ ...options, seed: 43 }), plan, 'another seed, another schedule');
  assert.equal(plan.length, 7);
  for (const role of workerRoles)
    assert.ok(
      plan.some((f) => f.target === role && f.kind === 'SIGKILL'),
      role,
    );
  assert.equal(plan.filter((f) => f.target === 'server' && f.kind === 'restart').length, 1);
  const gates = plan.map((f) => f.notBeforeStep);
  assert.deepEqual(
    [...gates].sort((a, b) => a - b),
    gates,
    'faults spread forward over the run',
  );
  assert.ok(gates.every((step) => step >= 1 && step < options.steps));
  assert.throws(() => planFaults({ ...options, kills: 3 }), /cannot hit each of the 4 roles/);
});

test('SIGKILLed workers and a restarted server, rollout overlapping updates: nothing lost or done twice', async () => {
  const report = await runChaos({
    seed: 7,
    // Writes and runs code in every response, so the sandbox kill lands on work in flight.
    model: 'code-writer',
    steps: 4,
    kills: workerRoles.length,
    serverRestarts: 1,
    // Evaluation beside the next step, and continue-as-new carrying a finished rollout ahead.
    evaluationEvery: 2,
    stepsPerExecution: 2,
    // The pipelined loop (step k+1's rollout while step k trains): the synchronous one is
    // shot at by `npm run chaos` and by every other workflow test.
    maxStaleness: 1,
    waitMs: [500, 3000],
    downMs: [500, 2000],
    aimMs: 60_000,
    // A hang guard, not a speed limit: a run that hangs fails here instead of blocking CI.
    deadlineMs: 15 * 60_000,
    log: () => undefined,
  });
  console.log(`chaos seed ${report.seed}, work dir ${report.dir}\n${report.table}`);
  assert.equal(report.error, null);
  for (const check of report.checks) assert.ok(check.ok, `${check.name}: ${check.detail}`);
  assert.ok(report.ok);
  const hit = report.faults.filter((f) => f.atMs !== null).map((f) => f.target);
  for (const role of workerRoles) assert.ok(hit.includes(role), `the ${role} worker was killed`);
  assert.ok(hit.includes('server'), 'the dev server was restarted');
  const executed = readdirSync(report.dir, { recursive: true, encoding: 'utf8' }).filter((name) =>
    name.endsWith('.executed.jsonl'),
  );
  assert.ok(executed.length > 0, 'the sandbox ran code in this run');
  rmSync(report.dir, { recursive: true, force: true }); // kept for inspection when an assertion fails
});

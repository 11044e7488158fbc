/**
 * How the trainer worker starts the Python trainer: one process, or torchrun with N ranks
 * (`trainer.processesPerNode`). The second test launches real torchrun ranks on the CPU (gloo)
 * and switches a live TrainerProcess between one and two ranks.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseRunConfig } from '../../common/config';
import { projectRoot } from '../../activities/projectPaths';
import { trainerLaunch } from '../../activities/trainer/launchCommand';
import { TrainerProcess } from '../../activities/trainer/trainerProcess';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('trainer launch command', () => {
  it('is the plain module for one process and torchrun on loopback for several', () => {
    assert.deepEqual(trainerLaunch('py', 1), { file: 'py', args: ['-m', 'tirflow_py.trainer'], env: {} });
    const two = trainerLaunch('py', 2);
    assert.equal(two.file, 'py');
    assert.deepEqual(two.args, [
      '-m',
      'torch.distributed.run',
      '--nnodes',
      '1',
      '--nproc-per-node',
      '2',
      '--rdzv-backend',
      'c10d',
      '--rdzv-endpoint',
      '127.0.0.1:0',
      '-m',
      'tirflow_py.trainer',
    ]);
    assert.deepEqual(two.env, { GLOO_SOCKET_IFNAME: 'lo' });
    assert.deepEqual(trainerLaunch('py', 8, { GLOO_SOCKET_IFNAME: 'eth1' }).env, {
      GLOO_SOCKET_IFNAME: 'eth1',
    });
    assert.throws(() => trainerLaunch('py', 0), RangeError);
    assert.throws(() => trainerLaunch('py', 1.5), RangeError);
  });

  it('comes from trainer.processesPerNode (default 1, a positive integer)', () => {
    assert.equal(parseRunConfig({}).trainer.processesPerNode, 1);
    assert.equal(parseRunConfig({ trainer: { processesPerNode: 4 } }).trainer.processesPerNode, 4);
    assert.throws(() => parseRunConfig({ trainer: { processesPerNode: 0 } }), /trainer\.processesPerNode/);
  });

  it('switches a live trainer between one process and two torchrun ranks, keeping its policy', async () => {
    const model = join(projectRoot, 'models', 'tiny-base');
    const logs: string[] = [];
    const trainer = new TrainerProcess({ log: (line) => logs.push(line) });
    try {
      await trainer.ensurePolicy({ path: model, version: 0, device: 'cpu' });
      const single = await trainer.request('ping');
      assert.equal(single.world_size, 1);
      assert.equal(single.source, model);

      await trainer.useProcessesPerNode(2);
      assert.equal(isRunning(Number(single.pid)), false, 'the single process was stopped');
      const ranks = await trainer.request('ping');
      assert.equal(ranks.world_size, 2);
      assert.equal(ranks.source, model, 'the new ranks reloaded the held policy');
      assert.equal(trainer.starts, 2);
      assert.ok(logs.some((line) => line.includes('[trainer rank 1] loaded policy v0')));

      await trainer.useProcessesPerNode(2); // unchanged: nothing restarts
      assert.equal(trainer.starts, 2);
      await trainer.close();
      assert.equal(isRunning(Number(ranks.pid)), false, 'rank 0 exited with torchrun');
      assert.ok(logs.includes('[trainer rank 1] exiting'), 'rank 1 ended on the shutdown request');
    } finally {
      await trainer.close();
    }
  });
});

/**
 * The command that starts the Python trainer: `python -m tirflow_py.trainer` for one process,
 * or torchrun with one rank per GPU when the policy is sharded over several (FSDP2; see
 * python/tirflow_py/trainer/README.md). Either way rank 0 speaks the same stdin/stdout protocol,
 * so the client does not know the difference.
 */

export interface TrainerLaunch {
  file: string;
  args: string[];
  /** Added to the environment the trainer inherits. */
  env: Record<string, string>;
}

/**
 * `processesPerNode` ranks on this machine. The ranks meet through a rendezvous on 127.0.0.1
 * port 0 (the OS picks a free port, so several trainers on one host never collide), and gloo's
 * CPU channel (requests, metrics) stays on the loopback interface unless the environment
 * already names one; NCCL picks its own transport for the GPU collectives.
 */
export function trainerLaunch(
  python: string,
  processesPerNode: number,
  parentEnv: Readonly<Record<string, string | undefined>> = {},
): TrainerLaunch {
  if (!Number.isInteger(processesPerNode) || processesPerNode < 1) {
    throw new RangeError(`processesPerNode must be an integer >= 1, got ${processesPerNode}`);
  }
  if (processesPerNode === 1) return { file: python, args: ['-m', 'tirflow_py.trainer'], env: {} };
  return {
    file: python,
    args: [
      '-m',
      'torch.distributed.run',
      '--nnodes',
      '1',
      '--nproc-per-node',
      String(processesPerNode),
      '--rdzv-backend',
      'c10d',
      '--rdzv-endpoint',
      '127.0.0.1:0',
      '-m',
      'tirflow_py.trainer',
    ],
    env: { GLOO_SOCKET_IFNAME: parentEnv.GLOO_SOCKET_IFNAME ?? 'lo' },
  };
}

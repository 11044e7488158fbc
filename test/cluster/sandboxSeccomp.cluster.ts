/**
 * docker/sandbox/seccomp.json, the sandbox container's seccomp profile, enforced on this machine
 * the way a container runtime enforces it (test/cluster/seccomp_exec.py loads it with libseccomp
 * and execs the sandbox under it): the real sandbox (node, bubblewrap, the zygote, the code)
 * runs every kind of program, while the syscalls an escape would start with are refused. The
 * cluster tier also runs its sandbox worker under the profile (test/cluster/productionCluster.ts).
 * Docker itself is not on this machine: what Docker adds (capabilities, AppArmor, cgroups) is
 * checked as configuration in test/deploy/compose.test.ts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { projectRoot } from '../../activities/projectPaths';
import { probePrograms } from './sandboxProbe';
import { underSandboxProfile } from './seccomp';

interface ProbeLine {
  name: string;
  status: string;
  stdout: string;
  stderr: string;
}

async function probe(underProfile: boolean): Promise<Map<string, ProbeLine>> {
  const node = [process.execPath, '--import', 'tsx', join(projectRoot, 'test', 'cluster', 'sandboxProbe.ts')];
  const [command, args] = underProfile
    ? underSandboxProfile(node[0]!, node.slice(1))
    : [node[0]!, node.slice(1)];
  const result = await execa(command, args, { cwd: projectRoot, reject: false, all: true });
  assert.equal(
    result.exitCode,
    0,
    `the sandbox probe failed${underProfile ? ' under the profile' : ''}:\n${result.all}`,
  );
  const lines = String(result.stdout)
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as ProbeLine);
  return new Map(lines.map((line) => [line.name, line]));
}

const attemptsOf = (line: ProbeLine | undefined): Record<string, number> => {
  assert.equal(line?.status, 'ok', `the escape attempts ran: ${JSON.stringify(line)}`);
  return JSON.parse(line.stdout) as Record<string, number>;
};

const EPERM = 1;

test('the sandbox runs numpy, sympy, threads, subprocesses and files under the seccomp profile', async () => {
  const results = await probe(true);
  for (const [name, [, expected]] of Object.entries(probePrograms)) {
    const result = results.get(name);
    assert.equal(result?.status, 'ok', `${name}: ${JSON.stringify(result)}`);
    assert.equal(result.stdout.trim(), expected, name);
  }
});

test('the profile refuses model code a user namespace, keyctl and bpf, which bubblewrap alone lets through', async () => {
  const fenced = attemptsOf((await probe(true)).get('escapeAttempts'));
  const bare = attemptsOf((await probe(false)).get('escapeAttempts'));
  for (const call of ['unshare(CLONE_NEWUSER)', 'ptrace(PTRACE_TRACEME)', 'keyctl', 'bpf']) {
    assert.equal(fenced[call], EPERM, `${call} under the profile: errno ${fenced[call]}`);
  }
  assert.equal(fenced.getpid, 0, 'ordinary syscalls still run');
  // Without the profile these reach the kernel: a user namespace is made, keyctl and bpf get
  // past the syscall boundary and fail on their arguments.
  assert.equal(bare['unshare(CLONE_NEWUSER)'], 0, 'bubblewrap alone lets the code make a user namespace');
  assert.notEqual(bare.keyctl, EPERM);
  assert.notEqual(bare.bpf, EPERM);
});

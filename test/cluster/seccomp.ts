/**
 * The sandbox container's seccomp profile (docker/sandbox/seccomp.json), applied on this machine
 * as a container runtime applies it: seccomp_exec.py loads it with libseccomp and execs the
 * command, whose every descendant inherits the filter.
 */
import { join } from 'node:path';
import { projectRoot } from '../../activities/projectPaths';

export const seccompProfile = join(projectRoot, 'docker', 'sandbox', 'seccomp.json');
const seccompExec = join(projectRoot, 'test', 'cluster', 'seccomp_exec.py');
/** Debian's python3, which has python3-seccomp (scripts/cluster/setup.sh installs it). */
const systemPython = '/usr/bin/python3';

/** `command args` wrapped to run under the profile. */
export function underSandboxProfile(command: string, args: string[]): [string, string[]] {
  return [systemPython, [seccompExec, seccompProfile, command, ...args]];
}

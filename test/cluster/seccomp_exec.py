"""Runs a command under a Docker seccomp profile, as a container runtime would: the profile's
filter is loaded into this process (libseccomp, Debian's python3-seccomp), then the command is
exec'd and every process it starts inherits the filter.

    python3 seccomp_exec.py PROFILE.json COMMAND [ARG...]

The profile format is Docker's: defaultAction, defaultErrnoRet, and syscalls entries with
names, action (SCMP_ACT_ALLOW or SCMP_ACT_ERRNO with errnoRet) and args conditions. Names this
architecture lacks are skipped, as Docker skips them. Only the native architecture is allowed.
"""

import errno
import json
import os
import sys

import seccomp

OPERATORS = {
    "SCMP_CMP_NE": seccomp.NE,
    "SCMP_CMP_LT": seccomp.LT,
    "SCMP_CMP_LE": seccomp.LE,
    "SCMP_CMP_EQ": seccomp.EQ,
    "SCMP_CMP_GE": seccomp.GE,
    "SCMP_CMP_GT": seccomp.GT,
    "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ,
}


def action(name, errno_ret):
    if name == "SCMP_ACT_ALLOW":
        return seccomp.ALLOW
    if name == "SCMP_ACT_ERRNO":
        return seccomp.ERRNO(errno_ret if errno_ret is not None else errno.EPERM)
    raise SystemExit(f"seccomp_exec: unsupported action {name}")


def build(profile):
    default = action(profile["defaultAction"], profile.get("defaultErrnoRet"))
    rules = seccomp.SyscallFilter(defaction=default)
    for entry in profile.get("syscalls", []):
        act = action(entry["action"], entry.get("errnoRet"))
        conditions = [
            seccomp.Arg(arg["index"], OPERATORS[arg["op"]], arg["value"], arg.get("valueTwo", 0))
            for arg in entry.get("args", [])
        ]
        for name in entry["names"]:
            try:
                rules.add_rule(act, name, *conditions)
            except (RuntimeError, ValueError):
                pass  # not a syscall of this architecture
    return rules


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    with open(sys.argv[1]) as f:
        profile = json.load(f)
    build(profile).load()
    os.execvp(sys.argv[2], sys.argv[2:])


if __name__ == "__main__":
    main()

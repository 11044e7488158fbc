"""Warm Python sandbox for model-written code. Runs inside bubblewrap; never imported by tirflow_py.

Started by activities/sandbox/zygoteProcess.ts as
    python -I -S -B sandbox_zygote.py '<config json>'
with the Node side on stdin (requests, framed "<byte length>\\n<json>") and stdout (replies,
one JSON line each).

Three kinds of process, so that no execution can see another's state:

- supervisor (trusted, small: forked before the heavy imports): speaks the protocol, hands
  each request's code to a runner, captures stdout/stderr with a byte cap, enforces the
  wall-clock deadline with SIGKILL and writes the reply. All requests and outputs pass
  through it, and no runner is ever forked from it.
- zygote (trusted, warm): imports math, fractions, itertools, numpy, sympy once and then only
  forks runners. It never reads a request or an output byte, so a runner cannot find earlier
  executions' code or results in the memory it inherits. It is the namespace's child
  subreaper: after each execution it kills every process left over and empties /tmp, then
  forks the next runner ahead of the next request, off the latency path.
- runner (untrusted, one per execution): drops to the unprivileged sandbox uid, applies
  rlimits, runs the code as __main__ in fresh globals, reports "<exit code> <kind>" and exits.
  Builtins, modules and globals it changes die with it.
"""

import ctypes
import gc
import io
import json
import math
import os
import resource
import selectors
import shutil
import signal
import socket
import struct
import sys
import time

CODE_FILENAME = "<code>"
READ_CHUNK = 65536
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
# Zygote <-> supervisor messages (SOCK_SEQPACKET): kind, runner pid, wait status.
MESSAGE = struct.Struct("=cii")
SPARE, EXITED, FINISHED = b"s", b"x", b"f"


def prctl(option, value):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# ---------------------------------------------------------------- runner (untrusted)


def runner_main(config, request_fd, stdout_fd, stderr_fd, status_fd):
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)  # stdin is closed to the code: reads see end of file
    os.dup2(stdout_fd, 1)
    os.dup2(stderr_fd, 2)
    os.dup2(status_fd, 3)
    os.dup2(request_fd, 4)
    os.closerange(5, 1 << 16)  # no pipe or socket of the zygote's stays reachable
    os.setsid()
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as in any Python: BrokenPipeError, not death
    if os.getuid() == 0:
        # Privileged sandbox (the host user is root): drop to the unprivileged uid, which
        # clears every capability and makes RLIMIT_NPROC count (it never applies to root).
        gid, uid = config["sandboxGid"], config["sandboxUid"]
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    reseed_numpy()
    prewarm()

    chunks = []
    while True:
        chunk = os.read(4, READ_CHUNK)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(4)
    if not chunks:
        os._exit(0)  # the supervisor went away without a request
    header, _, code = b"".join(chunks).partition(b"\n")
    apply_limits(json.loads(header))

    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    # Line-buffered, so what was printed before a timeout or a crash still reaches the model.
    sys.stdout = io.TextIOWrapper(
        io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=True
    )
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=True
    )
    sys.argv = [""]
    exit_code, kind = run_user_code(code.decode("utf-8", errors="replace"))
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:
            pass
    try:
        # The supervisor takes this as the end of the execution: output written before it is
        # complete, and the process is killed if it is still around.
        os.write(3, f"{exit_code} {kind}\n".encode())
    except OSError:
        pass
    os._exit(exit_code)


def prewarm():
    # Touch, while waiting for the request, the pages the execution path writes to: after the
    # fork each first write copies a page, and those copies should not count against latency.
    json.loads('{"timeoutS": 1}')
    io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8")
    exec(compile("pass", CODE_FILENAME, "exec"), {"__name__": "__main__"})


def reseed_numpy():
    # `random` reseeds itself after fork; numpy's global generator would otherwise repeat
    # the same numbers in every execution.
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(int.from_bytes(os.urandom(4), "little"))


def apply_limits(limits):
    page = os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * page
    cpu = math.ceil(limits["timeoutS"]) + 1
    wanted = [
        # Address space: what the warm interpreter already maps plus the execution's budget.
        (resource.RLIMIT_AS, mapped + limits["memoryMb"] * 1024 * 1024, None),
        # CPU seconds: a backstop behind the supervisor's wall-clock SIGKILL (SIGXCPU, then SIGKILL).
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_NPROC, limits["processes"], None),
        (resource.RLIMIT_FSIZE, limits["fileBytes"], None),
        (resource.RLIMIT_NOFILE, limits["openFiles"], None),
        (resource.RLIMIT_CORE, 0, None),
    ]
    for which, soft, hard in wanted:
        hard = soft if hard is None else hard
        _, current_hard = resource.getrlimit(which)
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(which, (soft, hard))


def run_user_code(code):
    import builtins
    import linecache
    import traceback

    # Tracebacks then show the offending source line, as `python -c` cannot.
    linecache.cache[CODE_FILENAME] = (len(code), None, code.splitlines(True), CODE_FILENAME)
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    reserve = bytearray(1 << 20)  # freed on MemoryError so the traceback can still be written
    try:
        exec(compile(code, CODE_FILENAME, "exec"), namespace)
        return 0, "ok"
    except SystemExit as stop:
        if stop.code is None:
            return 0, "ok"
        if isinstance(stop.code, int):
            return stop.code & 0xFF, "ok" if stop.code == 0 else "error"
        print(stop.code, file=sys.stderr)
        return 1, "error"
    except BaseException as failure:
        del reserve
        namespace.clear()  # the code's globals may hold what exhausted memory
        kind = "memory" if isinstance(failure, MemoryError) else "error"
        # Skip this function's own frame: the traceback starts in the model's code.
        tb = failure.__traceback__.tb_next if failure.__traceback__ else None
        try:
            sys.stderr.write("".join(traceback.format_exception(type(failure), failure, tb)))
        except BaseException:
            sys.stderr.write(f"{type(failure).__name__}\n")
        return 1, kind


# ---------------------------------------------------------------- supervisor (trusted)


class Runner:
    """The supervisor's handles on one pre-forked runner."""

    def __init__(self, pid, fds):
        self.pid = pid
        self.request_w, self.stdout_r, self.stderr_r, self.status_r, self.pidfd = fds

    def kill(self):
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self):
        for fd in (self.request_w, self.stdout_r, self.stderr_r, self.status_r, self.pidfd):
            try:
                os.close(fd)
            except OSError:
                pass


def supervisor_main(proto_in, proto_out, channel):
    runner = next_runner(channel)
    if runner is None:
        return  # the zygote died while starting
    write_all(proto_out, json.dumps({"ready": True, "python": sys.version.split()[0]}).encode() + b"\n")
    while True:
        frame = read_request(proto_in)
        if frame is None:
            return  # the Node side closed our stdin
        request = json.loads(frame)
        reply = execute(runner, request["code"], request["limits"], channel)
        reply["id"] = request["id"]
        write_all(proto_out, json.dumps(reply).encode() + b"\n")
        # After the reply, off the latency path: the zygote kills what is left, empties /tmp
        # and forks the next runner.
        runner.kill()
        runner.close()
        channel.send(MESSAGE.pack(FINISHED, runner.pid, 0))
        runner = next_runner(channel)
        if runner is None:
            return


def next_runner(channel):
    while True:
        data, fds, _, _ = socket.recv_fds(channel, MESSAGE.size, 5)
        if not data:
            return None
        kind, pid, _ = MESSAGE.unpack(data)
        if kind == SPARE:
            return Runner(pid, fds)
        # else: the exit of a runner already finished with


def read_request(fd):
    """Reads one frame, "<byte length>\\n<json>", exactly: nothing of the next one."""
    header = b""
    while not header.endswith(b"\n"):
        byte = os.read(fd, 1)
        if not byte:
            return None
        header += byte
    remaining = int(header)
    parts = []
    while remaining:
        chunk = os.read(fd, min(remaining, READ_CHUNK))
        if not chunk:
            return None
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def execute(runner, code, limits, channel):
    started = time.monotonic()
    write_all(runner.request_w, json.dumps(limits).encode() + b"\n" + code.encode("utf-8", errors="replace"))
    os.close(runner.request_w)
    runner.request_w = -1
    stdout = Capture(limits["outputBytes"], keep="head")
    stderr = Capture(limits["outputBytes"], keep="tail")
    selector = selectors.DefaultSelector()
    selector.register(runner.stdout_r, selectors.EVENT_READ, stdout)
    selector.register(runner.stderr_r, selectors.EVENT_READ, stderr)
    selector.register(runner.status_r, selectors.EVENT_READ, "status")
    selector.register(channel, selectors.EVENT_READ, "zygote")
    deadline = started + limits["timeoutS"]
    status_line = b""
    done = None  # the runner's own "<exit code> <kind>" line
    wait_status = None  # its exit, as the zygote (its parent) reports it
    timed_out = False
    while done is None and wait_status is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        for key, _ in selector.select(remaining):
            if key.data == "zygote":
                data = channel.recv(MESSAGE.size)
                if not data:
                    raise SystemExit(1)  # the zygote died: end the sandbox
                _, pid, status = MESSAGE.unpack(data)
                if pid == runner.pid:
                    wait_status = status
            elif key.data == "status":
                chunk = os.read(runner.status_r, 256)
                if not chunk:
                    selector.unregister(runner.status_r)
                status_line += chunk
                if b"\n" in status_line:
                    done = status_line.split(b"\n", 1)[0].decode("ascii", errors="replace")
            else:
                chunk = os.read(key.fd, READ_CHUNK)
                if chunk:
                    key.data.add(chunk)
                else:
                    selector.unregister(key.fd)
    selector.close()
    elapsed_ms = (time.monotonic() - started) * 1000
    if timed_out:
        runner.kill()
    # Output written before the end is already in the pipes: take it without waiting for end
    # of file, which a leftover grandchild could hold back forever.
    for fd, capture in ((runner.stdout_r, stdout), (runner.stderr_r, stderr)):
        os.set_blocking(fd, False)
        try:
            while True:
                chunk = os.read(fd, READ_CHUNK)
                if not chunk:
                    break
                capture.add(chunk)
        except BlockingIOError:
            pass
    status, exit_code = classify(done, wait_status, timed_out)
    return {
        "status": status,
        "stdout": stdout.text(),
        "stderr": stderr.text(),
        "exitCode": exit_code,
        "durationMs": round(elapsed_ms, 3),
        "truncated": stdout.truncated or stderr.truncated,
    }


def classify(done, wait_status, timed_out):
    if timed_out:
        return "timeout", None
    if done is not None:
        code_text, _, kind = done.partition(" ")
        exit_code = int(code_text) if code_text.isdigit() else 1
        if kind == "memory":
            return "memory", exit_code
        return ("ok" if exit_code == 0 else "error"), exit_code
    if os.WIFEXITED(wait_status):
        exit_code = os.WEXITSTATUS(wait_status)
        return ("ok" if exit_code == 0 else "error"), exit_code
    if os.WTERMSIG(wait_status) == signal.SIGXCPU:
        return "timeout", None  # the CPU-seconds rlimit, the backstop of the wall clock
    return "killed", None


class Capture:
    """Bytes of one output stream with a cap: stdout keeps its head, stderr its tail (the traceback)."""

    def __init__(self, cap, keep):
        self.cap = cap
        self.keep = keep
        self.parts = []
        self.size = 0
        self.truncated = False

    def add(self, chunk):
        if self.keep == "head":
            room = self.cap - self.size
            if len(chunk) > room:
                self.truncated = True
                chunk = chunk[: max(room, 0)]
            if chunk:
                self.parts.append(chunk)
                self.size += len(chunk)
            return
        self.parts.append(chunk)
        self.size += len(chunk)
        if self.size > 2 * self.cap:
            self.parts = [b"".join(self.parts)[-self.cap :]]
            self.size = self.cap
            self.truncated = True

    def text(self):
        data = b"".join(self.parts)
        if len(data) > self.cap:
            data = data[-self.cap :]
            self.truncated = True
        return data.decode("utf-8", errors="replace")


# ---------------------------------------------------------------- zygote (trusted, warm)


def preload(config):
    sys.path[:0] = config["sitePackages"]
    for name in config["preload"]:
        __import__(name)
    import site

    site.setquit()  # `exit()` and `quit()`, which -S leaves out; models write them
    if "sympy" in sys.modules:
        warm_up_sympy()
    # Untracked by the GC from now on: runners share these pages instead of copying them the
    # first time a collection walks them.
    gc.freeze()


def warm_up_sympy():
    """Runs sympy's lazy first-use set-up once here, not in every execution (200 ms -> 3 ms)."""
    sympy = sys.modules["sympy"]
    x, y = sympy.symbols("x y")
    sympy.factor(x**2 - 1)
    sympy.expand((x + y) ** 3)
    sympy.simplify(sympy.sin(x) ** 2 + sympy.cos(x) ** 2)
    sympy.solve(x**2 - 2, x)
    sympy.integrate(x**2, x)
    sympy.diff(sympy.exp(x) * x, x)
    sympy.limit(sympy.sin(x) / x, x, 0)
    sympy.N(sympy.pi, 30)
    sympy.Rational(1, 3) + sympy.sqrt(8)
    sympy.isprime(97)
    sympy.Matrix([[1, 2], [3, 4]]).det()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(0)  # its first call imports and builds what later calls reuse


def fork_runner(config, channel):
    request_r, request_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    status_r, status_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            runner_main(config, request_r, stdout_w, stderr_w, status_w)
        finally:
            os._exit(70)
    for fd in (request_r, stdout_w, stderr_w, status_w):
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    theirs = [request_w, stdout_r, stderr_r, status_r, os.dup(pidfd)]
    socket.send_fds(channel, [MESSAGE.pack(SPARE, pid, 0)], theirs)
    for fd in theirs:
        os.close(fd)
    return pid, pidfd


def clear_sandbox(keep):
    """Kills and reaps every process but `keep` and the namespace init; empties /tmp."""
    for attempt in range(200):
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        strays = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != 1 and int(p) not in keep]
        if not strays:
            break
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if attempt:
            time.sleep(0.001 * attempt)
    else:
        return False
    for name in os.listdir("/tmp"):
        path = os.path.join("/tmp", name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, onerror=force_remove)
        else:
            os.unlink(path)
    return True


def force_remove(function, path, _excinfo):
    # Code may leave directories without permissions (chmod 000); the zygote owns the
    # sandbox, so it restores them and retries.
    os.chmod(os.path.dirname(path), 0o700)
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, 0o700)
    function(path)


def zygote_main(config, channel, supervisor_pid):
    keep = {os.getpid(), supervisor_pid}
    selector = selectors.DefaultSelector()
    selector.register(channel, selectors.EVENT_READ, "supervisor")
    runner_pid, pidfd = fork_runner(config, channel)
    selector.register(pidfd, selectors.EVENT_READ, "exit")
    exited = False
    while True:
        for key, _ in selector.select():
            if key.data == "exit":
                _, wait_status = os.waitpid(runner_pid, 0)
                exited = True
                selector.unregister(pidfd)
                channel.send(MESSAGE.pack(EXITED, runner_pid, wait_status))
                continue
            data = channel.recv(MESSAGE.size)
            if not data:
                return 0  # the supervisor ended
            if not exited:
                selector.unregister(pidfd)
                os.kill(runner_pid, signal.SIGKILL)
                os.waitpid(runner_pid, 0)
            os.close(pidfd)
            if not clear_sandbox(keep):
                sys.stderr.write("could not clear leftover processes; restarting the sandbox\n")
                return 1
            runner_pid, pidfd = fork_runner(config, channel)
            selector.register(pidfd, selectors.EVENT_READ, "exit")
            exited = False


def main():
    config = json.loads(sys.argv[1])
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    prctl(PR_SET_DUMPABLE, 0)  # same-uid code cannot ptrace us or read our memory
    supervisor_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    supervisor_pid = os.fork()
    if supervisor_pid == 0:
        zygote_end.close()
        try:
            supervisor_main(0, 1, supervisor_end)
        except BaseException:
            import traceback

            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    supervisor_end.close()
    # The protocol belongs to the supervisor alone.
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    prctl(PR_SET_CHILD_SUBREAPER, 1)  # orphans of the code become ours, so we can reap them
    preload(config)
    status = zygote_main(config, zygote_end, supervisor_pid)
    clear_sandbox({os.getpid()})
    sys.exit(status)


if __name__ == "__main__":
    main()

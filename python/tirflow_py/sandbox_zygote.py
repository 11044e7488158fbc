"""Warm Python sandbox for model-written code. Runs inside bubblewrap; never imported by tirflow_py.

Started by activities/sandbox/zygoteProcess.ts as
    python -I -S -B sandbox_zygote.py '<config json>'
with the Node side on stdin (requests, framed "<byte length>\\n<json>") and stdout (replies,
one JSON line each).

Three kinds of process, so that no execution can see another's state:

- supervisor (trusted, small: forked before the heavy imports): speaks the protocol, hands
  each request's code to a runner, captures stdout/stderr with a byte cap, enforces the
  wall-clock deadline with SIGKILL and writes the reply. All requests and outputs pass
  through it, and no runner is ever forked from it. One execution at a time: the next one
  starts only after the zygote has cleared everything the previous one left.
- zygote (trusted, warm): imports math, fractions, itertools, numpy, sympy once and then only
  forks runners. It never reads a request or an output byte, so a runner cannot find earlier
  executions' code or results in the memory it inherits. It is the namespace's child
  subreaper: after each execution it kills every process left over, empties /tmp and removes
  SysV IPC objects, then tops up its spare runners.
- runner (one per execution): forked ahead of the requests (`spareRunners` of them wait at a
  time), so fork, interpreter set-up and the first copy-on-write faults are off the latency
  path. A spare is trusted code blocked on its request pipe. In a privileged sandbox it keeps
  the zygote's uid (root) while it waits, so the execution running meanwhile, unprivileged,
  cannot signal, trace or read it; in an unprivileged one everything shares the host user's
  uid, as the zygote itself does, and clearing up resumes any spare the code stopped. On
  its request it drops to the unprivileged sandbox uid, applies rlimits, runs the code as
  __main__ in fresh globals, reports "<exit code> <kind>" and exits. Builtins, modules and
  globals it changes die with it.
"""

import builtins
import collections
import ctypes
import fcntl
import gc
import io
import json
import linecache
import math
import mmap
import os
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import time
import traceback  # a runner formats tracebacks: imported here, not per execution (2-10 ms)

CODE_FILENAME = "<code>"
READ_CHUNK = 65536
PR_SET_NAME = 15
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
IPC_RMID = 0
MADV_COLLAPSE = 25
HUGE_PAGE = 2 << 20
# Freed when the code exhausts its memory, so that the traceback can still be formatted.
RESERVE_BYTES = 1 << 20
# Zygote <-> supervisor messages (SOCK_SEQPACKET): kind, runner pid, wait status.
MESSAGE = struct.Struct("=cii")
# zygote -> supervisor: a new spare runner (its fds attached); a runner's exit; the sandbox is
# clear of the last execution. supervisor -> zygote: an execution is over; a spare that died
# unused needs replacing (no clean-up: no code ran in it).
SPARE, EXITED, CLEAN, FINISHED, DISCARD = b"s", b"x", b"c", b"f", b"d"
LIBC = ctypes.CDLL(None, use_errno=True)


def prctl(option, value):
    if LIBC.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def set_process_name(name):
    """The name ps and /proc/<pid>/comm show: the sandbox's own processes are told apart from
    the code's (which inherits "tirflow-code") without knowing how many spares wait."""
    prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()))


def write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_to_end(fd):
    chunks = []
    while True:
        chunk = os.read(fd, READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


# ---------------------------------------------------------------- runner


def runner_main(config, request_fd, stdout_fd, stderr_fd, status_fd):
    # Before the request (a spare): everything that does not depend on the code.
    devnull = os.open("/dev/null", os.O_RDONLY)
    # In the order of the numbers they get: 0 stdin (closed to the code: reads see end of
    # file), 1 and 2 the output, 3 the status line, 4 the request.
    fds = (devnull, stdout_fd, stderr_fd, status_fd, request_fd)
    # Copied above 4 first: one of them may already sit on another's number.
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD, 16) for fd in fds]
    for number, fd in enumerate(moved):
        os.dup2(fd, number)
    os.closerange(5, 1 << 16)  # no pipe or socket of the zygote's stays reachable
    set_process_name("tirflow-spare")
    os.setsid()
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as in any Python: BrokenPipeError, not death
    reseed_numpy()
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    # Line-buffered, so what was printed before a timeout or a crash still reaches the model.
    sys.stdout = io.TextIOWrapper(
        io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=True
    )
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=True
    )
    sys.argv = [""]
    # Address space only, no pages touched (a bytearray would fault in 256 of them).
    reserve = mmap.mmap(-1, RESERVE_BYTES)
    mapped = mapped_bytes()
    prewarm()

    request = read_to_end(4)
    os.close(4)
    if not request:
        os._exit(0)  # the supervisor went away, or retired this spare
    set_process_name("tirflow-code")
    drop_privileges(config)
    header, _, code = request.partition(b"\n")
    apply_limits(json.loads(header), mapped)
    exit_code, kind = run_user_code(code.decode("utf-8", errors="replace"), reserve)
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


def drop_privileges(config):
    if os.getuid() != 0:
        return  # unprivileged sandbox (user namespace): already the host's unprivileged user
    # Privileged sandbox (the host user is root): drop to the unprivileged uid, which clears
    # every capability, makes the process non-dumpable and makes RLIMIT_NPROC count.
    gid, uid = config["sandboxGid"], config["sandboxUid"]
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def prewarm():
    # Touch, while waiting for the request, the pages the execution path writes to: after the
    # fork each first write copies a page, and those copies should not count against latency.
    json.loads('{"timeoutS": 1}')
    sys.stdout.write("")
    exec(compile("pass", CODE_FILENAME, "exec"), {"__name__": "__main__"})


def reseed_numpy():
    # `random` reseeds itself after fork; numpy's global generator would otherwise repeat
    # the same numbers in every execution.
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(int.from_bytes(os.urandom(4), "little"))


def mapped_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def apply_limits(limits, mapped):
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
        # No POSIX message queues: they would outlive the execution in the sandbox's IPC
        # namespace, and without an mqueue mount nothing could list them to remove them.
        (resource.RLIMIT_MSGQUEUE, 0, None),
    ]
    for which, soft, hard in wanted:
        hard = soft if hard is None else hard
        _, current_hard = resource.getrlimit(which)
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(which, (soft, hard))


def run_user_code(code, reserve):
    # Tracebacks then show the offending source line, as `python -c` cannot.
    linecache.cache[CODE_FILENAME] = (len(code), None, code.splitlines(True), CODE_FILENAME)
    namespace = {"__name__": "__main__", "__builtins__": builtins}
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
        reserve.close()
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
        self.wait_status = None  # its exit, as the zygote (its parent) reports it

    def kill(self):
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self):
        for fd in (self.request_w, self.stdout_r, self.stderr_r, self.status_r, self.pidfd):
            if fd >= 0:
                os.close(fd)
        self.request_w = self.stdout_r = self.stderr_r = self.status_r = self.pidfd = -1


class Supervisor:
    def __init__(self, proto_in, proto_out, channel):
        self.proto_in = proto_in
        self.proto_out = proto_out
        self.channel = channel
        self.spares = collections.deque()
        self.active = None
        self.clean = True  # nothing of an earlier execution is left in the sandbox
        self.pending = b""  # bytes read from the Node side beyond the current frame

    def serve(self):
        while not self.spares:
            self.receive()
        hello = {"ready": True, "python": sys.version.split()[0]}
        write_all(self.proto_out, json.dumps(hello).encode() + b"\n")
        while True:
            frame = self.read_request()
            if frame is None:
                return  # the Node side closed our stdin
            request = json.loads(frame)
            reply = self.execute(request["code"], request["limits"])
            reply["id"] = request["id"]
            write_all(self.proto_out, json.dumps(reply).encode() + b"\n")
            # After the reply, off the latency path: the zygote kills what is left, empties
            # /tmp and tops up the spares; the next execution waits for its CLEAN.
            runner, self.active = self.active, None
            runner.kill()
            runner.close()
            self.clean = False
            self.channel.send(MESSAGE.pack(FINISHED, runner.pid, 0))

    def receive(self):
        """Handles one message from the zygote (blocking)."""
        data, fds, _, _ = socket.recv_fds(self.channel, MESSAGE.size, 5)
        if not data:
            raise SystemExit(1)  # the zygote died: end the sandbox
        kind, pid, status = MESSAGE.unpack(data)
        if kind == SPARE:
            self.spares.append(Runner(pid, fds))
        elif kind == CLEAN:
            self.clean = True
        elif kind == EXITED:
            if self.active is not None and self.active.pid == pid:
                self.active.wait_status = status
                return
            for spare in self.spares:
                if spare.pid == pid:  # died unused (the OOM killer, say): replace it
                    self.spares.remove(spare)
                    spare.close()
                    self.channel.send(MESSAGE.pack(DISCARD, pid, 0))
                    break
            # else: the exit of a runner already finished with

    def receive_pending(self):
        while select.select([self.channel], [], [], 0)[0]:
            self.receive()

    def read_request(self):
        """One frame, "<byte length>\\n<json>"; what follows it stays buffered for the next."""
        while b"\n" not in self.pending:
            if not self.fill():
                return None
        header, _, self.pending = self.pending.partition(b"\n")
        size = int(header)
        while len(self.pending) < size:
            if not self.fill():
                return None
        frame, self.pending = self.pending[:size], self.pending[size:]
        return frame

    def fill(self):
        # While waiting for a request, keep up with the zygote: a spare that died idle is
        # replaced now, not when the next request finds it dead.
        while True:
            readable, _, _ = select.select([self.proto_in, self.channel], [], [])
            if self.proto_in in readable:
                break
            self.receive()
        chunk = os.read(self.proto_in, READ_CHUNK)
        self.pending += chunk
        return bool(chunk)

    def take_runner(self, request):
        """Hands `request` to a live spare once the sandbox is clear; returns that runner."""
        self.receive_pending()
        while True:
            while not (self.clean and self.spares):
                self.receive()
            runner = self.spares.popleft()
            try:
                write_all(runner.request_w, request)
            except BrokenPipeError:
                # It died before its EXITED arrived; the code never reached it.
                runner.close()
                self.channel.send(MESSAGE.pack(DISCARD, runner.pid, 0))
                continue
            os.close(runner.request_w)
            runner.request_w = -1
            return runner

    def execute(self, code, limits):
        request = json.dumps(limits).encode() + b"\n" + code.encode("utf-8", errors="replace")
        runner = self.active = self.take_runner(request)
        started = time.monotonic()  # the code's wall clock: from the moment a runner has it
        stdout = Capture(limits["outputBytes"], keep="head")
        stderr = Capture(limits["outputBytes"], keep="tail")
        streams = {runner.stdout_r: stdout, runner.stderr_r: stderr}
        poller = select.poll()
        for fd in (runner.stdout_r, runner.stderr_r, runner.status_r, self.channel.fileno()):
            poller.register(fd, select.POLLIN)
        deadline = started + limits["timeoutS"]
        status_line = b""
        done = None  # the runner's own "<exit code> <kind>" line
        timed_out = False
        while done is None and runner.wait_status is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for fd, _ in poller.poll(remaining * 1000 + 1):
                if fd == self.channel.fileno():
                    self.receive()
                elif fd == runner.status_r:
                    chunk = os.read(fd, 256)
                    if not chunk:
                        poller.unregister(fd)
                    status_line += chunk
                    if b"\n" in status_line:
                        done = status_line.split(b"\n", 1)[0].decode("ascii", errors="replace")
                else:
                    chunk = os.read(fd, READ_CHUNK)
                    if chunk:
                        streams[fd].add(chunk)
                    else:
                        poller.unregister(fd)
        elapsed_ms = (time.monotonic() - started) * 1000
        if timed_out:
            runner.kill()
        # Output written before the end is already in the pipes: take it without waiting for end
        # of file, which a leftover grandchild could hold back forever.
        for fd, capture in streams.items():
            os.set_blocking(fd, False)
            try:
                while True:
                    chunk = os.read(fd, READ_CHUNK)
                    if not chunk:
                        break
                    capture.add(chunk)
            except BlockingIOError:
                pass
        status, exit_code = classify(done, runner.wait_status, timed_out)
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
    if hasattr(LIBC, "malloc_trim"):  # glibc: freed import-time heap back to the kernel
        LIBC.malloc_trim(0)
    collapse_into_huge_pages()


def collapse_into_huge_pages():
    """Maps the warm heap with 2 MiB pages where the kernel can (MADV_COLLAPSE, Linux 6.1+).

    Fork copies, and every runner's exit tears down, one page-table entry per mapped page:
    for the ~75 MiB a warm numpy+sympy interpreter maps, fork + exit of a runner cost ~4 ms
    of CPU with 4 KiB pages and ~2.3 ms with the heap collapsed (48 MiB of it), the largest
    part of a trivial execution. A write to a shared huge page splits only that entry and
    copies one 4 KiB page (checked: a runner's private memory is the same either way); the
    zygote's own writes split some back (about 20 MiB stays huge). Where the call fails
    (older kernel, THP disabled) nothing changes but the speed."""
    madvise = LIBC.madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    with open("/proc/self/maps") as maps:
        regions = maps.read().splitlines()
    for region in regions:
        fields = region.split()
        path = fields[5] if len(fields) > 5 else ""
        if fields[1] != "rw-p" or path not in ("", "[heap]"):
            continue  # only anonymous, private, writable memory: the interpreter's heap
        low, high = (int(bound, 16) for bound in fields[0].split("-"))
        start = (low + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1)
        end = high & ~(HUGE_PAGE - 1)
        if end > start:
            madvise(start, end - start, MADV_COLLAPSE)


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


class Forked:
    """The zygote's record of one live runner."""

    def __init__(self, pidfd):
        self.pidfd = pidfd  # -1 once its exit has been handled
        self.wait_status = None  # once reaped


class Zygote:
    def __init__(self, config, channel, supervisor_pid):
        self.config = config
        self.channel = channel
        self.keep = {os.getpid(), supervisor_pid}
        # Live runners (spares and the one executing): pid -> Forked.
        self.runners = {}
        self.poller = select.poll()
        self.poller.register(channel, select.POLLIN)
        self.by_pidfd = {}

    def serve(self):
        try:
            return self.loop()
        except (BrokenPipeError, ConnectionResetError):
            return 0  # the supervisor ended

    def loop(self):
        self.top_up()
        channel = self.channel.fileno()
        while True:
            ready = [fd for fd, _ in self.poller.poll()]
            # Exits before the message: handling one closes pidfds and opens new ones, and a
            # new one may reuse the number of a stale event in this batch.
            for fd in ready:
                if fd != channel:
                    self.on_exit(self.by_pidfd[fd])
            if channel not in ready:
                continue
            data = self.channel.recv(MESSAGE.size)
            if not data:
                return 0  # the supervisor ended
            kind, pid, _ = MESSAGE.unpack(data)
            self.retire(pid)
            if kind == FINISHED:
                if not clear_sandbox(self.keep | self.runners.keys(), self.runners):
                    sys.stderr.write("could not clear leftover processes; restarting the sandbox\n")
                    return 1
                self.channel.send(MESSAGE.pack(CLEAN, 0, 0))
            self.top_up()

    def top_up(self):
        while len(self.runners) < self.config["spareRunners"]:
            self.fork_runner()

    def fork_runner(self):
        request_r, request_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        status_r, status_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                runner_main(self.config, request_r, stdout_w, stderr_w, status_w)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(70)
        for fd in (request_r, stdout_w, stderr_w, status_w):
            os.close(fd)
        pidfd = os.pidfd_open(pid)
        theirs = [request_w, stdout_r, stderr_r, status_r, os.dup(pidfd)]
        socket.send_fds(self.channel, [MESSAGE.pack(SPARE, pid, 0)], theirs)
        for fd in theirs:
            os.close(fd)
        self.runners[pid] = Forked(pidfd)
        self.by_pidfd[pidfd] = pid
        self.poller.register(pidfd, select.POLLIN)

    def on_exit(self, pid):
        runner = self.runners[pid]
        if runner.wait_status is None:
            reaped, wait_status = os.waitpid(pid, os.WNOHANG)
            if reaped == 0:
                return  # not an exit after all
            runner.wait_status = wait_status
        self.stop_watching(runner)
        self.channel.send(MESSAGE.pack(EXITED, pid, runner.wait_status))

    def stop_watching(self, runner):
        if runner.pidfd >= 0:
            self.poller.unregister(runner.pidfd)
            del self.by_pidfd[runner.pidfd]
            os.close(runner.pidfd)
            runner.pidfd = -1

    def retire(self, pid):
        """Forgets a runner the supervisor is done with, killing it first if it still runs."""
        runner = self.runners.pop(pid, None)
        if runner is None:
            return
        if runner.pidfd >= 0:
            try:
                signal.pidfd_send_signal(runner.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.stop_watching(runner)
        if runner.wait_status is None:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def clear_sandbox(keep, runners):
    """Kills and reaps every process but `keep` and the namespace init; empties /tmp and IPC.

    `runners` (pid -> Forked) receives the status of any runner reaped here."""
    for attempt in range(200):
        while True:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in runners:
                runners[pid].wait_status = wait_status
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
    for pid in runners:
        # Where spares share the code's uid (an unprivileged sandbox), the code may have
        # stopped one; the next execution must not hang on it.
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    for name in os.listdir("/tmp"):
        path = os.path.join("/tmp", name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, onerror=force_remove)
        else:
            os.unlink(path)
    remove_ipc_objects()
    return True


def force_remove(function, path, _excinfo):
    # Code may leave directories without permissions (chmod 000); the zygote owns the
    # sandbox, so it restores them and retries.
    os.chmod(os.path.dirname(path), 0o700)
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, 0o700)
    function(path)


def remove_ipc_objects():
    """SysV shared memory, semaphores and message queues outlive their creator in the sandbox's
    IPC namespace: remove them, so no execution finds one an earlier execution left."""
    removers = {
        "shm": lambda ident: LIBC.shmctl(ident, IPC_RMID, None),
        "sem": lambda ident: LIBC.semctl(ident, 0, IPC_RMID),
        "msg": lambda ident: LIBC.msgctl(ident, IPC_RMID, None),
    }
    for kind, remove in removers.items():
        try:
            with open(f"/proc/sysvipc/{kind}") as table:
                header, *rows = table.read().splitlines()
        except OSError:
            continue  # a kernel without SysV IPC: nothing to remove
        if not rows:
            continue
        uid_column = header.split().index("uid")
        for row in rows:
            fields = row.split()
            ident, owner = int(fields[1]), int(fields[uid_column])
            # Only the owner may remove it without CAP_SYS_ADMIN, which the zygote does not have.
            as_owner = os.geteuid() == 0 and owner != 0
            if as_owner:
                os.seteuid(owner)
            try:
                remove(ident)
            finally:
                if as_owner:
                    os.seteuid(0)


def main():
    config = json.loads(sys.argv[1])
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a dead runner's pipe is an EPIPE, not our death
    prctl(PR_SET_DUMPABLE, 0)  # same-uid code cannot ptrace us or read our memory
    supervisor_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    supervisor_pid = os.fork()
    if supervisor_pid == 0:
        zygote_end.close()
        set_process_name("tirflow-superv")
        try:
            Supervisor(0, 1, supervisor_end).serve()
        except BrokenPipeError:
            os._exit(0)  # the Node side went away
        except SystemExit as stop:
            os._exit(stop.code if isinstance(stop.code, int) else 1)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    supervisor_end.close()
    set_process_name("tirflow-zygote")
    # The protocol belongs to the supervisor alone.
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    prctl(PR_SET_CHILD_SUBREAPER, 1)  # orphans of the code become ours, so we can reap them
    preload(config)
    status = Zygote(config, zygote_end, supervisor_pid).serve()
    clear_sandbox({os.getpid()}, {})
    sys.exit(status)


if __name__ == "__main__":
    main()

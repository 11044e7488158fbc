/**
 * Each threat model-written code poses, run in the real sandbox (bubblewrap, warm zygote):
 * none may hurt the host, a later execution or the run. One single-slot pool, so every
 * execution after the first shows what the one before it left behind.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SandboxPool } from '../../activities/sandbox/pool';
import { projectRoot, venvDir } from '../../activities/projectPaths';

const secretName = 'TIRFLOW_SANDBOX_TEST_SECRET';
const secretValue = `secret-${process.pid}-${Date.now()}`;

/** Host processes whose command line contains `marker`. */
function hostProcessesWith(marker: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

describe('sandbox threats', () => {
  let pool: SandboxPool;
  before(async () => {
    process.env[secretName] = secretValue;
    pool = new SandboxPool({ size: 1, limits: { timeoutS: 5 } });
    await pool.start();
  });
  after(async () => {
    await pool.close();
    delete process.env[secretName];
  });

  /**
   * Processes of the code in the sandbox's /proc: all but the namespace init and the sandbox's
   * own (zygote, supervisor, spare runners, told apart by name). 1 is the execution asking.
   */
  async function codeProcesses(): Promise<number> {
    const result = await pool.run(
      [
        'import os',
        "own = {'tirflow-zygote', 'tirflow-superv', 'tirflow-spare'}",
        "pids = [p for p in os.listdir('/proc') if p.isdigit() and p != '1']",
        "print(len([p for p in pids if open(f'/proc/{p}/comm').read().strip() not in own]))",
      ].join('\n'),
    );
    assert.equal(result.status, 'ok', result.stderr);
    return Number(result.stdout.trim());
  }

  void it('runs ordinary code and reports its output', async () => {
    const result = await pool.run('import sympy\nx = sympy.Symbol("x")\nprint(sympy.factor(x**2 - 1))');
    assert.equal(result.status, 'ok');
    assert.equal(result.stdout, '(x - 1)*(x + 1)\n');
    assert.equal(result.exitCode, 0);
    assert.equal(result.truncated, false);
  });

  void it('kills an infinite loop at the wall-clock limit and leaves no process behind', async () => {
    const marker = `${Math.floor(Math.random() * 1e6) + 1000}.25`;
    const result = await pool.run(
      `import subprocess\nsubprocess.Popen(["sleep", "${marker}"])\nprint("spinning", flush=True)\nwhile True:\n    pass`,
      { timeoutS: 1 },
    );
    assert.equal(result.status, 'timeout');
    assert.equal(result.exitCode, null);
    assert.equal(result.stdout, 'spinning\n', 'output before the kill is kept');
    // The zygote clears the namespace before it serves the next execution.
    assert.equal(await codeProcesses(), 1);
    assert.deepEqual(
      hostProcessesWith(`sleep\0${marker}`),
      [],
      'the background sleep is gone from the host too',
    );
  });

  void it('turns a memory bomb into a memory result', async () => {
    const growing = await pool.run('chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))', {
      memoryMb: 200,
    });
    assert.equal(growing.status, 'memory');
    assert.match(growing.stderr, /MemoryError/);
    const huge = await pool.run('import numpy\nnumpy.ones(10**11)', { memoryMb: 200 });
    assert.equal(huge.status, 'memory');
    const fine = await pool.run('print(len(bytearray(50 * 2**20)))', { memoryMb: 200 });
    assert.equal(fine.stdout, `${50 * 2 ** 20}\n`, 'memory within the budget is usable');
  });

  void it('contains a fork bomb at the process limit', async () => {
    const result = await pool.run(
      [
        'import os, time',
        'children = 0',
        'try:',
        '    while True:',
        '        if os.fork() == 0:',
        '            time.sleep(60)',
        '            os._exit(0)',
        '        children += 1',
        'except OSError as e:',
        '    print(children, e.errno)',
      ].join('\n'),
      { processes: 16 },
    );
    assert.equal(result.status, 'ok', result.stderr);
    const [children, errno] = result.stdout.trim().split(' ').map(Number);
    assert.ok(children! < 16, `forked ${children} processes under a limit of 16`);
    assert.equal(errno, 11, 'fork failed with EAGAIN');
    assert.equal(await codeProcesses(), 1, 'the sleeping children were killed');
  });

  void it('caps megabytes of output and keeps the traceback at the end of stderr', async () => {
    const flood = await pool.run('print("x" * 5_000_000)', { outputBytes: 4096 });
    assert.equal(flood.status, 'ok');
    assert.equal(flood.truncated, true);
    assert.equal(flood.stdout, 'x'.repeat(4096));
    const noisy = await pool.run('import sys\nsys.stderr.write("e" * 3_000_000)\n1/0', { outputBytes: 4096 });
    assert.equal(noisy.status, 'error');
    assert.equal(noisy.truncated, true);
    assert.ok(noisy.stderr.length <= 4096);
    assert.match(noisy.stderr, /ZeroDivisionError: division by zero\n$/);
  });

  void it('cannot reach a server on the host loopback', async () => {
    let connections = 0;
    const server: Server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const result = await pool.run(
        [
          'import socket',
          'try:',
          `    socket.create_connection(("127.0.0.1", ${port}), timeout=2)`,
          '    print("connected")',
          'except OSError as e:',
          '    print("blocked", type(e).__name__)',
          'print(sorted(name for _, name in socket.if_nameindex()))',
        ].join('\n'),
      );
      assert.equal(result.status, 'ok', result.stderr);
      assert.match(result.stdout, /^blocked /);
      assert.match(result.stdout, /\['lo'\]/, 'only a loopback interface of its own');
      assert.equal(connections, 0);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  void it('sees neither the project, nor the home directory, and writes only to a private /tmp', async () => {
    const hostTmpName = `tirflow-sandbox-probe-${process.pid}-${Date.now()}`;
    const result = await pool.run(
      [
        'import json, os',
        'def probe(action):',
        '    try:',
        '        action()',
        '        return "allowed"',
        '    except OSError as e:',
        '        return type(e).__name__',
        'report = {',
        `    "project": probe(lambda: open(${JSON.stringify(join(projectRoot, 'package.json'))}).read()),`,
        `    "venv": probe(lambda: os.listdir(${JSON.stringify(venvDir)})),`,
        `    "home": probe(lambda: os.listdir(${JSON.stringify(homedir())})),`,
        '    "usr": probe(lambda: open("/usr/tirflow-probe", "w")),',
        '    "root": probe(lambda: open("/tirflow-probe", "w")),',
        '    "site": probe(lambda: open("/opt/tirflow/site-packages/probe", "w")),',
        `    "tmp": probe(lambda: open("/tmp/${hostTmpName}", "w").write("x")),`,
        '}',
        'print(json.dumps(report))',
      ].join('\n'),
    );
    assert.equal(result.status, 'ok', result.stderr);
    const report = JSON.parse(result.stdout) as Record<string, string>;
    assert.equal(report.project, 'FileNotFoundError');
    assert.equal(report.venv, 'FileNotFoundError');
    assert.notEqual(report.home, 'allowed');
    for (const place of ['usr', 'root', 'site'])
      assert.notEqual(report[place], 'allowed', `wrote to ${place}`);
    assert.equal(report.tmp, 'allowed');
    assert.equal(existsSync(join(tmpdir(), hostTmpName)), false, "the sandbox's /tmp is not the host's");
    const next = await pool.run('import os\nprint(os.listdir("/tmp"))');
    assert.equal(next.stdout, '[]\n', '/tmp starts empty for every execution');
  });

  void it('leaves no IPC object for a later execution to find', async () => {
    const create = await pool.run(
      [
        'import ctypes',
        'libc = ctypes.CDLL(None, use_errno=True)',
        'IPC_CREAT = 0o1000',
        'print(libc.shmget(0x7100, 4096, IPC_CREAT | 0o666) >= 0,',
        '      libc.semget(0x7101, 1, IPC_CREAT | 0o666) >= 0,',
        '      libc.msgget(0x7102, IPC_CREAT | 0o666) >= 0)',
        'libc.mq_open.restype = ctypes.c_int',
        'print(libc.mq_open(b"/tirflow-probe", 0o100 | 0o2, 0o666, None) >= 0)',
      ].join('\n'),
    );
    assert.equal(create.status, 'ok', create.stderr);
    assert.equal(create.stdout, 'True True True\nFalse\n', 'SysV objects can be made; POSIX queues cannot');
    const find = await pool.run(
      [
        'for kind in ("shm", "sem", "msg"):',
        '    print(kind, len(open(f"/proc/sysvipc/{kind}").read().splitlines()) - 1)',
      ].join('\n'),
    );
    assert.equal(find.stdout, 'shm 0\nsem 0\nmsg 0\n');
  });

  void it("does not see the caller's environment variables", async () => {
    assert.equal(process.env[secretName], secretValue);
    const result = await pool.run('import os\nprint(sorted(os.environ))\nprint(repr(dict(os.environ)))');
    assert.equal(result.status, 'ok');
    assert.ok(!result.stdout.includes(secretName));
    assert.ok(!result.stdout.includes(secretValue));
  });

  void it('runs as an unprivileged user without capabilities', async () => {
    const result = await pool.run(
      'import os\nprint(os.getuid())\nprint([l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0])',
    );
    const [uid, capEff] = result.stdout.trim().split('\n');
    assert.notEqual(uid, '0');
    if (process.getuid?.() === 0) assert.equal(uid, '65534');
    assert.equal(capEff, '0000000000000000');
  });

  void it('starts every execution from a clean interpreter: no builtins, module or global state leaks', async () => {
    const first = await pool.run('import builtins, math\nbuiltins.leak = 42\nmath.pi = 3\nsecret = 7');
    assert.equal(first.status, 'ok');
    const second = await pool.run(
      'import builtins, math\nprint(hasattr(builtins, "leak"), math.pi, "secret" in globals())',
    );
    assert.equal(second.stdout, 'False 3.141592653589793 False\n');
  });

  void it('closes stdin', async () => {
    const read = await pool.run('import sys\nprint(repr(sys.stdin.read()))');
    assert.equal(read.stdout, "''\n");
    const prompt = await pool.run('print(input())');
    assert.equal(prompt.status, 'error');
    assert.match(prompt.stderr, /EOFError/);
  });

  void it('strips host and sandbox paths from tracebacks', async () => {
    const result = await pool.run('import fractions\nfractions.Fraction("not a number")');
    assert.equal(result.status, 'error');
    assert.match(result.stderr, /File "<code>", line 2, in <module>/);
    assert.match(result.stderr, /File "fractions\.py"/);
    assert.match(result.stderr, /ValueError: Invalid literal for Fraction: 'not a number'\n$/);
    for (const path of ['/opt/tirflow', projectRoot, homedir(), 'sandbox_zygote']) {
      assert.ok(!result.stderr.includes(path), `stderr shows ${path}`);
    }
  });

  void it('reports exit codes, syntax errors and signals as data', async () => {
    assert.deepEqual(
      [
        await pool.run('exit(3)'),
        await pool.run('def f(:'),
        await pool.run('import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)'),
      ].map((r) => [r.status, r.exitCode]),
      [
        ['error', 3],
        ['error', 1],
        ['killed', null],
      ],
    );
  });
});

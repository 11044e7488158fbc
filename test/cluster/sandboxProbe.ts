/**
 * Runs a few programs in the real sandbox (SandboxPool: bubblewrap, the warm zygote) and prints
 * each result as one JSON line. test/cluster/sandboxSeccomp.cluster.ts starts it under the
 * sandbox container's seccomp profile, so every process of the sandbox role runs under it.
 */
import { SandboxPool } from '../../activities/sandbox/pool';

/** Program name → [code, what it must print]. */
export const probePrograms: Record<string, [string, string]> = {
  arithmetic: ['print(6*7)', '42'],
  numpy: ['import numpy as np\nprint(int(np.arange(10).sum()))', '45'],
  sympy: ['import sympy\nprint(sympy.factor("x**2 - 1"))', '(x - 1)*(x + 1)'],
  threads: [
    'from concurrent.futures import ThreadPoolExecutor\nwith ThreadPoolExecutor(4) as ex:\n    print(sum(ex.map(lambda n: n * n, range(10))))',
    '285',
  ],
  subprocess: [
    'import subprocess\nprint(subprocess.run(["echo", "child"], capture_output=True, text=True).stdout.strip())',
    'child',
  ],
  files: [
    'import pathlib\np = pathlib.Path("/tmp/x.txt")\np.write_text("written")\nprint(p.read_text())',
    'written',
  ],
};

/**
 * Model-written code reaching for what a sandbox escape would start with: prints the errno each
 * syscall returns (0: it ran).
 */
export const escapeAttempts = [
  'import ctypes, json',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'def call(nr, *args):',
  '    return 0 if libc.syscall(nr, *[ctypes.c_long(a) for a in args]) >= 0 else ctypes.get_errno()',
  'print(json.dumps({',
  '    "unshare(CLONE_NEWUSER)": call(272, 0x10000000),',
  '    "ptrace(PTRACE_TRACEME)": call(101, 0, 0, 0, 0),',
  '    "keyctl": call(250, 0, 0, 0, 0),',
  '    "bpf": call(321, 0, 0, 0),',
  '    "getpid": call(39),',
  '}))',
].join('\n');

async function main(): Promise<void> {
  const pool = new SandboxPool({ size: 1, limits: { timeoutS: 30 } });
  await pool.start();
  try {
    for (const [name, [code]] of Object.entries(probePrograms)) {
      const result = await pool.run(code);
      console.log(
        JSON.stringify({ name, status: result.status, stdout: result.stdout, stderr: result.stderr }),
      );
    }
    const attempts = await pool.run(escapeAttempts);
    console.log(
      JSON.stringify({
        name: 'escapeAttempts',
        status: attempts.status,
        stdout: attempts.stdout,
        stderr: attempts.stderr,
      }),
    );
  } finally {
    await pool.close();
  }
}

if (process.argv[1]?.endsWith('sandboxProbe.ts')) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}

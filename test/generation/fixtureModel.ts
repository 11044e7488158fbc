/**
 * A tiny random Qwen2 fixture, exported to ONNX, made once and shared by the generation tests:
 * kept in the OS temp dir under a hash of the Python code that makes it, built in a scratch
 * folder and renamed into place so concurrent test files never see half of it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { pythonProjectDir, requireVenvTool, venvPython } from '../../activities/projectPaths';

export interface FixtureModel {
  hfDir: string;
  onnxDir: string;
}

export async function fixtureModel(): Promise<FixtureModel> {
  const sources = ['tirflow_py/fixtures.py', 'tirflow_py/onnx_export.py'].map((f) =>
    readFileSync(join(pythonProjectDir, f)),
  );
  const hash = createHash('sha256').update(Buffer.concat(sources)).digest('hex').slice(0, 12);
  const root = join(tmpdir(), `tirflow-generation-fixture-${hash}`);
  const result = { hfDir: join(root, 'hf'), onnxDir: join(root, 'onnx') };
  if (existsSync(join(result.onnxDir, 'tirflow-onnx.json'))) return result;

  const scratch = await mkdtemp(join(tmpdir(), 'tirflow-fixture-build-'));
  const python = requireVenvTool(venvPython);
  const env = { ...process.env, OMP_NUM_THREADS: '1' };
  await execa(python, ['-m', 'tirflow_py.fixtures', join(scratch, 'hf'), '--seed', '7'], {
    cwd: pythonProjectDir,
    env,
  });
  await execa(python, ['-m', 'tirflow_py.onnx_export', join(scratch, 'hf'), join(scratch, 'onnx')], {
    cwd: pythonProjectDir,
    env,
  });
  try {
    await rename(scratch, root);
  } catch {
    await rm(scratch, { recursive: true, force: true }); // another test file made it first
  }
  return result;
}

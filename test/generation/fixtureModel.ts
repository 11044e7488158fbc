/**
 * Model folders made once and shared by the generation tests (a tiny random Qwen2 fixture, and
 * the shipped tiny base exported to ONNX): kept in the OS temp dir under a hash of what makes
 * them, built in a scratch folder and renamed into place so concurrent test files never see
 * half of one.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { projectRoot, pythonProjectDir, requireVenvTool, venvPython } from '../../activities/projectPaths';

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

/**
 * The shipped trained tiny base (models/tiny-base) exported to ONNX, made once like the fixture.
 * A trained model's distributions are peaked, unlike the random fixture's near-uniform ones, so
 * tests of sampling numerics see log-probs far from -log(vocab).
 */
export async function tinyBaseModel(): Promise<FixtureModel> {
  const hfDir = join(projectRoot, 'models', 'tiny-base');
  const sources = [
    join(pythonProjectDir, 'tirflow_py/onnx_export.py'),
    join(hfDir, 'model.safetensors'),
    join(hfDir, 'config.json'),
  ].map((f) => readFileSync(f));
  const hash = createHash('sha256').update(Buffer.concat(sources)).digest('hex').slice(0, 12);
  const root = join(tmpdir(), `tirflow-tiny-base-onnx-${hash}`);
  const result = { hfDir, onnxDir: root };
  if (existsSync(join(root, 'tirflow-onnx.json'))) return result;

  const scratch = await mkdtemp(join(tmpdir(), 'tirflow-tiny-base-build-'));
  const python = requireVenvTool(venvPython);
  await execa(python, ['-m', 'tirflow_py.onnx_export', hfDir, join(scratch, 'onnx')], {
    cwd: pythonProjectDir,
    env: { ...process.env, OMP_NUM_THREADS: '1' },
  });
  try {
    await rename(join(scratch, 'onnx'), root);
  } catch {
    // another test file made it first
  }
  await rm(scratch, { recursive: true, force: true });
  return result;
}

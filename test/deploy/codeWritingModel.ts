/**
 * The code-writing test model (test/deploy/code_writing_model.py applied to the random
 * fixture): rollouts with it always execute code, so a run exercises the sandbox role.
 * Made once per content hash in the OS temp dir, built aside and renamed into place.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { pythonProjectDir, requireVenvTool, venvPython } from '../../activities/projectPaths';
import { fixtureModel } from '../generation/fixtureModel';

const script = fileURLToPath(new URL('./code_writing_model.py', import.meta.url));

/**
 * Hugging Face folder of the model. `cycleText` replaces the script's default code
 * ("```python\nprint(6*7)"); every token of it must be distinct in the fixture's tokenizer.
 */
export async function codeWritingModel(cycleText?: string): Promise<string> {
  const source = (await fixtureModel()).hfDir;
  const hash = createHash('sha256')
    .update(readFileSync(script))
    .update(cycleText ?? '')
    .update(readFileSync(join(source, 'model.safetensors')))
    .digest('hex')
    .slice(0, 12);
  const dir = join(tmpdir(), `tirflow-code-writer-${hash}`);
  if (existsSync(join(dir, 'model.safetensors'))) return dir;
  const scratch = await mkdtemp(join(tmpdir(), 'tirflow-code-writer-build-'));
  await execa(
    requireVenvTool(venvPython),
    [script, source, scratch, ...(cycleText === undefined ? [] : [cycleText])],
    {
      cwd: pythonProjectDir,
      env: { OMP_NUM_THREADS: '1' },
    },
  );
  try {
    await rename(scratch, dir);
  } catch {
    await rm(scratch, { recursive: true, force: true }); // another process made it first
  }
  return dir;
}

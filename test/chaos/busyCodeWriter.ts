/**
 * The code-writing test model (test/deploy/code_writing_model.py) with a busy loop for code:
 * every response opens a ```python block holding `while 1:pass`, so every execution runs until
 * the sandbox's timeout and the sandbox worker is busy for seconds at a time, long enough for a
 * SIGKILL to land on executions in flight (`print(6*7)` finishes in milliseconds). Made once
 * per content hash in the OS temp dir, built aside and renamed into place.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { pythonProjectDir, requireVenvTool, venvPython } from '../../activities/projectPaths';
import { fixtureModel } from '../generation/fixtureModel';

const script = fileURLToPath(new URL('../deploy/code_writing_model.py', import.meta.url));
// Every token of the cycle must be distinct in the fixture's tokenizer (the script checks).
const BUSY_CODE = '```python\nwhile 1:pass';

/** Hugging Face folder of the model. */
export async function busyCodeWriter(): Promise<string> {
  const source = (await fixtureModel()).hfDir;
  const hash = createHash('sha256')
    .update(readFileSync(script))
    .update(BUSY_CODE)
    .update(readFileSync(join(source, 'model.safetensors')))
    .digest('hex')
    .slice(0, 12);
  const dir = join(tmpdir(), `tirflow-busy-code-writer-${hash}`);
  if (existsSync(join(dir, 'model.safetensors'))) return dir;
  const scratch = await mkdtemp(join(tmpdir(), 'tirflow-busy-code-writer-build-'));
  const program = [
    'import sys',
    'sys.path.insert(0, sys.argv[1])',
    'import code_writing_model as writer',
    'writer.CYCLE_TEXT = sys.argv[2]',
    'writer.rewrite(sys.argv[3], sys.argv[4])',
  ].join('\n');
  await execa(requireVenvTool(venvPython), ['-c', program, dirname(script), BUSY_CODE, source, scratch], {
    cwd: pythonProjectDir,
    env: { OMP_NUM_THREADS: '1' },
  });
  try {
    await rename(scratch, dir);
  } catch {
    await rm(scratch, { recursive: true, force: true }); // another process made it first
  }
  return dir;
}

/**
 * `tirflow serve` as a vLLM stand-in, driven by the official `openai` client from PyPI
 * (test/generation/openai_client_checks.py, run with pytest against a real server process on
 * the trained tiny base): completions, per-token log-probs, stop strings with and without
 * include_stop_str_in_output, streaming, and a 400 for each request it cannot serve.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { projectRoot, requireVenvTool, venvPython } from '../../activities/projectPaths';
import { startServe, type ServedPolicy } from '../support/serve';
import { tinyBaseModel } from './fixtureModel';

const MODEL_NAME = 'tiny-base';
let served: ServedPolicy;

before(async () => {
  served = await startServe((await tinyBaseModel()).onnxDir, MODEL_NAME);
});

after(async () => {
  await served.stop();
});

describe('tirflow serve through the openai client', () => {
  it('passes every check of openai_client_checks.py', async () => {
    const checks = join(projectRoot, 'test', 'generation', 'openai_client_checks.py');
    const run = await execa(
      requireVenvTool(venvPython),
      [
        '-m',
        'pytest',
        checks,
        '-q',
        '-p',
        'no:cacheprovider',
        '--rootdir',
        join(projectRoot, 'test', 'generation'),
      ],
      {
        cwd: projectRoot,
        reject: false,
        all: true,
        env: { ...process.env, TIRFLOW_SERVE_BASE_URL: served.baseUrl, TIRFLOW_SERVE_MODEL: MODEL_NAME },
      },
    );
    assert.equal(run.exitCode, 0, run.all);
    // Every check ran: none was skipped or left uncollected (19 when this was written).
    const passed = Number(/(\d+) passed/.exec(run.all ?? '')?.[1] ?? 0);
    assert.ok(passed >= 19, `${passed} checks passed:\n${run.all}`);
    assert.doesNotMatch(run.all ?? '', /skipped|deselected|xfail/);
  });
});

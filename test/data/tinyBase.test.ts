/**
 * The Python half that made the tiny base model agrees with the TypeScript half that drives it:
 * the pretraining corpus used the canonical ZeroTIR prompt, and the JS tokenizer the engines load
 * gives the same token ids as the Python tokenizer the trainer uses.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import { projectRoot, pythonProjectDir, venvPython } from '../../activities/projectPaths';
import { renderPrompt } from '../../common/toolProtocol';

const modelDir = join(projectRoot, 'models', 'tiny-base');

/** Runs a Python snippet in the project venv with JSON in on stdin, JSON out on stdout. */
function python(code: string, input: unknown): unknown {
  const result = spawnSync(venvPython, ['-c', code], {
    cwd: pythonProjectDir,
    input: JSON.stringify(input),
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout);
}

const problems = ['What is 347 * 829?', 'Solve for x: 25x + 44 = -967.'];
const samples = [
  ...problems.map((p) => renderPrompt('tool', p)),
  ' We need 347 * 829.\n```python\nprint(347 * 829)\n```\n```output\n287663\n```\n</think> <answer> \\boxed{287663} </answer>',
  'Traceback: ZeroDivisionError: division by zero — é ñ ∑ 😀\ttab',
];

void describe('tiny base model, seen from TypeScript', () => {
  void it('was pretrained on the canonical ZeroTIR prompt of common/toolProtocol', () => {
    const rendered = python(
      'import json, sys\nfrom tirflow_py.corpus_template import render_prompt\n' +
        'print(json.dumps([render_prompt(p) for p in json.load(sys.stdin)]))',
      problems,
    );
    assert.deepEqual(
      rendered,
      problems.map((p) => renderPrompt('tool', p)),
    );
  });

  void it('tokenizes to the same ids in @huggingface/tokenizers as in Python, and round-trips', () => {
    const tokenizer = new Tokenizer(
      JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8')) as object,
      JSON.parse(readFileSync(join(modelDir, 'tokenizer_config.json'), 'utf8')) as object,
    );
    const pythonIds = python(
      'import json, sys\nfrom transformers import AutoTokenizer\n' +
        `tok = AutoTokenizer.from_pretrained(${JSON.stringify(modelDir)})\n` +
        'print(json.dumps([tok(t, add_special_tokens=False).input_ids for t in json.load(sys.stdin)]))',
      samples,
    ) as number[][];
    samples.forEach((text, i) => {
      const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
      assert.deepEqual(ids, pythonIds[i], `ids differ for sample ${i}`);
      assert.equal(tokenizer.decode(ids), text);
    });
  });
});

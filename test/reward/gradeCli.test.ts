/** `tirflow grade` as a user runs it (bin/tirflow.js), real grader processes behind it. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { execa, type Options } from 'execa';

const bin = fileURLToPath(new URL('../../bin/tirflow.js', import.meta.url));
const tirflow = (args: string[], options: Options = {}) =>
  execa(process.execPath, [bin, 'grade', ...args], { reject: false, ...options });
const lines = (text: unknown): string[] =>
  String(text)
    .split('\n')
    .filter((l) => l !== '');

describe('tirflow grade', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tirflow-grade-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('grades one prediction, unwrapping a \\boxed{}', async () => {
    const result = await tirflow(['--pred', '\\boxed{\\frac{1}{2}}', '--ref', '0.5']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.deepEqual(JSON.parse(String(result.stdout)), {
      correct: true,
      status: 'correct',
      predParsed: '1/2',
    });
  });

  it('grades the rest of a JSONL file past malformed lines, names their line numbers and exits non-zero', async () => {
    const file = join(dir, 'items.jsonl');
    await writeFile(
      file,
      [
        JSON.stringify({ id: 'a', pred: '2\\sqrt{2}', ref: '\\sqrt{8}' }),
        '{"id": "b", "pred": ',
        '',
        JSON.stringify({ id: 'c', pred: '', ref: '3' }),
        JSON.stringify(['not', 'an', 'object']),
        JSON.stringify({ id: 'e', pred: '4' }),
        JSON.stringify({ id: 'f', pred: 'x=5', ref: '4' }),
      ].join('\n') + '\n',
    );
    const result = await tirflow(['--jsonl', file]);
    assert.equal(result.exitCode, 2, 'malformed lines are bad input');
    assert.deepEqual(
      lines(result.stdout)
        .map((l) => JSON.parse(l) as { id: string; status: string })
        .map((r) => [r.id, r.status]),
      [
        ['a', 'correct'],
        ['c', 'unparsable'],
        ['f', 'incorrect'],
      ],
    );
    const errors = lines(result.stderr).map((l) => JSON.parse(l) as { line: number; error: string });
    assert.deepEqual(
      errors.map((e) => e.line),
      [2, 5, 6],
    );
    assert.match(errors[0]!.error, /^line 2: not valid JSON/);
  });

  it('reads JSONL from stdin with "-"', async () => {
    const result = await tirflow(['--jsonl', '-'], {
      input: JSON.stringify({ id: 7, pred: '3.0', ref: '3' }) + '\n',
    });
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.deepEqual(JSON.parse(String(result.stdout)), {
      id: 7,
      correct: true,
      status: 'correct',
      predParsed: '3.00000000000000',
    });
  });

  it('scores a whole response with the format check', async () => {
    const good = join(dir, 'good.txt');
    const bad = join(dir, 'bad.txt');
    await writeFile(good, ' 3/4 is 0.75 </think> <answer> \\boxed{\\frac{3}{4}} </answer>');
    await writeFile(bad, ' the answer is \\boxed{0.75} </think>');
    const ok = await tirflow(['--response-file', good, '--ref', '0.75']);
    assert.equal((JSON.parse(String(ok.stdout)) as { status: string }).status, 'correct');
    const failed = await tirflow(['--response-file', bad, '--ref', '0.75']);
    assert.deepEqual(JSON.parse(String(failed.stdout)), {
      correct: false,
      status: 'format',
      formatFailure: 'noAnswerTag',
      message: 'no <answer> tag',
    });
  });

  it('rejects ambiguous or incomplete options with a clear message', async () => {
    const none = await tirflow(['--ref', '3']);
    assert.notEqual(none.exitCode, 0);
    assert.match(String(none.stderr), /exactly one of --pred, --jsonl or --response-file/);
    const noRef = await tirflow(['--pred', '3']);
    assert.notEqual(noRef.exitCode, 0);
    assert.match(String(noRef.stderr), /--ref is required/);
    const missing = await tirflow(['--jsonl', join(dir, 'absent.jsonl')]);
    assert.notEqual(missing.exitCode, 0);
    assert.match(String(missing.stderr), /absent\.jsonl/);
  });
});

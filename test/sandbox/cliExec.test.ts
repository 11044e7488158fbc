/** `tirflow exec` as a user or a script runs it: code on stdin, JSON on stdout. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runTirflow } from '../support/cli';

describe('tirflow exec', () => {
  void it('runs stdin in the sandbox and prints one JSON result line', async () => {
    const run = await runTirflow(['exec', '--timeout-s', '0.5'], {
      input: 'print(6 * 7)\nwhile True:\n    pass\n',
    });
    assert.equal(run.exitCode, 0, String(run.stderr));
    const lines = String(run.stdout).trim().split('\n');
    assert.equal(lines.length, 1);
    const result = JSON.parse(lines[0]!) as { status: string; stdout: string };
    assert.equal(result.status, 'timeout');
    assert.equal(result.stdout, '42\n');
  });

  void it('runs --jsonl lines, answering in input order and naming malformed lines', async () => {
    const input = [
      JSON.stringify({ id: 'a', code: 'print("first")' }),
      '{not json',
      JSON.stringify({ id: 'b', code: 'x = [0] * (10**9)' }),
      JSON.stringify({ id: 'c' }),
      JSON.stringify({ id: 'd', code: 'print("last")' }),
    ].join('\n');
    const run = await runTirflow(['exec', '--jsonl', '--memory-mb', '64', '--pool-size', '2'], { input });
    assert.equal(run.exitCode, 1, 'malformed input makes the exit status non-zero');
    const lines = String(run.stdout)
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      lines.map((l) => l.id ?? `line ${String(l.line)}`),
      ['a', 'line 2', 'b', 'line 4', 'd'],
    );
    assert.equal(lines[0]!.stdout, 'first\n');
    assert.match(String(lines[1]!.error), /line 2 is not JSON/);
    assert.equal(lines[2]!.status, 'memory');
    assert.match(String(lines[3]!.error), /line 4 has no string "code"/);
    assert.equal(lines[4]!.stdout, 'last\n');
  });

  void it('rejects a bad option with one clear line', async () => {
    const run = await runTirflow(['exec', '--timeout-s', 'soon'], { input: '' });
    assert.notEqual(run.exitCode, 0);
    assert.match(String(run.stderr), /"soon" is not a positive number of seconds/);
  });
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseTaskRows } from '../../common/dataset';
import { projectRoot } from '../../activities/projectPaths';
import { makeSplits, sampleRows, SPLIT_NAMES, DEFAULT_SPLIT_SIZES } from '../../data/splits';
import { LEVEL_NAMES } from '../../data/levels';

function runGenerator(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(projectRoot, 'data', 'generate.ts'), ...args], {
    cwd: projectRoot,
    encoding: 'utf8',
  });
}

const shippedDir = join(projectRoot, 'data', 'tasks');
const readShipped = (name: string): string => readFileSync(join(shippedDir, `${name}.jsonl`), 'utf8');

void describe('task generator', () => {
  void it('regenerates the shipped splits byte-identically from the default seed', () => {
    const out = mkdtempSync(join(tmpdir(), 'tirflow-tasks-'));
    const result = runGenerator(['splits', '--out', out]);
    assert.equal(result.status, 0, result.stderr);
    for (const name of SPLIT_NAMES) {
      assert.equal(readFileSync(join(out, `${name}.jsonl`), 'utf8'), readShipped(name), `${name} differs`);
    }
  });

  void it('gives identical rows for the same seed and different rows for another seed', () => {
    const sizes = { train: 20, validation: 5, test: 5 };
    assert.deepEqual(makeSplits(LEVEL_NAMES, sizes, '7'), makeSplits(LEVEL_NAMES, sizes, '7'));
    assert.notDeepEqual(makeSplits(LEVEL_NAMES, sizes, '7'), makeSplits(LEVEL_NAMES, sizes, '8'));
    assert.equal(
      runGenerator(['rows', '--count', '3', '--seed', '9']).stdout,
      runGenerator(['rows', '--count', '3', '--seed', '9']).stdout,
    );
  });

  void it('ships valid, disjoint splits with every level at its size', () => {
    const problemsBySplit = new Map<string, Set<string>>();
    for (const name of SPLIT_NAMES) {
      const rows = parseTaskRows(readShipped(name), name);
      for (const level of LEVEL_NAMES) {
        assert.equal(rows.filter((row) => row.level === level).length, DEFAULT_SPLIT_SIZES[name]);
      }
      problemsBySplit.set(name, new Set(rows.map((row) => row.problem)));
    }
    for (const a of SPLIT_NAMES) {
      for (const b of SPLIT_NAMES) {
        if (a >= b) continue;
        const shared = [...problemsBySplit.get(a)!].filter((problem) => problemsBySplit.get(b)!.has(problem));
        assert.deepEqual(shared, [], `${a} and ${b} share problems`);
      }
    }
  });

  void it('states exact answers: products and sums recomputed with BigInt, fractions reduced', () => {
    const rows = sampleRows(LEVEL_NAMES, 40, 'exact');
    let checked = 0;
    for (const row of rows) {
      const binary = /^What is (\d+) ([-+*]) (\d+)\?$/.exec(row.problem);
      if (binary) {
        const [a, op, b] = [BigInt(binary[1]!), binary[2], BigInt(binary[3]!)];
        const expected = op === '+' ? a + b : op === '-' ? a - b : a * b;
        assert.equal(row.answer, expected.toString(), row.problem);
        checked++;
      }
      const linear = /^Solve for x: (\d+)x ([-+]) (\d+) = (-?\d+)\.$/.exec(row.problem);
      if (linear) {
        const fraction = /^(-?)\\frac\{(\d+)\}\{(\d+)\}$/.exec(row.answer);
        assert.ok(fraction, `not a proper fraction: ${row.answer}`);
        const [a, b, c] = [
          BigInt(linear[1]!),
          BigInt(linear[3]!) * (linear[2] === '-' ? -1n : 1n),
          BigInt(linear[4]!),
        ];
        const [p, q] = [BigInt(fraction[2]!) * (fraction[1] === '-' ? -1n : 1n), BigInt(fraction[3]!)];
        assert.equal(a * p + b * q, c * q, `${row.problem} -> ${row.answer}`); // a*(p/q) + b = c
        checked++;
      }
    }
    assert.ok(checked > 50, `only ${checked} rows checked`);
  });

  for (const [args, pattern] of [
    [['rows', '--levels', 'L1,L9', '--count', '3'], /unknown level "L9"/],
    [['rows', '--count', '-3'], /non-negative integer, got -3/],
    [['splits', '--train', '-1', '--out', 'unused'], /train size must be a non-negative integer/],
    [['rows', '--count', 'ten'], /must be an integer, got "ten"/],
  ] as const) {
    void it(`rejects ${args.join(' ')} with one clear line`, () => {
      const result = runGenerator([...args]);
      assert.notEqual(result.status, 0);
      assert.equal(result.stdout, '');
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, pattern);
    });
  }
});

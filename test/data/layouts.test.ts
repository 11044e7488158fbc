/**
 * Every dataset layout the reader accepts, read from small files written here (and two Parquet
 * files written by pyarrow, the writer behind Hugging Face `datasets`): JSON Lines, a JSON array,
 * Parquet; problem from problem / question / a chat prompt list / a list of turns; answer from
 * answer / final_answer / reward_model.ground_truth / the last \boxed{} of a solution; level
 * optional; a field mapping for anything else. Bad rows name the file and the line or row.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { loadTaskRows } from '../../activities/dataset';
import { normalizeLevel, parseTaskRows } from '../../common/dataset';

const dir = mkdtempSync(join(tmpdir(), 'tirflow-layouts-'));
const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

function file(name: string, content: string | ArrayBuffer): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : Buffer.from(content));
  return path;
}

const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

async function rejectsWith(path: string, pattern: RegExp, fields = {}): Promise<void> {
  await assert.rejects(loadTaskRows(path, fields), (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.nonRetryable, true);
    assert.equal(err.type, 'DatasetRowInvalid');
    assert.match(err.message, pattern);
    return true;
  });
}

void describe('dataset layouts', () => {
  void it('JSON Lines in the project layout (id, problem, answer, level)', async () => {
    const path = file(
      'project.jsonl',
      jsonl([{ id: 'a', problem: 'What is 1 + 1?', answer: '2', level: 'L1' }]),
    );
    assert.deepEqual(await loadTaskRows(path), [
      { id: 'a', problem: 'What is 1 + 1?', answer: '2', level: 'L1' },
    ]);
  });

  void it('a JSON array with `question` and `final_answer`, no id, no level', async () => {
    const path = file(
      'array.json',
      JSON.stringify(
        [
          { question: 'What is 3 * 3?', final_answer: '9' },
          { question: 'What is 10 - 4?', final_answer: 6 },
        ],
        null,
        2,
      ),
    );
    assert.deepEqual(await loadTaskRows(path), [
      { id: 'row-1', problem: 'What is 3 * 3?', answer: '9', level: null },
      { id: 'row-2', problem: 'What is 10 - 4?', answer: '6', level: null },
    ]);
  });

  void it('the answer is the last \\boxed{} of a `solution` (MATH layout, "Level 5")', () => {
    const rows = parseTaskRows(
      jsonl([
        {
          problem: 'Simplify $\\frac{4}{6}$.',
          solution: 'First $\\boxed{\\frac{4}{6}}$ is not reduced; it is $\\boxed{\\frac{2}{3}}$.',
          level: 'Level 5',
          type: 'Prealgebra',
        },
      ]),
      'math.jsonl',
    );
    assert.deepEqual(rows, [
      { id: 'row-1', problem: 'Simplify $\\frac{4}{6}$.', answer: '\\frac{2}{3}', level: 'L5' },
    ]);
  });

  void it('a chat-style `prompt` list (last user turn) and a row that is a list of turns (ORZ)', () => {
    const rows = parseTaskRows(
      jsonl([
        {
          prompt: [
            { role: 'system', content: 'You are a helpful assistant.' },
            { role: 'user', content: 'What is 5 + 6?' },
          ],
          answer: '11',
          level: 2,
        },
        [
          { from: 'human', value: 'What is 7 * 8?' },
          { from: 'assistant', ground_truth: { value: '56' } },
        ],
      ]),
      'chat.jsonl',
    );
    assert.deepEqual(rows, [
      { id: 'row-1', problem: 'What is 5 + 6?', answer: '11', level: 'L2' },
      { id: 'row-2', problem: 'What is 7 * 8?', answer: '56', level: null },
    ]);
  });

  void it('Parquet written by pyarrow: DAPO layout (chat prompt, nested ground truth, snappy)', async () => {
    const rows = await loadTaskRows(fixture('dapo-style.parquet'));
    assert.deepEqual(rows, [
      { id: 'row-1', problem: 'What is 2 + 3?', answer: '5', level: null },
      {
        id: 'row-2',
        problem: 'Compute $\\frac{6}{4}$ in lowest terms.',
        answer: '\\frac{3}{2}',
        level: null,
      },
      { id: 'row-3', problem: 'How many primes are below 10?', answer: '4', level: null },
    ]);
    // A field mapping reaches into nested structs: ids from extra_info.index (int64).
    const mapped = await loadTaskRows(fixture('dapo-style.parquet'), { id: 'extra_info.index' });
    assert.deepEqual(
      mapped.map((r) => r.id),
      ['101', '102', '103'],
    );
  });

  void it('Parquet written by pyarrow: DeepMath layout (question, final_answer, zstd), level mapped', async () => {
    const rows = await loadTaskRows(fixture('deepmath-style.parquet'), { level: 'difficulty' });
    assert.deepEqual(rows, [
      { id: 'row-1', problem: 'Evaluate $3^4$.', answer: '81', level: 'L2' },
      { id: 'row-2', problem: 'Find $x$ if $2x = 14$.', answer: '7', level: 'L3.5' },
    ]);
  });

  void it('Parquet written here with every column mapped by the config', async () => {
    const path = file(
      'mapped.parquet',
      parquetWriteBuffer({
        columnData: [
          { name: 'uid', data: [7n, 8n], type: 'INT64' },
          { name: 'statement', data: ['What is 2 ^ 5?', 'What is 9 / 3?'], type: 'STRING' },
          { name: 'gold', data: ['32', '3'], type: 'STRING' },
          { name: 'tier', data: [4, 1], type: 'INT32' },
        ],
      }),
    );
    const fields = { id: 'uid', problem: 'statement', answer: 'gold', level: 'tier' };
    assert.deepEqual(await loadTaskRows(path, fields), [
      { id: '7', problem: 'What is 2 ^ 5?', answer: '32', level: 'L4' },
      { id: '8', problem: 'What is 9 / 3?', answer: '3', level: 'L1' },
    ]);
    // Without the mapping the reader says what it looked for and how to name the column.
    await rejectsWith(
      path,
      /mapped\.parquet: row 1: missing or empty string field "problem" \(also looked for "question", "prompt".*fields\.problem\)/,
    );
  });

  void it('levels: numbers and "Level N" read as LN, other names kept', () => {
    assert.equal(normalizeLevel(3), 'L3');
    assert.equal(normalizeLevel('Level 4'), 'L4');
    assert.equal(normalizeLevel('L2'), 'L2');
    assert.equal(normalizeLevel('hard'), 'hard');
    assert.equal(normalizeLevel(undefined), null);
    assert.equal(normalizeLevel(''), null);
  });

  void it('bad rows keep their clear errors: file and line (JSONL) or row (array, Parquet)', async () => {
    await rejectsWith(
      file(
        'noanswer.jsonl',
        jsonl([
          { id: 'a', problem: 'p', answer: '1' },
          { id: 'b', problem: 'q' },
        ]),
      ),
      /noanswer\.jsonl:2: missing or empty string field "answer"/,
    );
    await rejectsWith(
      file(
        'noanswer.json',
        JSON.stringify([
          { problem: 'p', answer: '1' },
          { problem: 'q', answer: '' },
        ]),
      ),
      /noanswer\.json: row 2: missing or empty string field "answer"/,
    );
    await rejectsWith(
      file('broken.json', '[{"problem": "p",'),
      /broken\.json: row 1: not a valid JSON array/,
    );
    await rejectsWith(
      file('badline.jsonl', '{"problem": "p", "answer": "1"}\n{oops\n'),
      /badline\.jsonl:2: not valid JSON/,
    );
    await rejectsWith(
      file(
        'dup.jsonl',
        jsonl([
          { id: 'x', problem: 'p', answer: '1' },
          { id: 'x', problem: 'q', answer: '2' },
        ]),
      ),
      /dup\.jsonl:2: duplicate id "x"/,
    );
    await rejectsWith(
      file('mapped.jsonl', jsonl([{ q: 'p', a: '1' }])),
      /mapped\.jsonl:1: missing or empty string field "answer_text" \(the answer, per the field mapping\)/,
      { problem: 'q', answer: 'answer_text' },
    );
    await rejectsWith(
      file('notparquet.parquet', 'PAR1 but not really a parquet file PAR1'),
      /notparquet\.parquet: row 1: not a readable Parquet file/,
    );
  });
});

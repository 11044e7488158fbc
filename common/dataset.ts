/**
 * Task rows: the unit of the RL dataset and of every evaluation benchmark. Pure.
 *
 * Rows come in the layouts the field publishes: JSON Lines, one JSON array, or Parquet (read in
 * activities/dataset.ts into the same plain objects). Each row is normalized here:
 *   problem  `problem`, `question`, or a chat-style `prompt` list (the last user turn), or a row
 *            that is itself a list of turns (ORZ-57k);
 *   answer   `answer`, `final_answer`, `ground_truth`, `reward_model.ground_truth` (verl / DAPO),
 *            the last turn's `ground_truth.value` (ORZ), or the last \boxed{} of `solution`;
 *   id       `id`, `unique_id`, `idx`, else the row number;
 *   level    `level` (1 → "L1", "Level 3" → "L3"), optional.
 * A field mapping (`DatasetFields`, from the run config) names other columns; dotted names reach
 * into nested objects. A row that has no problem or answer is an error naming file and row.
 */
import { findBoxed } from './answer';

export interface TaskRow {
  id: string;
  problem: string;
  /** Reference answer, graded with math-verify. */
  answer: string;
  /** Difficulty level name, e.g. "L1".."L5"; reports group accuracy by it. Null when the dataset has none. */
  level: string | null;
}

/**
 * Where a dataset keeps what the reader cannot find by itself: column names (dotted for nested
 * objects, e.g. `reward_model.ground_truth`). `solution` is a worked solution whose last
 * \boxed{} is the answer; `answer` is used as it is.
 */
export interface DatasetFields {
  id?: string;
  problem?: string;
  answer?: string;
  solution?: string;
  level?: string;
}

/** Longest problem text accepted: far beyond any real task, short of a context-window bomb. */
export const MAX_PROBLEM_CHARS = 20_000;

/** How a row is located in its file: a line of JSON Lines, or the n-th row of an array or table. */
export type RowUnit = 'line' | 'row';

export class DatasetRowError extends Error {
  constructor(
    readonly source: string,
    readonly lineNumber: number,
    message: string,
    readonly unit: RowUnit = 'line',
  ) {
    super(
      unit === 'line' ? `${source}:${lineNumber}: ${message}` : `${source}: row ${lineNumber}: ${message}`,
    );
    this.name = 'DatasetRowError';
  }
}

const AUTO = {
  id: ['id', 'unique_id', 'idx'],
  problem: ['problem', 'question', 'prompt'],
  answer: ['answer', 'final_answer', 'ground_truth', 'reward_model.ground_truth'],
  solution: ['solution'],
  level: ['level'],
} as const;

/** The top-level columns a row is read from: the automatic names and the mapped ones. */
export function datasetColumns(fields: DatasetFields): Set<string> {
  const automatic: readonly string[] = Object.values(AUTO).flat();
  const mapped = [fields.id, fields.problem, fields.answer, fields.solution, fields.level];
  const names = [...automatic, ...mapped].filter((n): n is string => typeof n === 'string');
  return new Set(names.flatMap((n) => [n, n.split('.')[0]!]));
}

/** The value at a dotted path (`a.b.c`) of a row, or undefined. */
function lookup(row: Record<string, unknown>, path: string): unknown {
  if (path in row) return row[path];
  let value: unknown = row;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

const isTurn = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Text of a chat turn: `content` (OpenAI style) or `value` (ShareGPT / ORZ style). */
function turnText(turn: Record<string, unknown>): unknown {
  return turn.content ?? turn.value;
}

/** The problem of a chat-style list: the last turn by the user (`role` / `from`), else the first turn. */
function chatProblem(turns: readonly unknown[]): string | undefined {
  const list = turns.filter(isTurn);
  const speaker = (t: Record<string, unknown>): unknown => t.role ?? t.from;
  const user = list.filter((t) => ['user', 'human'].includes(String(speaker(t)).toLowerCase())).at(-1);
  const text = turnText(user ?? list[0] ?? {});
  return typeof text === 'string' ? text : undefined;
}

/** A scalar answer or id as text: strings trimmed, numbers (and Parquet int64) written out. */
function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim();
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'bigint') return value.toString();
  return undefined;
}

function problemText(value: unknown): string | undefined {
  if (Array.isArray(value)) return chatProblem(value);
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

/** "L3" from 3, "3", "Level 3" or "L3"; other names as written; null when absent. */
export function normalizeLevel(value: unknown): string | null {
  const text = scalarText(value);
  if (text === undefined) return null;
  const numbered = /^(?:level\s*|l)?(\d+(?:\.\d+)?)$/i.exec(text);
  return numbered ? `L${numbered[1]}` : text;
}

/** The last \boxed{} of a worked solution, or undefined. */
function boxedAnswer(solution: unknown): string | undefined {
  if (typeof solution !== 'string') return undefined;
  const content = findBoxed(solution)
    .map((span) => span.content)
    .filter((c): c is string => c !== null && c !== '')
    .at(-1);
  return content;
}

interface RowContext {
  source: string;
  number: number;
  unit: RowUnit;
  fields: DatasetFields;
}

function fail(ctx: RowContext, message: string): never {
  throw new DatasetRowError(ctx.source, ctx.number, message, ctx.unit);
}

function looked(names: readonly string[]): string {
  return names
    .slice(1)
    .map((n) => `"${n}"`)
    .join(', ');
}

/** One row in any accepted shape → a TaskRow, or a DatasetRowError naming what is missing. */
export function normalizeTaskRow(value: unknown, ctx: RowContext): TaskRow {
  // ORZ-57k: a row is the list of turns itself; its answer sits in the last turn's ground_truth.
  const row: Record<string, unknown> = Array.isArray(value)
    ? {
        prompt: value,
        ground_truth: (value.filter(isTurn).at(-1)?.ground_truth as { value?: unknown })?.value,
      }
    : (value as Record<string, unknown>);
  if (typeof row !== 'object' || row === null) fail(ctx, 'a row must be a JSON object');
  const { fields } = ctx;

  let problem: string | undefined;
  if (fields.problem !== undefined) {
    problem = problemText(lookup(row, fields.problem));
    if (problem === undefined)
      fail(ctx, `missing or empty string field "${fields.problem}" (the problem, per the field mapping)`);
  } else {
    for (const name of AUTO.problem) problem ??= problemText(lookup(row, name));
    if (problem === undefined)
      fail(
        ctx,
        `missing or empty string field "problem" (also looked for ${looked(AUTO.problem)} as a chat list; name another with fields.problem)`,
      );
  }

  let answer: string | undefined;
  if (fields.answer !== undefined || fields.solution !== undefined) {
    if (fields.answer !== undefined) answer = scalarText(lookup(row, fields.answer));
    if (answer === undefined && fields.solution !== undefined)
      answer = boxedAnswer(lookup(row, fields.solution));
    if (answer === undefined) {
      const named = [fields.answer, fields.solution && `a \\boxed{} in "${fields.solution}"`].filter(Boolean);
      fail(ctx, `missing or empty string field "${named.join('" or ')}" (the answer, per the field mapping)`);
    }
  } else {
    for (const name of AUTO.answer) answer ??= scalarText(lookup(row, name));
    for (const name of AUTO.solution) answer ??= boxedAnswer(lookup(row, name));
    if (answer === undefined)
      fail(
        ctx,
        `missing or empty string field "answer" (also looked for ${looked(AUTO.answer)} and a \\boxed{} in "solution"; name another with fields.answer)`,
      );
  }

  let id: string | undefined;
  if (fields.id !== undefined) {
    id = scalarText(lookup(row, fields.id));
    if (id === undefined) fail(ctx, `missing or empty id field "${fields.id}" (per the field mapping)`);
  } else {
    for (const name of AUTO.id) id ??= scalarText(lookup(row, name));
    // Many published sets have no id: the row number names the row, as the error messages do.
    id ??= `row-${ctx.number}`;
  }

  const level = normalizeLevel(lookup(row, fields.level ?? AUTO.level[0]));
  if (fields.level !== undefined && level === null)
    fail(ctx, `missing or empty level field "${fields.level}" (per the field mapping)`);

  if (problem.length > MAX_PROBLEM_CHARS)
    fail(ctx, `problem text is ${problem.length} characters (limit ${MAX_PROBLEM_CHARS})`);
  return { id, problem, answer, level };
}

/** Validates a whole dataset: every row normalized, ids unique, at least one row. */
export function normalizeTaskRows(
  values: readonly unknown[],
  source: string,
  options: { fields?: DatasetFields; unit?: RowUnit; numbers?: readonly number[] } = {},
): TaskRow[] {
  const unit = options.unit ?? 'row';
  const fields = options.fields ?? {};
  const ids = new Set<string>();
  const rows = values.map((value, index) => {
    const number = options.numbers?.[index] ?? index + 1;
    const ctx = { source, number, unit, fields };
    if (!Array.isArray(value) && (typeof value !== 'object' || value === null))
      fail(ctx, 'a row must be a JSON object');
    const row = normalizeTaskRow(value, ctx);
    if (ids.has(row.id)) fail(ctx, `duplicate id "${row.id}"`);
    ids.add(row.id);
    return row;
  });
  if (rows.length === 0) throw new DatasetRowError(source, 1, 'dataset has no rows', unit);
  return rows;
}

/** Parses JSON Lines task rows; names the first bad row (file and line). */
export function parseJsonLines(text: string, source: string): { values: unknown[]; numbers: number[] } {
  const values: unknown[] = [];
  const numbers: number[] = [];
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    const lineNumber = index + 1;
    if (line.trim() === '') {
      if (index === lines.length - 1) return; // trailing newline
      throw new DatasetRowError(source, lineNumber, 'empty line');
    }
    try {
      values.push(JSON.parse(line));
    } catch {
      throw new DatasetRowError(source, lineNumber, 'not valid JSON');
    }
    numbers.push(lineNumber);
  });
  return { values, numbers };
}

/**
 * Parses a text dataset: a JSON array (the file starts with `[`) or JSON Lines. Rows are
 * normalized with `fields`; errors name the line (JSON Lines) or the row (array).
 */
export function parseTaskRows(text: string, source: string, fields: DatasetFields = {}): TaskRow[] {
  if (text.trimStart().startsWith('[')) {
    let values: unknown;
    try {
      values = JSON.parse(text);
    } catch (err) {
      throw new DatasetRowError(source, 1, `not a valid JSON array: ${(err as Error).message}`, 'row');
    }
    return normalizeTaskRows(values as unknown[], source, { fields, unit: 'row' });
  }
  const { values, numbers } = parseJsonLines(text, source);
  return normalizeTaskRows(values, source, { fields, unit: 'line', numbers });
}

/** Task rows: the unit of the RL dataset, as written by the generators in data/. Pure. */

export interface TaskRow {
  id: string;
  problem: string;
  /** Reference answer, graded with math-verify. */
  answer: string;
  /** Difficulty level name, e.g. "L1".."L5"; reports group accuracy by it. */
  level: string;
}

/** Longest problem text accepted: far beyond any real task, short of a context-window bomb. */
export const MAX_PROBLEM_CHARS = 20_000;

export class DatasetRowError extends Error {
  constructor(
    readonly source: string,
    readonly lineNumber: number,
    message: string,
  ) {
    super(`${source}:${lineNumber}: ${message}`);
    this.name = 'DatasetRowError';
  }
}

/** Parses and validates JSONL task rows; names the first bad row (file and line). */
export function parseTaskRows(text: string, source: string): TaskRow[] {
  const rows: TaskRow[] = [];
  const ids = new Set<string>();
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    const lineNumber = index + 1;
    if (line.trim() === '') {
      if (index === lines.length - 1) return; // trailing newline
      throw new DatasetRowError(source, lineNumber, 'empty line');
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new DatasetRowError(source, lineNumber, 'not valid JSON');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new DatasetRowError(source, lineNumber, 'a row must be a JSON object');
    }
    const row = value as Record<string, unknown>;
    for (const field of ['id', 'problem', 'answer', 'level'] as const) {
      const v = row[field];
      if (typeof v !== 'string' || v.trim() === '') {
        throw new DatasetRowError(source, lineNumber, `missing or empty string field "${field}"`);
      }
    }
    const task = row as unknown as TaskRow;
    if (task.problem.length > MAX_PROBLEM_CHARS) {
      throw new DatasetRowError(
        source,
        lineNumber,
        `problem text is ${task.problem.length} characters (limit ${MAX_PROBLEM_CHARS})`,
      );
    }
    if (ids.has(task.id)) throw new DatasetRowError(source, lineNumber, `duplicate id "${task.id}"`);
    ids.add(task.id);
    rows.push({ id: task.id, problem: task.problem, answer: task.answer, level: task.level });
  });
  if (rows.length === 0) throw new DatasetRowError(source, 1, 'dataset has no rows');
  return rows;
}

/** Loads task datasets from disk, validated; bad rows are permanent (non-retryable) failures. */
import { readFile } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import { DatasetRowError, parseTaskRows, type TaskRow } from '../common/dataset';

const cache = new Map<string, Promise<TaskRow[]>>();

async function load(path: string): Promise<TaskRow[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw ApplicationFailure.nonRetryable(`dataset file not found: ${path}`, 'DatasetMissing');
    }
    throw err; // other I/O errors may be transient
  }
  try {
    return parseTaskRows(text, path);
  } catch (err) {
    if (err instanceof DatasetRowError)
      throw ApplicationFailure.nonRetryable(err.message, 'DatasetRowInvalid');
    throw err;
  }
}

/** Rows of a dataset file, parsed once per process (datasets are immutable inputs of a run). */
export async function loadTaskRows(path: string): Promise<TaskRow[]> {
  let rows = cache.get(path);
  if (!rows) {
    rows = load(path);
    cache.set(path, rows);
    rows.catch(() => cache.delete(path));
  }
  return rows;
}

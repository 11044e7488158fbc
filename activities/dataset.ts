/**
 * Loads task datasets from disk in any accepted layout (JSON Lines, a JSON array, Parquet),
 * normalized and validated by common/dataset.ts; bad rows are permanent (non-retryable) failures.
 */
import { readFile } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import {
  type DatasetFields,
  DatasetRowError,
  datasetColumns,
  normalizeTaskRows,
  parseTaskRows,
  type TaskRow,
} from '../common/dataset';

const cache = new Map<string, Promise<TaskRow[]>>();

/** Parquet files start (and end) with the magic bytes "PAR1". */
const isParquet = (bytes: Buffer): boolean =>
  bytes.length >= 8 && bytes.subarray(0, 4).toString('latin1') === 'PAR1';

async function readParquetRows(bytes: Buffer, path: string, fields: DatasetFields): Promise<unknown[]> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  try {
    // Only the columns a row can be read from: open sets carry long worked solutions (DeepMath's
    // three R1 traces) that would otherwise be decoded for nothing.
    const present = parquetSchema(parquetMetadata(file)).children.map((c) => c.element.name);
    const wanted = datasetColumns(fields);
    const columns = present.filter((name) => wanted.has(name));
    // Snappy is built in; the compressors add gzip, brotli, zstd and lz4 (the codecs writers use).
    return await parquetReadObjects({ file, compressors, ...(columns.length > 0 ? { columns } : {}) });
  } catch (err) {
    throw new DatasetRowError(path, 1, `not a readable Parquet file: ${(err as Error).message}`, 'row');
  }
}

async function load(path: string, fields: DatasetFields): Promise<TaskRow[]> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw ApplicationFailure.nonRetryable(`dataset file not found: ${path}`, 'DatasetMissing');
    }
    throw err; // other I/O errors may be transient
  }
  try {
    if (isParquet(bytes)) {
      return normalizeTaskRows(await readParquetRows(bytes, path, fields), path, { fields, unit: 'row' });
    }
    return parseTaskRows(bytes.toString('utf8'), path, fields);
  } catch (err) {
    if (err instanceof DatasetRowError)
      throw ApplicationFailure.nonRetryable(err.message, 'DatasetRowInvalid');
    throw err;
  }
}

/**
 * Rows of a dataset file, parsed once per process and field mapping (datasets are immutable
 * inputs of a run).
 */
export async function loadTaskRows(path: string, fields: DatasetFields = {}): Promise<TaskRow[]> {
  const key = `${path}\0${JSON.stringify(fields, Object.keys(fields).sort())}`;
  let rows = cache.get(key);
  if (!rows) {
    rows = load(path, fields);
    cache.set(key, rows);
    rows.catch(() => cache.delete(key));
  }
  return rows;
}

/**
 * What an artifact store directory holds, for tests that must show an activity changed nothing
 * (same bytes before and after) or left nothing behind (no temp files, no half-written run).
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

/** Every file under `root` (temp files included), as relative path → sha256 of its bytes. */
export async function snapshotTree(root: string): Promise<Record<string, string>> {
  const snapshot: Record<string, string> = {};
  let entries;
  try {
    entries = await readdir(root, { recursive: true, withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return snapshot;
    throw err;
  }
  const files = entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  for (const file of files.sort()) {
    const key = relative(root, file).split(sep).join('/');
    snapshot[key] = createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
  }
  return snapshot;
}

/** Every file under `root` as relative path → mtime in ms: a file rewritten with equal bytes still shows. */
export async function modifiedTimes(root: string): Promise<Record<string, number>> {
  const times: Record<string, number> = {};
  for (const key of Object.keys(await snapshotTree(root))) {
    times[key] = (await stat(join(root, key))).mtimeMs;
  }
  return times;
}

/** In-flight temp files (`<key>.tmp-…`, files or folders) anywhere under `root`: a finished writer leaves none. */
export async function tempEntries(root: string): Promise<string[]> {
  try {
    const entries = await readdir(root, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.name.includes('.tmp-'))
      .map((e) => relative(root, join(e.parentPath, e.name)))
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

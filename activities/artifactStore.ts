/**
 * Artifact store (claim check): trajectories, token ids, execution results and checkpoints
 * live here; workflow payloads carry only keys. Writes are atomic (temp file + rename), so a
 * reader sees either nothing or a whole artifact, never half of one.
 *
 * `LocalDirArtifactStore` is the default (a local directory or a shared filesystem mounted on
 * every host). An S3-compatible store implements the same interface.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { ModelLocation } from '../common/policy';

export interface ArtifactStore {
  /** Absolute location of the store, for processes (the trainer) that read it directly. */
  readonly root: string;
  exists(key: string): Promise<boolean>;
  read(key: string): Promise<Buffer>;
  /** Atomic: after it resolves the whole artifact is visible under `key`; before, nothing new is. */
  write(key: string, data: string | Uint8Array): Promise<void>;
  /** Keys under a prefix, sorted; in-flight temp files are never listed. */
  list(prefix: string): Promise<string[]>;
  remove(key: string): Promise<void>;
  /** Absolute filesystem path of a key (local and shared-filesystem stores only). */
  pathOf(key: string): string;
}

/**
 * A write the store's filesystem refused (full, read-only, permission denied). Retryable: the
 * activity fails, Temporal retries it with backoff, and it succeeds once an operator has freed
 * space or fixed the mount. The message names the key, the path and the errno.
 */
export class ArtifactWriteError extends Error {
  constructor(
    message: string,
    readonly key: string,
    readonly path: string,
    readonly code: string | undefined,
  ) {
    super(message);
    // The name becomes the failure type Temporal shows for the activity attempt.
    this.name = 'ArtifactWriteError';
  }

  static wrap(err: unknown, key: string, path: string): ArtifactWriteError {
    if (err instanceof ArtifactWriteError) return err;
    const code = (err as NodeJS.ErrnoException).code;
    const reason = STORE_ERRNO_REASONS[code ?? ''] ?? (err instanceof Error ? err.message : String(err));
    return new ArtifactWriteError(
      `artifact store cannot write ${key} at ${path}: ${code ? `${code} (${reason})` : reason}`,
      key,
      path,
      code,
    );
  }
}

/** The conditions an operator can clear, each with what to do about it. */
const STORE_ERRNO_REASONS: Record<string, string> = {
  ENOSPC: 'no space left on device: free space on the artifact store; the write is retried',
  EDQUOT: 'disk quota exceeded: raise the quota or free space; the write is retried',
  EACCES: 'permission denied: make the artifact store writable by the worker; the write is retried',
  EPERM: 'operation not permitted: make the artifact store writable by the worker; the write is retried',
  EROFS: 'read-only file system: remount the artifact store read-write; the write is retried',
};

/**
 * Names this process in its temp files (`<key>.tmp-<host>~<pid>-<random>`), so a sweep can tell
 * a dead writer's leftovers from a live writer's work in progress, also on a shared filesystem.
 */
const WRITER_TAG = `${hostname().replace(/[^A-Za-z0-9.-]/g, '_')}~${process.pid}`;

/** Temp files and folders without a host in their name (the trainer's, older tirflow's) are
 *  swept only once this old, since their pid may belong to another host. */
const UNTAGGED_TEMP_MAX_AGE_MS = 60 * 60 * 1000;

export interface SweepOptions {
  host?: string;
  isAlive?: (pid: number) => boolean;
  nowMs?: number;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temp files and folders that writers killed mid-write left in the store: those of
 * this host whose process is gone, and untagged ones older than an hour whose pid is not alive
 * here. Returns the removed paths. A live writer's temp file is never touched.
 */
export async function sweepDeadWriters(root: string, options: SweepOptions = {}): Promise<string[]> {
  const host = options.host ?? hostname().replace(/[^A-Za-z0-9.-]/g, '_');
  const isAlive = options.isAlive ?? processAlive;
  const now = options.nowMs ?? Date.now();
  const removed: string[] = [];
  let entries;
  try {
    entries = await readdir(resolve(root), { recursive: true, withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  for (const entry of entries) {
    const marker = entry.name.lastIndexOf('.tmp-');
    if (marker < 0) continue;
    const tag = entry.name.slice(marker + '.tmp-'.length);
    const path = join(entry.parentPath, entry.name);
    if (removed.some((done) => path.startsWith(done + sep))) continue; // inside a removed folder
    const tagged = /^([^~]+)~(\d+)-/.exec(tag);
    let dead: boolean;
    if (tagged) {
      dead = tagged[1] === host && !isAlive(Number(tagged[2]));
    } else {
      const pid = /(\d+)/.exec(tag);
      const info = await stat(path).catch(() => null);
      dead =
        info !== null &&
        now - info.mtimeMs > UNTAGGED_TEMP_MAX_AGE_MS &&
        (pid === null || !isAlive(Number(pid[1])));
    }
    if (!dead) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

export class LocalDirArtifactStore implements ArtifactStore {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  pathOf(key: string): string {
    const path = resolve(this.root, key);
    // Keys come from artifactKeys.ts, but a run id is user input: never escape the store.
    if (path !== this.root && !path.startsWith(this.root + sep)) {
      throw new Error(`artifact key escapes the store: ${key}`);
    }
    return path;
  }

  async exists(key: string): Promise<boolean> {
    try {
      await stat(this.pathOf(key));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async read(key: string): Promise<Buffer> {
    return readFile(this.pathOf(key));
  }

  async write(key: string, data: string | Uint8Array): Promise<void> {
    const target = this.pathOf(key);
    const temp = `${target}.tmp-${WRITER_TAG}-${randomBytes(4).toString('hex')}`;
    try {
      await mkdir(dirname(target), { recursive: true });
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, target);
    } catch (err) {
      // Removing the temp file needs no free space, so a full disk keeps no partial artifact.
      await rm(temp, { force: true }).catch(() => undefined);
      throw ArtifactWriteError.wrap(err, key, target);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const dir = this.pathOf(prefix);
    try {
      const entries = await readdir(dir, { recursive: true, withFileTypes: true });
      return entries
        .filter((e) => e.isFile() && !e.name.includes('.tmp-'))
        .map((e) => join(prefix, e.parentPath.slice(dir.length), e.name).split(sep).join('/'))
        .sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async remove(key: string): Promise<void> {
    await rm(this.pathOf(key), { recursive: true, force: true });
  }
}

/** Reads a JSONL artifact into records. */
export async function readJsonl<T>(store: ArtifactStore, key: string): Promise<T[]> {
  const text = (await store.read(key)).toString('utf8');
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as T);
}

/** Writes records as one atomic JSONL artifact. */
export async function writeJsonl<T>(store: ArtifactStore, key: string, records: readonly T[]): Promise<void> {
  await store.write(key, records.map((r) => JSON.stringify(r) + '\n').join(''));
}

/** Absolute path of a model folder; filesystem paths are relative to the worker's working directory. */
export function modelPath(store: ArtifactStore, location: ModelLocation): string {
  return location.store === 'artifacts' ? store.pathOf(location.key) : resolve(location.path);
}

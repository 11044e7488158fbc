/**
 * An artifact store that records what it does: every read and write with its key, bytes and
 * time, and how many existence checks and listings it answered. The dry run's workers use it
 * to measure the artifact store's part of a step; the data itself goes to a LocalDirArtifactStore.
 */
import { LocalDirArtifactStore, type ArtifactStore } from '../../activities/artifactStore';

export type StoreOpKind = 'read' | 'write' | 'exists' | 'list' | 'remove';

export interface StoreOp {
  kind: StoreOpKind;
  key: string;
  bytes: number;
  /** When the call started and how long it took, in ms since the epoch / ms. */
  at: number;
  ms: number;
}

export class MeteredArtifactStore implements ArtifactStore {
  private readonly inner: LocalDirArtifactStore;
  readonly ops: StoreOp[] = [];

  constructor(root: string) {
    this.inner = new LocalDirArtifactStore(root);
  }

  get root(): string {
    return this.inner.root;
  }

  pathOf(key: string): string {
    return this.inner.pathOf(key);
  }

  private async timed<T>(
    kind: StoreOpKind,
    key: string,
    work: () => Promise<T>,
    bytes: (value: T) => number,
  ): Promise<T> {
    const at = Date.now();
    const started = performance.now();
    const value = await work();
    this.ops.push({ kind, key, bytes: bytes(value), at, ms: performance.now() - started });
    return value;
  }

  exists(key: string): Promise<boolean> {
    return this.timed(
      'exists',
      key,
      () => this.inner.exists(key),
      () => 0,
    );
  }

  read(key: string): Promise<Buffer> {
    return this.timed(
      'read',
      key,
      () => this.inner.read(key),
      (data) => data.byteLength,
    );
  }

  write(key: string, data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    return this.timed(
      'write',
      key,
      () => this.inner.write(key, data),
      () => bytes,
    );
  }

  list(prefix: string): Promise<string[]> {
    return this.timed(
      'list',
      prefix,
      () => this.inner.list(prefix),
      () => 0,
    );
  }

  remove(key: string): Promise<void> {
    return this.timed(
      'remove',
      key,
      () => this.inner.remove(key),
      () => 0,
    );
  }
}

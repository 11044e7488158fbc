/**
 * Which policy version each inference server serves, so a weight reload happens once per server
 * and version in this worker process. Generate activities of one step start together (one per
 * shard); without this, each would POST its own reload and one shard could generate while
 * another's reload is still swapping the weights underneath it.
 */
export class PolicyLoads {
  private readonly loaded = new Map<string, number>();
  private readonly inflight = new Map<string, { version: number; done: Promise<void> }>();

  /**
   * Resolves once `server` serves `version`: true when this call ran `load`, false when the
   * version was already loaded or another caller's load of it finished. A failed load rejects
   * every caller waiting on it and is retried by the next call.
   */
  async ensure(server: string, version: number, load: () => Promise<void>): Promise<boolean> {
    for (;;) {
      if (this.loaded.get(server) === version) return false;
      const current = this.inflight.get(server);
      if (current === undefined) break;
      if (current.version === version) {
        await current.done;
        return false;
      }
      // Another version is loading: wait for it (success or failure), then load ours.
      await current.done.catch(() => undefined);
    }
    const done = load().then(() => {
      this.loaded.set(server, version);
    });
    this.inflight.set(server, { version, done });
    try {
      await done;
      return true;
    } finally {
      if (this.inflight.get(server)?.done === done) this.inflight.delete(server);
    }
  }
}

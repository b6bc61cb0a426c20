/**
 * Only one worker per projection may fold: two would interleave batches and the
 * checkpoint would skip events. A worker holds its projection's lock for as long
 * as it runs; `lost` fires when the lock can no longer be trusted (its database
 * session died), and the worker stops and competes for it again.
 */
export interface WorkerLock {
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

export interface WorkerLocks {
  /** The lock on `key`, or undefined while another worker holds it. Throws when the database is unreachable. */
  tryAcquire(key: string): Promise<WorkerLock | undefined>;
}

/** For an embedded database, which only this process can open: the lock is a set in memory. */
export class LocalLocks implements WorkerLocks {
  readonly #held = new Set<string>();

  async tryAcquire(key: string): Promise<WorkerLock | undefined> {
    if (this.#held.has(key)) return undefined;
    this.#held.add(key);
    const controller = new AbortController();
    return {
      lost: controller.signal,
      release: async () => {
        controller.abort();
        this.#held.delete(key);
      },
    };
  }
}

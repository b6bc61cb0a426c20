/**
 * Worker locks as Postgres session advisory locks, each on a connection of its
 * own: if the worker's process dies, Postgres drops the session and the lock with
 * it, so a standby takes over at once (no lease to expire).
 */
import pg from 'pg';
import type { WorkerLock, WorkerLocks } from './worker-lock.ts';

export class PgAdvisoryLocks implements WorkerLocks {
  readonly #connectionString: string;

  constructor(connectionString: string) {
    this.#connectionString = connectionString;
  }

  async tryAcquire(key: string): Promise<WorkerLock | undefined> {
    const client = new pg.Client({ connectionString: this.#connectionString, application_name: `projection-lock:${key}`.slice(0, 63), keepAlive: true });
    const controller = new AbortController();
    // An idle session dies silently on a network cut: keepalives notice it.
    client.on('error', (e) => controller.abort(e));
    client.on('end', () => controller.abort(new Error('lock session ended')));
    await client.connect();
    let got: boolean;
    try {
      const r = await client.query<{ ok: boolean }>('select pg_try_advisory_lock(hashtextextended($1, 0)) as ok', [key]);
      got = r.rows[0]?.ok === true;
    } catch (e) {
      await client.end().catch(() => {});
      throw e;
    }
    if (!got) {
      await client.end().catch(() => {});
      return undefined;
    }
    return {
      lost: controller.signal,
      release: async () => {
        // Ending the session releases the lock.
        await client.end().catch(() => {});
      },
    };
  }
}

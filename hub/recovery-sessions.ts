/**
 * What a Socket.IO client's session subscribed to, kept by its private session id
 * (`pid`, which socket.io-client sends back when it reconnects) in a JetStream KV
 * bucket: any hub can restore it, after a hub restart or a hub kill, for as long
 * as the bucket keeps it (HUB_SOCKETIO_RECOVERY_MS). Written when the
 * subscriptions change, coalesced, never on disconnect (a stale socket closing
 * late must not overwrite what its successor subscribed to).
 */
import type { KV } from '@nats-io/kv';
import type { Logger } from './logger.ts';

export interface RecoveryRecord {
  /** The user's subject key: a session restores only for the same user. */
  readonly user: string;
  /** Subscriptions, as the face's room names (`site:7`, `alarms`). */
  readonly rooms: readonly string[];
}

const FLUSH_MS = 100;

export class RecoverySessions {
  readonly #kv: KV;
  readonly #log: Logger;
  readonly #dirty = new Map<string, RecoveryRecord>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(kv: KV, log: Logger) {
    this.#kv = kv;
    this.#log = log;
  }

  async get(pid: string): Promise<RecoveryRecord | undefined> {
    const pending = this.#dirty.get(pid);
    if (pending !== undefined) return pending;
    if (!isKey(pid)) return undefined;
    try {
      const e = await this.#kv.get(pid);
      if (e === null || e.length === 0) return undefined;
      const r = e.json<RecoveryRecord>();
      return typeof r?.user === 'string' && Array.isArray(r.rooms) ? r : undefined;
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'recovery session read failed: the client starts afresh');
      return undefined;
    }
  }

  set(pid: string, record: RecoveryRecord): void {
    if (!isKey(pid)) return;
    this.#dirty.set(pid, record);
    this.#timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = [...this.#dirty];
    this.#dirty.clear();
    await Promise.all(
      batch.map(([pid, record]) =>
        this.#kv.put(pid, JSON.stringify(record)).catch((err: Error) => this.#log.warn({ err: err.message }, 'recovery session write failed: that client may not recover its subscriptions')),
      ),
    );
  }
}

/** Socket.IO's pids are base64id (`[A-Za-z0-9_-]`); anything else a client sends is not ours. */
function isKey(pid: string): boolean {
  return /^[A-Za-z0-9_-]{8,64}$/.test(pid);
}

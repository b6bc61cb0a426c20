/**
 * Per-user acked positions (the last offset acked per log) in a JetStream KV
 * bucket, keyed by the grant's `userKey`: durable, shared by all hubs, so a user
 * offline for hours, on any device, gets what they have not acked. Writes are coalesced (at most one per
 * user per flush interval) and merged monotonically with compare-and-set.
 */
import type { KV } from '@nats-io/kv';
import type { StreamKey } from '../protocol/subjects.ts';
import type { Logger } from './logger.ts';

export interface Position {
  readonly epoch: string;
  readonly offset: number;
}
export type Cursors = Partial<Record<StreamKey, Position>>;

const FLUSH_MS = 250;

export class CursorStore {
  readonly #kv: KV;
  readonly #log: Logger;
  readonly #dirty = new Map<string, Cursors>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> = Promise.resolve();

  /** Cursors a flush is writing now (read by `get` until the write lands). */
  readonly #writing = new Map<string, Cursors>();

  constructor(kv: KV, log: Logger) {
    this.#kv = kv;
    this.#log = log;
  }

  async get(userKey: string): Promise<Cursors> {
    // What is being written counts too: between a flush taking it and the write landing, the bucket has the old value.
    const pending = merge(this.#writing.get(userKey) ?? {}, this.#dirty.get(userKey) ?? {});
    try {
      const e = await this.#kv.get(userKey);
      return merge(e === null || e.length === 0 ? {} : e.json<Cursors>(), pending);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'cursor read failed; resuming from live');
      return pending;
    }
  }

  /** Records an acked position; written within FLUSH_MS, never moving a cursor back. */
  advance(userKey: string, stream: StreamKey, position: Position): void {
    this.#dirty.set(userKey, merge(this.#dirty.get(userKey) ?? {}, { [stream]: position }));
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#flushing = this.#flushing.then(() => this.flush());
    }, FLUSH_MS);
  }

  /** Writes every pending cursor now (also on shutdown). */
  async flush(): Promise<void> {
    const batch = [...this.#dirty];
    this.#dirty.clear();
    for (const [user, cursors] of batch) this.#writing.set(user, merge(this.#writing.get(user) ?? {}, cursors));
    try {
      await Promise.all(batch.map(([user, cursors]) => this.#write(user, cursors)));
    } finally {
      for (const [user] of batch) this.#writing.delete(user);
    }
  }

  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#flushing;
    await this.flush();
  }

  async #write(userKey: string, cursors: Cursors): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const e = await this.#kv.get(userKey);
        const current = e === null || e.length === 0 ? {} : e.json<Cursors>();
        const next = merge(current, cursors);
        if (e === null) await this.#kv.create(userKey, JSON.stringify(next));
        else await this.#kv.update(userKey, JSON.stringify(next), e.revision);
        return;
      } catch (err) {
        if (attempt === 4) this.#log.warn({ userKey, err: (err as Error).message }, 'cursor write failed; acked events may be redelivered');
      }
    }
  }
}

/** Keeps the higher offset per log; a newer epoch replaces an older one. */
function merge(a: Cursors, b: Cursors): Cursors {
  const out: Record<string, Position> = { ...(a as Record<string, Position>) };
  for (const [k, v] of Object.entries(b) as [StreamKey, Position][]) {
    const cur = out[k];
    out[k] = cur === undefined || cur.epoch !== v.epoch || v.offset > cur.offset ? v : cur;
  }
  return out;
}

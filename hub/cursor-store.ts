/**
 * Per-user acked positions (the last offset acked per log) in a JetStream KV
 * bucket, keyed by the grant's `userKey`: durable, shared by all hubs, so a user
 * offline for hours, on any device, gets what they have not acked. Writes are coalesced (at most one per
 * user per flush interval) and merged monotonically with compare-and-set. The value and revision a hub last
 * wrote for a user are kept, so its next write is one update, not a read and an update; another hub's write in
 * between fails that update, and the write reads and merges as the first one did.
 */
import type { KV } from '@nats-io/kv';
import type { StreamKey } from '../protocol/subjects.ts';
import type { Logger } from './logger.ts';

export interface Position {
  readonly epoch: string;
  readonly offset: number;
}
export type Cursors = Partial<Record<StreamKey, Position>>;

export class CursorStore {
  readonly #kv: KV;
  readonly #log: Logger;
  readonly #flushMs: number;
  readonly #dirty = new Map<string, Cursors>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> = Promise.resolve();

  /** Cursors a flush is writing now (read by `get` until the write lands). */
  readonly #writing = new Map<string, Cursors>();
  /** What this hub last wrote per user, and its revision (the most recent KNOWN_USERS users). */
  readonly #known = new Map<string, { readonly cursors: Cursors; readonly revision: number }>();

  /** `flushMs`: how long acks are gathered before the cursors they moved are written (HUB_CURSOR_FLUSH_MS). */
  constructor(kv: KV, log: Logger, flushMs: number) {
    this.#kv = kv;
    this.#log = log;
    this.#flushMs = flushMs;
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

  /** Records an acked position; written within the flush interval, never moving a cursor back. */
  advance(userKey: string, stream: StreamKey, position: Position): void {
    this.#dirty.set(userKey, merge(this.#dirty.get(userKey) ?? {}, { [stream]: position }));
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#flushing = this.#flushing.then(() => this.flush());
    }, this.#flushMs);
  }

  /** Writes every pending cursor now (also on shutdown). */
  async flush(): Promise<void> {
    const batch = [...this.#dirty];
    this.#dirty.clear();
    for (const [user, cursors] of batch) this.#writing.set(user, merge(this.#writing.get(user) ?? {}, cursors));
    try {
      // Started WRITES_PER_TURN at a time, a turn of the event loop apart: a thousand KV requests made in one go
      // held the loop (and the fan-out behind it) for tens of ms.
      const writes: Promise<void>[] = [];
      for (let i = 0; i < batch.length; i += WRITES_PER_TURN) {
        if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        for (const [user, cursors] of batch.slice(i, i + WRITES_PER_TURN)) writes.push(this.#write(user, cursors));
      }
      await Promise.all(writes);
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

  #remember(userKey: string, cursors: Cursors, revision: number): void {
    this.#known.set(userKey, { cursors, revision });
    if (this.#known.size > KNOWN_USERS) this.#known.delete(this.#known.keys().next().value!);
  }

  async #write(userKey: string, cursors: Cursors): Promise<void> {
    const known = this.#known.get(userKey);
    if (known !== undefined) {
      this.#known.delete(userKey);
      try {
        const next = merge(known.cursors, cursors);
        this.#remember(userKey, next, await this.#kv.update(userKey, JSON.stringify(next), known.revision));
        return;
      } catch {
        // Written by another hub since (or the bucket is away): read, merge and write, below.
      }
    }
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const e = await this.#kv.get(userKey);
        const current = e === null || e.length === 0 ? {} : e.json<Cursors>();
        const next = merge(current, cursors);
        const revision = e === null ? await this.#kv.create(userKey, JSON.stringify(next)) : await this.#kv.update(userKey, JSON.stringify(next), e.revision);
        this.#remember(userKey, next, revision);
        return;
      } catch (err) {
        if (attempt === 4) this.#log.warn({ userKey, err: (err as Error).message }, 'cursor write failed; acked events may be redelivered');
      }
    }
  }
}

/** Cursor writes started in one turn of the event loop. */
const WRITES_PER_TURN = 64;

/** Users whose last written cursor a hub keeps (~150 bytes each); the oldest go first. */
const KNOWN_USERS = 50_000;

/** Keeps the higher offset per log; a newer epoch replaces an older one. */
function merge(a: Cursors, b: Cursors): Cursors {
  const out: Record<string, Position> = { ...(a as Record<string, Position>) };
  for (const [k, v] of Object.entries(b) as [StreamKey, Position][]) {
    const cur = out[k];
    out[k] = cur === undefined || cur.epoch !== v.epoch || v.offset > cur.offset ? v : cur;
  }
  return out;
}

/**
 * The transactional outbox: events a fold decided to append (low-stock alarms)
 * are committed with the batch, then published here with their deterministic
 * `Nats-Msg-Id` and deleted. A crash between commit and publish publishes on
 * restart; a crash between publish and delete republishes under the same msg id,
 * which JetStream stores once within its duplicate window.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { InvalidEventError } from '../protocol/errors.ts';
import { buildAppend } from '../protocol/event-append.ts';
import type { EventName } from '../protocol/catalogue.ts';
import { appendToLog } from '../protocol/log-append.ts';
import type { ProjectionTables } from './tables.ts';

const PAGE = 100;

export class Outbox {
  readonly #db: Kysely<ProjectionTables>;
  readonly #schema: string;
  readonly #projection: string;
  readonly #ns: string;
  readonly #js: JetStreamClient;
  readonly #log: Logger;
  #running: Promise<void> | undefined;
  #again = false;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  #stopped = false;

  constructor(db: Kysely<ProjectionTables>, schema: string, projection: string, ns: string, js: JetStreamClient, log: Logger) {
    this.#db = db;
    this.#schema = schema;
    this.#projection = projection;
    this.#ns = ns;
    this.#js = js;
    this.#log = log;
  }

  /** Publishes every pending row; concurrent calls coalesce. Never throws: failures retry with backoff. */
  flush(): Promise<void> {
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#drain().finally(() => {
      this.#running = undefined;
      if (this.#again && !this.#stopped) {
        this.#again = false;
        void this.flush();
      }
    });
    return this.#running;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
  }

  async #drain(): Promise<void> {
    try {
      for (;;) {
        const rows = await this.#db.withSchema(this.#schema).selectFrom('projection_outbox').selectAll().where('projection', '=', this.#projection).orderBy('id').limit(PAGE).execute();
        for (const row of rows) {
          if (this.#stopped) return;
          const data = typeof row.data === 'string' ? JSON.parse(row.data) : row.data;
          let append;
          try {
            append = buildAppend(this.#ns, { event: row.event as EventName, siteId: row.site_id, data });
          } catch (e) {
            // Never retried into a wall: an event the log refuses is logged and dropped.
            if (!(e instanceof InvalidEventError)) throw e;
            this.#log.error({ projection: this.#projection, msgId: row.msg_id, err: e.message }, 'outbox event is invalid; dropped');
          }
          if (append !== undefined) {
            const ack = await appendToLog(this.#js, append, row.msg_id, { derived: true });
            this.#log.info({ projection: this.#projection, event: row.event, msgId: row.msg_id, offset: ack.seq, duplicate: ack.duplicate }, 'appended outbox event');
          }
          await this.#db.withSchema(this.#schema).deleteFrom('projection_outbox').where('id', '=', row.id).execute();
        }
        if (rows.length < PAGE) break;
      }
      this.#failures = 0;
    } catch (e) {
      if (this.#stopped) return;
      const delay = Math.min(250 * 2 ** this.#failures++, 10_000);
      this.#log.warn({ projection: this.#projection, err: (e as Error).message, retryInMs: delay }, 'outbox publish failed; retrying');
      clearTimeout(this.#retry);
      this.#retry = setTimeout(() => void this.flush(), delay);
      this.#retry.unref?.();
    }
  }
}

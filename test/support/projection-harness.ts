/**
 * Projections under test: a namespace of its own on the shared NATS (its streams
 * made as the hub makes them), a database of its own, workers started with
 * fault hooks, and a fresh recomputation of any projection from the stream to
 * compare a view against.
 */
import { jetstream, type JetStreamClient, type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { sql } from 'kysely';
import { pino } from 'pino';
import { loadConfig } from '../../hub/config.ts';
import { ensureStreams } from '../../hub/streams.ts';
import type { AppendRequest } from '../../protocol/event-append.ts';
import { HubPublisher } from '../../protocol/publisher.ts';
import { streamName } from '../../protocol/subjects.ts';
import { BatchApplier } from '../../projections/batch-applier.ts';
import { calendarDay } from '../../projections/calendar-day.ts';
import { loadProjectionsConfig, type ProjectionsConfig } from '../../projections/config.ts';
import type { ProjectionDatabase } from '../../projections/database.ts';
import type { LogEvent } from '../../projections/log-event.ts';
import { lastSeqMatching } from '../../projections/stream-position.ts';
import { StreamReplay } from '../../projections/stream-replay.ts';
import { migrateToLatest } from '../../projections/migrations/index.ts';
import type { Projection } from '../../projections/projection.ts';
import { allProjections } from '../../projections/projection-runner.ts';
import { ProjectionWorker, type WorkerFaults } from '../../projections/projection-worker.ts';
import type { ViewTableName } from '../../projections/tables.ts';
import { dropNamespace, NATS_URL, uniqueNamespace } from './nats.ts';
import { createTestDatabase, type TestDatabase } from './postgres.ts';

export const SCHEMA = 'projections';
export const TIME_ZONE = 'UTC';
export const silentLog = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** Primary key columns per view table: rows are compared in this order. */
const KEYS: Record<ViewTableName, readonly string[]> = {
  dashboard_entities: ['site_id', 'kind', 'entity_id'],
  dashboard_counts: ['site_id', 'kind', 'status'],
  dashboard_production: ['site_id', 'day', 'status'],
  dashboard_sites: ['site_id'],
  inventory_items: ['site_id', 'material_id'],
};

export class ProjectionHarness {
  readonly ns: string;
  readonly natsUrl: string;
  readonly db: TestDatabase;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly publisher: HubPublisher;
  readonly #workers: ProjectionWorker[] = [];

  private constructor(ns: string, natsUrl: string, db: TestDatabase, nc: NatsConnection, jsm: JetStreamManager, publisher: HubPublisher) {
    this.ns = ns;
    this.natsUrl = natsUrl;
    this.db = db;
    this.nc = nc;
    this.js = jetstream(nc);
    this.jsm = jsm;
    this.publisher = publisher;
  }

  static async start(options: { pglite?: boolean; natsUrl?: string } = {}): Promise<ProjectionHarness> {
    const ns = uniqueNamespace('p');
    const natsUrl = options.natsUrl ?? NATS_URL;
    const nc = await connect({ servers: natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    const jsm = await jetstreamManager(nc);
    await ensureStreams(nc, jsm, loadConfig({ HUB_NAMESPACE: ns, HUB_JWT_SECRET: 'x'.repeat(32), NATS_URL: natsUrl }));
    const db = await createTestDatabase({ pglite: options.pglite });
    await migrateToLatest(db.database.db, SCHEMA);
    const publisher = await HubPublisher.connect({ servers: natsUrl, namespace: ns });
    return new ProjectionHarness(ns, natsUrl, db, nc, jsm, publisher);
  }

  config(overrides: Partial<ProjectionsConfig> = {}): ProjectionsConfig {
    return loadProjectionsConfig({ HUB_NAMESPACE: this.ns, NATS_URL: this.natsUrl, PROJECTIONS_SCHEMA: SCHEMA, PROJECTIONS_TIMEZONE: TIME_ZONE }, overrides);
  }

  projection(name: string): Projection {
    return allProjections().find((p) => p.name === name)!;
  }

  /** Starts a live worker of a projection, on its own NATS connection unless given one. */
  startWorker(name: string, options: { faults?: WorkerFaults; batchSize?: number; nc?: NatsConnection; maxBackoffMs?: number; ackWaitMs?: number; database?: ProjectionDatabase } = {}): ProjectionWorker {
    const worker = new ProjectionWorker({
      projection: this.projection(name),
      database: options.database ?? this.db.database,
      schema: SCHEMA,
      nc: options.nc ?? this.nc,
      namespace: this.ns,
      batchSize: options.batchSize ?? 500,
      ackWaitMs: options.ackWaitMs ?? 30_000,
      maxBackoffMs: options.maxBackoffMs ?? 500,
      timeZone: TIME_ZONE,
      log: silentLog,
      faults: options.faults,
    }).start();
    this.#workers.push(worker);
    return worker;
  }

  append(request: AppendRequest): Promise<number> {
    return this.publisher.append(request);
  }

  /** Appends many events concurrently (in order of their offsets); resolves to the last offset. */
  async appendAll(requests: readonly AppendRequest[]): Promise<number> {
    let last = 0;
    for (let i = 0; i < requests.length; i += 256) {
      const offsets = await Promise.all(requests.slice(i, i + 256).map((r) => this.publisher.append(r)));
      last = Math.max(last, ...offsets);
    }
    return last;
  }

  /** Appends bytes as they are, bypassing validation (events that reached the log another way). */
  async appendRaw(siteId: string, tail: string, payload: Uint8Array): Promise<number> {
    return (await this.js.publish(`${this.ns}.site.${siteId}.${tail}`, payload)).seq;
  }

  async streamLastSeq(): Promise<number> {
    return (await this.jsm.streams.info(streamName(this.ns, 'site'))).state.last_seq;
  }

  /** Rows of a view table (of the live schema, or another), in key order, dates as ISO strings. */
  async rows(table: ViewTableName, schema = SCHEMA): Promise<Record<string, unknown>[]> {
    const rows = await this.db.database.db.withSchema(schema).selectFrom(table).selectAll().orderBy(KEYS[table] as any).execute();
    return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v])));
  }

  /** Every view table of a projection. */
  async view(name: string, schema = SCHEMA): Promise<Record<string, Record<string, unknown>[]>> {
    const out: Record<string, Record<string, unknown>[]> = {};
    for (const table of this.projection(name).tables) out[table] = await this.rows(table, schema);
    return out;
  }

  /** Offset of the last event a projection's filter selects: where its worker will stop. */
  async lastSeqFor(name: string): Promise<number> {
    // Right after a NATS restart, JetStream may not answer within a request's timeout while it recovers
    // its streams (seen on a loaded machine): ask again until it does.
    for (let attempt = 1; ; attempt++) {
      try {
        return await lastSeqMatching(this.nc, streamName(this.ns, 'site'), this.projection(name).filter(this.ns));
      } catch (e) {
        if ((e as Error).name !== 'TimeoutError' || attempt >= 5) throw e;
      }
    }
  }

  /** Every event of the stream a projection's filter selects, in log order. */
  async recomputeEvents(name: string): Promise<LogEvent[]> {
    const last = await this.lastSeqFor(name);
    const replay = await StreamReplay.open({ servers: this.natsUrl, stream: streamName(this.ns, 'site'), filter: this.projection(name).filter(this.ns) }, this.ns, 10_000);
    const events: LogEvent[] = [];
    try {
      for (;;) {
        const batch = await replay.take(last);
        if (batch.length === 0) return events;
        events.push(...batch);
        replay.ack();
      }
    } finally {
      await replay.close();
    }
  }

  /** A fresh recomputation: the whole stream folded in one pass into empty tables, as the view should be. */
  async recompute(name: string): Promise<Record<string, Record<string, unknown>[]>> {
    const projection = this.projection(name);
    const db = this.db.database.db;
    const scratch = `recompute_${Math.random().toString(36).slice(2, 8)}`;
    try {
      await sql`create schema ${sql.id(scratch)}`.execute(db);
      for (const table of [...projection.tables, 'projection_dead_letters']) await sql`create table ${sql.table(`${scratch}.${table}`)} (like ${sql.table(`${SCHEMA}.${table}`)} including all)`.execute(db);
      const applier = new BatchApplier(db, scratch, projection, calendarDay(TIME_ZONE));
      await applier.apply(await this.recomputeEvents(name), { begin: async () => 0, advance: async () => {} }, { viewSchema: scratch, emit: false });
      return await this.view(name, scratch);
    } finally {
      await sql`drop schema if exists ${sql.id(scratch)} cascade`.execute(db);
    }
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.#workers.map((w) => w.stop()));
    await this.publisher.close().catch(() => {});
    await this.nc.close().catch(() => {});
    await this.db.drop();
    await dropNamespace(this.ns, this.natsUrl).catch(() => {});
  }
}

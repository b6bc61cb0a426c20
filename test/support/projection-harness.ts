/**
 * Projections under test: a namespace of its own on the shared NATS (its streams
 * made as the hub makes them), a database of its own, workers started with
 * fault hooks, and a fresh recomputation of any projection from the stream to
 * compare a view against.
 */
import { DeliverPolicy, jetstream, type JetStreamClient, type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
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
import { LogReader } from '../../projections/log-reader.ts';
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
  startWorker(name: string, options: { faults?: WorkerFaults; batchSize?: number; nc?: NatsConnection; maxBackoffMs?: number } = {}): ProjectionWorker {
    const worker = new ProjectionWorker({
      projection: this.projection(name),
      database: this.db.database,
      schema: SCHEMA,
      nc: options.nc ?? this.nc,
      namespace: this.ns,
      batchSize: options.batchSize ?? 500,
      ackWaitMs: 30_000,
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

  /** A fresh recomputation: the whole stream folded in one pass into empty tables, as the view should be. */
  async recompute(name: string): Promise<Record<string, Record<string, unknown>[]>> {
    const projection = this.projection(name);
    const db = this.db.database.db;
    const scratch = `recompute_${Math.random().toString(36).slice(2, 8)}`;
    await sql`create schema ${sql.id(scratch)}`.execute(db);
    try {
      for (const table of projection.tables) await sql`create table ${sql.table(`${scratch}.${table}`)} (like ${sql.table(`${SCHEMA}.${table}`)} including all)`.execute(db);
      const consumer = await this.js.consumers.get(streamName(this.ns, 'site'), { filter_subjects: projection.filter(this.ns), deliver_policy: DeliverPolicy.All });
      const reader = new LogReader(consumer, this.ns, 10_000);
      const last = await this.streamLastSeq();
      let position = 0;
      const applier = new BatchApplier(db, `${scratch}_dead`, projection, calendarDay(TIME_ZONE));
      await sql`create schema ${sql.id(`${scratch}_dead`)}`.execute(db);
      await sql`create table ${sql.table(`${scratch}_dead.projection_dead_letters`)} (like ${sql.table(`${SCHEMA}.projection_dead_letters`)} including all)`.execute(db);
      for (;;) {
        const batch = await reader.take(last, 100_000);
        if (batch.length === 0) break;
        position = (await applier.apply(batch, { begin: async () => position, advance: async () => {} }, { viewSchema: scratch, emit: false })).lastSeq;
      }
      return await this.view(name, scratch);
    } finally {
      await sql`drop schema if exists ${sql.id(scratch)} cascade`.execute(db);
      await sql`drop schema if exists ${sql.id(`${scratch}_dead`)} cascade`.execute(db);
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

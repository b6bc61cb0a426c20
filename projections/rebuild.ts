/**
 * Rebuild: replays the site stream from its start into fresh copies of a
 * projection's tables (in a schema of their own) while the live view keeps
 * serving, then swaps them in, in one transaction.
 *
 * The rebuild follows the live worker rather than passing it: it folds up to the
 * live checkpoint, and for the last stretch it locks the checkpoint row (the live
 * worker's next batch waits), folds up to it, and moves the tables. So the swap
 * changes no position, and no side effect (low-stock alarm) is appended twice:
 * the live worker already appended every one up to there.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Logger } from 'pino';
import { streamName } from '../protocol/subjects.ts';
import { BatchApplier, type BatchCursor } from './batch-applier.ts';
import { calendarDay } from './calendar-day.ts';
import type { ProjectionDatabase } from './database.ts';
import { FoldMemory } from './fold-memory.ts';
import { StreamReplay } from './stream-replay.ts';
import type { Projection } from './projection.ts';
import type { ProjectionTables } from './tables.ts';

export interface RebuildOptions {
  readonly database: ProjectionDatabase;
  readonly schema: string;
  readonly nc: NatsConnection;
  /** NATS server URL(s) for the replay's reader thread, which reads on a connection of its own. */
  readonly servers: string | readonly string[];
  readonly namespace: string;
  readonly projection: Projection;
  readonly batchSize: number;
  readonly timeZone: string;
  readonly log: Logger;
  /** Rebuild even though the stream's first events have aged out (the view will lack them). */
  readonly force?: boolean;
}

export interface RebuildResult {
  readonly projection: string;
  /** Events read from the stream (those the projection's filter selects). */
  readonly events: number;
  /** The position the swapped-in view reflects. */
  readonly lastSeq: number;
  readonly ms: number;
}

export class RebuildError extends Error {
  override readonly name = 'RebuildError';
}

export async function rebuildProjection(o: RebuildOptions): Promise<RebuildResult> {
  const { database, schema, projection, namespace, log } = o;
  const db = database.db;
  const started = performance.now();
  const lock = await database.locks.tryAcquire(`${schema}:${namespace}:rebuild:${projection.name}`);
  if (lock === undefined) throw new RebuildError(`a rebuild of ${projection.name} is already running`);
  const fresh = `${schema}_rebuild_${projection.name}`.slice(0, 63);
  let closeReplay = async () => {};
  try {
    const jsm = await jetstreamManager(o.nc);
    const stream = streamName(namespace, 'site');
    const info = await jsm.streams.info(stream);
    if (info.state.first_seq > 1 && info.state.messages > 0 && o.force !== true) {
      throw new RebuildError(`the stream ${stream} starts at ${info.state.first_seq}: earlier events aged out, so a rebuild cannot reproduce the view (pass --force to rebuild from what is left)`);
    }
    await sql`drop schema if exists ${sql.id(fresh)} cascade`.execute(db);
    await sql`create schema ${sql.id(fresh)}`.execute(db);
    for (const table of projection.tables) await sql`create table ${sql.table(`${fresh}.${table}`)} (like ${sql.table(`${schema}.${table}`)} including all)`.execute(db);

    const setupMs = performance.now() - started;
    const replay = await StreamReplay.open({ servers: o.servers, stream, filter: projection.filter(namespace) }, namespace, o.batchSize);
    closeReplay = () => replay.close();
    const applier = new BatchApplier(db, schema, projection, calendarDay(o.timeZone));
    let position = 0;
    let events = 0;
    // The rebuild's position lives in memory: a failed rebuild starts over, the live view untouched.
    const cursor: BatchCursor = { begin: async () => position, advance: async () => {} };
    const options = { viewSchema: fresh, emit: false, memory: new FoldMemory() } as const;
    let lastLog = performance.now();

    // Follow the live checkpoint until caught up with it, so the locked last stretch
    // holds only what the live worker committed meanwhile. Pipelined: the next
    // batch is folded in memory (its rows serialized) while Postgres still writes the
    // one before, and commits after it. A batch whose fold needs the database (the fold
    // memory was dropped), or that follows one the database refused, is applied the
    // usual way once the one before has committed.
    let committing: Promise<void> = Promise.resolve();
    let folded = 0;
    try {
      for (;;) {
        const target = await liveCheckpoint(db, schema, projection.name);
        if (folded >= target) break;
        const batch = await replay.take(target);
        if (batch.length === 0) break;
        replay.ack();
        const from = folded;
        folded = batch.at(-1)!.seq;
        const prepared = options.memory.valid ? await applier.prepare(batch, from, options) : undefined;
        await committing;
        // Memory dropped meanwhile (a refused batch): what was prepared from it is void.
        const applying = prepared !== undefined && options.memory.valid ? applier.commit(prepared, cursor, options) : applier.apply(batch, cursor, options);
        committing = applying.then((applied) => void (position = applied.lastSeq));
        // Awaited at the next turn; until then, a failure must not count as unhandled.
        committing.catch(() => {});
        events += batch.length;
        if (performance.now() - lastLog > 2000) {
          lastLog = performance.now();
          log.info({ projection: projection.name, position: folded, target, eventsPerSecond: Math.round(events / ((lastLog - started) / 1000)) }, 'rebuilding');
        }
      }
      await committing;
    } catch (e) {
      await committing.catch(() => {});
      throw e;
    }

    const followedMs = performance.now() - started;
    const lastSeq = await db.transaction().execute(async (trx) => {
      // Locking the checkpoint row freezes the live worker between two batches.
      const target = await liveCheckpoint(trx, schema, projection.name, true);
      while (position < target) {
        const batch = await replay.take(target);
        if (batch.length === 0) break;
        position = Math.max(position, (await applier.applyIn(trx, batch, cursor, options)).lastSeq);
        replay.ack();
        events += batch.length;
      }
      await swapTables(trx, schema, fresh, projection.tables);
      return target;
    });
    const swappedMs = performance.now() - started;
    await sql`drop schema if exists ${sql.id(fresh)} cascade`.execute(db);
    const ms = performance.now() - started;
    // Where the time went: fresh tables, folding while following the live view, the locked last stretch and swap, cleanup.
    const phases = { setupMs: Math.round(setupMs), followMs: Math.round(followedMs - setupMs), swapMs: Math.round(swappedMs - followedMs), cleanupMs: Math.round(ms - swappedMs) };
    log.info({ projection: projection.name, events, lastSeq, ms: Math.round(ms), eventsPerSecond: Math.round(events / (ms / 1000)), ...phases }, 'rebuild swapped in');
    return { projection: projection.name, events, lastSeq, ms };
  } catch (e) {
    await sql`drop schema if exists ${sql.id(fresh)} cascade`.execute(db).catch(() => {});
    throw e;
  } finally {
    await closeReplay();
    await lock.release();
  }
}

async function liveCheckpoint(db: Kysely<ProjectionTables>, schema: string, name: string, lock = false): Promise<number> {
  let q = db.withSchema(schema).selectFrom('projection_checkpoints').select('last_seq').where('name', '=', name);
  if (lock) q = q.forUpdate();
  return (await q.executeTakeFirst())?.last_seq ?? 0;
}

/**
 * Replaces the live tables by the rebuilt ones, keeping the live index names
 * (`LIKE ... INCLUDING ALL` gives copies generated names).
 */
async function swapTables(trx: Transaction<ProjectionTables>, live: string, fresh: string, tables: readonly string[]): Promise<void> {
  for (const table of tables) {
    const original = await indexesOf(trx, live, table);
    await sql`drop table ${sql.table(`${live}.${table}`)}`.execute(trx);
    await sql`alter table ${sql.table(`${fresh}.${table}`)} set schema ${sql.id(live)}`.execute(trx);
    for (const [shape, name] of await indexesOf(trx, live, table)) {
      const wanted = original.get(shape);
      if (wanted !== undefined && wanted !== name) await sql`alter index ${sql.table(`${live}.${name}`)} rename to ${sql.id(wanted)}`.execute(trx);
    }
  }
}

/** Index names of a table, keyed by their definition without the name (`USING btree (a, b)`, unique or not). */
async function indexesOf(trx: Transaction<ProjectionTables>, schema: string, table: string): Promise<Map<string, string>> {
  const { rows } = await sql<{ indexname: string; indexdef: string }>`select indexname, indexdef from pg_indexes where schemaname = ${schema} and tablename = ${table}`.execute(trx);
  return new Map(rows.map((r) => [`${r.indexdef.startsWith('CREATE UNIQUE') ? 'unique ' : ''}${r.indexdef.slice(r.indexdef.indexOf(' USING '))}`, r.indexname]));
}

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
 *
 * Up to the live checkpoint it folds in memory and writes each row once
 * (`followInMemory`); batch by batch as the live worker does (`followByBatches`)
 * past the memory's bound, for a projection without `writeHeld`, or when the
 * database refuses the held rows (folded again from the start, which finds the
 * event at fault and dead-letters it).
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { type Kysely, sql } from 'kysely';
import type { Logger } from 'pino';
import { streamName } from '../protocol/subjects.ts';
import { type ApplyOptions, BatchApplier, type BatchCursor, type FoldedBatch, HeldRowsRefused } from './batch-applier.ts';
import { calendarDay } from './calendar-day.ts';
import type { ProjectionDatabase } from './database.ts';
import { DEFAULT_FOLD_MEMORY_ROWS, FoldMemory } from './fold-memory.ts';
import { createFreshTables, swapInFreshTables } from './fresh-tables.ts';
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
  /** Most rows the fold may hold in memory (default 2,000,000); past it, the rebuild goes on batch by batch. */
  readonly memoryRows?: number;
  /** Fold in memory and write each row once (default), or write every batch's changes as the live worker does. */
  readonly inMemory?: boolean;
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
  let replay: StreamReplay | undefined;
  let tables: Promise<void> | undefined;
  try {
    const jsm = await jetstreamManager(o.nc);
    const stream = streamName(namespace, 'site');
    const info = await jsm.streams.info(stream);
    if (info.state.first_seq > 1 && info.state.messages > 0 && o.force !== true) {
      throw new RebuildError(`the stream ${stream} starts at ${info.state.first_seq}: earlier events aged out, so a rebuild cannot reproduce the view (pass --force to rebuild from what is left)`);
    }
    // The fresh tables are made while the replay opens and the fold begins: they are first needed at the first write.
    tables = createFreshTables(db, schema, fresh, projection.tables);
    tables.catch(() => {});
    const openReplay = () => StreamReplay.open({ servers: o.servers, stream, filter: projection.filter(namespace) }, namespace, o.batchSize);
    replay = await openReplay();
    const setupMs = performance.now() - started;
    const applier = new BatchApplier(db, schema, projection, calendarDay(o.timeZone), database.copyFrom);
    // The rebuild's position lives in memory: a failed rebuild starts over, the live view untouched.
    const run: Run = { position: 0, folded: 0, events: 0 };
    const cursor: BatchCursor = { begin: async () => run.position, advance: async () => {} };
    const maxRows = o.memoryRows ?? DEFAULT_FOLD_MEMORY_ROWS;
    let options = { viewSchema: fresh, emit: false, memory: new FoldMemory({ maxRows, deferWrites: o.inMemory !== false && maxRows > 0 && projection.writeHeld !== undefined }) } as const;
    const follow: Follow = { db, schema, projection, applier, cursor, run, log, started };

    let writeHeldMs = 0;
    if (options.memory.defersWrites) {
      try {
        writeHeldMs = await followInMemory(follow, replay, options, tables);
      } catch (e) {
        if (!(e instanceof HeldRowsRefused)) throw e;
        // Which event the database refused is unknown: fold again batch by batch, which finds and dead-letters it.
        log.warn({ projection: projection.name, err: e.message }, 'rebuild: the database refused the rows folded in memory; folding again batch by batch');
        await replay.close();
        replay = undefined;
        await (tables = createFreshTables(db, schema, fresh, projection.tables));
        replay = await openReplay();
        Object.assign(run, { position: 0, folded: 0, events: 0 });
        options = { viewSchema: fresh, emit: false, memory: new FoldMemory({ maxRows }) };
      }
    }
    await tables;
    await followByBatches(follow, replay, options);

    const followedMs = performance.now() - started;
    const lastSeq = await db.transaction().execute(async (trx) => {
      // Locking the checkpoint row freezes the live worker between two batches.
      const target = await liveCheckpoint(trx, schema, projection.name, true);
      while (run.position < target) {
        const batch = await replay!.take(target);
        if (batch.length === 0) break;
        run.position = Math.max(run.position, (await applier.applyIn(trx, batch, cursor, options)).lastSeq);
        replay!.ack();
        run.events += batch.length;
      }
      await swapInFreshTables(trx, schema, fresh, projection.tables);
      return target;
    });
    const swappedMs = performance.now() - started;
    await sql`drop schema if exists ${sql.id(fresh)} cascade`.execute(db);
    const ms = performance.now() - started;
    const { events } = run;
    // Where the time went: setup (the lock, the stream's check, the replay's open; the fresh tables are made
    // meanwhile), folding while following the live view (writing the rows held in memory included), the locked
    // last stretch and swap, cleanup.
    const phases = { setupMs: Math.round(setupMs), followMs: Math.round(followedMs - setupMs), writeHeldMs: Math.round(writeHeldMs), swapMs: Math.round(swappedMs - followedMs), cleanupMs: Math.round(ms - swappedMs) };
    log.info({ projection: projection.name, events, lastSeq, ms: Math.round(ms), eventsPerSecond: Math.round(events / (ms / 1000)), ...phases }, 'rebuild swapped in');
    return { projection: projection.name, events, lastSeq, ms };
  } catch (e) {
    await tables?.catch(() => {});
    await sql`drop schema if exists ${sql.id(fresh)} cascade`.execute(db).catch(() => {});
    throw e;
  } finally {
    await replay?.close();
    await lock.release();
  }
}

/** Where a rebuild stands: the position its tables reflect, how far it has folded, events read. */
interface Run {
  position: number;
  folded: number;
  events: number;
}

/** What following the live checkpoint needs. */
interface Follow {
  readonly db: Kysely<ProjectionTables>;
  readonly schema: string;
  readonly projection: Projection;
  readonly applier: BatchApplier;
  readonly cursor: BatchCursor;
  readonly run: Run;
  readonly log: Logger;
  readonly started: number;
}

/**
 * Follows the live checkpoint folding in memory only: the tables started empty and
 * the fold is their only writer, so a row changed in batch N+1 replaces batch N's,
 * and each row is written once, at the end (`writeHeld`): a tenth of the rows the
 * batch-by-batch path writes, and no Postgres work competing with the read and the
 * fold for the cores meanwhile. Events are folded as they arrive, a socket read at
 * a time, so they die young. Past the memory's bound, what is held is written and
 * the rebuild goes on batch by batch from there. Returns how long the write took.
 */
async function followInMemory(f: Follow, replay: StreamReplay, options: ApplyOptions & { readonly memory: FoldMemory }, tables: Promise<void>): Promise<number> {
  const { run, applier, projection, log, started } = f;
  const rejected: FoldedBatch['rejected'] = [];
  let target = await liveCheckpoint(f.db, f.schema, projection.name);
  let lastLog = performance.now();
  for (;;) {
    // The live checkpoint is asked again only once reached: one query per catch-up, not per read.
    if (run.folded >= target) {
      target = await liveCheckpoint(f.db, f.schema, projection.name);
      if (run.folded >= target) break;
    }
    const batch = await replay.take(target, 'any');
    if (batch.length === 0) break;
    const folded = await applier.prepare(batch, run.folded, options);
    if (folded === undefined) throw new RebuildError(`the ${projection.name} fold read the database while its rows were held in memory`);
    replay.ack();
    for (const r of folded.rejected) rejected.push(r);
    run.folded = batch.at(-1)!.seq;
    run.events += batch.length;
    if (options.memory.full) {
      log.info({ projection: projection.name, position: run.folded }, 'rebuild: the fold memory is full; writing it and going on batch by batch');
      break;
    }
    if (performance.now() - lastLog > 2000) {
      lastLog = performance.now();
      log.info({ projection: projection.name, position: run.folded, target, eventsPerSecond: Math.round(run.events / ((lastLog - started) / 1000)) }, 'rebuilding');
    }
  }
  await tables;
  const t0 = performance.now();
  await applier.writeHeld(options.memory, run.position, run.folded, rejected, f.cursor, options);
  run.position = run.folded;
  if (options.memory.full) options.memory.invalidate();
  else options.memory.written();
  return performance.now() - t0;
}

/**
 * Follows the live checkpoint batch by batch until caught up with it, so the locked
 * last stretch holds only what the live worker committed meanwhile. Pipelined: the
 * next batch is folded in memory (its rows serialized) while Postgres still writes
 * the one before, and commits after it. A batch whose fold needs the database (the
 * fold memory was dropped), or that follows one the database refused, is applied
 * the usual way once the one before has committed.
 */
async function followByBatches(f: Follow, replay: StreamReplay, options: ApplyOptions & { readonly memory: FoldMemory }): Promise<void> {
  const { run, applier, cursor, projection, log, started } = f;
  let committing: Promise<void> = Promise.resolve();
  let lastLog = performance.now();
  try {
    for (;;) {
      const target = await liveCheckpoint(f.db, f.schema, projection.name);
      if (run.folded >= target) break;
      const batch = await replay.take(target);
      if (batch.length === 0) break;
      replay.ack();
      const from = run.folded;
      run.folded = batch.at(-1)!.seq;
      const prepared = options.memory.valid ? await applier.prepare(batch, from, options) : undefined;
      await committing;
      // Memory dropped meanwhile (a refused batch): what was prepared from it is void.
      const applying = prepared !== undefined && options.memory.valid ? applier.commit(prepared, cursor, options) : applier.apply(batch, cursor, options);
      committing = applying.then((applied) => void (run.position = applied.lastSeq));
      // Awaited at the next turn; until then, a failure must not count as unhandled.
      committing.catch(() => {});
      run.events += batch.length;
      if (performance.now() - lastLog > 2000) {
        lastLog = performance.now();
        log.info({ projection: projection.name, position: run.folded, target, eventsPerSecond: Math.round(run.events / ((lastLog - started) / 1000)) }, 'rebuilding');
      }
    }
    await committing;
  } catch (e) {
    await committing.catch(() => {});
    throw e;
  }
}

async function liveCheckpoint(db: Kysely<ProjectionTables>, schema: string, name: string, lock = false): Promise<number> {
  let q = db.withSchema(schema).selectFrom('projection_checkpoints').select('last_seq').where('name', '=', name);
  if (lock) q = q.forUpdate();
  return (await q.executeTakeFirst())?.last_seq ?? 0;
}

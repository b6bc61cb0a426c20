/**
 * Applies a batch of log events in one transaction: the projection's fold, the
 * dead letters, the outbox rows and the new position commit together or not at
 * all. Events at or below the position are skipped, so a redelivered batch has
 * no effect twice. A batch the database refuses for its data is split until the
 * offending event is found; that event is dead-lettered and the rest applied.
 * Folds compute, the applier writes: a fold queues its changed rows (`ctx.write`),
 * so a rebuild can fold its next batch (`prepare`) while Postgres still writes the
 * one before (`commit`).
 */
import { type Kysely, sql, type Transaction } from 'kysely';
import { describeError, isDataError } from './db-errors.ts';
import type { LogEvent } from './log-event.ts';
import type { ProjectionDatabase } from './database.ts';
import type { FoldMemory } from './fold-memory.ts';
import { type CopyPart, copyPart } from './pg-copy.ts';
import { type FoldContext, FoldNeedsDatabase, type Projection } from './projection.ts';
import type { ProjectionTables } from './tables.ts';
import { type PreparedWrite, prepareInsert, prepareUpsert } from './upsert.ts';

/** Rows per insert when a rebuild writes the rows it held in memory, and transactions at once (Postgres then uses both cores). */
const WRITE_PART_ROWS = 5000;
const WRITE_PARALLEL = 2;

/** Where a batch starts and what it moves: the live checkpoint, or a rebuild's position. */
export interface BatchCursor {
  /** The position this transaction starts from, locked against other writers of it. */
  begin(trx: Transaction<ProjectionTables>): Promise<number>;
  /** Moves the position, in the same transaction. */
  advance(trx: Transaction<ProjectionTables>, seq: number): Promise<void>;
}

export interface Rejection {
  readonly seq: number;
  readonly subject: string;
  readonly error: string;
}

export interface AppliedBatch {
  /** The position after the batch. */
  readonly lastSeq: number;
  /** Events above the old position (folded or rejected). */
  readonly applied: number;
  readonly rejected: readonly Rejection[];
  /** Outbox rows written (events to append after commit). */
  readonly appended: number;
  /** Sites whose view changed. */
  readonly sites: ReadonlySet<string>;
}

export interface ApplyOptions {
  /** Schema of the view tables to write (a rebuild writes its own copies). */
  readonly viewSchema: string;
  /** Whether the fold's appends go to the outbox (live) or are dropped (rebuild). */
  readonly emit: boolean;
  /** A rebuild's fold memory; invalidated by any failed transaction. */
  readonly memory?: FoldMemory;
  /** Fault injection for tests: runs inside the transaction, just before commit. */
  readonly beforeCommit?: (lastSeq: number) => void | Promise<void>;
}

/** A batch folded in memory, its writes serialized, waiting for its transaction. */
export interface FoldedBatch {
  /** The position it was folded from. */
  readonly from: number;
  /** Its events above that position. */
  readonly events: readonly LogEvent[];
  readonly writes: PreparedWrite[];
  readonly rejected: Array<{ readonly event: LogEvent; readonly error: string }>;
  readonly outbox: Array<{ readonly msgId: string; readonly event: string; readonly siteId: string; readonly data: unknown }>;
  readonly sites: Set<string>;
}

export class BatchApplier {
  readonly #db: Kysely<ProjectionTables>;
  readonly #schema: string;
  readonly #projection: Projection;
  readonly #dayOf: (ts: number) => string;
  readonly #copy: ProjectionDatabase['copyFrom'];

  /**
   * `copy`: a database's `COPY ... FROM STDIN` (`ProjectionDatabase.copyFrom`), for the
   * rows a rebuild held in memory; without it they go in as inserts.
   */
  constructor(db: Kysely<ProjectionTables>, schema: string, projection: Projection, dayOf: (ts: number) => string, copy?: ProjectionDatabase['copyFrom']) {
    this.#copy = copy;
    this.#db = db;
    this.#schema = schema;
    this.#projection = projection;
    this.#dayOf = dayOf;
  }

  /** Applies `events` (in log order) from the cursor's position; resolves once committed. */
  async apply(events: readonly LogEvent[], cursor: BatchCursor, options: ApplyOptions): Promise<AppliedBatch> {
    try {
      return await this.#db.transaction().execute((trx) => this.applyIn(trx, events, cursor, options));
    } catch (e) {
      // What the fold remembered of this batch was rolled back.
      options.memory?.invalidate();
      if (!isDataError(e)) throw e;
      if (events.length === 1) return this.#deadLetter(events[0]!, describeError(e), cursor);
      const mid = events.length >> 1;
      const first = await this.apply(events.slice(0, mid), cursor, options);
      const second = await this.apply(events.slice(mid), cursor, options);
      return merge(first, second);
    }
  }

  /** The same, inside a transaction the caller owns (a rebuild's swap). */
  async applyIn(trx: Transaction<ProjectionTables>, events: readonly LogEvent[], cursor: BatchCursor, options: ApplyOptions): Promise<AppliedBatch> {
    await relaxCommit(trx);
    const from = await cursor.begin(trx);
    const views = trx.withSchema(options.viewSchema);
    return this.#write(trx, await this.#fold(events, from, options, views), cursor, options);
  }

  /**
   * Folds a batch ahead of its transaction, from the position `from` it will have
   * then: a rebuild prepares its next batch while Postgres still writes the one
   * before. Undefined when the fold needs to read the database (it is then applied
   * the usual way); the fold memory is dropped then, since the fold may have begun.
   */
  async prepare(events: readonly LogEvent[], from: number, options: ApplyOptions): Promise<FoldedBatch | undefined> {
    try {
      return await this.#fold(events, from, options, undefined);
    } catch (e) {
      if (!(e instanceof FoldNeedsDatabase)) throw e;
      options.memory?.invalidate();
      return undefined;
    }
  }

  /**
   * Commits a prepared batch in a transaction of its own. If the database refuses
   * its data, the fold memory is dropped and the batch is applied the usual way
   * (split until the offending event is found); the caller then prepares nothing
   * more from that memory.
   */
  async commit(folded: FoldedBatch, cursor: BatchCursor, options: ApplyOptions): Promise<AppliedBatch> {
    try {
      return await this.#db.transaction().execute(async (trx) => {
        await relaxCommit(trx);
        const from = await cursor.begin(trx);
        if (from !== folded.from) throw new Error(`the position moved from ${folded.from} to ${from} since the batch was prepared`);
        return this.#write(trx, folded, cursor, options);
      });
    } catch (e) {
      options.memory?.invalidate();
      if (!isDataError(e)) throw e;
      return this.apply(folded.events, cursor, options);
    }
  }

  /**
   * Writes every row a fold memory that deferred its writes holds into tables that
   * hold none of them yet (a rebuild's fresh ones), then, in one transaction, the
   * dead letters of what was folded into it and the position, moved from `from` to
   * `to`. The rows go in parts of `WRITE_PART_ROWS` by `WRITE_PARALLEL` writers at
   * once, each part serialized when a writer takes it, while Postgres loads the
   * ones before, on both cores. With COPY (binary where it can), a writer loads all
   * its parts in one transaction: on a loaded machine every round trip waits for a
   * core. Without it, each part is an insert in a transaction of its own. Writers
   * are not atomic with each other, which the fresh tables allow: nobody reads them
   * before the swap, and a failed rebuild drops or refolds them.
   * The fold must not run until this resolves (parts are serialized as they go).
   * If the database refuses the data, which event caused it is unknown:
   * `HeldRowsRefused`, and the caller folds again batch by batch.
   */
  async writeHeld(memory: FoldMemory, from: number, to: number, rejected: FoldedBatch['rejected'], cursor: BatchCursor, options: ApplyOptions): Promise<void> {
    const copies: Array<() => CopyPart> = [];
    const inserts: Array<() => Promise<void>> = [];
    const copy = this.#copy;
    this.#projection.writeHeld?.(memory, (table, rows) => {
      for (let i = 0; i < rows.length; i += WRITE_PART_ROWS) {
        const part = rows.slice(i, i + WRITE_PART_ROWS);
        if (copy !== undefined) copies.push(() => copyPart(options.viewSchema, table, part));
        else {
          inserts.push(() => {
            const write = prepareInsert(table, part);
            return this.#db.transaction().execute(async (trx) => {
              await relaxCommit(trx);
              await write(trx.withSchema(options.viewSchema));
            });
          });
        }
      }
    });
    // Once a writer fails, the others take no more parts: the rows are refused or lost either way.
    let failed = false;
    const writer = async () => {
      try {
        if (copy !== undefined) await copy(() => (failed ? undefined : copies.shift()?.()));
        else for (let part = inserts.shift(); part !== undefined && !failed; part = inserts.shift()) await part();
      } catch (e) {
        failed = true;
        throw e;
      }
    };
    try {
      // Settled all before judging: a part still running must not outlive the rebuild's failure.
      const results = await Promise.allSettled(Array.from({ length: WRITE_PARALLEL }, writer));
      for (const r of results) if (r.status === 'rejected') throw r.reason;
      await this.#db.transaction().execute(async (trx) => {
        await relaxCommit(trx);
        const at = await cursor.begin(trx);
        if (at !== from) throw new Error(`the position moved from ${from} to ${at} while folding in memory`);
        await this.#deadLetters(trx, rejected);
        await cursor.advance(trx, to);
      });
    } catch (e) {
      failed = true;
      memory.invalidate();
      throw isDataError(e) ? new HeldRowsRefused(`the database refused the rows folded in memory: ${describeError(e)}`, { cause: e }) : e;
    }
  }

  async #fold(events: readonly LogEvent[], from: number, options: ApplyOptions, views: Transaction<ProjectionTables> | undefined): Promise<FoldedBatch> {
    const fresh = events.filter((e) => e.seq > from);
    const folded: FoldedBatch = { from, events: fresh, writes: [], rejected: [], outbox: [], sites: new Set() };
    if (fresh.length === 0) return folded;
    const ctx: FoldContext = {
      get views(): Transaction<ProjectionTables> {
        if (views === undefined) throw new FoldNeedsDatabase('this fold reads the database: it cannot run ahead of its transaction');
        return views;
      },
      events: fresh,
      dayOf: this.#dayOf,
      write: (table, rows, key) => void folded.writes.push(prepareUpsert(table, rows, key)),
      reject: (event, error) => void folded.rejected.push({ event, error: error.message }),
      append: (msgId, request) => {
        if (options.emit) folded.outbox.push({ msgId, event: request.event, siteId: request.siteId, data: request.data });
      },
      touched: (siteId) => void folded.sites.add(siteId),
      memory: options.memory?.valid === true ? options.memory : undefined,
    };
    await this.#projection.fold(ctx);
    return folded;
  }

  /** The folded batch's rows, dead letters, outbox rows and new position, in `trx`. */
  async #write(trx: Transaction<ProjectionTables>, folded: FoldedBatch, cursor: BatchCursor, options: ApplyOptions): Promise<AppliedBatch> {
    const last = folded.events.at(-1);
    if (last === undefined) return { lastSeq: folded.from, applied: 0, rejected: [], appended: 0, sites: new Set() };
    const views = trx.withSchema(options.viewSchema);
    for (const write of folded.writes) await write(views);
    const { rejected, outbox } = folded;
    const shared = trx.withSchema(this.#schema);
    await this.#deadLetters(trx, rejected);
    if (outbox.length > 0) {
      await shared
        .insertInto('projection_outbox')
        .values(outbox.map((o) => ({ projection: this.#projection.name, msg_id: o.msgId, event: o.event, site_id: o.siteId, data: JSON.stringify(o.data) })))
        .onConflict((oc) => oc.column('msg_id').doNothing())
        .execute();
    }
    await cursor.advance(trx, last.seq);
    await options.beforeCommit?.(last.seq);
    return { lastSeq: last.seq, applied: folded.events.length, rejected: rejected.map(({ event, error }) => ({ seq: event.seq, subject: event.subject, error })), appended: outbox.length, sites: folded.sites };
  }

  async #deadLetters(trx: Transaction<ProjectionTables>, rejected: FoldedBatch['rejected']): Promise<void> {
    if (rejected.length === 0) return;
    await trx
      .withSchema(this.#schema)
      .insertInto('projection_dead_letters')
      .values(rejected.map(({ event, error }) => deadLetterRow(this.#projection.name, event, error)))
      .onConflict((oc) => oc.columns(['projection', 'seq']).doNothing())
      .execute();
  }

  async #deadLetter(event: LogEvent, error: string, cursor: BatchCursor): Promise<AppliedBatch> {
    return this.#db.transaction().execute(async (trx) => {
      const from = await cursor.begin(trx);
      if (event.seq <= from) return { lastSeq: from, applied: 0, rejected: [], appended: 0, sites: new Set<string>() };
      await trx
        .withSchema(this.#schema)
        .insertInto('projection_dead_letters')
        .values(deadLetterRow(this.#projection.name, event, `rejected by the database: ${error}`))
        .onConflict((oc) => oc.columns(['projection', 'seq']).doNothing())
        .execute();
      await cursor.advance(trx, event.seq);
      return { lastSeq: event.seq, applied: 1, rejected: [{ seq: event.seq, subject: event.subject, error }], appended: 0, sites: new Set<string>() };
    });
  }
}

/**
 * Commit without waiting for the WAL flush: a batch lost to a database crash is
 * refolded, because a worker (re)starts its consumer at the checkpoint it finds
 * in the database, never at what it acked. Effects stay exactly once.
 */
async function relaxCommit(trx: Transaction<ProjectionTables>): Promise<void> {
  await sql`set local synchronous_commit = off`.execute(trx);
}

function deadLetterRow(projection: string, event: LogEvent, error: string) {
  return { projection, seq: event.seq, subject: event.subject, event: event.name ?? null, error, payload: Buffer.from(event.payload) };
}

/** The rows a fold held in memory were refused as a whole; see `BatchApplier.writeHeld`. */
export class HeldRowsRefused extends Error {
  override readonly name = 'HeldRowsRefused';
}

function merge(a: AppliedBatch, b: AppliedBatch): AppliedBatch {
  return { lastSeq: Math.max(a.lastSeq, b.lastSeq), applied: a.applied + b.applied, rejected: [...a.rejected, ...b.rejected], appended: a.appended + b.appended, sites: new Set([...a.sites, ...b.sites]) };
}

/**
 * Checkpoints: per projection, the last stream sequence applied, written in the
 * same transaction as the view rows it covers. A worker taking over bumps the
 * row's fence; a batch committed under a stale fence is refused, so a worker
 * that lost its lock (and does not know it yet) cannot write.
 */
import { type Kysely, sql, type Transaction } from 'kysely';
import type { BatchCursor } from './batch-applier.ts';
import type { ProjectionTables, ViewTableName } from './tables.ts';

export interface Checkpoint {
  readonly lastSeq: number;
  readonly fence: number;
  readonly streamEpoch: string | null;
}

/** Another worker took the projection over since this one claimed it. */
export class FencedOutError extends Error {
  override readonly name = 'FencedOutError';
}

export class CheckpointStore {
  readonly #db: Kysely<ProjectionTables>;
  readonly #schema: string;

  constructor(db: Kysely<ProjectionTables>, schema: string) {
    this.#db = db;
    this.#schema = schema;
  }

  async read(name: string): Promise<Checkpoint> {
    const row = await this.#db.withSchema(this.#schema).selectFrom('projection_checkpoints').select(['last_seq', 'fence', 'stream_epoch']).where('name', '=', name).executeTakeFirst();
    return { lastSeq: row?.last_seq ?? 0, fence: row?.fence ?? 0, streamEpoch: row?.stream_epoch ?? null };
  }

  /** Takes the projection over: the returned fence is the one batches must present. */
  async claim(name: string): Promise<Checkpoint> {
    return this.#db.transaction().execute(async (trx) => {
      const t = trx.withSchema(this.#schema);
      await t.insertInto('projection_checkpoints').values({ name, last_seq: 0, stream_epoch: null, fence: 0 }).onConflict((oc) => oc.column('name').doNothing()).execute();
      const row = await t
        .updateTable('projection_checkpoints')
        .set((eb) => ({ fence: eb('fence', '+', 1), updated_at: sql`now()` }))
        .where('name', '=', name)
        .returning(['last_seq', 'fence', 'stream_epoch'])
        .executeTakeFirstOrThrow();
      return { lastSeq: row.last_seq, fence: row.fence, streamEpoch: row.stream_epoch };
    });
  }

  /**
   * Ties the checkpoint to the stream it counts in. When the stream was recreated
   * (another epoch) or holds fewer events than were applied, the view is emptied
   * and the checkpoint set back to 0, so the worker refolds the stream it finds.
   * Returns whether it reset.
   */
  async bindToStream(name: string, fence: number, epoch: string, streamLastSeq: number, tables: readonly ViewTableName[]): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const from = await this.cursor(name, fence).begin(trx);
      const cp = await trx.withSchema(this.#schema).selectFrom('projection_checkpoints').select('stream_epoch').where('name', '=', name).executeTakeFirstOrThrow();
      const reset = (cp.stream_epoch !== null && cp.stream_epoch !== epoch) || from > streamLastSeq;
      if (reset) for (const table of tables) await sql`truncate table ${sql.table(`${this.#schema}.${table}`)}`.execute(trx);
      if (reset || cp.stream_epoch !== epoch) {
        await trx.withSchema(this.#schema).updateTable('projection_checkpoints').set({ stream_epoch: epoch, ...(reset ? { last_seq: 0 } : {}), updated_at: sql`now()` }).where('name', '=', name).execute();
      }
      return reset;
    });
  }

  /** The live position of a projection, for the batch applier. */
  cursor(name: string, fence: number): BatchCursor {
    const schema = this.#schema;
    return {
      async begin(trx: Transaction<ProjectionTables>): Promise<number> {
        // FOR UPDATE: batches of one projection commit one after another, and a rebuild's swap waits for them.
        const row = await trx.withSchema(schema).selectFrom('projection_checkpoints').select(['last_seq', 'fence']).where('name', '=', name).forUpdate().executeTakeFirst();
        if (row === undefined || row.fence !== fence) throw new FencedOutError(`projection ${name} was taken over by another worker`);
        return row.last_seq;
      },
      async advance(trx: Transaction<ProjectionTables>, seq: number): Promise<void> {
        await trx.withSchema(schema).updateTable('projection_checkpoints').set({ last_seq: seq, updated_at: sql`now()` }).where('name', '=', name).execute();
      },
    };
  }
}

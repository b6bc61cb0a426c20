/**
 * A projection folds batches of log events into its view tables. The worker
 * (live) and the rebuild run the same fold; only where it writes and whether it
 * may emit side effects differ.
 */
import type { Selectable, Transaction } from 'kysely';
import type { AppendRequest } from '../protocol/event-append.ts';
import type { FoldMemory } from './fold-memory.ts';
import type { LogEvent } from './log-event.ts';
import type { ProjectionTables, ViewTableName, ViewTables } from './tables.ts';

export interface FoldContext {
  /**
   * Builds queries on the schema holding this fold's view tables (the live one, or a
   * rebuild's), in the batch's transaction. A fold run ahead of its transaction (a
   * rebuild's next batch, prepared while Postgres writes the one before) has none:
   * reaching for it throws `FoldNeedsDatabase`, and the batch is folded again in its
   * transaction.
   */
  readonly views: Transaction<ProjectionTables>;
  /**
   * Queues the changed rows of a view table (whole rows, absolute values), written
   * after the fold in the batch's transaction. They are serialized at once: the fold
   * may keep changing its row objects.
   */
  write<T extends ViewTableName>(table: T, rows: readonly Selectable<ViewTables[T]>[], key: readonly (keyof ViewTables[T] & string)[]): void;
  /** Events above the checkpoint, in log order. */
  readonly events: readonly LogEvent[];
  /** Calendar day (`YYYY-MM-DD`) of a log timestamp, in the projections' time zone. */
  dayOf(ts: number): string;
  /** Records an event the fold cannot apply (dead letter) and leaves the view as if it never came. */
  reject(event: LogEvent, error: Error): void;
  /**
   * Appends an event after commit (transactional outbox), with a deterministic id so
   * a retried publish is stored once. Ignored in a rebuild: the live worker already
   * appended everything up to the position a rebuild reaches.
   */
  append(msgId: string, request: AppendRequest & { siteId: string }): void;
  /** Marks a site whose view changed (drives `dashboard:update` pushes). */
  touched(siteId: string): void;
  /** In a rebuild: rows the fold may keep between batches instead of loading them (see FoldMemory). */
  readonly memory: FoldMemory | undefined;
}

export interface Projection {
  readonly name: string;
  /** The view tables a rebuild recreates and swaps in together. */
  readonly tables: readonly ViewTableName[];
  /** The consumer's subject filter (nats-server 2.9: exactly one per consumer). */
  filter(ns: string): string;
  fold(ctx: FoldContext): Promise<void>;
  /**
   * Queues every row `memory` holds, through `write`: a rebuild whose folds deferred
   * their writes (`FoldMemory.defersWrites`) writes each row once, at the end,
   * instead of the changed rows of every batch. A projection without it is
   * rebuilt batch by batch.
   */
  writeHeld?(memory: FoldMemory, write: FoldContext['write']): void;
}

/** A fold run ahead of its transaction reached for the database. */
export class FoldNeedsDatabase extends Error {
  override readonly name = 'FoldNeedsDatabase';
}

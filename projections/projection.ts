/**
 * A projection folds batches of log events into its view tables. The worker
 * (live) and the rebuild run the same fold; only where it writes and whether it
 * may emit side effects differ.
 */
import type { Transaction } from 'kysely';
import type { AppendRequest } from '../protocol/event-append.ts';
import type { FoldMemory } from './fold-memory.ts';
import type { LogEvent } from './log-event.ts';
import type { ProjectionTables, ViewTableName } from './tables.ts';

export interface FoldContext {
  /** Builds queries on the schema holding this fold's view tables (the live one, or a rebuild's). */
  readonly views: Transaction<ProjectionTables>;
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
}

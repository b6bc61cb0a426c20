/**
 * The projections' tables, typed for kysely. All live in one Postgres schema
 * (`PROJECTIONS_SCHEMA`); a rebuild fills copies of a projection's view tables
 * in a schema of its own and moves them in. Stream sequences are int8, parsed
 * as numbers (exact below 2^53). Quantities are float8: folds apply events one
 * by one to the stored value, so any batching gives the same bits.
 */
import type { ColumnType, Generated, Selectable } from 'kysely';

export interface CheckpointTable {
  /** The projection's name. */
  name: string;
  /** Last stream sequence applied (events at or below it are skipped). */
  last_seq: number;
  /** Creation time of the stream the sequences belong to; another value means the stream was recreated. */
  stream_epoch: string | null;
  /** Bumped by every worker that takes over: a worker whose fence is stale may not commit. */
  fence: number;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface DeadLetterTable {
  projection: string;
  seq: number;
  subject: string;
  event: string | null;
  error: string;
  payload: Uint8Array;
  recorded_at: ColumnType<Date, Date | string | undefined, never>;
}

/** Events a projection decided to append (low-stock alarms), published after commit. */
export interface OutboxTable {
  id: Generated<number>;
  projection: string;
  /** Deterministic `Nats-Msg-Id`: a retried publish is stored once. */
  msg_id: string;
  event: string;
  site_id: string;
  data: ColumnType<unknown, string, string>;
  created_at: ColumnType<Date, Date | string | undefined, never>;
}

/** One row per task, order, vehicle, production batch and alarm a site has seen. */
export interface DashboardEntityTable {
  site_id: string;
  kind: string;
  entity_id: string;
  status: string;
  /** Alarms: their level. */
  level: string | null;
  /** Alarms: their title. */
  title: string | null;
  /** Batches: the production day they count in (`YYYY-MM-DD` in the projections' time zone). */
  day: string | null;
  /** Batches: volume produced (m³). */
  volume: number | null;
  first_seq: number;
  changed_seq: number;
  changed_at: Date;
}

/** Counters per site: `task`, `order`, `vehicle` by status; `alarm_open`, `alarm_unacked` by level. */
export interface DashboardCountTable {
  site_id: string;
  kind: string;
  status: string;
  n: number;
}

/** Production per site and day, by batch status. */
export interface DashboardProductionTable {
  site_id: string;
  day: string;
  status: string;
  batches: number;
  volume: number;
}

export interface DashboardSiteTable {
  site_id: string;
  last_seq: number;
  last_event_at: Date;
}

export interface InventoryItemTable {
  site_id: string;
  material_id: string;
  name: string | null;
  unit: string | null;
  on_hand: number;
  threshold: number | null;
  low: boolean;
  /** The open low-stock alarm raised when this material crossed below its threshold. */
  low_alarm_id: string | null;
  last_movement: string;
  last_quantity: number;
  last_movement_at: Date;
  last_seq: number;
}

/** Tables a rebuild recreates and swaps, by projection. */
export interface ViewTables {
  dashboard_entities: DashboardEntityTable;
  dashboard_counts: DashboardCountTable;
  dashboard_production: DashboardProductionTable;
  dashboard_sites: DashboardSiteTable;
  inventory_items: InventoryItemTable;
}

export interface ProjectionTables extends ViewTables {
  projection_checkpoints: CheckpointTable;
  projection_dead_letters: DeadLetterTable;
  projection_outbox: OutboxTable;
}

export type ViewTableName = keyof ViewTables;
export type DashboardEntity = Selectable<DashboardEntityTable>;
export type InventoryItem = Selectable<InventoryItemTable>;
export type DeadLetter = Selectable<DeadLetterTable>;

/** The Postgres types view columns have. */
export type ViewColumnType = 'text' | 'float8' | 'int8' | 'int4' | 'bool' | 'timestamptz';

/** Postgres types of the view tables' columns, for bulk statements that pass one array per column. */
export const VIEW_COLUMNS: { readonly [T in ViewTableName]: { readonly [C in keyof ViewTables[T]]-?: ViewColumnType } } = {
  dashboard_entities: { site_id: 'text', kind: 'text', entity_id: 'text', status: 'text', level: 'text', title: 'text', day: 'text', volume: 'float8', first_seq: 'int8', changed_seq: 'int8', changed_at: 'timestamptz' },
  dashboard_counts: { site_id: 'text', kind: 'text', status: 'text', n: 'int4' },
  dashboard_production: { site_id: 'text', day: 'text', status: 'text', batches: 'int4', volume: 'float8' },
  dashboard_sites: { site_id: 'text', last_seq: 'int8', last_event_at: 'timestamptz' },
  inventory_items: { site_id: 'text', material_id: 'text', name: 'text', unit: 'text', on_hand: 'float8', threshold: 'float8', low: 'bool', low_alarm_id: 'text', last_movement: 'text', last_quantity: 'float8', last_movement_at: 'timestamptz', last_seq: 'int8' },
};

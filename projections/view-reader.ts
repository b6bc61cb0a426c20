/**
 * Reads the views as snapshots that say which offset they reflect: every site
 * event at or below `offset` is in the snapshot, none above it. A client loads a
 * snapshot, then resumes the site's events from `offset` (no gap, no double count).
 */
import { type Kysely, sql, type Transaction } from 'kysely';
import { calendarDay } from './calendar-day.ts';
import { AlarmStatus, BatchStatus, Kind } from './dashboard-fold.ts';
import { DashboardProjection } from './dashboard-projection.ts';
import { InventoryProjection } from './inventory-projection.ts';
import type { ProjectionTables } from './tables.ts';

export interface AlarmSummary {
  readonly id: string;
  readonly level: string;
  readonly title: string | null;
  /** `open` (unacknowledged) or `acknowledged`. */
  readonly status: string;
  /** Offset of the event that raised it. */
  readonly offset: number;
  readonly changedAt: string;
}

export interface DashboardSnapshot {
  readonly siteId: string;
  /** The site stream sequence this snapshot reflects. */
  readonly offset: number;
  /** The calendar day `production` counts (projections' time zone). */
  readonly day: string;
  readonly production: { readonly batches: number; readonly volume: number; readonly byStatus: Readonly<Record<string, { batches: number; volume: number }>> };
  readonly tasks: Readonly<Record<string, number>>;
  readonly vehicles: Readonly<Record<string, number>>;
  readonly orders: Readonly<Record<string, number>>;
  readonly alarms: {
    readonly open: number;
    readonly unacknowledged: number;
    readonly openByLevel: Readonly<Record<string, number>>;
    readonly unacknowledgedByLevel: Readonly<Record<string, number>>;
    /** The newest open alarms, newest first. */
    readonly recent: readonly AlarmSummary[];
  };
  /** Log time of the last event folded for this site, or null when none was. */
  readonly updatedAt: string | null;
}

export interface InventoryLine {
  readonly materialId: string;
  readonly name: string | null;
  readonly unit: string | null;
  readonly onHand: number;
  readonly threshold: number | null;
  readonly low: boolean;
  readonly lowAlarmId: string | null;
  readonly lastMovement: { readonly type: string; readonly quantity: number; readonly at: string; readonly offset: number };
}

export interface InventorySnapshot {
  readonly siteId: string;
  /** Every inventory event of the site stream at or below it is reflected. */
  readonly offset: number;
  readonly items: readonly InventoryLine[];
}

const RECENT_ALARMS = 20;
/** In the order a rebuild swaps them: locks taken in one order cannot deadlock. */
const DASHBOARD_TABLES = new DashboardProjection().tables;

/**
 * @example
 * const reader = new ViewReader(db, 'projections', 'Asia/Shanghai');
 * const { offset, production } = await reader.dashboard('7');
 */
export class ViewReader {
  readonly #db: Kysely<ProjectionTables>;
  readonly #schema: string;
  readonly #dayOf: (ts: number) => string;

  constructor(db: Kysely<ProjectionTables>, schema: string, timeZone: string) {
    this.#db = db;
    this.#schema = schema;
    this.#dayOf = calendarDay(timeZone);
  }

  async dashboard(siteId: string, now: number = Date.now()): Promise<DashboardSnapshot> {
    const day = this.#dayOf(now);
    // One snapshot of the database for every read, so `offset` matches the rows.
    return this.#db
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute(async (trx) => {
        await this.#lock(trx, DASHBOARD_TABLES);
        const t = trx.withSchema(this.#schema);
        const offset = await this.#offset(t, 'dashboard');
        const counts = await t.selectFrom('dashboard_counts').select(['kind', 'status', 'n']).where('site_id', '=', siteId).where('n', '<>', 0).execute();
        const production = await t.selectFrom('dashboard_production').select(['status', 'batches', 'volume']).where('site_id', '=', siteId).where('day', '=', day).execute();
        const recent = await t
          .selectFrom('dashboard_entities')
          .select(['entity_id', 'level', 'title', 'status', 'first_seq', 'changed_at'])
          .where('site_id', '=', siteId)
          .where('kind', '=', Kind.alarm)
          .where('status', '<>', AlarmStatus.cleared)
          .orderBy('first_seq', 'desc')
          .limit(RECENT_ALARMS)
          .execute();
        const site = await t.selectFrom('dashboard_sites').select('last_event_at').where('site_id', '=', siteId).executeTakeFirst();
        const by = (kind: string) => Object.fromEntries(counts.filter((c) => c.kind === kind).map((c) => [c.status, c.n]));
        const openByLevel = by(Kind.alarmOpen);
        const unacknowledgedByLevel = by(Kind.alarmUnacked);
        const byStatus = Object.fromEntries(production.filter((p) => p.batches !== 0).map((p) => [p.status, { batches: p.batches, volume: p.volume }]));
        return {
          siteId,
          offset,
          day,
          production: { batches: sum(production.map((p) => p.batches)), volume: production.find((p) => p.status === BatchStatus.completed)?.volume ?? 0, byStatus },
          tasks: by(Kind.task),
          vehicles: by(Kind.vehicle),
          orders: by(Kind.order),
          alarms: {
            open: sum(Object.values(openByLevel)),
            unacknowledged: sum(Object.values(unacknowledgedByLevel)),
            openByLevel,
            unacknowledgedByLevel,
            recent: recent.map((a) => ({ id: a.entity_id, level: a.level ?? 'unknown', title: a.title, status: a.status, offset: a.first_seq, changedAt: a.changed_at.toISOString() })),
          },
          updatedAt: site?.last_event_at.toISOString() ?? null,
        };
      });
  }

  async inventory(siteId: string): Promise<InventorySnapshot> {
    return this.#db
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute(async (trx) => {
        await this.#lock(trx, new InventoryProjection().tables);
        const t = trx.withSchema(this.#schema);
        const offset = await this.#offset(t, 'inventory');
        const rows = await t.selectFrom('inventory_items').selectAll().where('site_id', '=', siteId).orderBy('material_id').execute();
        return {
          siteId,
          offset,
          items: rows.map((r) => ({
            materialId: r.material_id,
            name: r.name,
            unit: r.unit,
            onHand: r.on_hand,
            threshold: r.threshold,
            low: r.low,
            lowAlarmId: r.low_alarm_id,
            lastMovement: { type: r.last_movement, quantity: r.last_quantity, at: r.last_movement_at.toISOString(), offset: r.last_seq },
          })),
        };
      });
  }

  /** Sites the dashboard has seen events of. */
  async sites(): Promise<string[]> {
    const rows = await this.#db.withSchema(this.#schema).selectFrom('dashboard_sites').select('site_id').orderBy('site_id').execute();
    return rows.map((r) => r.site_id);
  }

  /**
   * Taken before the first read, so the transaction's snapshot starts after any
   * rebuild swap in progress (Postgres freezes a repeatable-read snapshot at the
   * first query, not at LOCK): the rows read and the checkpoint always agree.
   */
  async #lock(trx: Transaction<ProjectionTables>, tables: readonly string[]): Promise<void> {
    await sql`lock table ${sql.join(tables.map((t) => sql.table(`${this.#schema}.${t}`)))} in access share mode`.execute(trx);
  }

  async #offset(t: Kysely<ProjectionTables>, projection: string): Promise<number> {
    const row = await t.selectFrom('projection_checkpoints').select('last_seq').where('name', '=', projection).executeTakeFirst();
    return row?.last_seq ?? 0;
  }
}

function sum(values: readonly number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

/** The checkpoint, dead-letter and outbox tables, and the dashboard and inventory views. */
import { type Kysely, type Migration, sql } from 'kysely';

/** Room on every page so a row rewritten by a fold is updated in place (HOT), without index writes. */
const HOT = sql`with (fillfactor = 70)`;

export function initial(schema: string): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      const s = db.schema.withSchema(schema);
      await s
        .createTable('projection_checkpoints')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('last_seq', 'int8', (c) => c.notNull().defaultTo(0))
        .addColumn('stream_epoch', 'text')
        .addColumn('fence', 'int8', (c) => c.notNull().defaultTo(0))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await s
        .createTable('projection_dead_letters')
        .addColumn('projection', 'text', (c) => c.notNull())
        .addColumn('seq', 'int8', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('event', 'text')
        .addColumn('error', 'text', (c) => c.notNull())
        .addColumn('payload', 'bytea', (c) => c.notNull())
        .addColumn('recorded_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addPrimaryKeyConstraint('projection_dead_letters_pk', ['projection', 'seq'])
        .execute();
      await s
        .createTable('projection_outbox')
        .addColumn('id', 'bigserial', (c) => c.primaryKey())
        .addColumn('projection', 'text', (c) => c.notNull())
        .addColumn('msg_id', 'text', (c) => c.notNull().unique())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('site_id', 'text', (c) => c.notNull())
        .addColumn('data', 'jsonb', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await s
        .createTable('dashboard_entities')
        .addColumn('site_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('entity_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('level', 'text')
        .addColumn('title', 'text')
        .addColumn('day', 'text')
        .addColumn('volume', 'float8')
        .addColumn('first_seq', 'int8', (c) => c.notNull())
        .addColumn('changed_seq', 'int8', (c) => c.notNull())
        .addColumn('changed_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('dashboard_entities_pk', ['site_id', 'kind', 'entity_id'])
        .modifyEnd(HOT)
        .execute();
      // The alarm feed: a site's newest alarms first. Partial, so other entities' writes skip it.
      await s.createIndex('dashboard_entities_recent').on('dashboard_entities').columns(['site_id', 'first_seq']).where(sql.ref('kind'), '=', 'alarm').execute();
      await s
        .createTable('dashboard_counts')
        .addColumn('site_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('n', 'int4', (c) => c.notNull())
        .addPrimaryKeyConstraint('dashboard_counts_pk', ['site_id', 'kind', 'status'])
        .modifyEnd(HOT)
        .execute();
      await s
        .createTable('dashboard_production')
        .addColumn('site_id', 'text', (c) => c.notNull())
        .addColumn('day', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('batches', 'int4', (c) => c.notNull())
        .addColumn('volume', 'float8', (c) => c.notNull())
        .addPrimaryKeyConstraint('dashboard_production_pk', ['site_id', 'day', 'status'])
        .modifyEnd(HOT)
        .execute();
      await s
        .createTable('dashboard_sites')
        .addColumn('site_id', 'text', (c) => c.primaryKey())
        .addColumn('last_seq', 'int8', (c) => c.notNull())
        .addColumn('last_event_at', 'timestamptz', (c) => c.notNull())
        .modifyEnd(HOT)
        .execute();
      await s
        .createTable('inventory_items')
        .addColumn('site_id', 'text', (c) => c.notNull())
        .addColumn('material_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('unit', 'text')
        .addColumn('on_hand', 'float8', (c) => c.notNull())
        .addColumn('threshold', 'float8')
        .addColumn('low', 'boolean', (c) => c.notNull())
        .addColumn('low_alarm_id', 'text')
        .addColumn('last_movement', 'text', (c) => c.notNull())
        .addColumn('last_quantity', 'float8', (c) => c.notNull())
        .addColumn('last_movement_at', 'timestamptz', (c) => c.notNull())
        .addColumn('last_seq', 'int8', (c) => c.notNull())
        .addPrimaryKeyConstraint('inventory_items_pk', ['site_id', 'material_id'])
        .modifyEnd(HOT)
        .execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      const s = db.schema.withSchema(schema);
      for (const t of ['inventory_items', 'dashboard_sites', 'dashboard_production', 'dashboard_counts', 'dashboard_entities', 'projection_outbox', 'projection_dead_letters', 'projection_checkpoints']) {
        await s.dropTable(t).ifExists().execute();
      }
    },
  };
}

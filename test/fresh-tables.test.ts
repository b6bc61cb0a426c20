/**
 * A rebuild's fresh tables are the live ones' twins: once swapped in, the view
 * tables have the same columns, constraints, indexes (by name and definition)
 * and storage settings as the migrations made them (real Postgres and PGlite).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Kysely, sql } from 'kysely';
import { createFreshTables, swapInFreshTables } from '../projections/fresh-tables.ts';
import { migrateToLatest } from '../projections/migrations/index.ts';
import type { ProjectionTables } from '../projections/tables.ts';
import { createTestDatabase } from './support/postgres.ts';

const SCHEMA = 'projections';
const TABLES = ['dashboard_entities', 'dashboard_counts', 'dashboard_production', 'dashboard_sites', 'inventory_items'];

/** Everything about the view tables a swap must keep, schema names left out. */
async function shape(db: Kysely<ProjectionTables>) {
  const tables = await sql`select relname, reloptions from pg_class c join pg_namespace n on n.oid = c.relnamespace where nspname = ${SCHEMA} and relkind = 'r' order by relname`.execute(db);
  const columns = await sql`select table_name, column_name, data_type, is_nullable, column_default from information_schema.columns where table_schema = ${SCHEMA} order by table_name, ordinal_position`.execute(db);
  const constraints = await sql`select conrelid::regclass::text as t, conname, contype, pg_get_constraintdef(oid) as def from pg_constraint where connamespace = ${SCHEMA}::regnamespace order by conname`.execute(db);
  const indexes = await sql`select tablename, indexname, indexdef from pg_indexes where schemaname = ${SCHEMA} order by indexname`.execute(db);
  return { tables: tables.rows, columns: columns.rows, constraints: constraints.rows, indexes: indexes.rows };
}

describe('fresh tables', () => {
  for (const pglite of [false, true]) {
    it(`given the migrated view tables, when fresh copies are made and swapped in, then the tables are as the migrations made them${pglite ? ' (PGlite)' : ''}`, async () => {
      const t = await createTestDatabase({ pglite });
      try {
        const db = t.database.db;
        await migrateToLatest(db, SCHEMA);
        const before = await shape(db);
        assert.ok(before.tables.some((r: any) => r.reloptions?.includes('fillfactor=70')), 'the migrations give the view tables a fillfactor');
        await createFreshTables(db, SCHEMA, 'fresh_copy', TABLES);
        await sql`insert into fresh_copy.dashboard_sites values ('7', 42, now())`.execute(db);
        await db.transaction().execute((trx) => swapInFreshTables(trx, SCHEMA, 'fresh_copy', TABLES));
        assert.deepEqual(await shape(db), before);
        assert.deepEqual((await db.withSchema(SCHEMA).selectFrom('dashboard_sites').select(['site_id', 'last_seq']).execute()), [{ site_id: '7', last_seq: 42 }], 'the fresh rows are the live ones now');
      } finally {
        await t.drop();
      }
    });
  }
});

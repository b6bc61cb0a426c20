/**
 * A rebuild's fresh copies of a projection's view tables, in a schema of their
 * own, made to be moved in as they are: the live tables' columns and constraints
 * (`LIKE ... INCLUDING ALL`), their storage settings (fillfactor, which `LIKE`
 * leaves out: a rebuilt table lost the room HOT updates need) and their index and
 * constraint names (`LIKE` would generate others). So the swap is one drop and a
 * move per table, in the caller's transaction: no catalog reads, no renames.
 */
import { type Kysely, sql, type Transaction } from 'kysely';
import type { ProjectionTables } from './tables.ts';

/**
 * Makes `fresh` (dropping what a failed rebuild left there) with empty copies of the live `tables`.
 * @example
 * await createFreshTables(db, 'projections', 'projections_rebuild_dashboard', ['dashboard_sites']);
 * // ...fill them, then, in the transaction that moves the position:
 * await db.transaction().execute((trx) => swapInFreshTables(trx, 'projections', 'projections_rebuild_dashboard', ['dashboard_sites']));
 */
export async function createFreshTables(db: Kysely<ProjectionTables>, live: string, fresh: string, tables: readonly string[]): Promise<void> {
  await sql`drop schema if exists ${sql.id(fresh)} cascade`.execute(db);
  await sql`create schema ${sql.id(fresh)}`.execute(db);
  if (tables.length === 0) return;
  const names = sql.join(tables.map((t) => sql.lit(t)));
  const { rows: options } = await sql<{ table: string; options: string[] | null }>`
    select c.relname as "table", c.reloptions as options from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${live} and c.relkind = 'r' and c.relname in (${names})`.execute(db);
  const { rows: indexes } = await sql<{ table: string; name: string; constraint: string | null; definition: string }>`
    select t.relname as "table", i.relname as name, pg_get_constraintdef(con.oid) as "constraint", pg_get_indexdef(x.indexrelid) as definition
    from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid join pg_namespace n on n.oid = t.relnamespace
    left join pg_constraint con on con.conindid = x.indexrelid and con.conrelid = x.indrelid and con.contype in ('p', 'u', 'x')
    where n.nspname = ${live} and t.relname in (${names}) order by i.relname`.execute(db);
  for (const table of tables) {
    const target = sql.table(`${fresh}.${table}`);
    const storage = options.find((o) => o.table === table)?.options ?? [];
    const using = storage.length === 0 ? sql`` : sql` with (${sql.join(storage.map(storageOption))})`;
    await sql`create table ${target} (like ${sql.table(`${live}.${table}`)} including all excluding indexes)${using}`.execute(db);
    for (const index of indexes.filter((i) => i.table === table)) {
      // A constraint's index comes with its constraint; any other index from its definition, past `ON table`.
      if (index.constraint !== null) await sql`alter table ${target} add constraint ${sql.id(index.name)} ${sql.raw(index.constraint)}`.execute(db);
      else await sql`create ${sql.raw(index.definition.startsWith('CREATE UNIQUE') ? 'unique ' : '')}index ${sql.id(index.name)} on ${target}${sql.raw(index.definition.slice(index.definition.indexOf(' USING ')))}`.execute(db);
    }
  }
}

/** Replaces the live `tables` by the fresh ones, in `trx`: names and settings are already the live ones. */
export async function swapInFreshTables(trx: Transaction<ProjectionTables>, live: string, fresh: string, tables: readonly string[]): Promise<void> {
  if (tables.length === 0) return;
  await sql`drop table ${sql.join(tables.map((t) => sql.table(`${live}.${t}`)))}`.execute(trx);
  for (const table of tables) await sql`alter table ${sql.table(`${fresh}.${table}`)} set schema ${sql.id(live)}`.execute(trx);
}

/** `fillfactor=70` (as `pg_class.reloptions` has it) as SQL, the value quoted. */
function storageOption(option: string) {
  const at = option.indexOf('=');
  const name = option.slice(0, at);
  if (!/^[a-z_][a-z0-9_.]*$/.test(name)) throw new Error(`unexpected storage option ${JSON.stringify(option)}`);
  return sql`${sql.raw(name)} = ${sql.lit(option.slice(at + 1))}`;
}

/**
 * Bulk statements for folds: a batch's changed rows go out as one `INSERT ...
 * SELECT FROM json_to_recordset($1) ON CONFLICT DO UPDATE` per table, and the rows
 * a batch touches come in with one `WHERE (key) IN (SELECT FROM json_to_recordset($1))`.
 * One parameter whatever the row count: no 65,535-parameter limit, Postgres parses
 * a short statement instead of thousands of VALUES tuples, and the rows are
 * serialized by the engine's native JSON.stringify.
 */
import { type Selectable, sql, type Transaction } from 'kysely';
import { type ProjectionTables, VIEW_COLUMNS, type ViewTableName, type ViewTables } from './tables.ts';

type Column<T extends ViewTableName> = keyof ViewTables[T] & string;

/** A bulk upsert with its rows already serialized: the fold may go on changing its row objects. */
export type PreparedWrite = (views: Transaction<ProjectionTables>) => Promise<void>;

/** Writes `rows` (whole rows, absolute values) into `table`, replacing those with the same key. */
export async function upsert<T extends ViewTableName>(views: Transaction<ProjectionTables>, table: T, rows: readonly Selectable<ViewTables[T]>[], key: readonly Column<T>[]): Promise<void> {
  await prepareUpsert(table, rows, key)(views);
}

/** The same, serialized now and run later (in the batch's transaction). */
export function prepareUpsert<T extends ViewTableName>(table: T, rows: readonly Selectable<ViewTables[T]>[], key: readonly Column<T>[]): PreparedWrite {
  return prepareRows(table, rows, key);
}

/** Rows for a table holding none with their keys (a rebuild's fresh tables): a plain insert, serialized now. */
export function prepareInsert<T extends ViewTableName>(table: T, rows: readonly Selectable<ViewTables[T]>[]): PreparedWrite {
  return prepareRows(table, rows, undefined);
}

/** `INSERT ... SELECT FROM json_to_recordset`, replacing rows with the same `key` when one is given. */
function prepareRows<T extends ViewTableName>(table: T, rows: readonly Selectable<ViewTables[T]>[], key: readonly Column<T>[] | undefined): PreparedWrite {
  if (rows.length === 0) return async () => {};
  const types = VIEW_COLUMNS[table] as Record<string, string>;
  const columns = Object.keys(types);
  const update = key === undefined ? [] : columns.filter((c) => !(key as readonly string[]).includes(c));
  const json = JSON.stringify(rows);
  // kysely cannot type a table chosen at run time; the signatures above keep callers typed.
  return async (views) => {
    const insert = views
      .insertInto(table as any)
      .columns(columns as any)
      .expression((eb: any) => eb.selectFrom(recordset(json, columns, types)).select(columns));
    await (key === undefined ? insert : insert.onConflict((oc: any) => oc.columns(key).doUpdateSet(Object.fromEntries(update.map((c) => [c, sql.ref(`excluded.${c}`)]))))).execute();
  };
}

/** Rows of `table` whose `key` columns equal one of `tuples`. */
export async function selectByKeys<T extends ViewTableName>(views: Transaction<ProjectionTables>, table: T, key: readonly Column<T>[], tuples: ReadonlyArray<readonly string[]>): Promise<Selectable<ViewTables[T]>[]> {
  if (tuples.length === 0) return [];
  const types = VIEW_COLUMNS[table] as Record<string, string>;
  const rows = tuples.map((t) => Object.fromEntries(key.map((c, i) => [c, t[i]])));
  return (await views
    .selectFrom(table as any)
    .selectAll()
    .where((eb: any) => eb(eb.refTuple(...key), 'in', eb.selectFrom(recordset(JSON.stringify(rows), key, types)).select(key)))
    .execute()) as Selectable<ViewTables[T]>[];
}

/** `json_to_recordset($1) as r(col type, ...)`: one JSON parameter for all rows (JSON.stringify is native and fast). */
function recordset(json: string, columns: readonly string[], types: Record<string, string>) {
  return sql`json_to_recordset(${json}::json)`.as(sql`r(${sql.join(columns.map((c) => sql`${sql.id(c)} ${sql.raw(types[c]!)}`))})` as any);
}

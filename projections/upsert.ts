/**
 * Multi-row upserts: a batch's changed rows go out as one `INSERT ... ON CONFLICT
 * DO UPDATE` per table (split only where Postgres' 65,535-parameter limit forces
 * it). One statement per batch, not per event, is what makes folding fast.
 */
import type { Insertable, Transaction } from 'kysely';
import type { ProjectionTables } from './tables.ts';

const MAX_PARAMETERS = 60_000;

export async function upsert<T extends keyof ProjectionTables & string>(
  views: Transaction<ProjectionTables>,
  table: T,
  rows: readonly Insertable<ProjectionTables[T]>[],
  key: readonly (keyof ProjectionTables[T] & string)[],
): Promise<void> {
  const first = rows[0];
  if (first === undefined) return;
  const columns = Object.keys(first);
  const update = columns.filter((c) => !key.includes(c as keyof ProjectionTables[T] & string));
  const chunk = Math.max(1, Math.floor(MAX_PARAMETERS / columns.length));
  for (let i = 0; i < rows.length; i += chunk) {
    // kysely cannot type a table chosen at run time; the signature above keeps callers typed.
    const q = views.insertInto(table as any).values(rows.slice(i, i + chunk) as any[]);
    await q
      .onConflict((oc) => oc.columns(key as any).doUpdateSet((eb) => Object.fromEntries(update.map((c) => [c, eb.ref(`excluded.${c}` as any)])) as any))
      .execute();
  }
}

/** Splits an array into pieces of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

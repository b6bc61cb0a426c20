/**
 * Runs the projections' migrations with kysely's Migrator. Migrations are listed
 * here, in order, rather than discovered on disk, so they run the same under tsx,
 * a bundle or a test. Add one by appending `'<nnn>-<name>': yourMigration(schema)`.
 */
import { type Kysely, type Migration, type MigrationResultSet, Migrator } from 'kysely';
import { initial } from './001-initial.ts';

export function migrations(schema: string): Record<string, Migration> {
  return {
    '001-initial': initial(schema),
  };
}

/** A migration that failed; `cause` is the database's error. */
export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

/** Brings `schema` to the latest migration (creating it if needed); idempotent. */
export async function migrateToLatest(db: Kysely<any>, schema: string): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations(schema) },
    migrationTableSchema: schema,
    migrationTableName: 'projection_migrations',
    migrationLockTableName: 'projection_migrations_lock',
  });
  const result = await migrator.migrateToLatest();
  if (result.error !== undefined) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new MigrationError(`migration ${failed} failed in schema ${schema}: ${(result.error as Error).message}`, { cause: result.error });
  }
  return result;
}

/** Postgres for tests: a database of the test's own on the machine's server, created and dropped. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openPglite, openPostgres, type ProjectionDatabase } from '../../projections/database.ts';

/** The server .ci/run starts (trust auth for `postgres` on loopback). */
export const POSTGRES_ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  readonly database: ProjectionDatabase;
  /** `postgresql://...` of the test database, or undefined for PGlite. */
  readonly url: string | undefined;
  /** Closes it and drops (or deletes) what it created. */
  drop(): Promise<void>;
}

/** A fresh Postgres database (default), or a fresh PGlite directory with `{ pglite: true }`. */
export async function createTestDatabase(options: { pglite?: boolean } = {}): Promise<TestDatabase> {
  if (options.pglite === true) {
    const dir = mkdtempSync(join(tmpdir(), 'hub-pglite-'));
    const database = await openPglite(dir);
    return {
      database,
      url: undefined,
      drop: async () => {
        await database.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const name = `hub_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  await admin(`create database ${name}`);
  const url = databaseUrl(name);
  const database = openPostgres(url);
  return {
    database,
    url,
    drop: async () => {
      await database.close();
      await admin(`drop database if exists ${name} with (force)`);
    },
  };
}

function databaseUrl(name: string): string {
  const u = new URL(POSTGRES_ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

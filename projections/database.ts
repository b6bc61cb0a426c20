/**
 * Opens the projections' database: real Postgres when DATABASE_URL is set, else
 * an embedded PGlite under the data folder. Everything above this file is the
 * same code on both; int8 columns come back as numbers on both.
 */
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { claimPglite, LOCK_FILE, pglitePath } from './embedded-lock.ts';
import { type CopyPart, copyFrom } from './pg-copy.ts';
import { PgAdvisoryLocks } from './pg-advisory-locks.ts';
import type { ProjectionTables } from './tables.ts';
import { LocalLocks, type WorkerLocks } from './worker-lock.ts';

export { claimPglite, DatabaseInUseError, pglitePath } from './embedded-lock.ts';

export interface ProjectionDatabase {
  readonly db: Kysely<ProjectionTables>;
  readonly kind: 'postgres' | 'pglite';
  /** Where the embedded database lives, or the Postgres URL without its password. */
  readonly location: string;
  readonly locks: WorkerLocks;
  /**
   * Runs the `COPY ... FROM STDIN` parts `next` gives until it gives none, one after
   * the other, in one transaction on a connection of its own, without waiting for
   * the WAL flush (see batch-applier.ts); `next` is asked for a part once the one
   * before is loaded. Postgres only: PGlite has no copy protocol here, and bulk
   * writes go in as inserts.
   */
  readonly copyFrom?: (next: () => CopyPart | undefined) => Promise<void>;
  close(): Promise<void>;
}

const INT8_OID = 20;

export async function openDatabase(options: { databaseUrl: string | undefined; dataDir: string }): Promise<ProjectionDatabase> {
  return options.databaseUrl === undefined ? openPglite(pglitePath(options.dataDir)) : openPostgres(options.databaseUrl);
}

export function openPostgres(databaseUrl: string): ProjectionDatabase {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: 8,
    keepAlive: true,
    connectionTimeoutMillis: 5000,
    types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser },
  });
  // A client losing its connection emits 'error' (the pool's when idle, its own when checked out);
  // unheard, that would crash the process. The query in flight rejects and the worker retries.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<ProjectionTables>({ dialect: new PostgresDialect({ pool }) });
  const copy = async (next: () => CopyPart | undefined): Promise<void> => {
    let part = next();
    if (part === undefined) return;
    const client = await pool.connect();
    let failure: Error | undefined;
    try {
      // One round trip: with no parameters, node-postgres sends both statements as one simple query.
      await client.query('begin; set local synchronous_commit = off');
      for (; part !== undefined; part = next()) await copyFrom(client, part.statement, part.data);
      await client.query('commit');
    } catch (e) {
      failure = e as Error;
      await client.query('rollback').catch(() => {});
      throw e;
    } finally {
      // A client whose connection failed is not given back to the pool.
      client.release(failure !== undefined && !('code' in failure) ? failure : undefined);
    }
  };
  return { db, kind: 'postgres', location: redact(databaseUrl), locks: new PgAdvisoryLocks(databaseUrl), copyFrom: copy, close: () => db.destroy() };
}

/** PGlite keeps its files under `dir`; a pid file keeps a second process from opening them. */
export async function openPglite(dir: string): Promise<ProjectionDatabase> {
  claimPglite(dir);
  const path = resolve(dir);
  const lockFile = join(path, LOCK_FILE);
  if (!existsSync(join(path, 'PG_VERSION'))) await initializeInWorker(path);
  // Loaded here, not at the top: PGlite's WebAssembly is the heaviest import of a start, and a hub on Postgres never needs it.
  const [{ PGlite, types: pgliteTypes }, { PGliteDialect }] = await Promise.all([import('@electric-sql/pglite'), import('kysely-pglite-dialect')]);
  const pglite = await PGlite.create(path, { parsers: { [pgliteTypes.INT8]: (v: string) => Number(v) } });
  const db = new Kysely<ProjectionTables>({ dialect: new PGliteDialect(pglite) });
  return {
    db,
    kind: 'pglite',
    location: path,
    locks: new LocalLocks(),
    close: async () => {
      await db.destroy();
      rmSync(lockFile, { force: true });
    },
  };
}

/**
 * Creates a new embedded database (PGlite runs initdb in WebAssembly: seconds to half a minute) in a worker
 * thread. On the main thread it held the event loop for up to 20 s at a stretch on a loaded machine, and a hub
 * opening its database in the background must go on serving sockets meanwhile. Opening it afterwards is quick.
 * It is made in a staging folder and moved into place with PG_VERSION last, whose presence says "complete":
 * a creation cut short (Ctrl-C on a first start) is redone at the next start, never opened half made.
 */
async function initializeInWorker(path: string): Promise<void> {
  const staging = `${path}.creating`;
  rmSync(staging, { recursive: true, force: true });
  const pglite = import.meta.resolve('@electric-sql/pglite');
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads');
     import(workerData.pglite).then(async ({ PGlite }) => (await PGlite.create(workerData.staging)).close());`,
    { eval: true, workerData: { pglite, staging } },
  );
  await new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`creating the embedded database in ${path} failed (worker exit code ${code})`))));
  });
  for (const entry of readdirSync(path)) if (entry !== LOCK_FILE) rmSync(join(path, entry), { recursive: true, force: true });
  for (const entry of readdirSync(staging)) if (entry !== 'PG_VERSION') renameSync(join(staging, entry), join(path, entry));
  renameSync(join(staging, 'PG_VERSION'), join(path, 'PG_VERSION'));
  rmSync(staging, { recursive: true, force: true });
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

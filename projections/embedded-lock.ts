/**
 * The embedded database's lock: PGlite is single-process, so a pid file in its
 * folder says which process has it. Kept apart from the database code so a hub
 * can claim its database before loading any of that (kysely, pg, PGlite).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The embedded database is in use by another process (PGlite is single-process). */
export class DatabaseInUseError extends Error {
  override readonly name = 'DatabaseInUseError';
  /** The database's folder. */
  readonly path: string;
  /** The process that has it open: a hub (`npm start`), the demo or `npm run projections`. */
  readonly holder: number;

  constructor(path: string, holder: number) {
    super(`the embedded database ${path} is open in process ${holder}; stop it, or set DATABASE_URL to share a real Postgres`);
    this.path = path;
    this.holder = holder;
  }
}

/** Where the embedded database of a data folder lives. */
export function pglitePath(dataDir: string): string {
  return resolve(join(dataDir, 'pglite'));
}

/**
 * Takes the embedded database in `dir` for this process, or throws {@link DatabaseInUseError} naming the
 * process that has it. Synchronous and quick: a hub claims it before opening its port, so a second hub on the
 * same folder fails at once with that message, while the slow opening itself happens in the background.
 */
export function claimPglite(dir: string): void {
  const path = resolve(dir);
  mkdirSync(path, { recursive: true });
  const lockFile = join(path, LOCK_FILE);
  const holder = existsSync(lockFile) ? Number(readFileSync(lockFile, 'utf8')) : undefined;
  if (holder !== undefined && holder !== process.pid && isAlive(holder)) {
    throw new DatabaseInUseError(path, holder);
  }
  writeFileSync(lockFile, String(process.pid));
}

export const LOCK_FILE = 'hub-process.pid';

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Why a hub (`npm start`, `npm run demo`) did not start, as the one line a person
 * needs and an exit code: 2 for a configuration to fix, 1 for anything else. What
 * to do about a database another process holds depends on the command, so the
 * caller words that one.
 */
import { ProjectionsConfigError } from '../projections/config.ts';
import { DatabaseInUseError } from '../projections/embedded-lock.ts';
import { ConfigError } from './config.ts';

export interface StartFailure {
  readonly message: string;
  readonly exitCode: 1 | 2;
}

export function startFailure(e: unknown, whenDatabaseHeld: (e: DatabaseInUseError) => string): StartFailure {
  if (e instanceof ConfigError || e instanceof ProjectionsConfigError) return { message: `configuration error: ${e.message}`, exitCode: 2 };
  if (e instanceof DatabaseInUseError) return { message: whenDatabaseHeld(e), exitCode: 2 };
  // Port in use, nats-server missing, NATS or Postgres unreachable: their messages name the fix.
  return { message: `hub failed to start: ${(e as Error).message}`, exitCode: 1 };
}

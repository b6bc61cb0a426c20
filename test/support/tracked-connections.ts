/**
 * Connections a test file opens, closed after each test, even a failed one, so no client keeps
 * reconnecting into the next test.
 */
import { afterEach } from 'node:test';

/**
 * Registers the after-each close and returns `track`, which hands back what it is given.
 *
 * @example
 * const track = trackConnections();
 * const c = track(await t.client(token));
 */
export function trackConnections(): <T extends { close(): void }>(connection: T) => T {
  const opened: Array<{ close(): void }> = [];
  afterEach(() => {
    for (const c of opened.splice(0)) c.close();
  });
  return (connection) => {
    opened.push(connection);
    return connection;
  };
}

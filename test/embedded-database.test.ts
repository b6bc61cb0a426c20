/** The embedded database's first creation: made apart and moved into place whole, so a creation cut short is redone. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import { openPglite } from '../projections/index.ts';

describe('openPglite on a folder whose creation was cut short', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hub-pglite-cut-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('creates the database anew, without the leftovers, and opens it', { timeout: 120_000 }, async () => {
    const path = join(dir, 'pglite');
    // What a process stopped mid-creation leaves: part of a staging folder, part of the moved files, no PG_VERSION.
    mkdirSync(join(`${path}.creating`, 'base'), { recursive: true });
    writeFileSync(join(`${path}.creating`, 'base', 'half'), 'x');
    mkdirSync(join(path, 'base'), { recursive: true });
    writeFileSync(join(path, 'base', 'half'), 'x');
    const database = await openPglite(path);
    try {
      assert.ok(existsSync(join(path, 'PG_VERSION')));
      assert.equal(existsSync(join(path, 'base', 'half')), false, 'leftovers removed');
      assert.equal(existsSync(`${path}.creating`), false, 'staging folder removed');
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(database.db);
      assert.deepEqual(rows, [{ one: 1 }]);
    } finally {
      await database.close();
    }
  });
});

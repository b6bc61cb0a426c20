/**
 * The binary COPY a rebuild writes its held rows with stores what the text format
 * stores, to the bit (real Postgres); a value only the text format takes as it
 * should makes it step aside.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { sql } from 'kysely';
import { copyBinary } from '../projections/copy-binary.ts';
import { copyStatement, copyText } from '../projections/pg-copy.ts';
import { migrateToLatest } from '../projections/migrations/index.ts';
import type { ViewTableName } from '../projections/tables.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

const SCHEMA = 'projections';

describe('binary COPY', () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await migrateToLatest(t.database.db, SCHEMA);
  });
  after(() => t.drop());

  /** Rows of `table` written through `format`, read back with every value's text (the bits, for floats). */
  const roundTrip = async (table: ViewTableName, rows: readonly object[], format: 'text' | 'binary') => {
    await sql`truncate ${sql.table(`${SCHEMA}.${table}`)}`.execute(t.database.db);
    const { statement, columns, types } = copyStatement(SCHEMA, table, format);
    const data = format === 'binary' ? copyBinary(rows, columns, types) : copyText(rows, columns);
    assert.ok(data !== undefined, 'the binary encoder took the rows');
    const parts = [{ statement, data }];
    await t.database.copyFrom!(() => parts.shift());
    const { rows: out } = await sql<{ r: string }>`select row_to_json(v)::text as r from ${sql.table(`${SCHEMA}.${table}`)} v order by 1`.execute(t.database.db);
    return out.map((r) => r.r);
  };

  it('given entity rows with edge values, when written in binary, then Postgres holds what the text format gives it', async () => {
    const rows = [
      { site_id: '1', kind: 'alarm', entity_id: 'tab\there', status: 'open', level: 'high', title: 'Überdruck ⚠ \\ "quoted"\nline', day: null, volume: -0, first_seq: 1, changed_seq: 2 ** 53 - 1, changed_at: new Date('2026-12-07T12:34:56.789Z') },
      { site_id: '1', kind: 'batch', entity_id: 'B1', status: 'completed', level: undefined, title: null, day: '2026-12-07', volume: 0.1 + 0.2, first_seq: 3, changed_seq: 4, changed_at: new Date(0) },
      { site_id: '2', kind: 'batch', entity_id: 'B2', status: 'completed', level: null, title: '', day: '1999-12-31', volume: Number.NaN, first_seq: 5, changed_seq: 6, changed_at: new Date('1969-07-20T20:17:40.001Z') },
      { site_id: '2', kind: 'batch', entity_id: 'B3', status: 'completed', level: null, title: '\u{1F69A} truck', day: null, volume: 1.7e308, first_seq: 7, changed_seq: 8, changed_at: new Date('0001-01-01T00:00:00.000Z') },
    ];
    assert.deepEqual(await roundTrip('dashboard_entities', rows, 'binary'), await roundTrip('dashboard_entities', rows, 'text'));
  });

  it('given any finite numbers and strings, when written in binary, then the rows equal the text format’s (property)', async () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 12 }).filter((s) => !s.includes('\0'));
    const row = fc.record({ site_id: text, day: text, status: text, batches: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), volume: fc.double({ noNaN: true, noDefaultInfinity: true }) });
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(row, { minLength: 1, maxLength: 30, selector: (r) => `${r.site_id}\0${r.day}\0${r.status}` }), async (rows) => {
        assert.deepEqual(await roundTrip('dashboard_production', rows, 'binary'), await roundTrip('dashboard_production', rows, 'text'));
      }),
      { numRuns: 25 },
    );
  });

  it('given a value the text format would have Postgres parse, then the binary encoder answers undefined', () => {
    const { columns, types } = copyStatement(SCHEMA, 'dashboard_counts', 'binary');
    const count = { site_id: '1', kind: 'task', status: 'done', n: 1 };
    assert.ok(copyBinary([count], columns, types) !== undefined);
    for (const odd of [{ n: 1.5 }, { n: 2 ** 31 }, { n: '7' }, { site_id: 7 }, { status: 'a\0b' }, { status: 'é\0' }]) {
      assert.equal(copyBinary([{ ...count, ...odd }], columns, types), undefined, JSON.stringify(odd));
    }
    const site = copyStatement(SCHEMA, 'dashboard_sites', 'binary');
    for (const odd of [{ last_seq: 2 ** 53 }, { last_event_at: '2026-12-07' }, { last_event_at: new Date(Number.NaN) }, { last_event_at: new Date('+010000-01-01T00:00:00Z') }]) {
      assert.equal(copyBinary([{ site_id: '1', last_seq: 1, last_event_at: new Date(), ...odd }], site.columns, site.types), undefined, JSON.stringify(odd));
    }
  });
});

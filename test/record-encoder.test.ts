/**
 * The export encoders: an NDJSON line is exactly `JSON.stringify(record)`; a
 * Parquet file, fed records in any batches, reads back (hyparquet) as the same
 * records, across row groups.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import fc from 'fast-check';
import { recordEncoder } from '../hub/record-encoder.ts';
import { EVENT_NAMES } from '../protocol/catalogue.ts';
import type { LogRecord } from '../protocol/log-record.ts';
import { assertAsyncProperty, assertProperty } from './support/property.ts';

/** Records as LogReader makes them: this key order, `site` on site events, `user` on user events. */
const recordArb: fc.Arbitrary<LogRecord> = fc
  .record({
    offset: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    epoch: fc.string({ maxLength: 24 }),
    ts: fc.integer({ min: 0, max: 8_640_000_000_000 }),
    stream: fc.constantFrom('site', 'user', 'global'),
    owner: fc.string({ unit: 'grapheme', maxLength: 12 }),
    event: fc.constantFrom(...EVENT_NAMES),
    data: fc.oneof(fc.jsonValue(), fc.constant(null)),
    derived: fc.boolean(),
  })
  .map(({ offset, epoch, ts, stream, owner, event, data, derived }): LogRecord => {
    if (stream === 'site') return { offset, epoch, ts, stream, site: owner, event, data, derived };
    if (stream === 'user') return { offset, epoch, ts, stream, user: owner, event, data, derived };
    return { offset, epoch, ts, stream, event, data, derived };
  });

/** Splits records into consecutive batches at the given cut points. */
function batches<T>(items: readonly T[], cuts: readonly number[]): T[][] {
  const at = [...new Set(cuts.map((c) => c % (items.length + 1)))].sort((a, b) => a - b);
  const out: T[][] = [];
  let from = 0;
  for (const c of [...at, items.length]) {
    out.push(items.slice(from, c));
    from = c;
  }
  return out;
}

function parquetOf(parts: readonly LogRecord[][]): Uint8Array {
  const encoder = recordEncoder('parquet');
  const chunks = [...parts.map((p) => encoder.encode(p) as Uint8Array), encoder.end() as Uint8Array];
  return Buffer.concat(chunks);
}

async function readParquet(bytes: Uint8Array): Promise<LogRecord[]> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const rows = await parquetReadObjects({ file });
  return rows.map((row) => {
    const common = { offset: Number(row.offset), epoch: row.epoch, ts: (row.ts as Date).getTime(), stream: row.stream };
    const tail = { event: row.event, data: JSON.parse(row.data as string), derived: row.derived };
    if (row.site !== null) return { ...common, site: row.site, ...tail } as LogRecord;
    if (row.user !== null) return { ...common, user: row.user, ...tail } as LogRecord;
    return { ...common, ...tail } as LogRecord;
  });
}

/** What a record is once through JSON (-0 becomes 0, as in any JSON output). */
const viaJson = (r: LogRecord): LogRecord => JSON.parse(JSON.stringify(r));

describe('record encoders', () => {
  it('NDJSON: each record is one line, exactly JSON.stringify(record)', () => {
    assertProperty(
      fc.property(fc.array(recordArb, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 4 }), (records, cuts) => {
        const encoder = recordEncoder('ndjson');
        const text = batches(records, cuts).map((b) => encoder.encode(b)).join('') + encoder.end();
        assert.equal(text, records.map((r) => JSON.stringify(r) + '\n').join(''));
      }),
      { numRuns: 200 },
    );
  });

  it('Parquet: the records read back, whatever the batches', async () => {
    await assertAsyncProperty(
      fc.asyncProperty(fc.array(recordArb, { maxLength: 60 }), fc.array(fc.nat(), { maxLength: 4 }), async (records, cuts) => {
        assert.deepEqual(await readParquet(parquetOf(batches(records, cuts))), records.map(viaJson));
      }),
      { numRuns: 60 },
    );
  });

  it('Parquet: a long export is cut into row groups that read back in order', async () => {
    const records: LogRecord[] = Array.from({ length: 120_001 }, (_, i) => ({ offset: i + 1, epoch: 'e1', ts: 1_700_000_000_000 + i, stream: 'site', site: String(i % 7), event: 'task:update', data: { id: i, status: i % 3 === 0 ? 'loading' : 'done' }, derived: i % 5 === 0 }));
    const bytes = parquetOf(batches(records, [1, 256, 4096, 50_000, 99_999]));
    const meta = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    assert.ok(meta.row_groups.length >= 3, `${meta.row_groups.length} row groups`);
    assert.equal(Number(meta.num_rows), records.length);
    const back = await readParquet(bytes);
    assert.equal(back.length, records.length);
    for (const i of [0, 1, 49_999, 50_000, 100_000, 120_000]) assert.deepEqual(back[i], records[i]);
  });
});

/**
 * toJsonValue: what a send stores is what `JSON.parse(JSON.stringify(data))` gives
 * (what the seed's Socket.IO gateway put on the wire), except that BigInts become
 * decimal strings instead of throwing and a cycle is a named error, not a crash.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Decimal } from 'decimal.js';
import fc from 'fast-check';
import { assertProperty } from './support/property.ts';
import { decodePayload } from '../protocol/codec.ts';
import { InvalidEventError } from '../protocol/errors.ts';
import { buildAppend } from '../protocol/event-append.ts';
import { toJsonValue } from '../protocol/json-value.ts';

/** JSON.stringify's own answer, with BigInts as the strings toJsonValue makes of them. */
function viaJson(value: unknown): unknown {
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return text === undefined ? undefined : JSON.parse(text);
}

function checkProperty(property: fc.IProperty<[unknown]>): void {
  assertProperty(property, { numRuns: 400 });
}

describe('toJsonValue', () => {
  it('turns a Prisma row into the JSON shape Socket.IO sent: Date as ISO string, Decimal as "8.5", BigInt as a decimal string', () => {
    const created = new Date('2026-12-01T08:30:00.123Z');
    const row = { id: 9007199254740993n, site_id: 1, volume: new Decimal('8.5'), min_stock: new Decimal('12.25'), created_at: created, note: null };
    assert.deepEqual(toJsonValue(row), { id: '9007199254740993', site_id: 1, volume: '8.5', min_stock: '12.25', created_at: '2026-12-01T08:30:00.123Z', note: null });
  });

  it('drops undefined and functions from objects and makes them null in arrays, as JSON.stringify does', () => {
    const value = { a: undefined, f() {}, s: Symbol('x'), list: [undefined, () => 1, Symbol('y'), 1], nested: [[new Date(0)], [[2n]]] };
    assert.deepEqual(toJsonValue(value), { list: [null, null, null, 1], nested: [['1970-01-01T00:00:00.000Z'], [['2']]] });
    assert.equal(toJsonValue(undefined), undefined);
    assert.equal(toJsonValue(() => 1), undefined);
  });

  it('honours toJSON with its key, unwraps boxed primitives, and prints NaN, Infinity and -0 as JSON does', () => {
    const money = { toJSON: (key: string) => `money at ${key}` };
    assert.deepEqual(toJsonValue({ price: money, list: [money] }), { price: 'money at price', list: ['money at 0'] });
    assert.deepEqual(toJsonValue([Object(1), Object('s'), Object(false), Object(3n), NaN, -Infinity, -0]), [1, 's', false, '3', null, null, 0]);
    assert.ok(Object.is(toJsonValue(-0), 0));
    assert.deepEqual(toJsonValue({ m: new Map([[1, 2]]), set: new Set([1]), buf: Buffer.from([1, 2]) }), { m: {}, set: {}, buf: { type: 'Buffer', data: [1, 2] } });
    assert.equal(toJsonValue(new Date(Number.NaN)), null, 'an invalid Date is null, as its toJSON says');
  });

  it('refuses a circular structure with an InvalidEventError naming where it closes, and takes an object shared twice', () => {
    const batch: Record<string, unknown> = { id: 1, lines: [{ n: 1 }] };
    (batch.lines as Array<Record<string, unknown>>)[0]!.batch = batch;
    assert.throws(() => toJsonValue({ batch }), (e: unknown) => e instanceof InvalidEventError && /data\.batch\.lines\[0\]\.batch refers back/.test(e.message));
    const shared = { id: 3 };
    assert.deepEqual(toJsonValue({ a: shared, b: [shared, shared] }), { a: { id: 3 }, b: [{ id: 3 }, { id: 3 }] });
  });

  it('keeps a "__proto__" key as a key, as JSON.parse does, without touching the prototype', () => {
    const out = toJsonValue(JSON.parse('{"__proto__": {"polluted": true}}')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(out), ['__proto__']);
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('equals JSON.parse(JSON.stringify(x)) for any value JSON can print (property, seeded)', () => {
    const anything = fc.anything({ withBoxedValues: true, withDate: true, withMap: true, withSet: true, withNullPrototype: true, withObjectString: true, withTypedArray: true, withSparseArray: true, withBigInt: false, maxDepth: 4 });
    checkProperty(fc.property(anything, (x) => assert.deepStrictEqual(toJsonValue(x), viaJson(x))));
  });

  it('equals JSON.stringify with BigInts as decimal strings, where JSON.stringify alone would throw (property, seeded)', () => {
    const anything = fc.anything({ withBigInt: true, withDate: true, withSparseArray: true, maxDepth: 4 });
    checkProperty(fc.property(anything, (x) => assert.deepStrictEqual(toJsonValue(x), viaJson(x))));
  });

  it('is what an append stores: the payload decodes to the JSON shape of the row', () => {
    const alarm = { id: 1n, site_id: 1n, title: 'Mixer overload', level: 'critical', created_at: new Date(), threshold: new Decimal('0.75'), cleared_at: undefined };
    const append = buildAppend('plant', { event: 'alarm:new', data: alarm });
    assert.equal(append.subject, 'plant.site.1.alarm.raised', 'a BigInt site_id is the site');
    assert.deepEqual(decodePayload(append.payload), viaJson(alarm));
    assert.throws(() => buildAppend('plant', { event: 'task:update', siteId: 1, data: (() => { const t: Record<string, unknown> = { id: 1 }; t.self = t; return t; })() }), (e: unknown) => e instanceof InvalidEventError && /task:update: .*circular/.test(e.message));
  });
});

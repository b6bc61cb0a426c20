/**
 * The folds' msgpack reader gives what `decodePayload` gives, value for value and
 * error for error, whatever the payload: the seed's shapes, any JSON-like value,
 * and arbitrary bytes (malformed, truncated, trailing, refused keys).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodePayload, encodePayload } from '../protocol/codec.ts';
import { decodeFoldPayload } from '../projections/payload-decoder.ts';

const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);

function outcome(decode: (bytes: Uint8Array) => unknown, bytes: Uint8Array): { value?: unknown; error?: string } {
  try {
    return { value: decode(bytes) };
  } catch (e) {
    return { error: `${(e as Error).name}: ${(e as Error).message}` };
  }
}

function same(bytes: Uint8Array): void {
  assert.deepStrictEqual(outcome(decodeFoldPayload, bytes), outcome(decodePayload, bytes));
}

describe('fold payload decoder', () => {
  it('decodes the seed payloads as decodePayload does', () => {
    same(encodePayload({ type: 'batch_started', batch: { id: 77, volume: 8.5 } }));
    same(encodePayload({ id: 'T-12', status: 'in_progress', at: -3, big: 2 ** 40, neg: -(2 ** 31), f: 0.1 }));
    same(encodePayload({ id: 9, level: 'high', title: 'Überdruck Kessel 3', message: null, ok: true, list: [1, 'a', [], {}] }));
    same(encodePayload({ x: 'y'.repeat(300), z: 'k'.repeat(70_000) }));
  });

  it('any JSON value, and any bytes, decode or fail as with decodePayload', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => same(encodePayload(v))), { seed: SEED, numRuns: 2000 });
    fc.assert(fc.property(fc.object({ maxDepth: 3, withNullPrototype: false }), (v) => same(encodePayload(v))), { seed: SEED, numRuns: 500 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (b) => same(b)), { seed: SEED, numRuns: 5000 });
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(), fc.integer({ min: 0, max: 255 }), (v, at, byte) => {
        const b = encodePayload(v).slice();
        if (b.length > 0) b[at % b.length] = byte;
        same(b);
        same(b.subarray(0, at % (b.length + 1)));
        same(Uint8Array.of(...b, byte));
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it('refuses a __proto__ key as decodePayload does', () => {
    same(Uint8Array.of(0x81, 0xa9, ...new TextEncoder().encode('__proto__'), 0x01));
  });
});

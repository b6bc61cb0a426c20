/** The recent window: contiguous up to the last offset, bounded by count and by payload bytes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { assertProperty } from './support/property.ts';
import { siteEventSpec } from '../protocol/catalogue.ts';
import { LiveEvent } from '../hub/live-event.ts';
import { RecentEvents } from '../hub/recent-events.ts';

const event = (seq: number, bytes: number) => new LiveEvent(seq, 'site', '1', siteEventSpec('task:update'), new Uint8Array(bytes), 0, 'e');

describe('RecentEvents', () => {
  it('evicts the oldest events past its byte bound, keeping the newest even when it alone is larger', () => {
    const w = new RecentEvents(100, 0, 1000);
    for (let seq = 1; seq <= 5; seq++) w.push(event(seq, 300));
    assert.equal(w.last, 5);
    assert.equal(w.start, 3, 'three events of 300 bytes fit in 1,000');
    assert.deepEqual([...w.since(0)].map((e) => e.seq), [3, 4, 5]);
    w.push(event(6, 5000));
    assert.equal(w.start, 6);
    assert.deepEqual([...w.since(2)].map((e) => e.seq), [6]);
  });

  it('holds, for any pushes, every offset from start to last, within both bounds (seeded property)', () => {
    assertProperty(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 100, max: 5000 }), fc.array(fc.integer({ min: 0, max: 2000 }), { maxLength: 200 }), (capacity, maxBytes, sizes) => {
        const w = new RecentEvents(capacity, 0, maxBytes);
        sizes.forEach((bytes, i) => w.push(event(i + 1, bytes)));
        const held = [...w.since(0)];
        assert.equal(w.last, sizes.length);
        assert.deepEqual(held.map((e) => e.seq), Array.from({ length: held.length }, (_, i) => w.start + i));
        if (sizes.length > 0) assert.equal(held.at(-1)!.seq, sizes.length);
        assert.ok(held.length <= capacity);
        const bytes = held.reduce((n, e) => n + e.payload.byteLength, 0);
        assert.ok(held.length <= 1 || bytes <= maxBytes, `${bytes} bytes in ${held.length} events over ${maxBytes}`);
      }),
      { numRuns: 300 },
    );
  });
});

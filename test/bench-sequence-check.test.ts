/** The bench's loss, duplicate and order detection: what a client saw against what was produced. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { multiplesIn } from '../bench/bench-event.ts';
import { addTotals, SequenceCheck, Verdict, ZERO_TOTALS } from '../bench/sequence-check.ts';

function feed(seqs: number[]): SequenceCheck {
  const c = new SequenceCheck();
  for (const s of seqs) c.accept(s);
  return c;
}

describe('SequenceCheck', () => {
  it('reports nothing wrong for an in-order stream that reached the last sequence number', () => {
    const t = feed([1, 2, 3, 4, 5]).finish(5, 0);
    assert.deepEqual(t, { ...ZERO_TOTALS, received: 5 });
  });

  it('counts a gap as lost, and a tail never received as lost too', () => {
    const t = feed([1, 2, 5, 6]).finish(8, 0);
    assert.equal(t.received, 4);
    assert.equal(t.lost, 4); // 3, 4, 7, 8
    assert.equal(t.orderViolations, 0);
  });

  it('counts a late arrival as an order violation that heals the gap, not as loss', () => {
    const c = new SequenceCheck();
    assert.equal(c.accept(1), Verdict.InOrder);
    assert.equal(c.accept(3), Verdict.Gap);
    assert.equal(c.accept(2), Verdict.Late);
    assert.equal(c.openGaps, 0);
    const t = c.finish(3, 0);
    assert.equal(t.lost, 0);
    assert.equal(t.orderViolations, 1);
  });

  it('splits a gap when a number inside it arrives late', () => {
    const c = feed([1, 6, 3]);
    assert.equal(c.openGaps, 2); // 2 and 4–5
    const t = c.finish(6, 0);
    assert.equal(t.lost, 3);
    assert.equal(t.orderViolations, 1);
  });

  it('counts a number received twice as a duplicate, whether in order or after a gap', () => {
    const t = feed([1, 2, 2, 4, 4, 1]).finish(4, 0);
    assert.equal(t.duplicates, 3);
    assert.equal(t.lost, 1);
    assert.equal(t.received, 3);
  });

  it('attributes a gap opened right after a reconnect to the outage', () => {
    const c = feed([1, 2, 3]);
    c.markReconnect();
    c.accept(7); // 4–6 sent while it was away
    c.accept(8);
    c.accept(10); // 9: lost while connected
    const t = c.finish(10, 0);
    assert.equal(t.lost, 4);
    assert.equal(t.lostAcrossReconnect, 3);
  });

  it('does not blame the outage when nothing was missed across it', () => {
    const c = feed([1, 2]);
    c.markReconnect();
    c.accept(3);
    c.accept(5);
    assert.equal(c.finish(5, 0).lostAcrossReconnect, 0);
  });

  it('counts the tail as lost across the reconnect when nothing arrived after it', () => {
    const c = feed([1, 2]);
    c.markReconnect();
    assert.deepEqual([c.finish(4, 0).lost, c.finish(4, 0).lostAcrossReconnect], [2, 2]);
  });

  it('counts lost alarms (every Nth sequence number) separately', () => {
    const t = feed([1, 2, 9, 10]).finish(12, 3);
    assert.equal(t.lost, 8); // 3–8, 11, 12
    assert.equal(t.lostCritical, 3); // 3, 6, 12
  });

  it('does not count appends that failed (never stored) as lost', () => {
    const t = feed([1, 2, 4]).finish(5, 0, [3, 5]);
    assert.equal(t.lost, 0);
  });

  it('flags offsets that do not increase', () => {
    const c = new SequenceCheck();
    for (const o of [10, 12, 12, 11, 20]) c.acceptOffset(o);
    assert.equal(c.finish(0, 0).offsetViolations, 2);
    assert.equal(c.lastOffset, 20);
  });

  it('stays bounded when a client loses nearly everything', () => {
    const c = new SequenceCheck();
    for (let s = 1; s <= 20_000; s += 2) c.accept(s); // every even number lost
    assert.ok(c.openGaps <= 4096);
    assert.equal(c.finish(20_000, 0).lost, 10_000);
  });

  it('adds totals field by field', () => {
    const a = feed([1, 3]).finish(3, 0);
    const b = feed([2, 2]).finish(2, 0);
    assert.deepEqual(addTotals(a, b), { ...ZERO_TOTALS, received: 3, lost: 2, duplicates: 1 });
  });
});

describe('multiplesIn', () => {
  it('counts multiples of N in an inclusive range', () => {
    assert.equal(multiplesIn(1, 10, 5), 2);
    assert.equal(multiplesIn(5, 5, 5), 1);
    assert.equal(multiplesIn(6, 9, 5), 0);
    assert.equal(multiplesIn(1, 10, 0), 0);
  });
});

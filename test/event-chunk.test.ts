/**
 * The hand-over between a replay's reader thread and the folding thread: events
 * packed into transferable chunks come out as they went in, across chunks and
 * whatever their sizes; ack subjects give their positions.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseAckSubject } from '../projections/ack-subject.ts';
import { EventChunkReader, EventChunkWriter } from '../projections/event-chunk.ts';
import type { LogEvent } from '../projections/log-event.ts';

const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);

describe('event chunks', () => {
  it('events come out of chunks as they went in: order, positions, subjects (sent once) and payload bytes', () => {
    const event = fc.record({
      ts: fc.integer({ min: 0, max: 2 ** 45 }),
      subject: fc.constantFrom('p.site.1.task.updated', 'p.site.2.inventory.updated', 'p.site.10.alarm.new'),
      payload: fc.uint8Array({ maxLength: 70_000 }),
    });
    fc.assert(
      fc.property(fc.array(fc.array(event, { maxLength: 40 }), { maxLength: 6 }), (chunks) => {
        const writer = new EventChunkWriter();
        const described: string[] = [];
        const reader = new EventChunkReader((subject) => {
          described.push(subject);
          return { subject, siteId: subject.split('.')[2]!, name: undefined };
        });
        const out: LogEvent[] = [];
        const sent: Array<{ seq: number; ts: number; subject: string; payload: Uint8Array }> = [];
        for (const events of chunks) {
          for (const e of events) {
            const seq = sent.length + 1;
            sent.push({ seq, ...e });
            writer.add(seq, e.ts, e.subject, e.payload);
          }
          // Through structured clone with transfer, as between threads.
          const chunk = writer.take(0);
          reader.read(structuredClone(chunk, { transfer: [chunk.meta.buffer as ArrayBuffer, chunk.bytes.buffer as ArrayBuffer] }), out);
        }
        assert.equal(out.length, sent.length);
        out.forEach((e, i) => {
          assert.equal(e.seq, sent[i]!.seq);
          assert.equal(e.ts, sent[i]!.ts);
          assert.equal(e.subject, sent[i]!.subject);
          assert.equal(e.siteId, sent[i]!.subject.split('.')[2]);
          assert.deepEqual([...e.payload], [...sent[i]!.payload]);
        });
        assert.equal(described.length, new Set(sent.map((s) => s.subject)).size, 'each subject is described once');
      }),
      { seed: SEED, numRuns: 60 },
    );
  });

  it('reads positions from both forms of ack subject', () => {
    assert.deepEqual(parseAckSubject('$JS.ACK.plant_site.c1.1.4211.17.1733500000123456789.250'), { seq: 4211, consumerSeq: 17, ts: 1733500000123, pending: 250 });
    assert.deepEqual(parseAckSubject('$JS.ACK.hub.ACCOUNT.plant_site.c1.1.4211.17.1733500000123456789.0.xyz'), { seq: 4211, consumerSeq: 17, ts: 1733500000123, pending: 0 });
    assert.equal(parseAckSubject('_INBOX.abc'), undefined);
  });
});

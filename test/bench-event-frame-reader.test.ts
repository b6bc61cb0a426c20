/** The load workers read event frames in place; they must read what the hub's codec writes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { benchEvent } from '../bench/bench-event.ts';
import { EventFrameReader, EventKind } from '../bench/load/event-frame-reader.ts';
import { encodeBatch, encodeEventFrame, encodeFrame, encodePayload } from '../protocol/codec.ts';

describe('EventFrameReader', () => {
  const reader = new EventFrameReader();

  it('reads site, sequence, send time, phase, offset and epoch from a hub event frame', () => {
    const event = benchEvent(7, 123_456, 1_795_000_123_456, 3, 64);
    const frame = encodeEventFrame('msgpack', 'task:update', encodePayload(event), { offset: 2 ** 33 + 5, ts: Date.now(), stream: 'site', epoch: 'lz3abc', site: '7' } as never) as Uint8Array;
    const buf = new Uint8Array(frame.length + 10);
    buf.set(frame, 5); // a view inside a larger read, as on the socket
    assert.equal(reader.read(buf, 5, 5 + frame.length), true);
    assert.equal(reader.kind, EventKind.Task);
    assert.deepEqual([reader.siteId, reader.seq, reader.sentAt, reader.phase, reader.offset], [7, 123_456, 1_795_000_123_456, 3, 2 ** 33 + 5]);
    assert.equal(new TextDecoder().decode(buf.subarray(reader.epochStart, reader.epochStart + reader.epochLength)), 'lz3abc');
  });

  it('reads the offset after payloads of every msgpack string and binary size class', () => {
    for (const pad of [0, 31, 32, 255, 256, 65_535, 65_536]) {
      const frame = encodeEventFrame('msgpack', 'task:update', encodePayload({ ...benchEvent(1, 5, 99, 0, pad), blob: new Uint8Array(pad), list: new Array(pad % 70_000 > 20 ? 20 : pad).fill(1) }), { offset: 77, ts: 1, stream: 'site', epoch: 'e' }) as Uint8Array;
      assert.equal(reader.read(frame, 0, frame.length), true, `pad ${pad}`);
      assert.deepEqual([reader.seq, reader.offset], [5, 77], `pad ${pad}`);
    }
  });

  it('walks a batch message frame by frame, in order, skipping frames that are not bench events', () => {
    const events = [1, 2, 3].map((seq) => encodeEventFrame('msgpack', 'task:update', encodePayload(benchEvent(4, seq, 1000 + seq, 0, 16)), { offset: 10 + seq, ts: 1, stream: 'site', epoch: 'e', site: '4' } as never) as Uint8Array);
    const other = encodeEventFrame('msgpack', 'dashboard:update', encodePayload({ load: 1 }), { offset: 99, ts: 1, stream: 'site', epoch: 'e' }) as Uint8Array;
    const batch = encodeBatch('msgpack', [events[0]!, other, events[1]!, events[2]!]);
    assert.equal(reader.batch(batch, 0, batch.length), 4);
    const seen: number[] = [];
    let p = reader.end;
    for (let i = 0; i < 4; i++) {
      if (reader.read(batch, p, batch.length)) seen.push(reader.seq);
      else reader.skipFrame(batch, p);
      p = reader.end;
    }
    assert.deepEqual(seen, [1, 2, 3]);
    assert.equal(p, batch.length, 'the last frame ends where the message does');
    assert.equal(reader.batch(events[0]!, 0, events[0]!.length), -1, 'a lone frame is not a batch');
  });

  it('reads alarms, negative and float numbers, and frames without meta', () => {
    const frame = encodeFrame('msgpack', ['alarm:new', { seq: 9, sentAt: 12.5, phase: -1, siteId: 0, extra: { a: [1, 'x', null, true] } }]) as Uint8Array;
    assert.equal(reader.read(frame, 0, frame.length), true);
    assert.equal(reader.kind, EventKind.Alarm);
    assert.deepEqual([reader.seq, reader.sentAt, reader.phase, reader.offset], [9, 12.5, -1, -1]);
  });

  it('reports replies, errors and other events as not bench events', () => {
    for (const f of [['connected', { clientId: 'x' }], ['subscribed', { siteId: 1 }, { ref: 1 }], ['error', { code: 100 }], ['dashboard:update', { seq: 1 }, { offset: 1 }]] as const) {
      const bytes = encodeFrame('msgpack', f) as Uint8Array;
      assert.equal(reader.read(bytes, 0, bytes.length), false, f[0]);
    }
  });
});

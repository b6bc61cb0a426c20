/**
 * messageHeader: one header read from a JetStream message's raw header bytes
 * gives exactly what `m.headers.get(name)` gives, whatever the other headers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstream, type JetStreamClient, jetstreamManager, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import fc from 'fast-check';
import { messageHeader } from '../protocol/message-header.ts';
import { NATS_URL, uniqueNamespace } from './support/nats.ts';
import { assertAsyncProperty } from './support/property.ts';

const NAMES = ['Hub-Derived', 'hub-derived', 'Hub-Derived-At', 'X-Hub-Derived', 'Hub-Event', 'Nats-Msg-Id'] as const;

describe('messageHeader', () => {
  const ns = uniqueNamespace('hqhdr');
  const stream = `${ns}_hdr`;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let unique = 0;

  before(async () => {
    nc = await connect({ servers: NATS_URL });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${ns}.hdr.>`] });
  });
  after(async () => {
    await jsm.streams.delete(stream).catch(() => false);
    await nc.close();
  });

  /** Appends messages with these headers (undefined: none) and reads them back in order. */
  const roundTrip = async (sets: readonly (readonly (readonly [string, string])[] | undefined)[]): Promise<JsMsg[]> => {
    let first = 0;
    for (const set of sets) {
      let h;
      if (set !== undefined) {
        h = headers();
        // Msg ids stay unique: the stream would drop a repeated one as a duplicate.
        for (const [name, value] of set) h.append(name, name === 'Nats-Msg-Id' ? `${value}#${unique++}` : value);
      }
      const ack = await js.publish(`${ns}.hdr.x`, new Uint8Array([1]), { headers: h });
      first ||= ack.seq;
    }
    const consumer = await js.consumers.get(stream, { opt_start_seq: first });
    const out: JsMsg[] = [];
    for await (const m of await consumer.fetch({ max_messages: sets.length, expires: 5000 })) out.push(m);
    await consumer.delete().catch(() => false);
    return out;
  };

  it('reads what m.headers.get reads: first value of the exact name, trimmed, empty when absent', async () => {
    const value = fc.string({ unit: fc.constantFrom('1', '0', ' ', '\t', 'a', 'é', ':', 'Hub-Derived:', '\u00a0'), maxLength: 12 });
    const set = fc.array(fc.tuple(fc.constantFrom(...NAMES), value), { maxLength: 6 });
    await assertAsyncProperty(
      fc.asyncProperty(fc.array(fc.option(set, { nil: undefined }), { minLength: 1, maxLength: 8 }), async (sets) => {
        const messages = await roundTrip(sets);
        assert.equal(messages.length, sets.length);
        for (const m of messages) for (const name of NAMES) assert.equal(messageHeader(m, name), m.headers?.get(name) ?? '', `${name} of ${JSON.stringify(sets)}`);
      }),
      { numRuns: 40 },
    );
  });

  it('falls back to m.headers where nats.js keeps no raw header bytes', async () => {
    const [m] = await roundTrip([[['Hub-Derived', ' 1 ']]]);
    assert.equal(messageHeader(m!, 'Hub-Derived'), '1', 'the raw bytes');
    const opaque = { headers: m!.headers } as unknown as JsMsg;
    assert.equal(messageHeader(opaque, 'Hub-Derived'), '1', 'the decoded headers');
    assert.equal(messageHeader({ headers: undefined } as unknown as JsMsg, 'Hub-Derived'), '');
  });
});

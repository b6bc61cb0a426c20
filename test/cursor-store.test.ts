/**
 * Durable cursors on a real KV bucket: two hubs (two stores) writing the same user's cursor never move it back,
 * whichever wrote last and whatever revision each remembers; a store flushes on close.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { CursorStore } from '../hub/cursor-store.ts';
import { dropNamespace, NATS_URL, uniqueNamespace } from './support/nats.ts';

const log = pino({ level: 'silent' });

describe('CursorStore', () => {
  const ns = uniqueNamespace('cur');
  let nc: NatsConnection;
  let kv: KV;
  before(async () => {
    nc = await connect({ servers: NATS_URL });
    kv = await new Kvm(nc).create(`${ns}_cursors`, { history: 1 });
  });
  after(async () => {
    await nc.close();
    await dropNamespace(ns);
  });

  const stored = async (user: string) => (await kv.get(user))?.json<Record<string, { offset: number }>>();

  it('merges the writes of two hubs monotonically, also when a hub writes from a revision that another hub moved on', async () => {
    const a = new CursorStore(kv, log, 10);
    const b = new CursorStore(kv, log, 10);
    a.advance('u1', 'site', { epoch: 'e', offset: 5 });
    await a.flush();
    assert.equal((await stored('u1'))?.site?.offset, 5);
    // Hub B moves the site cursor on and writes the user log's: hub A's remembered revision is now stale.
    b.advance('u1', 'site', { epoch: 'e', offset: 9 });
    b.advance('u1', 'user', { epoch: 'e', offset: 3 });
    await b.flush();
    // Hub A writes an older site position and a first global one: the site cursor must not move back, B's user
    // position must stay, and A's global one must land (its update from the stale revision fails, so it rereads).
    a.advance('u1', 'site', { epoch: 'e', offset: 7 });
    a.advance('u1', 'global', { epoch: 'e', offset: 4 });
    await a.flush();
    assert.deepEqual(await stored('u1'), { site: { epoch: 'e', offset: 9 }, user: { epoch: 'e', offset: 3 }, global: { epoch: 'e', offset: 4 } });
    // And from its now-current revision, a later position goes in with one update.
    a.advance('u1', 'site', { epoch: 'e', offset: 12 });
    await a.flush();
    assert.equal((await stored('u1'))?.site?.offset, 12);
    assert.equal((await b.get('u1')).site?.offset, 12, 'a read sees the other hub\'s write');
    await a.close();
    await b.close();
  });

  it('writes many users in turns and on close, each once', async () => {
    const s = new CursorStore(kv, log, 60_000);
    for (let i = 0; i < 300; i++) s.advance(`m${i}`, 'site', { epoch: 'e', offset: i + 1 });
    await s.close();
    for (const i of [0, 63, 64, 150, 299]) assert.equal((await stored(`m${i}`))?.site?.offset, i + 1);
  });
});

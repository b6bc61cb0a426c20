/**
 * Critical delivery tracked by positions: critical events reach sockets through uWS topics, each socket that
 * acks holds its acked position per log, and what falls due unacked is sent again by the paced catch-up path
 * (recent window, then the log) from that position, filtered to the socket's critical topics now. Time is a
 * TestClock the test moves.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import fc from 'fast-check';
import { ACKS_SUBPROTOCOL, AUTH_SUBPROTOCOL_PREFIX, type EventMeta, type Frame, SUBPROTOCOL, type WireFormat } from '../protocol/codec.ts';
import type { HubPublisher } from '../protocol/publisher.ts';
import { assertAsyncProperty } from './support/property.ts';
import { RawSocket } from './support/raw-socket.ts';
import { Recorder } from './support/recorder.ts';
import { TestClock } from './support/test-clock.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';
import { trackConnections } from './support/tracked-connections.ts';
import { waitFor } from './support/wait-for.ts';

const ACK_TIMEOUT_MS = 500;
/** A window this small is left behind by a handful of events: what is older comes from the log. */
const RECENT_EVENTS = 16;

const track = trackConnections();

let nextRef = 1;
async function request(raw: RawSocket, op: string, args?: unknown, format: WireFormat = 'msgpack'): Promise<Frame> {
  const ref = nextRef++;
  const from = raw.frames.length;
  raw.sendFrame([op, args, ref], format);
  return raw.next((f) => (f[2] as { ref?: unknown } | undefined)?.ref === ref, { from });
}

const offsetsOf = (raw: RawSocket, name: string): number[] => raw.frames.filter((f) => f[0] === name).map((f) => (f[2] as EventMeta).offset);
const count = (raw: RawSocket, name: string, offset: number): number => offsetsOf(raw, name).filter((o) => o === offset).length;

describe('critical delivery by positions (HUB_ACK_TIMEOUT_MS=500, HUB_RECENT_EVENTS=16, on a clock the test moves)', () => {
  let t: TestHub;
  let pub: HubPublisher;
  let nc: NatsConnection;
  const clock = new TestClock(Date.now());
  before(async () => {
    t = await startTestHub({ HUB_ACK_TIMEOUT_MS: String(ACK_TIMEOUT_MS), HUB_RECENT_EVENTS: String(RECENT_EVENTS) }, {}, { clock });
    pub = await t.publisher();
    nc = await connect({ servers: t.natsUrl });
  });
  after(async () => {
    await nc.close();
    await t.stop();
  });

  async function acker(sub: string, sites: unknown, format: WireFormat = 'msgpack', role?: string): Promise<RawSocket> {
    const token = await t.token({ sub, sites, role });
    return track(await RawSocket.connect(t.wsUrl, { protocols: [SUBPROTOCOL[format], ACKS_SUBPROTOCOL, AUTH_SUBPROTOCOL_PREFIX + token] }));
  }

  /** A round trip after the clock moved: anything the hub sent before the pong is in `frames`. */
  async function roundTrip(raw: RawSocket, format: WireFormat = 'msgpack'): Promise<void> {
    assert.equal((await request(raw, 'ping', null, format))[0], 'pong');
  }

  it('an unacked alarm the recent window no longer holds is redelivered from the log', async () => {
    const raw = await acker('log-redelivery', [31, 33]);
    assert.equal((await request(raw, 'subscribe:alarms', {}))[0], 'subscribed');
    assert.equal((await request(raw, 'subscribe:site', { siteId: 33 }))[0], 'subscribed');
    const alarm = await pub.sendAlarmNotification({ id: 'L-1', siteId: 31 });
    await raw.next((f) => f[0] === 'alarm:new' && (f[2] as EventMeta).offset === alarm);
    // More than the window holds: the alarm is only in the log now.
    let last = 0;
    for (let i = 0; i < RECENT_EVENTS * 3; i++) last = await pub.sendTaskUpdate(33, { id: i });
    await raw.next((f) => f[0] === 'task:update' && (f[2] as EventMeta).offset === last);
    clock.advance(ACK_TIMEOUT_MS);
    await raw.next(() => count(raw, 'alarm:new', alarm) === 2);
    const meta = raw.frames.find((f) => f[0] === 'alarm:new')![2] as EventMeta;
    await request(raw, 'ack', { stream: 'site', offset: alarm, epoch: meta.epoch });
    clock.advance(2 * ACK_TIMEOUT_MS);
    await roundTrip(raw);
    assert.equal(count(raw, 'alarm:new', alarm), 2, 'acked: not sent again');
  });

  it('a socket that never acked gets what it was sent again from where its acks stand, and only that', async () => {
    const never = await acker('never-acks', []);
    const partial = await acker('acks-one', []);
    for (const raw of [never, partial]) assert.equal((await request(raw, 'subscribe:notifications'))[0], 'subscribed');
    // Both are live once the reply came (their cursors were read first); one broadcast proves it for both.
    const sent = [await pub.sendUserNotification('never-acks', { n: 1 }), await pub.sendUserNotification('never-acks', { n: 2 })];
    const mine = [await pub.sendUserNotification('acks-one', { n: 1 }), await pub.sendUserNotification('acks-one', { n: 2 })];
    await never.next(() => sent.every((o) => count(never, 'notification:new', o) === 1));
    await partial.next(() => mine.every((o) => count(partial, 'notification:new', o) === 1));
    const { epoch } = never.frames.find((f) => f[0] === 'notification:new')![2] as EventMeta;
    await request(partial, 'ack', { stream: 'user', offset: mine[0], epoch });

    clock.advance(ACK_TIMEOUT_MS);
    await never.next(() => sent.every((o) => count(never, 'notification:new', o) === 2));
    await partial.next(() => count(partial, 'notification:new', mine[1]!) === 2);
    await roundTrip(partial);
    assert.equal(count(partial, 'notification:new', mine[0]!), 1, 'the acked one is not sent again');
    assert.deepEqual(offsetsOf(never, 'notification:new'), [...sent, ...sent], 'redelivered in offset order');
    assert.equal(offsetsOf(partial, 'notification:new').filter((o) => sent.includes(o)).length, 0, "nobody gets another user's notifications");
  });

  it('an event JSON sockets cannot take costs them that event only: the next is delivered, and redelivery skips it', async () => {
    const acking = await acker('json-acker', [34], 'json');
    const watcher = await acker('json-watcher', [34], 'json');
    for (const raw of [acking, watcher]) assert.equal((await request(raw, 'subscribe:alarms', {}, 'json'))[0], 'subscribed');
    // 0xc1 is never valid msgpack: the payload cannot be turned into JSON.
    const bad = (await jetstream(nc).publish(`${t.ns}.site.34.alarm.raised`, Uint8Array.of(0xc1))).seq;
    const good = await pub.sendAlarmNotification({ id: 'J-1', siteId: 34 });
    for (const raw of [acking, watcher]) await raw.next((f) => f[0] === 'alarm:new' && (f[2] as EventMeta).offset === good);
    assert.deepEqual(offsetsOf(watcher, 'alarm:new'), [good]);
    // Nothing acked: the redelivery sends the good one again and skips the one it cannot send.
    clock.advance(ACK_TIMEOUT_MS);
    await acking.next(() => count(acking, 'alarm:new', good) === 2);
    assert.equal(count(acking, 'alarm:new', bad), 0);
    const { epoch } = acking.frames.find((f) => f[0] === 'alarm:new')![2] as EventMeta;
    await request(acking, 'ack', { stream: 'site', offset: good, epoch }, 'json');
    clock.advance(2 * ACK_TIMEOUT_MS);
    await roundTrip(acking, 'json');
    assert.equal(count(acking, 'alarm:new', good), 2, 'acked: not sent again');
  });

  it('a refresh to fewer sites stops that site’s alarms, live and redelivered', async () => {
    const raw = await acker('shrinking', [35, 36]);
    assert.equal((await request(raw, 'subscribe:alarms', {}))[0], 'subscribed');
    const revoked = await pub.sendAlarmNotification({ id: 'R-1', siteId: 36 });
    await raw.next((f) => f[0] === 'alarm:new' && (f[2] as EventMeta).offset === revoked);
    const reply = await request(raw, 'auth:refresh', { token: await t.token({ sub: 'shrinking', sites: [35] }) });
    assert.equal(reply[0], 'auth:refreshed');
    const later = await pub.sendAlarmNotification({ id: 'R-2', siteId: 36 });
    const kept = await pub.sendAlarmNotification({ id: 'R-3', siteId: 35 });
    await raw.next((f) => f[0] === 'alarm:new' && (f[2] as EventMeta).offset === kept);
    clock.advance(2 * ACK_TIMEOUT_MS);
    await raw.next(() => count(raw, 'alarm:new', kept) === 2);
    await roundTrip(raw);
    assert.equal(count(raw, 'alarm:new', later), 0, 'no live alarm of the revoked site');
    assert.equal(count(raw, 'alarm:new', revoked), 1, 'no redelivery of the revoked site');
  });

  it('an admin on the alarm feed and on a site gets each of its alarms once', async () => {
    const raw = await acker('admin-both', '*', 'msgpack', 'admin');
    assert.equal((await request(raw, 'subscribe:alarms', {}))[0], 'subscribed');
    assert.equal((await request(raw, 'subscribe:site', { siteId: 37 }))[0], 'subscribed');
    const alarm = await pub.sendAlarmNotification({ id: 'D-1', siteId: 37 });
    const fence = await pub.sendTaskUpdate(37, { id: 'fence' });
    await raw.next((f) => f[0] === 'task:update' && (f[2] as EventMeta).offset === fence);
    assert.equal(count(raw, 'alarm:new', alarm), 1);
    // Off the feed, the site's own alarm topic carries them: no gap in the same tick.
    await request(raw, 'unsubscribe:site', { siteId: 37 });
    const other = await pub.sendAlarmNotification({ id: 'D-2', siteId: 38 });
    await raw.next((f) => f[0] === 'alarm:new' && (f[2] as EventMeta).offset === other);
  });

  it('property: whatever handlers fail and whenever time moves, every critical event is handled exactly once', async () => {
    // HubClient reports a handler's error asynchronously (uncaught): the failures here are on purpose.
    const saved = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const expectedFailure = (e: unknown) => {
      if (!String((e as Error)?.message).includes(' fails ')) throw e;
    };
    process.on('uncaughtException', expectedFailure);
    after(() => {
      process.off('uncaughtException', expectedFailure);
      for (const l of saved) process.on('uncaughtException', l);
    });
    let run = 0;
    await assertAsyncProperty(
      fc.asyncProperty(
        fc.array(fc.record({ kind: fc.constantFrom('alarm', 'note', 'broadcast'), fails: fc.nat({ max: 2 }), advanceMs: fc.constantFrom(0, 0, 100, 499, 500, 1000) }), { minLength: 1, maxLength: 12 }),
        fc.constantFrom(0, 10, 50),
        async (steps, ackDelayMs) => {
          const user = `prop-${run++}`;
          const site = 40 + (run % 5);
          const c = track(await Recorder.connect(t.wsUrl, await t.token({ sub: user, sites: [site] }), { ackDelayMs }));
          try {
            await c.client.subscribeAlarms();
            await c.client.subscribeNotifications();
            // Handlers fail a chosen number of times per event before they succeed: the hub's redelivery must
            // bring each back until it is handled, and never hand a handled one to the application again.
            const failuresLeft = new Map<string, number>();
            const handled = new Map<string, number>();
            const handle = (name: string) => (_data: unknown, meta?: EventMeta) => {
              const key = `${meta!.stream}:${meta!.offset}`;
              const left = failuresLeft.get(key) ?? 0;
              if (left > 0) {
                failuresLeft.set(key, left - 1);
                throw new Error(`${name} ${key} fails ${left} more time(s)`);
              }
              handled.set(key, (handled.get(key) ?? 0) + 1);
            };
            c.client.on('alarm:new', handle('alarm:new'));
            c.client.on('notification:new', handle('notification:new'));
            const expected: string[] = [];
            for (const step of steps) {
              let key: string;
              if (step.kind === 'alarm') key = `site:${await pub.sendAlarmNotification({ id: `P-${expected.length}`, siteId: site })}`;
              else if (step.kind === 'note') key = `user:${await pub.sendUserNotification(user, { n: expected.length })}`;
              else key = `global:${await pub.sendGlobalNotification({ n: expected.length })}`;
              failuresLeft.set(key, step.fails);
              expected.push(key);
              clock.advance(step.advanceMs);
            }
            await waitFor(
              () => {
                clock.advance(ACK_TIMEOUT_MS);
                return expected.every((k) => handled.has(k));
              },
              { timeoutMs: 15_000, everyMs: 50, what: () => `every event handled: ${expected.filter((k) => !handled.has(k)).join(', ')} not yet` },
            );
            // Broadcasts reach every user's socket; this one's own handled them once each, like the rest.
            for (const k of expected) assert.equal(handled.get(k), 1, `${k} handled once`);
          } finally {
            c.close();
          }
        },
      ),
      { numRuns: 20 },
    );
  });
});

/**
 * Acknowledgements: critical events (alarms, notifications) are redelivered on the
 * connection until the client acks them, never after; HubClient acks after its
 * handlers ran; a user's acked position follows them to a new device; operators
 * acknowledge alarms through the hub, which appends the update to the log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import type { WebSocketConstructor } from '../protocol/client.ts';
import { ACKS_SUBPROTOCOL, AUTH_SUBPROTOCOL_PREFIX, decodeFrame, type EventMeta, type Frame, SUBPROTOCOL } from '../protocol/codec.ts';
import { ErrorCode, HubError } from '../protocol/errors.ts';
import type { HubPublisher } from '../protocol/publisher.ts';
import { RawSocket } from './support/raw-socket.ts';
import { Recorder } from './support/recorder.ts';
import { TestClock } from './support/test-clock.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';
import { trackConnections } from './support/tracked-connections.ts';
import { waitFor } from './support/wait-for.ts';

const ACK_TIMEOUT_MS = 500;

const track = trackConnections();

/** A bare socket that offers acks (so the hub tracks its critical events) but acks only when told. */
async function rawWithAcks(t: TestHub, claims: Parameters<TestHub['token']>[0]): Promise<RawSocket> {
  const token = await t.token(claims);
  return RawSocket.connect(t.wsUrl, { protocols: [SUBPROTOCOL.msgpack, ACKS_SUBPROTOCOL, AUTH_SUBPROTOCOL_PREFIX + token] });
}

let nextRef = 1;
/** Sends `[op, args, ref]` and resolves with the reply that carries the ref. */
async function request(raw: RawSocket, op: string, args?: unknown): Promise<Frame> {
  const ref = nextRef++;
  const from = raw.frames.length;
  raw.sendFrame([op, args, ref]);
  return raw.next((f) => (f[2] as { ref?: unknown } | undefined)?.ref === ref, { from });
}

/** Private notifications go live once the session has read the user's cursor: wait for that before appending. */
function notificationsLive(ask: () => Promise<unknown>): Promise<void> {
  return waitFor(async () => (await ask()) === true, { timeoutMs: 5000, what: 'notifications to go live' });
}

const liveRaw = (raw: RawSocket) => notificationsLive(async () => ((await request(raw, 'subscribe:notifications'))[1] as { live: boolean }).live);
const liveClient = (r: Recorder) => notificationsLive(async () => ((await r.client.subscribeNotifications()) as { live: boolean }).live);

function deliveries(raw: RawSocket, name: string, offset: number): Frame[] {
  return raw.frames.filter((f) => f[0] === name && (f[2] as EventMeta | undefined)?.offset === offset);
}

/** A `ws` WebSocket that also records every frame it receives, to see redeliveries HubClient drops as duplicates. */
function wireTap(): { Impl: WebSocketConstructor; wire: Frame[] } {
  const wire: Frame[] = [];
  class Tapped extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      this.on('message', (data: ArrayBuffer | Buffer, isBinary: boolean) => wire.push(decodeFrame(data, isBinary)));
    }
  }
  return { Impl: Tapped, wire };
}

/** Polls `predicate` (for conditions no event signals, such as a frame HubClient dropped as a duplicate). */
const until = (predicate: () => boolean, timeoutMs: number, what: string) => waitFor(predicate, { timeoutMs, what });

function onWire(wire: readonly Frame[], name: string, offset: number): number {
  return wire.filter((f) => f[0] === name && (f[2] as EventMeta | undefined)?.offset === offset).length;
}

/** Whether the hub has confirmed an ack covering `offset` of `stream` on this wire (HubClient acks on a timer of its own). */
function ackedOnWire(wire: readonly Frame[], stream: string, offset: number): boolean {
  return wire.some((f) => f[0] === 'acked' && (f[1] as { stream: string }).stream === stream && (f[1] as { offset: number }).offset >= offset);
}

/** Runs `fn` with uncaught exceptions collected instead of failing the test (HubClient rethrows handler errors asynchronously). */
async function collectingUncaught<T>(fn: (errors: unknown[]) => Promise<T>): Promise<T> {
  const saved = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  const errors: unknown[] = [];
  const collect = (e: unknown) => errors.push(e);
  process.on('uncaughtException', collect);
  try {
    return await fn(errors);
  } finally {
    process.off('uncaughtException', collect);
    for (const l of saved) process.on('uncaughtException', l);
  }
}

describe('acks (HUB_ACK_TIMEOUT_MS=500, on a clock the test moves)', () => {
  let t: TestHub;
  let pub: HubPublisher;
  // Redelivery runs on the hub's clock: an ack timeout passes when the test moves it, and what falls due is
  // sent as it moves.
  const clock = new TestClock(Date.now());
  before(async () => {
    t = await startTestHub({ HUB_ACK_TIMEOUT_MS: String(ACK_TIMEOUT_MS) }, {}, { clock });
    pub = await t.publisher();
  });
  after(() => t.stop());

  /**
   * Proof, without a timed wait, that the hub redelivers nothing more to a socket: two ack timeouts pass on the
   * clock, which sends whatever falls due as it moves; a round trip on the socket then brings in anything sent
   * to it before.
   */
  async function noRedeliveryDue(roundTrip: () => Promise<unknown>): Promise<void> {
    clock.advance(2 * ACK_TIMEOUT_MS);
    await roundTrip();
  }

  it('redelivers an alarm a client does not ack, and never again once it acks {stream, offset, epoch}', async () => {
    const raw = track(await rawWithAcks(t, { sub: 'slow-acker', sites: [1] }));
    assert.equal((await request(raw, 'subscribe:alarms', {}))[0], 'subscribed');
    const offset = await pub.sendAlarmNotification({ id: 'A-1', siteId: 1, title: 'mixer overload' });

    const first = await raw.next((f) => f[0] === 'alarm:new' && (f[2] as EventMeta).offset === offset);
    // A millisecond before the ack timeout nothing is resent (a round trip brings in anything sent before it);
    // at the timeout it is.
    clock.advance(ACK_TIMEOUT_MS - 1);
    assert.equal((await request(raw, 'ping'))[0], 'pong');
    assert.equal(deliveries(raw, 'alarm:new', offset).length, 1, 'not redelivered before the ack timeout');
    clock.advance(1);
    await raw.next((f) => f !== first && f[0] === 'alarm:new' && (f[2] as EventMeta).offset === offset);
    const redelivered = deliveries(raw, 'alarm:new', offset);
    assert.deepEqual(redelivered[1], redelivered[0], 'the same frame, offset and payload');

    const meta = first[2] as EventMeta;
    const acked = await request(raw, 'ack', { stream: meta.stream, offset: meta.offset, epoch: meta.epoch });
    assert.deepEqual(acked.slice(0, 2), ['acked', { stream: 'site', offset }]);
    const count = deliveries(raw, 'alarm:new', offset).length;
    await noRedeliveryDue(() => request(raw, 'ping'));
    assert.equal(deliveries(raw, 'alarm:new', offset).length, count, 'nothing redelivered after the ack');
    raw.close();
  });

  it('redelivers an unacked private notification, and stops once it is acked', async () => {
    const raw = track(await rawWithAcks(t, { sub: 'note-taker' }));
    await liveRaw(raw);
    const offset = await pub.sendUserNotification('note-taker', { title: 'shift report ready' });
    const redeliveredBefore = (await t.hub.metrics.redelivered.get()).values[0]?.value ?? 0;
    await raw.next((f) => f[0] === 'notification:new' && (f[2] as EventMeta).offset === offset);
    clock.advance(ACK_TIMEOUT_MS);
    await raw.next((f) => deliveries(raw, 'notification:new', offset).length >= 2);
    assert.ok(((await t.hub.metrics.redelivered.get()).values[0]?.value ?? 0) > redeliveredBefore, 'the redelivery is counted');
    const meta = deliveries(raw, 'notification:new', offset)[0]![2] as EventMeta;
    assert.equal(meta.stream, 'user');
    await request(raw, 'ack', { stream: 'user', offset, epoch: meta.epoch });
    const count = deliveries(raw, 'notification:new', offset).length;
    await noRedeliveryDue(() => request(raw, 'ping'));
    assert.equal(deliveries(raw, 'notification:new', offset).length, count);
    raw.close();
  });

  it('sends critical events once to a client that does not offer acks (fire-and-forget)', async () => {
    const token = await t.token({ sub: 'no-acks', sites: [1] });
    const raw = track(await RawSocket.connect(t.wsUrl, { token }));
    assert.equal((await request(raw, 'subscribe:alarms', {}))[0], 'subscribed');
    const offset = await pub.sendAlarmNotification({ id: 'A-2', siteId: 1 });
    await raw.next((f) => f[0] === 'alarm:new' && (f[2] as EventMeta).offset === offset);
    await noRedeliveryDue(() => request(raw, 'ping'));
    assert.equal(deliveries(raw, 'alarm:new', offset).length, 1);
    raw.close();
  });

  it('a HubClient acks automatically: nothing is redelivered to it', async () => {
    const { Impl, wire } = wireTap();
    const c = track(await Recorder.connect(t.wsUrl, await t.token({ sub: 'auto-acker', sites: [1] }), { WebSocket: Impl }));
    await c.client.subscribeAlarms();
    await liveClient(c);
    const alarm = await pub.sendAlarmNotification({ id: 'A-3', siteId: 1 });
    const note = await pub.sendUserNotification('auto-acker', { title: 'hello' });
    await c.waitFor((r) => r.some((e) => e.meta?.offset === alarm && e.name === 'alarm:new') && r.some((e) => e.meta?.offset === note && e.name === 'notification:new'));
    await until(() => ackedOnWire(wire, 'site', alarm) && ackedOnWire(wire, 'user', note), 5000, 'HubClient to ack both');
    await noRedeliveryDue(() => c.client.ping());
    assert.equal(onWire(wire, 'alarm:new', alarm), 1, 'the alarm was sent once');
    assert.equal(onWire(wire, 'notification:new', note), 1, 'the notification was sent once');
    c.close();
  });

  it('does not ack an event whose handler threw: it is redelivered and handled again', async () => {
    await collectingUncaught(async (errors) => {
      const { Impl, wire } = wireTap();
      // Acks go out at once (no batching delay), so the ping below comes after any ack the handler's failure did not prevent.
      const c = track(await Recorder.connect(t.wsUrl, await t.token({ sub: 'clumsy', sites: [1] }), { WebSocket: Impl, ackDelayMs: 0 }));
      await c.client.subscribeAlarms();
      const handled: number[] = [];
      c.client.on('alarm:new', (_alarm, meta) => {
        handled.push(meta!.offset);
        if (handled.length === 1) throw new Error('handler failed the first time');
      });
      const offset = await pub.sendAlarmNotification({ id: 'A-4', siteId: 1 });
      await until(() => handled.length === 1, 5000, 'the handler to run (and throw)');
      // Nothing acked it: the ping's round trip shows no ack was sent before it; then its ack timeout passes.
      await c.client.ping();
      assert.equal(ackedOnWire(wire, 'site', offset), false, 'an event whose handler threw is not acked');
      clock.advance(ACK_TIMEOUT_MS);
      await until(() => onWire(wire, 'alarm:new', offset) >= 2, 5000, 'the unacked alarm to be redelivered');
      assert.equal(errors.length, 1, 'the handler error is still reported');
      await until(() => handled.length >= 2, 5000, 'the handler to run again').catch(() => {});
      assert.deepEqual(handled, [offset, offset], 'the redelivered alarm reaches the handler again');
      await until(() => ackedOnWire(wire, 'site', offset), 5000, 'HubClient to ack it, handled the second time');
      const sent = onWire(wire, 'alarm:new', offset);
      await noRedeliveryDue(() => c.client.ping());
      assert.equal(onWire(wire, 'alarm:new', offset), sent, 'handled the second time, it is acked and not sent again');
      c.close();
    });
  });

  it('an ack beyond what the connection was sent moves no cursor: the user still gets what they missed, on any device', async () => {
    const forger = track(await rawWithAcks(t, { sub: 'forged' }));
    await liveRaw(forger);
    const seen = await pub.sendUserNotification('forged', { title: 'seen' });
    const frame = await forger.next((f) => f[0] === 'notification:new' && (f[2] as EventMeta).offset === seen);
    const { epoch } = frame[2] as EventMeta;
    const reply = await request(forger, 'ack', { stream: 'user', offset: seen + 1_000_000, epoch });
    assert.deepEqual(reply.slice(0, 2), ['acked', { stream: 'user', offset: seen }], 'the ack is cut to what was sent');
    forger.close();
    await forger.closed;
    const missed = await pub.sendUserNotification('forged', { title: 'sent while offline' });
    const laptop = track(await Recorder.connect(t.wsUrl, await t.token({ sub: 'forged' })));
    await laptop.client.subscribeNotifications();
    await laptop.waitFor((r) => r.some((e) => e.meta?.offset === missed));
    assert.deepEqual(laptop.of('notification:new').map((e) => e.data.title), ['sent while offline']);
    laptop.close();
  });

  it('a user on a new device gets the notifications they never acked, and not the acked ones', async () => {
    const phone = track(await Recorder.connect(t.wsUrl, await t.token({ sub: 'nomad' })));
    await liveClient(phone);
    const acked = await pub.sendUserNotification('nomad', { title: 'read on the phone' });
    await phone.waitFor((r) => r.some((e) => e.meta?.offset === acked));
    phone.close(); // sends its pending acks first

    const kiosk = track(await rawWithAcks(t, { sub: 'nomad' }));
    await liveRaw(kiosk);
    const unacked = await pub.sendUserNotification('nomad', { title: 'shown on the kiosk, never acked' });
    await kiosk.next((f) => f[0] === 'notification:new' && (f[2] as EventMeta).offset === unacked);
    kiosk.close();
    await kiosk.closed;
    const missed = await pub.sendUserNotification('nomad', { title: 'sent while offline' });

    const laptop = track(await Recorder.connect(t.wsUrl, await t.token({ sub: 'nomad' })));
    await laptop.client.subscribeNotifications();
    await laptop.waitFor((r) => r.some((e) => e.meta?.offset === missed));
    // A later notification, live: an acked one replayed late, or anything twice, would have come before it.
    const fence = await pub.sendUserNotification('nomad', { title: 'fence' });
    await laptop.waitFor((r) => r.some((e) => e.meta?.offset === fence));
    assert.deepEqual(
      laptop.of('notification:new').map((e) => [e.meta!.offset, e.data.title]),
      [
        [unacked, 'shown on the kiosk, never acked'],
        [missed, 'sent while offline'],
        [fence, 'fence'],
      ],
    );
    laptop.close();
  });

  describe('alarm:ack', () => {
    /** The next offset of the site log: appending a marker shows whether anything was appended since `previous`. */
    async function appendedSince(previous: number): Promise<number> {
      return (await pub.sendTaskUpdate(1, { id: 'marker' })) - previous - 1;
    }

    it('an operator acknowledges an alarm: appended, answered with its offset, and every subscriber of the site sees alarm:update', async () => {
      const operator = track(await Recorder.connect(t.wsUrl, await t.token({ sub: 'op-1', sites: [1], role: 'operator' })));
      const viewer = track(await Recorder.connect(t.wsUrl, await t.token({ sub: 'viewer-1', sites: [1] })));
      const elsewhere = track(await Recorder.connect(t.wsUrl, await t.token({ sub: 'viewer-2', sites: [2] })));
      for (const [r, site] of [[operator, 1], [viewer, 1], [elsewhere, 2]] as const) await r.client.subscribeSite(site);
      const raised = await pub.sendAlarmNotification({ id: 'A-9', siteId: 1, title: 'aggregate bin low' });
      await viewer.waitFor((r) => r.some((e) => e.meta?.offset === raised));

      const reply = await operator.client.acknowledgeAlarm('A-9', 1);
      assert.equal(reply.alarmId, 'A-9');
      assert.ok(Number.isInteger(reply.offset) && reply.offset > raised);
      for (const r of [operator, viewer]) {
        await r.waitFor((rs) => rs.some((e) => e.name === 'alarm:update'));
        const [update] = r.of('alarm:update');
        assert.equal(update!.meta!.offset, reply.offset);
        assert.equal(update!.data.id, 'A-9');
        assert.equal(update!.data.status, 'acknowledged');
        assert.equal(update!.data.acknowledgedBy, 'op-1');
      }
      const marker = await pub.sendTaskUpdate(2, { id: 'site 2 marker' });
      await elsewhere.waitFor((r) => r.some((e) => e.meta?.offset === marker));
      assert.deepEqual(elsewhere.of('alarm:update'), [], 'another site does not see it');

      // A retried acknowledgement is stored once.
      const again = (await operator.client.acknowledgeAlarm('A-9', 1)) as { offset: number; duplicate?: boolean };
      assert.equal(again.offset, reply.offset);
      assert.equal(again.duplicate, true);
      for (const r of [operator, viewer, elsewhere]) r.close();
    });

    it('refuses a viewer (error 200) and appends nothing', async () => {
      const viewer = track(await Recorder.connect(t.wsUrl, await t.token({ sub: 'viewer-3', sites: [1], role: 'viewer' })));
      const previous = await pub.sendTaskUpdate(1, { id: 'marker' });
      const e = await viewer.client.acknowledgeAlarm('A-10', 1).then(
        () => assert.fail('a viewer acknowledged an alarm'),
        (err: unknown) => err,
      );
      assert.ok(e instanceof HubError);
      assert.equal(e.code, ErrorCode.Forbidden);
      assert.match(e.message, /role viewer/);
      assert.equal(await appendedSince(previous), 0, 'nothing appended');
      viewer.close();
    });

    it('refuses an operator for a site outside the token (error 200) and appends nothing', async () => {
      const operator = track(await Recorder.connect(t.wsUrl, await t.token({ sub: 'op-2', sites: [1], role: 'operator' })));
      const previous = await pub.sendTaskUpdate(1, { id: 'marker' });
      const e = await operator.client.acknowledgeAlarm('A-11', 2).then(
        () => assert.fail('an alarm of another site was acknowledged'),
        (err: unknown) => err,
      );
      assert.ok(e instanceof HubError);
      assert.equal(e.code, ErrorCode.Forbidden);
      assert.match(e.message, /site 2/);
      assert.equal(await appendedSince(previous), 0, 'nothing appended');
      assert.ok('timestamp' in (await operator.client.ping()), 'the connection stays open');
      operator.close();
    });
  });
});

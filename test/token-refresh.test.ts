/**
 * Token lifetime: the hub warns a session before its token expires, HubClient
 * refreshes it through `getToken()` (and the new token's sites take effect at once),
 * an expired session is closed with 4402, and a client with `getToken` comes back
 * with a fresh token after 4401 or 4402 while one without it stays down.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { WebSocket } from 'ws';
import { CloseCode, ErrorCode, HubError } from '../protocol/errors.ts';
import type { HubPublisher } from '../protocol/publisher.ts';
import { RawSocket } from './support/raw-socket.ts';
import { Recorder } from './support/recorder.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';
import { TestClock } from './support/test-clock.ts';
import { trackConnections } from './support/tracked-connections.ts';
import { waitFor } from './support/wait-for.ts';

const track = trackConnections();

/** Milliseconds since the epoch at which a token expires. */
function expiryOf(token: string): number {
  return decodeJwt(token).exp! * 1000;
}

/** Records the hub's control frames a Recorder does not: warnings, refresh replies, revocations, reconnects. */
function controlLog(r: Recorder): Array<{ name: string; data: any }> {
  const log: Array<{ name: string; data: any }> = [];
  for (const name of ['auth:expiring', 'auth:refreshed', 'unsubscribed', 'reconnecting', 'connected']) r.client.on(name, (data) => log.push({ name, data }));
  return log;
}

const until = (predicate: () => boolean, timeoutMs: number, what: string) => waitFor(predicate, { timeoutMs, what });

function refused(p: Promise<unknown>): Promise<HubError> {
  return p.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => {
      assert.ok(e instanceof HubError, String(e));
      return e;
    },
  );
}

/**
 * A hub whose time is a TestClock: a token's hour passes when the test moves the clock, not in real time. The
 * hub's token deadlines are timers on that clock, so a move fires them as it goes; the tests wait on
 * the frames that prove it (a warning, a refresh, a close), never on time. Sockets must not go idle when an
 * hour passes at once: HUB_IDLE_TIMEOUT_MS is a day.
 */
async function hubOnTestClock(env: Record<string, string>): Promise<{ t: TestHub; clock: TestClock }> {
  const clock = new TestClock(Date.now());
  const t = await startTestHub({ ...env, HUB_IDLE_TIMEOUT_MS: String(24 * 3600_000) }, {}, { clock });
  return { t, clock };
}

/** A token of `claims` expiring `ms` after the clock's now (exp is in whole seconds). */
function tokenFor(t: TestHub, clock: TestClock, claims: { sub: string; sites: unknown }, ms = 3600_000): Promise<string> {
  return t.token({ ...claims, expiresIn: Math.floor((clock.now() + ms) / 1000) });
}

/** Moves the clock to `ms` before the token expires (0: to its expiry, when the hub closes its sessions). */
function moveTo(clock: TestClock, token: string, ms = 0): void {
  clock.advance(Math.max(0, expiryOf(token) - ms - clock.now()));
}

const WARNING_MS = 2000;

describe('token refresh (HUB_TOKEN_WARNING_MS=2000, on a clock the test moves)', () => {
  let t: TestHub;
  let clock: TestClock;
  let pub: HubPublisher;
  before(async () => {
    ({ t, clock } = await hubOnTestClock({ HUB_TOKEN_WARNING_MS: String(WARNING_MS) }));
    pub = await t.publisher();
  });
  after(() => t.stop());

  it('warns before expiry, HubClient refreshes through getToken, and the session outlives the first token', async () => {
    const first = await tokenFor(t, clock, { sub: 'shift-a', sites: [1] });
    // A probe with the same expiry and no way to refresh: it shows when the hub has acted on that expiry.
    const probe = track(await Recorder.connect(t.wsUrl, await tokenFor(t, clock, { sub: 'probe', sites: [1] }, expiryOf(first) - clock.now())));
    let calls = 0;
    const getToken = async () => {
      calls++;
      return tokenFor(t, clock, { sub: 'shift-a', sites: [1] }, 2 * 3600_000);
    };
    const c = track(await Recorder.connect(t.wsUrl, first, { getToken }));
    const log = controlLog(c);
    await c.client.subscribeSite(1);

    moveTo(clock, first, WARNING_MS - 1);
    await until(() => log.some((e) => e.name === 'auth:refreshed'), 5000, 'auth:refreshed');
    const warning = log.find((e) => e.name === 'auth:expiring');
    assert.equal(warning?.data.expiresAt, expiryOf(first), 'the warning names the expiry of the token in force');
    assert.ok(log.find((e) => e.name === 'auth:refreshed')!.data.expiresAt > expiryOf(first) + 60_000);
    assert.equal(calls, 1);

    // Past the first token's expiry, and the hub has acted on it: the probe is closed with 4402 — had the
    // session kept the first token, so would it be (one sweep judges both at the same time).
    moveTo(clock, first);
    await probe.waitFor((r) => r.some((e) => e.name === 'disconnect'), 5000);
    assert.equal(probe.of('disconnect')[0]!.data.code, CloseCode.TokenExpired);
    const offset = await pub.sendTaskUpdate(1, { id: 'after the first token expired' });
    await c.waitFor((r) => r.some((e) => e.meta?.offset === offset));
    assert.deepEqual(c.of('disconnect'), [], 'never disconnected');
    assert.equal(t.hub.connections, 1);
    c.close();
  });

  it('a refreshed token with fewer sites drops the revoked one; with more sites it allows a new one', async () => {
    const first = await tokenFor(t, clock, { sub: 'shift-b', sites: [1, 2] });
    // The refresh waits until the test has subscribed under the first token.
    let release!: (token: string) => void;
    const refreshed = new Promise<string>((resolve) => (release = resolve));
    const c = track(await Recorder.connect(t.wsUrl, first, { getToken: () => refreshed }));
    const log = controlLog(c);
    await c.client.subscribeSite(1);
    await c.client.subscribeSite(2);
    await c.client.subscribeAlarms();
    assert.equal((await refused(c.client.subscribeSite(3))).code, ErrorCode.Forbidden);

    moveTo(clock, first, WARNING_MS - 1);
    await until(() => log.some((e) => e.name === 'auth:expiring'), 5000, 'auth:expiring');
    release(await tokenFor(t, clock, { sub: 'shift-b', sites: [1, 3] }));
    await until(() => log.some((e) => e.name === 'auth:refreshed'), 5000, 'auth:refreshed');
    assert.deepEqual(log.find((e) => e.name === 'auth:refreshed')!.data.revokedSites, ['2']);
    const revoked = log.filter((e) => e.name === 'unsubscribed');
    assert.equal(revoked.length, 1);
    assert.equal(revoked[0]!.data.siteId, '2');
    assert.equal(revoked[0]!.data.revoked, true);

    // Site 2 is gone: neither its events nor its alarms arrive; site 1 keeps flowing.
    await pub.sendTaskUpdate(2, { id: 'revoked site' });
    await pub.sendAlarmNotification({ id: 'A-2', siteId: 2 });
    const stillThere = await pub.sendTaskUpdate(1, { id: 'kept site' });
    await c.waitFor((r) => r.some((e) => e.meta?.offset === stillThere));
    // Site 3 is now granted: its alarms reach the alarm feed, and it can be subscribed.
    const alarm3 = await pub.sendAlarmNotification({ id: 'A-3', siteId: 3 });
    await c.waitFor((r) => r.some((e) => e.meta?.offset === alarm3));
    const reply = await c.client.subscribeSite(3);
    assert.equal(reply.siteId, 3);
    const task3 = await pub.sendTaskUpdate(3, { id: 'new site' });
    await c.waitFor((r) => r.some((e) => e.meta?.offset === task3));
    await c.settle();

    const sites = c.received.filter((e) => e.meta !== undefined).map((e) => `${e.name}@${e.meta!.site}`);
    assert.ok(!sites.some((s) => s.endsWith('@2')), `nothing of site 2 after the refresh: ${sites}`);
    assert.deepEqual(c.of('disconnect'), []);
    c.close();
  });

  it('HubClient forgets a revoked site: after a reconnect it does not ask for it again', async () => {
    const sockets: WebSocket[] = [];
    class Tracked extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        sockets.push(this);
      }
    }
    const first = await tokenFor(t, clock, { sub: 'shift-f', sites: [1, 2] });
    let release!: (token: string) => void;
    const refreshed = new Promise<string>((resolve) => (release = resolve));
    const c = track(await Recorder.connect(t.wsUrl, first, { getToken: () => refreshed, WebSocket: Tracked, reconnect: { initialDelayMs: 50, maxDelayMs: 50, jitter: 0 } }));
    const log = controlLog(c);
    await c.client.subscribeSite(1);
    await c.client.subscribeSite(2);
    moveTo(clock, first, WARNING_MS - 1);
    release(await tokenFor(t, clock, { sub: 'shift-f', sites: [1] }));
    await until(() => log.some((e) => e.name === 'unsubscribed'), 5000, 'the revocation');

    sockets[0]!.terminate();
    await c.waitFor((r) => r.some((e) => e.name === 'recovered'), 5000);
    const offset = await pub.sendTaskUpdate(1, { id: 'after reconnect' });
    await c.waitFor((r) => r.some((e) => e.meta?.offset === offset));
    await c.settle();
    assert.deepEqual(c.of('recovered').map((e) => e.data.subscription), ['site:1']);
    assert.deepEqual(c.of('error').map((e) => e.data), [], 'no refused resubscription of the revoked site');
    c.close();
  });

  it('without getToken: the session is warned, closed with 4402 at expiry and not before, and HubClient does not reconnect', async () => {
    const token = await tokenFor(t, clock, { sub: 'shift-c', sites: [1] });
    const c = track(await Recorder.connect(t.wsUrl, token));
    const log = controlLog(c);
    await c.client.subscribeSite(1);
    moveTo(clock, token, WARNING_MS - 1);
    await until(() => log.some((e) => e.name === 'auth:expiring'), 5000, 'auth:expiring');
    // A millisecond before expiry the hub has looked at tokens at that time: a probe expiring a second later is
    // warned (the hub warns each session once), and the session is still open.
    moveTo(clock, token, 1);
    // Recorded from the start: a token already inside its warning time is warned right behind `connected`.
    const probe = track(new Recorder({ url: t.wsUrl, token: await tokenFor(t, clock, { sub: 'probe-c', sites: [1] }, 1001) }));
    const probeLog = controlLog(probe);
    await probe.client.connect();
    await until(() => probeLog.some((e) => e.name === 'auth:expiring'), 5000, "the probe's warning");
    // Had that sweep closed the session, the close would come before any answer on its socket.
    assert.ok((await c.client.ping()).timestamp > 0, 'not closed before the token expired');

    moveTo(clock, token);
    await c.waitFor((r) => r.some((e) => e.name === 'disconnect'), 5000);
    assert.deepEqual(c.of('disconnect').map((e) => e.data), [{ code: CloseCode.TokenExpired, reason: 'token expired' }]);
    // HubClient decides on reconnecting as it handles the close: a reconnect would have been announced already.
    assert.equal(log.filter((e) => e.name === 'reconnecting').length, 0, 'no reconnect with a token that would be refused');
    await waitFor(() => t.hub.connections === 1, { timeoutMs: 5000, what: 'the hub to drop the expired session (the probe stays)' });
    assert.equal(c.of('disconnect').length, 1);
    assert.equal(c.client.connected, false);
    c.close();
  });
});

describe('reconnecting with a fresh token (no expiry warning: HUB_TOKEN_WARNING_MS=0, on a clock the test moves)', () => {
  let t: TestHub;
  let clock: TestClock;
  let pub: HubPublisher;
  before(async () => {
    ({ t, clock } = await hubOnTestClock({ HUB_TOKEN_WARNING_MS: '0' }));
    pub = await t.publisher();
  });
  after(() => t.stop());

  it('after 4402 (expired while connected) HubClient fetches a token, reconnects and resumes', async () => {
    const first = await tokenFor(t, clock, { sub: 'shift-d', sites: [1] });
    let calls = 0;
    const getToken = async () => {
      calls++;
      return tokenFor(t, clock, { sub: 'shift-d', sites: [1] });
    };
    const c = track(await Recorder.connect(t.wsUrl, first, { getToken, reconnect: { initialDelayMs: 300, maxDelayMs: 300, jitter: 0 } }));
    await c.client.subscribeSite(1);
    const before = await pub.sendTaskUpdate(1, { id: 'before expiry' });
    await c.waitFor((r) => r.some((e) => e.meta?.offset === before));
    moveTo(clock, first);
    await c.waitFor((r) => r.some((e) => e.name === 'disconnect'), 5000);
    assert.equal(c.of('disconnect')[0]!.data.code, CloseCode.TokenExpired);
    const missed = await pub.sendTaskUpdate(1, { id: 'while reconnecting' });

    await c.waitFor((r) => r.some((e) => e.name === 'recovered'), 5000);
    await c.waitFor((r) => r.some((e) => e.meta?.offset === missed));
    assert.equal(calls, 1);
    assert.deepEqual(c.of('task:update').map((e) => e.meta!.offset), [before, missed]);
    assert.deepEqual(c.of('disconnect').map((e) => e.data.code), [CloseCode.TokenExpired]);
    assert.ok(c.client.connected);
    c.close();
  });

  it('after 4401 (token expired while away) HubClient fetches a token and reconnects', async () => {
    const sockets: WebSocket[] = [];
    class Tracked extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        sockets.push(this);
      }
    }
    const first = await tokenFor(t, clock, { sub: 'shift-e', sites: [1] });
    let calls = 0;
    const getToken = async () => {
      calls++;
      return tokenFor(t, clock, { sub: 'shift-e', sites: [1] });
    };
    const c = track(await Recorder.connect(t.wsUrl, first, { getToken, WebSocket: Tracked, reconnect: { initialDelayMs: 100, maxDelayMs: 100, jitter: 0 } }));
    await c.client.subscribeSite(1);
    // The network drops, and the token expires while the client is away: its reconnect is refused at the upgrade.
    sockets[0]!.terminate();
    moveTo(clock, first);
    const missed = await pub.sendTaskUpdate(1, { id: 'while away' });

    await c.waitFor((r) => r.some((e) => e.meta?.offset === missed), 10_000);
    assert.deepEqual(c.of('disconnect').map((e) => e.data.code), [1006, CloseCode.Unauthorized]);
    assert.equal(c.of('disconnect')[1]!.data.reason, 'token expired');
    assert.equal(calls, 1, 'a fresh token was fetched once, after the refusal');
    assert.equal(sockets.length, 3);
    assert.ok(c.client.connected);
    c.close();
  });
});

describe('a refresh during a replay', () => {
  let t: TestHub;
  let pub: HubPublisher;
  before(async () => {
    // A small recent window puts a resume's replay on the log; a small budget makes it wait for the socket.
    t = await startTestHub({ HUB_RECENT_EVENTS: '16', HUB_SOCKET_BUDGET_BYTES: '8192' });
    pub = await t.publisher();
  });
  after(() => t.stop());

  it('revokes a site whose subscription is still replaying: it never joins live, and nothing of it arrives after the refresh', async () => {
    const filler = 'x'.repeat(2000);
    for (let from = 0; from < 3000; from += 200) await Promise.all(Array.from({ length: 200 }, (_, i) => pub.sendTaskUpdate(2, { id: `old-${from + i}`, filler })));
    const raw = track(await RawSocket.connect(t.wsUrl, { token: await t.token({ sub: 'mid-replay', sites: [1, 2] }) }));
    const epoch = ((await raw.exchange(['subscribe:site', { siteId: 1 }, 1]))[1] as { epoch: string }).epoch;
    // The client stops reading: the replay of site 2 fills the socket and waits for it to drain.
    const tcp = (raw.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    tcp.pause();
    raw.sendFrame(['subscribe:site', { siteId: 2, offset: 0, epoch }, 2]);
    raw.sendFrame(['auth:refresh', { token: await t.token({ sub: 'mid-replay', sites: [1] }) }, 3]);
    // The hub has taken the refresh once site 2 has no subscriber left.
    const site2Users = async () => ((await (await fetch(`${t.httpUrl}/api/stats/online`)).json()) as { sites: Record<string, { users: number } | undefined> }).sites['2']?.users ?? 0;
    await waitFor(async () => (await site2Users()) === 0, { timeoutMs: 10_000, what: 'site 2 to have no subscriber left' });
    tcp.resume();
    const reply = await raw.next((f) => f[0] === 'auth:refreshed', { timeoutMs: 20_000 });
    assert.deepEqual((reply[1] as { revokedSites: string[] }).revokedSites, ['2']);
    const afterReply = raw.frames.length;
    await pub.sendTaskUpdate(2, { id: 'after-revocation' });
    await pub.sendTaskUpdate(1, { id: 'fence' });
    // The fence is appended after the revoked site's event, to the same log: delivered in log order, anything of
    // the revoked site would have come before it.
    await raw.next((f) => f[0] === 'task:update' && (f[1] as { id: string }).id === 'fence', { from: afterReply, timeoutMs: 20_000 });
    const later = raw.frames.slice(afterReply).filter((f) => f[0] === 'task:update').map((f) => (f[1] as { id: string }).id);
    assert.deepEqual(later, ['fence'], 'nothing of the revoked site after the refresh: neither replayed nor live');
  });
});

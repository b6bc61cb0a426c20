/** Limits a connection lives under: connections per user, idle timeout, token lifetime. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { CloseCode, HubClient, HubError } from '../protocol/index.ts';
import { Recorder } from './support/recorder.ts';
import { TestClock } from './support/test-clock.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';
import { waitFor } from './support/wait-for.ts';

function disconnected(r: Recorder, timeoutMs: number): Promise<{ code: number; reason: string }> {
  return r.waitFor((rs) => rs.some((e) => e.name === 'disconnect'), timeoutMs).then(() => r.of('disconnect')[0]!.data);
}

describe('per-user connection cap (HUB_MAX_CONNECTIONS_PER_USER=2)', () => {
  let t: TestHub;
  before(async () => {
    t = await startTestHub({ HUB_MAX_CONNECTIONS_PER_USER: '2' });
  });
  after(() => t.stop());

  async function connect(sub: string): Promise<HubClient> {
    const c = new HubClient({ url: t.wsUrl, token: await t.token({ sub, sites: [1] }), WebSocket });
    await c.connect();
    return c;
  }

  async function refused(sub: string): Promise<HubError> {
    const c = new HubClient({ url: t.wsUrl, token: await t.token({ sub, sites: [1] }), WebSocket });
    const e = await c.connect().then(
      () => assert.fail('a connection over the cap was accepted'),
      (err: unknown) => err,
    );
    assert.ok(e instanceof HubError);
    return e;
  }

  it('refuses a third connection of the same user with 4429, and accepts one again after one closes', async () => {
    const first = await connect('capped');
    const second = await connect('capped');
    const e = await refused('capped');
    assert.equal(e.code, CloseCode.TooManyConnections);
    assert.equal(e.message, 'at most 2 connections per user');
    // The refused attempt must not have been counted: still exactly one slot frees per close.
    const gone = new Promise((r) => first.on('disconnect', r));
    first.close();
    await gone;
    // The client has its close; the hub frees the slot as it handles it.
    let third: HubClient | undefined;
    await waitFor(async () => (third = await connect('capped').catch(() => undefined)) !== undefined, { timeoutMs: 5000, everyMs: 50, what: 'a connection to be accepted after one of the two closed' });
    assert.equal((await refused('capped')).code, CloseCode.TooManyConnections);
    second.close();
    third!.close();
  });

  it('counts each user separately', async () => {
    const a1 = await connect('user-a');
    const a2 = await connect('user-a');
    const b1 = await connect('user-b');
    const b2 = await connect('user-b');
    assert.ok(a1.connected && a2.connected && b1.connected && b2.connected);
    assert.equal((await refused('user-b')).code, CloseCode.TooManyConnections);
    for (const c of [a1, a2, b1, b2]) c.close();
  });

  it('keeps the accepted connections working when another is refused', async () => {
    const a = await connect('steady');
    const b = await connect('steady');
    await refused('steady');
    assert.ok((await a.ping()).timestamp > 0);
    assert.ok((await b.ping()).timestamp > 0);
    a.close();
    b.close();
  });
});

describe('idle timeout (HUB_IDLE_TIMEOUT_MS=1500) and token expiry, on a clock the test moves', () => {
  let t: TestHub;
  const clock = new TestClock(Date.now());
  before(async () => {
    t = await startTestHub({ HUB_IDLE_TIMEOUT_MS: '1500' }, {}, { clock });
  });
  after(() => t.stop());

  /** A client that sends nothing by itself (no pings, no reconnect). */
  async function silent(sub: string, claims: { expiresIn?: number } = {}): Promise<Recorder> {
    return Recorder.connect(t.wsUrl, await t.token({ sub, ...claims }), { pingIntervalMs: 600_000, reconnect: false });
  }

  /**
   * Moves the clock to `target` and waits until the hub has judged sessions at that time: a sentinel whose token
   * expires by then is closed; the hub's deadlines fire in due order as the clock moves, so every deadline up to
   * `target` has been handled by then.
   */
  async function sweepAt(target: number): Promise<void> {
    const exp = Math.floor(target / 1000);
    assert.ok(exp * 1000 > clock.now(), 'the sentinel needs a token still valid now (target at least a second ahead)');
    const sentinel = await silent('sentinel', { expiresIn: exp });
    clock.advance(target - clock.now());
    assert.equal((await disconnected(sentinel, 5000)).code, CloseCode.TokenExpired);
  }

  it('closes a connection that sends nothing with 4408 "idle timeout", after the timeout and not at it', async () => {
    const started = clock.now();
    const quiet = await silent('silent');
    await sweepAt(started + 1500);
    // Had that sweep closed it, the close would come before any answer on its socket.
    assert.ok((await quiet.client.ping()).timestamp > 0, 'not closed at the idle timeout');
    clock.advance(1501);
    assert.deepEqual(await disconnected(quiet, 5000), { code: CloseCode.IdleTimeout, reason: 'idle timeout' });
    quiet.close();
  });

  it('keeps a client that pings connected past the idle timeout', async () => {
    const pinging = await Recorder.connect(t.wsUrl, await t.token({ sub: 'pinging' }), { pingIntervalMs: 600_000 });
    const witness = await silent('idle-witness');
    // A ping each second of clock time: the witness, silent, goes once 1.5 s have passed; the pinging one stays.
    for (let i = 0; i < 3; i++) {
      clock.advance(1000);
      assert.ok((await pinging.client.ping()).timestamp > 0);
    }
    assert.equal((await disconnected(witness, 5000)).code, CloseCode.IdleTimeout);
    assert.ok((await pinging.client.ping()).timestamp > 0, 'still answering after the witness was closed for idleness');
    assert.deepEqual(pinging.of('disconnect'), []);
    assert.equal(pinging.client.connected, true);
    pinging.close();
    witness.close();
  });

  it('counts any frame as activity, not only pings', async () => {
    const busy = await Recorder.connect(t.wsUrl, await t.token({ sub: 'busy', sites: [1] }), { pingIntervalMs: 600_000 });
    const witness = await silent('idle-witness');
    for (let i = 0; i < 3; i++) {
      clock.advance(1000);
      await busy.client.subscribeSite(1);
    }
    assert.equal((await disconnected(witness, 5000)).code, CloseCode.IdleTimeout);
    assert.equal(busy.client.connected, true);
    assert.deepEqual(busy.of('disconnect'), []);
    busy.close();
    witness.close();
  });

  it('closes a connection whose token expires while connected with 4402 "token expired", and not a second before', async () => {
    const exp = Math.floor(clock.now() / 1000) + 2;
    const r = await Recorder.connect(t.wsUrl, await t.token({ sub: 'short-lived', expiresIn: exp }), { pingIntervalMs: 600_000, reconnect: false });
    assert.equal(r.client.connected, true);
    await sweepAt(exp * 1000 - 1000);
    // Had that sweep closed it, the close would come before any answer on its socket.
    assert.ok((await r.client.ping()).timestamp > 0, 'not closed a second before the token expired');
    clock.advance(exp * 1000 - clock.now());
    assert.deepEqual(await disconnected(r, 5000), { code: CloseCode.TokenExpired, reason: 'token expired' });
    r.close();
  });
});

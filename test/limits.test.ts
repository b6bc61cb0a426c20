/** Limits a connection lives under: connections per user, idle timeout, token lifetime. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { CloseCode, HubClient, HubError } from '../protocol/index.ts';
import { Recorder } from './support/recorder.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
    let third: HubClient | undefined;
    for (let attempt = 0; attempt < 40 && third === undefined; attempt++) {
      third = await connect('capped').catch(() => undefined);
      if (third === undefined) await sleep(50);
    }
    assert.ok(third !== undefined, 'a connection was accepted after one of the two closed');
    assert.equal((await refused('capped')).code, CloseCode.TooManyConnections);
    second.close();
    third.close();
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

describe('idle timeout (HUB_IDLE_TIMEOUT_MS=1500) and token expiry', () => {
  let t: TestHub;
  before(async () => {
    t = await startTestHub({ HUB_IDLE_TIMEOUT_MS: '1500' });
  });
  after(() => t.stop());

  it('closes a connection that sends nothing with 4408 "idle timeout"', async () => {
    // No reconnect: HubClient would otherwise come back after the close, as it should in production.
    const silent = await Recorder.connect(t.wsUrl, await t.token({ sub: 'silent' }), { pingIntervalMs: 600_000, reconnect: false });
    const started = Date.now();
    const info = await disconnected(silent, 6000);
    assert.deepEqual(info, { code: CloseCode.IdleTimeout, reason: 'idle timeout' });
    assert.ok(Date.now() - started >= 1400, 'not closed before the idle timeout');
    silent.close();
  });

  /**
   * A client that sends nothing, connected after the one under test: its idle close (one timeout after it
   * connected, in a sweep that closes every idle socket, the earlier ones first) proves that the one under
   * test has been up for longer than the idle timeout, with no timed wait.
   */
  async function silentWitness(): Promise<Recorder> {
    return Recorder.connect(t.wsUrl, await t.token({ sub: 'idle-witness' }), { pingIntervalMs: 600_000, reconnect: false });
  }

  it('keeps a client that pings every 500 ms connected past the idle timeout', async () => {
    const pinging = await Recorder.connect(t.wsUrl, await t.token({ sub: 'pinging' }), { pingIntervalMs: 500 });
    const witness = await silentWitness();
    assert.equal((await disconnected(witness, 10_000)).code, CloseCode.IdleTimeout);
    assert.ok((await pinging.client.ping()).timestamp > 0, 'still answering after the witness was closed for idleness');
    assert.deepEqual(pinging.of('disconnect'), []);
    assert.equal(pinging.client.connected, true);
    pinging.close();
    witness.close();
  });

  it('counts any frame as activity, not only pings', async () => {
    const busy = await Recorder.connect(t.wsUrl, await t.token({ sub: 'busy', sites: [1] }), { pingIntervalMs: 600_000 });
    const witness = await silentWitness();
    const witnessClosed = disconnected(witness, 10_000);
    let idle = false;
    const stop = () => (idle = true);
    witnessClosed.then(stop, stop);
    // A frame every 500 ms (the stimulus, not a wait), until a socket that sent nothing has timed out.
    while (!idle) {
      await sleep(500);
      await busy.client.subscribeSite(1);
    }
    assert.equal((await witnessClosed).code, CloseCode.IdleTimeout);
    assert.equal(busy.client.connected, true);
    assert.deepEqual(busy.of('disconnect'), []);
    busy.close();
    witness.close();
  });

  it('closes a connection whose token expires while connected with 4402 "token expired"', async () => {
    const exp = Math.floor(Date.now() / 1000) + 2;
    const r = await Recorder.connect(t.wsUrl, await t.token({ sub: 'short-lived', expiresIn: exp }), { pingIntervalMs: 300, reconnect: false });
    assert.equal(r.client.connected, true);
    const info = await disconnected(r, 6000);
    assert.deepEqual(info, { code: CloseCode.TokenExpired, reason: 'token expired' });
    assert.ok(Date.now() >= exp * 1000, 'not closed before the token expired');
    r.close();
  });
});

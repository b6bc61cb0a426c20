/**
 * A token without `exp` does not live forever (issue 11): it expires HUB_MAX_TOKEN_LIFETIME_MS (24 h by
 * default) after its `iat`, or after it was presented when it has none; 0 refuses such tokens. Both the
 * native protocol and the Socket.IO face apply it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { ConfigError, loadConfig } from '../hub/config.ts';
import { CloseCode } from '../protocol/index.ts';
import { RawSocket } from './support/raw-socket.ts';
import { refusal, SeedSocket } from './support/seed-socket.ts';
import { startTestHub, TEST_SECRET, type TestHub } from './support/test-hub.ts';

const LIFETIME_MS = 2500;

/** A token without `exp`; `iatS`: its issued-at in seconds, or none. */
function tokenWithoutExp(sub: string, iatS?: number): Promise<string> {
  let jwt = new SignJWT({ sites: [1], role: 'viewer' }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub);
  if (iatS !== undefined) jwt = jwt.setIssuedAt(iatS);
  return jwt.sign(new TextEncoder().encode(TEST_SECRET));
}

describe('HUB_MAX_TOKEN_LIFETIME_MS', () => {
  it('is 24 hours by default and must be a whole number of milliseconds', () => {
    assert.equal(loadConfig({ HUB_JWT_SECRET: TEST_SECRET }).auth.maxTokenLifetimeMs, 86_400_000);
    assert.throws(() => loadConfig({ HUB_JWT_SECRET: TEST_SECRET, HUB_MAX_TOKEN_LIFETIME_MS: 'forever' }), (e: Error) => e instanceof ConfigError && e.message.includes('HUB_MAX_TOKEN_LIFETIME_MS'));
  });
});

describe(`a token without exp, capped (HUB_MAX_TOKEN_LIFETIME_MS=${LIFETIME_MS})`, { timeout: 30_000 }, () => {
  let t: TestHub;
  before(async () => {
    t = await startTestHub({ HUB_MAX_TOKEN_LIFETIME_MS: String(LIFETIME_MS), HUB_TOKEN_WARNING_MS: '1000' });
  });
  after(() => t.stop());

  it('native: without iat, the session expires the lifetime after connecting: warned, then closed with 4402', async () => {
    const connectedAt = Date.now();
    const s = await RawSocket.connect(t.wsUrl, { token: await tokenWithoutExp('no-exp') });
    const expiresAt = (s.frames.find((f) => f[0] === 'connected')![1] as { expiresAt: number }).expiresAt;
    assert.ok(expiresAt >= connectedAt + LIFETIME_MS && expiresAt <= Date.now() + LIFETIME_MS, `expiresAt ${expiresAt} is the lifetime after connecting`);
    await s.next((f) => f[0] === 'auth:expiring', { timeoutMs: 5000 });
    const closed = await s.closed;
    assert.equal(closed.code, CloseCode.TokenExpired);
    assert.ok(Date.now() >= expiresAt, 'not closed before the capped expiry');
  });

  it('native: with iat, it is counted from iat, and a token older than the lifetime is refused', async () => {
    const iat = Math.floor(Date.now() / 1000);
    const s = await RawSocket.connect(t.wsUrl, { token: await tokenWithoutExp('with-iat', iat) });
    assert.equal((s.frames.find((f) => f[0] === 'connected')![1] as { expiresAt: number }).expiresAt, iat * 1000 + LIFETIME_MS);
    s.ws.close();
    const old = await RawSocket.open(t.wsUrl, { token: await tokenWithoutExp('old', iat - 60) });
    const closed = await old.closed;
    assert.equal(closed.code, CloseCode.Unauthorized);
    assert.match(closed.reason, /token expired/);
  });

  it('Socket.IO face: the same cap, then exception 4402 and a disconnect', async () => {
    const s = await SeedSocket.connect(t.wsUrl, await tokenWithoutExp('no-exp-sio'), { reconnection: false });
    try {
      const gone = new Promise<string>((resolve) => s.socket.once('disconnect', resolve));
      await s.waitFor(() => s.of('auth:expiring').length === 1, 5000);
      assert.equal(await gone, 'io server disconnect');
      assert.equal(s.of('exception').at(-1)!.data.code, CloseCode.TokenExpired);
    } finally {
      s.close();
    }
  });
});

describe('a token without exp, refused (HUB_MAX_TOKEN_LIFETIME_MS=0)', { timeout: 30_000 }, () => {
  let t: TestHub;
  before(async () => {
    t = await startTestHub({ HUB_MAX_TOKEN_LIFETIME_MS: '0' });
  });
  after(() => t.stop());

  it('native: closed with 4401 naming the missing exp; a token with exp is still accepted', async () => {
    const s = await RawSocket.open(t.wsUrl, { token: await tokenWithoutExp('refused', Math.floor(Date.now() / 1000)) });
    const closed = await s.closed;
    assert.equal(closed.code, CloseCode.Unauthorized);
    assert.match(closed.reason, /no exp/);
    const ok = await RawSocket.connect(t.wsUrl, { token: await t.token({ sub: 'has-exp', sites: [1] }) });
    ok.ws.close();
  });

  it('Socket.IO face: refused with 4401', async () => {
    const e = await refusal(t.wsUrl, { auth: { token: await tokenWithoutExp('refused-sio') } });
    assert.equal(e.data?.code, CloseCode.Unauthorized);
    assert.match(e.message, /no exp/);
  });
});

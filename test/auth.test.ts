/** Who may connect and what they may see: JWT checks at upgrade, origins, and site grants. */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { WebSocket } from 'ws';
import { CloseCode, ErrorCode, HubClient, HubError } from '../protocol/index.ts';
import type { HubPublisher } from '../protocol/publisher.ts';
import { RawSocket } from './support/raw-socket.ts';
import { Recorder } from './support/recorder.ts';
import { signToken, startTestHub, TEST_SECRET, type TestHub } from './support/test-hub.ts';

/** Connects a HubClient and returns the HubError it was refused with (fails if it was accepted). */
async function refusal(url: string, token: string | undefined, WS: typeof WebSocket = WebSocket): Promise<HubError> {
  const client = new HubClient({ url, token, WebSocket: WS });
  try {
    await client.connect();
  } catch (e) {
    assert.ok(e instanceof HubError, `expected a HubError, got ${String(e)}`);
    return e;
  }
  client.close();
  assert.fail('the hub accepted a connection it should have refused');
}

async function accepted(url: string, token: string, WS: typeof WebSocket = WebSocket): Promise<void> {
  const client = new HubClient({ url, token, WebSocket: WS });
  const hello = await client.connect();
  assert.equal(typeof hello.clientId, 'string');
  client.close();
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const nowS = () => Math.floor(Date.now() / 1000);

describe('auth with an HS256 secret', () => {
  let t: TestHub;
  before(async () => {
    t = await startTestHub();
  });
  after(() => t.stop());

  it('accepts a valid token', async () => {
    await accepted(t.wsUrl, await t.token({ sub: 'ok-user', sites: [1] }));
  });

  it('refuses a connection without a token with 4401 "no token"', async () => {
    const e = await refusal(t.wsUrl, undefined);
    assert.equal(e.code, CloseCode.Unauthorized);
    assert.equal(e.message, 'no token');
  });

  it('refuses a token signed with another secret', async () => {
    const e = await refusal(t.wsUrl, await signToken('another-secret-that-is-also-32-characters', { sub: 'mallory', sites: '*' }));
    assert.equal(e.code, CloseCode.Unauthorized);
    assert.equal(e.message, 'bad token signature');
  });

  it('refuses an unsigned alg:none token', async () => {
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'mallory', sites: '*', exp: nowS() + 3600 })}.`;
    const e = await refusal(t.wsUrl, token);
    assert.equal(e.code, CloseCode.Unauthorized);
    assert.match(e.message, /algorithm not allowed/);
  });

  it('refuses an HS256 token whose signature was stripped', async () => {
    const [header, payload] = (await t.token({ sub: 'mallory', sites: '*' })).split('.');
    const e = await refusal(t.wsUrl, `${header}.${payload}.`);
    assert.equal(e.code, CloseCode.Unauthorized);
    assert.equal(e.message, 'bad token signature');
  });

  it('refuses an expired token with "token expired"', async () => {
    const e = await refusal(t.wsUrl, await t.token({ sub: 'late', sites: [1], expiresIn: nowS() - 60 }));
    assert.equal(e.code, CloseCode.Unauthorized);
    assert.equal(e.message, 'token expired');
  });

  it('refuses garbage that is not a JWT', async () => {
    const e = await refusal(t.wsUrl, 'not-a-jwt');
    assert.equal(e.code, CloseCode.Unauthorized);
    assert.equal(e.message, 'malformed token');
  });

  it('refuses a token without a sub', async () => {
    const token = await new SignJWT({ sites: '*' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(TEST_SECRET));
    const e = await refusal(t.wsUrl, token);
    assert.equal(e.code, CloseCode.Unauthorized);
    assert.match(e.message, /sub/);
  });

  it('refuses a token whose sites are not site ids', async () => {
    const e = await refusal(t.wsUrl, await t.token({ sub: 'u', sites: ['1.>'] }));
    assert.equal(e.code, CloseCode.Unauthorized);
    assert.match(e.message, /invalid site id/);
  });

  it('registers no session for refused connections', async () => {
    await refusal(t.wsUrl, undefined);
    await refusal(t.wsUrl, 'not-a-jwt');
    assert.equal(t.hub.connections, 0);
    const stats = await (await fetch(`${t.httpUrl}/api/stats/online`)).json();
    assert.equal(stats.connections, 0);
  });

  it('accepts the token as an Authorization: Bearer header from a raw ws client', async () => {
    const token = await t.token({ sub: 'header-user' });
    const raw = await RawSocket.connect(t.wsUrl, { protocols: ['hub.v1.json'], ws: { headers: { Authorization: `Bearer ${token}` } } });
    assert.equal(raw.ws.protocol, 'hub.v1.json');
    assert.equal((raw.frames[0]![1] as { userId: string }).userId, 'header-user');
    raw.close();
  });

  it('accepts the token as a ?token= query parameter from a raw ws client', async () => {
    const token = await t.token({ sub: 'query-user' });
    const raw = await RawSocket.connect(`${t.wsUrl}?token=${encodeURIComponent(token)}`, { protocols: ['hub.v1.msgpack'] });
    assert.equal((raw.frames[0]![1] as { userId: string }).userId, 'query-user');
    raw.close();
  });

  it('refuses a bad token given as a Bearer header with 4401', async () => {
    const raw = await RawSocket.open(t.wsUrl, { protocols: ['hub.v1.json'], ws: { headers: { Authorization: 'Bearer nope' } } });
    assert.deepEqual(await raw.closed, { code: CloseCode.Unauthorized, reason: 'malformed token' });
    assert.deepEqual(raw.frames, []);
  });
});

describe('site grants', () => {
  let t: TestHub;
  let pub: HubPublisher;
  before(async () => {
    t = await startTestHub();
    pub = await t.publisher();
  });
  after(() => t.stop());

  it('answers subscribe:site outside the token with a Forbidden error and delivers nothing of that site', async () => {
    const r = await Recorder.connect(t.wsUrl, await t.token({ sub: 'site1-only', sites: [1] }));
    await r.client.subscribeSite(1);
    await assert.rejects(r.client.subscribeSite(2), (e: unknown) => e instanceof HubError && e.code === ErrorCode.Forbidden && /site 2/.test(e.message));
    assert.deepEqual(r.of('error').map((e) => e.data.code), [ErrorCode.Forbidden]);
    await r.client.subscribeAlarms();
    await pub.sendTaskUpdate(2, { id: 'secret-task' });
    await pub.sendAlarmNotification({ id: 'secret-alarm', siteId: 2 });
    await pub.sendTaskUpdate(1, { id: 'mine' });
    await pub.sendAlarmNotification({ id: 'my-alarm', siteId: 1 });
    await r.waitFor((rs) => rs.some((e) => e.name === 'alarm:new') && rs.some((e) => e.name === 'task:update'));
    await r.settle();
    assert.deepEqual(r.of('task:update').map((e) => e.data.id), ['mine']);
    assert.deepEqual(r.of('alarm:new').map((e) => e.data.id), ['my-alarm']);
    assert.equal(r.client.connected, true, 'a refused subscribe leaves the connection open');
    r.close();
  });

  it('treats a numeric and a string site id as the same grant', async () => {
    const r = await Recorder.connect(t.wsUrl, await t.token({ sub: 'str-sites', sites: ['4'] }));
    const reply = await r.client.subscribeSite(4);
    assert.equal(reply.siteId, 4);
    r.close();
  });
});

describe('auth with HUB_JWT_AUDIENCE and HUB_JWT_ISSUER', () => {
  let t: TestHub;
  const sign = (claims: { aud?: string; iss?: string }) => {
    let jwt = new SignJWT({ sites: [1] }).setProtectedHeader({ alg: 'HS256' }).setSubject('aud-user').setExpirationTime('1h');
    if (claims.aud !== undefined) jwt = jwt.setAudience(claims.aud);
    if (claims.iss !== undefined) jwt = jwt.setIssuer(claims.iss);
    return jwt.sign(new TextEncoder().encode(TEST_SECRET));
  };
  before(async () => {
    t = await startTestHub({ HUB_JWT_AUDIENCE: 'plant-hub', HUB_JWT_ISSUER: 'https://id.plant.example' });
  });
  after(() => t.stop());

  it('accepts a token for its audience from its issuer', async () => {
    await accepted(t.wsUrl, await sign({ aud: 'plant-hub', iss: 'https://id.plant.example' }));
  });

  it('refuses a token for another audience', async () => {
    const e = await refusal(t.wsUrl, await sign({ aud: 'billing', iss: 'https://id.plant.example' }));
    assert.equal(e.code, CloseCode.Unauthorized);
    assert.equal(e.message, 'token is for another audience');
  });

  it('refuses a token without an audience', async () => {
    const e = await refusal(t.wsUrl, await sign({ iss: 'https://id.plant.example' }));
    assert.equal(e.code, CloseCode.Unauthorized);
    assert.equal(e.message, 'token is for another audience');
  });

  it('refuses a token from another issuer', async () => {
    const e = await refusal(t.wsUrl, await sign({ aud: 'plant-hub', iss: 'https://evil.example' }));
    assert.equal(e.code, CloseCode.Unauthorized);
    assert.equal(e.message, 'token from another issuer');
  });
});

describe('auth with an RS256 public key (HUB_JWT_PUBLIC_KEY)', () => {
  let t: TestHub;
  let privateKey: CryptoKey;
  let publicPem: string;
  before(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    privateKey = pair.privateKey;
    publicPem = await exportSPKI(pair.publicKey);
    t = await startTestHub({ HUB_JWT_SECRET: '', HUB_JWT_PUBLIC_KEY: publicPem });
  });
  after(() => t.stop());

  it('accepts a token signed with the private key', async () => {
    const token = await new SignJWT({ sites: [1] }).setProtectedHeader({ alg: 'RS256' }).setSubject('rsa-user').setExpirationTime('1h').sign(privateKey);
    await accepted(t.wsUrl, token);
  });

  it('refuses an HS256 token signed with the public key text as its secret (key confusion)', async () => {
    const forged = await new SignJWT({ sites: '*' }).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').setExpirationTime('1h').sign(new TextEncoder().encode(publicPem));
    const e = await refusal(t.wsUrl, forged);
    assert.equal(e.code, CloseCode.Unauthorized);
    assert.equal(e.message, 'token algorithm not allowed');
  });

  it('refuses an RS256 token signed with another key', async () => {
    const other = await generateKeyPair('RS256');
    const token = await new SignJWT({ sites: [1] }).setProtectedHeader({ alg: 'RS256' }).setSubject('rsa-user').setExpirationTime('1h').sign(other.privateKey);
    const e = await refusal(t.wsUrl, token);
    assert.equal(e.code, CloseCode.Unauthorized);
    assert.equal(e.message, 'bad token signature');
  });
});

describe('auth with an ES256 public key (HUB_JWT_PUBLIC_KEY, default algorithms)', () => {
  let t: TestHub;
  let privateKey: CryptoKey;
  before(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    t = await startTestHub({ HUB_JWT_SECRET: '', HUB_JWT_PUBLIC_KEY: await exportSPKI(pair.publicKey) });
  });
  after(() => t?.stop());

  it('accepts a token signed with the private key', async () => {
    const token = await new SignJWT({ sites: [1] }).setProtectedHeader({ alg: 'ES256' }).setSubject('ec-user').setExpirationTime('1h').sign(privateKey);
    await accepted(t.wsUrl, token);
  });
});

describe('auth configuration', () => {
  it('refuses to start a hub whose HUB_JWT_PUBLIC_KEY is not a usable public key, naming the variable', async () => {
    await assert.rejects(startTestHub({ HUB_JWT_SECRET: '', HUB_JWT_PUBLIC_KEY: 'not a pem' }), /HUB_JWT_PUBLIC_KEY/);
  });

  it('refuses to start a hub with no way to verify tokens', async () => {
    await assert.rejects(startTestHub({ HUB_JWT_SECRET: '' }), /HUB_JWT_SECRET, HUB_JWKS_URL or HUB_JWT_PUBLIC_KEY/);
  });
});

describe('auth with a JWKS URL (HUB_JWKS_URL)', () => {
  let t: TestHub;
  let server: Server;
  let privateKey: CryptoKey;
  let jwksHits = 0;
  before(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'ES256', use: 'sig' };
    server = createServer((req, res) => {
      jwksHits++;
      if (req.url !== '/.well-known/jwks.json') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    t = await startTestHub({ HUB_JWT_SECRET: '', HUB_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json` });
  });
  after(async () => {
    await t.stop();
    server.close();
  });

  const sign = (kid: string, key: CryptoKey) => new SignJWT({ sites: [1] }).setProtectedHeader({ alg: 'ES256', kid }).setSubject('jwks-user').setExpirationTime('1h').sign(key);

  it('accepts a token signed with a key from the set', async () => {
    await accepted(t.wsUrl, await sign('key-1', privateKey));
    assert.ok(jwksHits >= 1, 'the hub fetched the key set');
  });

  it('refuses a token whose kid is not in the set', async () => {
    const other = await generateKeyPair('ES256');
    const e = await refusal(t.wsUrl, await sign('key-2', other.privateKey));
    assert.equal(e.code, CloseCode.Unauthorized);
    assert.equal(e.message, 'no key matches the token');
  });

  it('refuses a token with a known kid but a forged signature', async () => {
    const other = await generateKeyPair('ES256');
    const e = await refusal(t.wsUrl, await sign('key-1', other.privateKey));
    assert.equal(e.code, CloseCode.Unauthorized);
    assert.equal(e.message, 'bad token signature');
  });

  it('refuses an HS256 token: only the configured asymmetric algorithms are accepted', async () => {
    const e = await refusal(t.wsUrl, await signToken(TEST_SECRET, { sub: 'mallory', sites: '*' }));
    assert.equal(e.code, CloseCode.Unauthorized);
    assert.equal(e.message, 'token algorithm not allowed');
  });
});

describe('allowed origins (HUB_ALLOWED_ORIGINS)', () => {
  let t: TestHub;
  const withOrigin = (origin: string): typeof WebSocket =>
    class extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { origin });
      }
    } as typeof WebSocket;
  before(async () => {
    t = await startTestHub({ HUB_ALLOWED_ORIGINS: 'https://plant.example, https://ops.plant.example' });
  });
  after(() => t.stop());

  it('refuses a foreign browser origin with 4403, even with a valid token', async () => {
    const e = await refusal(t.wsUrl, await t.token({ sub: 'o', sites: [1] }), withOrigin('https://evil.example'));
    assert.equal(e.code, CloseCode.ForbiddenOrigin);
    assert.equal(e.message, 'origin not allowed');
  });

  it('accepts a listed origin', async () => {
    await accepted(t.wsUrl, await t.token({ sub: 'o', sites: [1] }), withOrigin('https://ops.plant.example'));
  });

  it('accepts a client that sends no Origin (a backend service)', async () => {
    await accepted(t.wsUrl, await t.token({ sub: 'o', sites: [1] }));
  });
});

/**
 * Rate limits of the HTTP API: token buckets per address and per verified token
 * (the service token on its own bucket), 429 with Retry-After and the registry's
 * LimitExceeded code, bounded memory; and at most N exports per token at once,
 * each leaving no JetStream consumer behind.
 */
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { ConfigError, loadConfig } from '../hub/config.ts';
import { ExportSlots } from '../hub/export-slots.ts';
import { RateLimiter } from '../hub/rate-limiter.ts';
import { ErrorCode } from '../protocol/errors.ts';
import { streamName } from '../protocol/subjects.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';
import { waitFor } from './support/wait-for.ts';

/** Waits until `probe` returns true, polling; fails after `timeoutMs` with `what`. */
const until = (what: string, probe: () => Promise<boolean>, timeoutMs = 10_000) => waitFor(probe, { timeoutMs, what });

/** The site stream's consumers: the hub's own fan-out plus one per running export. */
async function siteConsumers(t: TestHub): Promise<number> {
  const nc = await connect({ servers: t.natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    return (await jsm.consumers.list(streamName(t.ns, 'site')).next()).length;
  } finally {
    await nc.close();
  }
}

async function assertTooMany(res: Response, message: RegExp): Promise<void> {
  assert.equal(res.status, 429);
  const retryAfter = res.headers.get('retry-after') ?? '';
  assert.match(retryAfter, /^[1-9]\d*$/, 'Retry-After is whole seconds, at least 1');
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = (await res.json()) as { error: string; code: number; retryAfter: number };
  assert.equal(body.code, ErrorCode.LimitExceeded);
  assert.equal(body.retryAfter, Number(retryAfter));
  assert.match(body.error, message);
}

describe('rate limit settings', () => {
  it('default to 20/s per token, 100/s per address, 1000/s for the service token, bursts of twice that, 4 exports per token', () => {
    assert.deepEqual(loadConfig({}).httpLimits, {
      perToken: { rate: 20, burst: 40 },
      perAddress: { rate: 100, burst: 200 },
      service: { rate: 1000, burst: 2000 },
      exportsPerToken: 4,
    });
    const set = loadConfig({ HUB_HTTP_RATE_PER_TOKEN: '0', HUB_HTTP_RATE_PER_ADDRESS: '5', HUB_HTTP_BURST_PER_ADDRESS: '7', HUB_HTTP_EXPORTS_PER_TOKEN: '1' }).httpLimits;
    assert.deepEqual([set.perToken.rate, set.perAddress, set.exportsPerToken], [0, { rate: 5, burst: 7 }, 1]);
  });

  it('fails fast on a bad value, naming the variable', () => {
    for (const [name, value] of [
      ['HUB_HTTP_RATE_PER_TOKEN', '-1'],
      ['HUB_HTTP_BURST_PER_TOKEN', '0'],
      ['HUB_HTTP_RATE_PER_ADDRESS', 'ten'],
      ['HUB_HTTP_BURST_SERVICE', '1.5'],
      ['HUB_HTTP_EXPORTS_PER_TOKEN', '0'],
    ]) {
      assert.throws(() => loadConfig({ [name!]: value }), (e: Error) => e instanceof ConfigError && e.message.startsWith(`${name}=`), `${name}=${value}`);
    }
  });
});

describe('rate limiter', () => {
  it('lets a burst through, then answers how long until the next token', () => {
    const limiter = new RateLimiter(2, 3);
    const t0 = 1_000_000;
    assert.deepEqual([0, 1, 2].map(() => limiter.wait('a', t0)), [0, 0, 0]);
    assert.equal(limiter.wait('a', t0), 500, 'one token at 2/s takes 500 ms');
    assert.equal(limiter.wait('a', t0 + 250), 250);
    assert.equal(limiter.wait('a', t0 + 500), 0);
    assert.equal(limiter.wait('b', t0 + 500), 0, 'keys are independent');
  });

  it('stays within its key bound under a flood of new keys, and forgets idle ones', () => {
    const limiter = new RateLimiter(1, 1, 100);
    for (let i = 0; i < 10_000; i++) limiter.take(`k${i}`, 1_000_000 + i);
    assert.ok(limiter.size <= 100, `${limiter.size} keys held`);
    limiter.take('late', 1_000_000 + 60_000);
    assert.equal(limiter.size, 1, 'keys idle past a full refill are dropped');
  });

  it('bounds the exports one key runs at once; a release frees one slot, however often it is called', () => {
    const slots = new ExportSlots(2);
    const a = slots.acquire('u')!;
    const b = slots.acquire('u')!;
    assert.equal(slots.acquire('u'), undefined);
    assert.notEqual(slots.acquire('v'), undefined, 'another key has slots of its own');
    a();
    a();
    assert.equal(slots.running, 2);
    assert.notEqual(slots.acquire('u'), undefined);
    assert.equal(slots.acquire('u'), undefined, 'the double release freed one slot, not two');
    b();
  });
});

describe('HTTP rate limits per token', () => {
  let t: TestHub;
  before(async () => {
    t = await startTestHub({ HUB_HTTP_RATE_PER_TOKEN: '1', HUB_HTTP_BURST_PER_TOKEN: '10', HUB_HTTP_RATE_PER_ADDRESS: '10000', HUB_HTTP_EXPORTS_PER_TOKEN: '2' });
    const publisher = await t.publisher();
    for (let i = 0; i < 20; i++) await publisher.sendTaskUpdate(1, { id: i, status: 'loading' });
  });
  after(async () => {
    await t?.stop();
  });

  it('answers 50 quick exports from one token with 429s and Retry-After, and leaves no consumer behind', { timeout: 60_000 }, async () => {
    const baseline = await siteConsumers(t);
    const token = await t.token({ sub: 'analyst', sites: [1] });
    const responses = await Promise.all(Array.from({ length: 50 }, () => fetch(`${t.httpUrl}/api/sites/1/events`, { headers: { authorization: `Bearer ${token}` } })));
    const ok = responses.filter((r) => r.status === 200);
    const refused = responses.filter((r) => r.status === 429);
    assert.equal(ok.length + refused.length, 50, `statuses: ${responses.map((r) => r.status).join(',')}`);
    // A token is charged once the hub has verified it (after its first request), with a burst of 10 at 1/s.
    assert.ok(refused.length >= 25, `${refused.length} refused`);
    assert.ok(ok.length >= 1);
    for (const r of ok) assert.equal((await r.text()).trim().split('\n').length, 20, 'an admitted export is complete');
    for (const r of refused) await assertTooMany(r, /too many requests for your token|exports/);
    await until('the site stream has only the hub’s own consumers again', async () => (await siteConsumers(t)) === baseline);

    const other = await t.token({ sub: 'someone-else', sites: [1] });
    const res = await fetch(`${t.httpUrl}/api/sites/1/events`, { headers: { authorization: `Bearer ${other}` } });
    assert.equal(res.status, 200, 'another user has a budget of its own');
    await res.text();
  });
});

describe('HTTP rate limits per address and for the service token', () => {
  const SERVICE_TOKEN = 'service-token-for-rate-limit-tests';
  let t: TestHub;
  before(async () => {
    t = await startTestHub({ HUB_HTTP_RATE_PER_ADDRESS: '1', HUB_HTTP_BURST_PER_ADDRESS: '5', HUB_HTTP_RATE_SERVICE: '1', HUB_HTTP_BURST_SERVICE: '8', HUB_SERVICE_TOKEN: SERVICE_TOKEN });
  });
  after(async () => {
    await t?.stop();
  });

  it('refuses an address past its burst on every /api route, never on /healthz or /metrics', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`${t.httpUrl}/api/schema`);
      statuses.push(res.status);
      if (res.status === 429) await assertTooMany(res, /too many requests from your address/);
      else await res.arrayBuffer();
    }
    assert.ok(statuses.slice(0, 5).every((s) => s === 200), statuses.join(','));
    assert.ok(statuses.slice(5).includes(429), statuses.join(','));
    await assertTooMany(await fetch(`${t.httpUrl}/api/stats/online`), /your address/);
    const jwt = await t.token({ sub: 'u', sites: '*' });
    await assertTooMany(await fetch(`${t.httpUrl}/api/sites/1/events`, { headers: { authorization: `Bearer ${jwt}` } }), /your address/);
    for (let i = 0; i < 20; i++) {
      for (const path of ['/healthz', '/metrics']) {
        const res = await fetch(`${t.httpUrl}${path}`);
        assert.notEqual(res.status, 429, path);
        await res.arrayBuffer();
      }
    }
  });

  it('gives the service token its own bucket instead of the address’s, with 429 past it', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      const res = await fetch(`${t.httpUrl}/api/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${SERVICE_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ event: 'task:update', siteId: 1, data: { id: i, status: 'loading' } }),
      });
      statuses.push(res.status);
      if (res.status === 429) await assertTooMany(res, /service token/);
      else await res.arrayBuffer();
    }
    // The address is spent (the test above), yet the producer's first 8 go through.
    assert.deepEqual(statuses.slice(0, 8), Array(8).fill(201));
    assert.ok(statuses.slice(8).includes(429), statuses.join(','));
  });
});

describe('concurrent exports per token', () => {
  let t: TestHub;
  before(async () => {
    t = await startTestHub({ HUB_HTTP_EXPORTS_PER_TOKEN: '1' });
    // 15 MB of events: more than the kernel buffers, so a client that reads nothing holds its export open.
    const publisher = await t.publisher();
    const blob = 'x'.repeat(50_000);
    await Promise.all(Array.from({ length: 300 }, (_, i) => publisher.sendDashboardUpdate(2, { i, blob })));
  });
  after(async () => {
    await t?.stop();
  });

  it('refuses a second export of the same token while one runs, frees the slot and the consumer when the client leaves', { timeout: 60_000 }, async () => {
    const baseline = await siteConsumers(t);
    const token = await t.token({ sub: 'slow-reader', sites: [2] });
    const url = new URL(t.httpUrl);
    const slow: Socket = tcpConnect(Number(url.port), url.hostname);
    slow.pause();
    slow.write(`GET /api/sites/2/events HTTP/1.1\r\nhost: ${url.host}\r\nauthorization: Bearer ${token}\r\n\r\n`);
    await until('the slow export holds a consumer', async () => (await siteConsumers(t)) === baseline + 1);

    await assertTooMany(await fetch(`${t.httpUrl}/api/sites/2/events`, { headers: { authorization: `Bearer ${token}` } }), /already runs 1 exports/);
    const other = await fetch(`${t.httpUrl}/api/sites/2/events`, { headers: { authorization: `Bearer ${await t.token({ sub: 'other', sites: [2] })}` }, signal: AbortSignal.timeout(30_000) });
    assert.equal(other.status, 200, 'the bound is per token');
    assert.equal((await other.text()).trim().split('\n').length, 300);
    assert.equal(await siteConsumers(t), baseline + 1, 'the finished export deleted its consumer; the held one remains');

    slow.destroy();
    await until('the abandoned export’s consumer is gone', async () => (await siteConsumers(t)) === baseline);
    const again = await fetch(`${t.httpUrl}/api/sites/2/events?from=1&to=3`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(again.status, 200, 'the slot is free again');
    assert.equal((await again.text()).trim().split('\n').length, 3);
  });
});

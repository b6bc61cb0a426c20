/**
 * Browser apps on another origin call the HTTP routes (views, online counts, health, metrics,
 * ingest): preflights are answered and answers name the origin, from the WebSocket's allow-list.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestHub, type TestHub } from './support/test-hub.ts';

const SERVICE_TOKEN = 'cors-test-service-token';

/** Every route, with what it answers a request that carries no credentials. */
const ROUTES: ReadonlyArray<{ method: 'GET' | 'POST'; path: string; status: number }> = [
  { method: 'GET', path: '/healthz', status: 200 },
  { method: 'GET', path: '/api/stats/online', status: 200 },
  { method: 'GET', path: '/metrics', status: 200 },
  { method: 'GET', path: '/api/sites', status: 401 },
  { method: 'GET', path: '/api/sites/1/dashboard', status: 401 },
  { method: 'GET', path: '/api/sites/1/inventory', status: 401 },
  { method: 'GET', path: '/api/sites/1/events', status: 401 },
  { method: 'POST', path: '/api/events', status: 401 },
  { method: 'GET', path: '/no/such/route', status: 404 },
];

function preflight(t: TestHub, path: string, origin: string, method = 'GET'): Promise<Response> {
  return fetch(`${t.httpUrl}${path}`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'authorization, content-type' } });
}

async function call(t: TestHub, route: (typeof ROUTES)[number], origin: string | undefined): Promise<Response> {
  const res = await fetch(`${t.httpUrl}${route.path}`, { method: route.method, headers: origin === undefined ? {} : { origin } });
  await res.arrayBuffer();
  return res;
}

function corsHeaderNames(res: Response): string[] {
  const names: string[] = [];
  res.headers.forEach((_value, name) => names.push(name));
  return names.filter((name) => name.startsWith('access-control-'));
}

function listOf(res: Response, header: string): string[] {
  return (res.headers.get(header) ?? '').split(',').map((s) => s.trim().toLowerCase());
}

function assertPreflightAllows(res: Response, origin: string, what: string): void {
  assert.equal(res.status, 204, what);
  assert.equal(res.headers.get('access-control-allow-origin'), origin, what);
  assert.ok(listOf(res, 'vary').includes('origin'), `${what}: Vary: Origin`);
  for (const m of ['get', 'post']) assert.ok(listOf(res, 'access-control-allow-methods').includes(m), `${what}: allows ${m}`);
  for (const h of ['authorization', 'content-type']) assert.ok(listOf(res, 'access-control-allow-headers').includes(h), `${what}: allows ${h}`);
  assert.ok(Number(res.headers.get('access-control-max-age')) > 0, `${what}: a max age`);
}

describe('CORS with HUB_ALLOWED_ORIGINS unset: any origin', () => {
  let t: TestHub;
  const origin = 'https://dashboard.plant.example';
  before(async () => {
    t = await startTestHub({ HUB_SERVICE_TOKEN: SERVICE_TOKEN });
  });
  after(() => t.stop());

  it('answers the preflight of every route with 204, the request’s origin, the methods, the headers and a max age', async () => {
    for (const route of ROUTES) assertPreflightAllows(await preflight(t, route.path, origin, route.method), origin, route.path);
  });

  it('names the request’s origin, with Vary: Origin, on every route’s answer, whatever its status', async () => {
    for (const route of ROUTES) {
      const res = await call(t, route, origin);
      assert.equal(res.status, route.status, route.path);
      assert.equal(res.headers.get('access-control-allow-origin'), origin, route.path);
      assert.ok(listOf(res, 'vary').includes('origin'), `${route.path}: Vary: Origin`);
    }
  });

  it('names the origin on a streamed NDJSON export and on a successful ingest', async () => {
    const pub = await t.publisher();
    await pub.sendTaskUpdate(1, { id: 'exported' });
    const exported = await fetch(`${t.httpUrl}/api/sites/1/events?from=1`, { headers: { origin, authorization: `Bearer ${await t.token({ sub: 'cors-reader', sites: [1] })}` } });
    assert.equal(exported.status, 200);
    assert.match(await exported.text(), /"exported"/);
    assert.equal(exported.headers.get('access-control-allow-origin'), origin);

    const ingested = await fetch(`${t.httpUrl}/api/events`, {
      method: 'POST',
      headers: { origin, authorization: `Bearer ${SERVICE_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ event: 'task:update', siteId: 1, data: { id: 'from-a-browser' } }),
    });
    assert.equal(ingested.status, 201);
    assert.equal(ingested.headers.get('access-control-allow-origin'), origin);
  });

  it('adds no CORS header to a request without Origin (not a cross-origin browser request)', async () => {
    for (const route of ROUTES) {
      const res = await call(t, route, undefined);
      assert.equal(res.status, route.status, route.path);
      assert.deepEqual(corsHeaderNames(res), [], route.path);
    }
  });
});

describe('CORS with HUB_ALLOWED_ORIGINS: the WebSocket’s allow-list', () => {
  let t: TestHub;
  const listed = 'https://ops.plant.example';
  const foreign = 'https://evil.example';
  before(async () => {
    t = await startTestHub({ HUB_ALLOWED_ORIGINS: 'https://plant.example, https://ops.plant.example', HUB_SERVICE_TOKEN: SERVICE_TOKEN });
  });
  after(() => t.stop());

  it('answers a listed origin’s preflight with 204 naming it', async () => {
    for (const route of ROUTES) assertPreflightAllows(await preflight(t, route.path, listed, route.method), listed, route.path);
  });

  it('refuses a foreign origin’s preflight with 403 and no CORS header', async () => {
    for (const route of ROUTES) {
      const res = await preflight(t, route.path, foreign, route.method);
      assert.equal(res.status, 403, route.path);
      assert.deepEqual(corsHeaderNames(res), [], route.path);
    }
  });

  it('names a listed origin on every route’s answer', async () => {
    for (const route of ROUTES) {
      const res = await call(t, route, listed);
      assert.equal(res.status, route.status, route.path);
      assert.equal(res.headers.get('access-control-allow-origin'), listed, route.path);
    }
  });

  it('answers a foreign origin without CORS headers, so its browser page cannot read the answer', async () => {
    for (const route of ROUTES) {
      const res = await call(t, route, foreign);
      assert.equal(res.status, route.status, route.path);
      assert.deepEqual(corsHeaderNames(res), [], route.path);
      assert.ok(listOf(res, 'vary').includes('origin'), `${route.path}: Vary: Origin`);
    }
  });
});

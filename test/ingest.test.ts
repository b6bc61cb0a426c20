/** POST /api/events: how a producer that is not Node appends an event, with the service token. */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Recorder } from './support/recorder.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';

const SERVICE_TOKEN = 'ingest-service-token-0123456789';

interface Answer {
  status: number;
  body: any;
}

/** `token: null` sends no Authorization header. */
async function post(t: TestHub, body: unknown, { token = SERVICE_TOKEN as string | null, contentType = 'application/json', raw = undefined as string | undefined } = {}): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': contentType };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${t.httpUrl}/api/events`, { method: 'POST', headers, body: raw ?? JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

describe('POST /api/events', () => {
  let t: TestHub;
  before(async () => {
    t = await startTestHub({ HUB_SERVICE_TOKEN: SERVICE_TOKEN });
  });
  after(() => t.stop());

  it('appends an event, answers 201 {offset, stream, duplicate}, and subscribers receive it', async () => {
    const r = await Recorder.connect(t.wsUrl, await t.token({ sub: 'ingest-viewer', sites: [3] }));
    await r.client.subscribeSite(3);
    const answer = await post(t, { event: 'task:update', siteId: 3, data: { id: 77, status: 'loading' } });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    assert.equal(answer.body.stream, 'site');
    assert.equal(answer.body.duplicate, false);
    assert.ok(Number.isInteger(answer.body.offset) && answer.body.offset > 0);
    await r.waitFor((rs) => rs.some((e) => e.name === 'task:update'));
    const [got] = r.of('task:update');
    assert.deepEqual(got!.data, { id: 77, status: 'loading' });
    assert.equal(got!.meta?.offset, answer.body.offset);
    r.close();
  });

  it('takes an alarm\'s site from the alarm, and user notifications and broadcasts on their own logs', async () => {
    const r = await Recorder.connect(t.wsUrl, await t.token({ sub: 'ops-7', sites: [7] }));
    await r.client.subscribeSite(7);
    await r.client.subscribeNotifications();
    const alarm = await post(t, { event: 'alarm:new', data: { id: 'a1', site_id: 7, level: 'high' } });
    const note = await post(t, { event: 'notification:new', userId: 'ops-7', data: { title: 'for you' } });
    const everyone = await post(t, { event: 'system:message', data: { message: 'hello', level: 'info', timestamp: new Date().toISOString() } });
    assert.deepEqual([alarm.status, note.status, everyone.status], [201, 201, 201]);
    assert.deepEqual([alarm.body.stream, note.body.stream, everyone.body.stream], ['site', 'user', 'global']);
    await r.waitFor((rs) => ['alarm:new', 'notification:new', 'system:message'].every((n) => rs.some((e) => e.name === n)));
    assert.equal(r.of('alarm:new')[0]!.meta?.offset, alarm.body.offset);
    assert.equal(r.of('notification:new')[0]!.meta?.offset, note.body.offset);
    r.close();
  });

  it('answers a retry with the same msgId with the same offset and duplicate: true, delivered once', async () => {
    const r = await Recorder.connect(t.wsUrl, await t.token({ sub: 'dup-viewer', sites: [4] }));
    await r.client.subscribeSite(4);
    const event = { event: 'order:update', siteId: 4, data: { id: 'o9' }, msgId: 'erp-order-o9-rev1' };
    const first = await post(t, event);
    const retry = await post(t, event);
    assert.equal(first.status, 201);
    assert.equal(retry.status, 201);
    assert.equal(first.body.duplicate, false);
    assert.equal(retry.body.duplicate, true);
    assert.equal(retry.body.offset, first.body.offset);
    await post(t, { event: 'order:update', siteId: 4, data: { id: 'marker' } });
    await r.waitFor((rs) => rs.some((e) => e.name === 'order:update' && e.data.id === 'marker'));
    assert.deepEqual(r.of('order:update').map((e) => e.data.id), ['o9', 'marker']);
    r.close();
  });

  it('answers 401 without the service token or with a wrong one', async () => {
    const event = { event: 'task:update', siteId: 1, data: {} };
    for (const token of [null, '', 'wrong-token-of-some-length', SERVICE_TOKEN.slice(0, -1), `${SERVICE_TOKEN}x`]) {
      const answer = await post(t, event, { token });
      assert.equal(answer.status, 401, `token ${String(token)}`);
      assert.match(answer.body.error, /service token/);
    }
    // A user's JWT is not a service token.
    const answer = await post(t, event, { token: await t.token({ sub: 'admin', sites: '*', role: 'admin' }) });
    assert.equal(answer.status, 401);
  });

  it('answers 415 to a body that is not application/json', async () => {
    const answer = await post(t, { event: 'task:update', siteId: 1, data: {} }, { contentType: 'text/plain' });
    assert.equal(answer.status, 415);
    assert.match(answer.body.error, /application\/json/);
    assert.equal((await post(t, { event: 'task:update', siteId: 1, data: {} }, { contentType: 'application/json; charset=utf-8' })).status, 201);
  });

  it('answers 400 to a body that is not JSON', async () => {
    const answer = await post(t, undefined, { raw: '{"event": "task:update", ' });
    assert.equal(answer.status, 400);
    assert.match(answer.body.error, /not JSON/);
  });

  it('answers 422 with the reason to events that fail validation', async () => {
    for (const [body, reason] of [
      [{ event: 'task:explode', siteId: 1, data: {} }, /unknown event "task:explode"/],
      [{ event: 'alarm:new', data: { id: 'no-site' } }, /no siteId or site_id/],
      [{ event: 'task:update', siteId: '1.>', data: {} }, /siteId/],
      [{ event: 'task:update', siteId: 1 }, /data is required/],
      [{ event: 'system:message', data: { message: 'x', level: 'fatal' } }, /level/],
      [{ event: 'notification:new', userId: 'x'.repeat(129), data: {} }, /userId/], // any id of 1–128 characters is a user (userToken)
      [{ event: 'task:update', siteId: 1, data: {}, msgId: 42 }, /msgId/],
      [null, /an append is an object/],
      [[1, 2], /unknown event/],
    ] as const) {
      const answer = await post(t, body);
      assert.equal(answer.status, 422, JSON.stringify(body));
      assert.match(answer.body.error, reason);
    }
  });

  it('refuses data its readers could not decode (a __proto__ key) with 422, and delivery goes on for everyone', async () => {
    const json = await Recorder.connect(t.wsUrl, await t.token({ sub: 'json-viewer', sites: [9] }), { format: 'json' });
    const bin = await Recorder.connect(t.wsUrl, await t.token({ sub: 'bin-viewer', sites: [9] }));
    await json.client.subscribeSite(9);
    await bin.client.subscribeSite(9);
    const poison = await post(t, undefined, { raw: '{"event":"task:update","siteId":9,"data":{"__proto__":{"admin":true},"id":"evil"}}' });
    assert.equal(poison.status, 422);
    assert.match(poison.body.error, /__proto__/);
    assert.equal((await post(t, { event: 'task:update', siteId: 9, data: { id: 'next' } })).status, 201);
    for (const r of [json, bin]) {
      await r.waitFor((rs) => rs.some((e) => e.name === 'task:update'));
      assert.deepEqual(r.of('task:update').map((e) => e.data.id), ['next']);
      assert.deepEqual(r.of('error'), []);
      r.close();
    }
  });

  it('answers 413 to a body over the limit, and keeps serving', async () => {
    const huge = JSON.stringify({ event: 'dashboard:update', siteId: 1, data: { blob: 'x'.repeat(2_100_000) } });
    // node:http rather than fetch: the hub answers before reading the whole body, and fetch may not read an early answer.
    const answer = await new Promise<Answer>((resolve, reject) => {
      const req = request(`${t.httpUrl}/api/events`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${SERVICE_TOKEN}`, 'content-length': Buffer.byteLength(huge) } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.end(huge);
    });
    assert.equal(answer.status, 413);
    assert.match(answer.body.error, /larger than/);
    assert.equal((await post(t, { event: 'task:update', siteId: 1, data: { after: 'big' } })).status, 201);
  });

  it('answers 422 to data that is within the body limit but over the event payload limit', async () => {
    const answer = await post(t, { event: 'dashboard:update', siteId: 1, data: { blob: 'x'.repeat(1_010_000) } });
    assert.equal(answer.status, 422);
    assert.match(answer.body.error, /over the 1000000 limit/);
  });
});

describe('POST /api/events without HUB_SERVICE_TOKEN', () => {
  let t: TestHub;
  before(async () => {
    t = await startTestHub();
  });
  after(() => t.stop());

  it('answers 503 saying ingest is disabled, whatever token is presented', async () => {
    for (const token of [null, SERVICE_TOKEN]) {
      const answer = await post(t, { event: 'task:update', siteId: 1, data: {} }, { token });
      assert.equal(answer.status, 503);
      assert.match(answer.body.error, /HUB_SERVICE_TOKEN/);
    }
  });
});

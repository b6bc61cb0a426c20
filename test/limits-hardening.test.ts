/**
 * Limits and defences under abuse: connection rate per address, subscriptions
 * and commands per connection, ingest bodies and tokens, tokens kept out of
 * logs, and frames that try to widen what a token grants. Each refusal has its
 * documented code, and the sessions around it are untouched.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../hub/config.ts';
import { Hub } from '../hub/hub.ts';
import { CloseCode, ErrorCode, type Frame } from '../protocol/index.ts';
import type { HubPublisher } from '../protocol/publisher.ts';
import { dropNamespace, NATS_URL, uniqueNamespace } from './support/nats.ts';
import { RawSocket } from './support/raw-socket.ts';
import { Recorder } from './support/recorder.ts';
import { signToken, startTestHub, TEST_SECRET, type TestHub } from './support/test-hub.ts';
import { TestClock } from './support/test-clock.ts';
import { waitFor } from './support/wait-for.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SERVICE_TOKEN = 'hardening-service-token-0123456789';

function errorCode(f: Frame): number | undefined {
  return f[0] === 'error' ? (f[1] as { code: number }).code : undefined;
}

describe('new connections per address per second (HUB_CONNECTIONS_PER_IP_PER_SECOND=3, bursts of 6)', () => {
  let t: TestHub;
  before(async () => {
    t = await startTestHub({ HUB_CONNECTIONS_PER_IP_PER_SECOND: '3' });
  });
  after(() => t.stop());

  it('closes connections over the burst with 4430, keeps the accepted ones working, and accepts again a second later', async () => {
    const token = await t.token({ sub: 'burst', sites: [1] });
    const opened = await Promise.all(Array.from({ length: 12 }, () => RawSocket.open(t.wsUrl, { token })));
    // Each socket is decided once it is closed or has its first frame.
    await waitFor(() => opened.every((s) => !s.open || s.frames.length > 0), { timeoutMs: 10_000, what: 'the hub to accept or refuse each of the 12' });
    const refused = await Promise.all(opened.filter((s) => !s.open || s.frames.length === 0).map((s) => s.closed));
    const accepted = opened.filter((s) => s.open && s.frames[0]?.[0] === 'connected');
    // The burst of 6, plus what refills (3/s) while the 12 handshakes are under way on a busy machine.
    assert.ok(accepted.length >= 6 && accepted.length <= 8, `accepted ${accepted.length} of 12`);
    assert.equal(accepted.length + refused.length, 12);
    for (const c of refused) assert.deepEqual(c, { code: CloseCode.RateLimited, reason: 'too many connections from your address: retry later' });
    for (const s of accepted) assert.equal((await s.exchange(['ping', null, 1]))[0], 'pong');
    // The bucket refills (3/s): a connection is accepted again. A refused attempt takes no token, so trying does
    // not delay the refill.
    let later: RawSocket | undefined;
    await waitFor(
      () =>
        RawSocket.connect(t.wsUrl, { token }).then(
          (s) => ((later = s), true),
          () => false,
        ),
      { timeoutMs: 5000, everyMs: 100, what: 'a connection to be accepted again after the burst' },
    );
    assert.ok(later!.open);
    for (const s of [...accepted, later!]) s.close();
    const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text();
    assert.match(metrics, /hub_connection_refusals_total\{reason="rate_limited"\} \d+/);
  });
});

describe('subscriptions per connection (HUB_MAX_SUBSCRIPTIONS=5: the user and broadcast ones and three sites)', () => {
  let t: TestHub;
  before(async () => {
    t = await startTestHub({ HUB_MAX_SUBSCRIPTIONS: '5', HUB_MAX_BAD_FRAMES: '3' });
  });
  after(() => t.stop());

  it('answers a subscription beyond the limit with 300, never as a bad frame, and frees a slot on unsubscribe', async () => {
    const raw = await RawSocket.connect(t.wsUrl, { token: await t.token({ sub: 'collector', sites: '*' }) });
    // Every session holds one subscription from the start (system messages): four sites fill the five slots.
    for (const site of [1, 2, 3, 4]) assert.equal((await raw.exchange(['subscribe:site', { siteId: site }, site]))[0], 'subscribed');
    // Subscribing again to a subscribed site replaces it: no new slot.
    assert.equal((await raw.exchange(['subscribe:site', { siteId: 2 }, 9]))[0], 'subscribed');
    for (let i = 0; i < 10; i++) {
      const reply = await raw.exchange(['subscribe:site', { siteId: 100 + i }, i]);
      assert.equal(errorCode(reply), ErrorCode.LimitExceeded, JSON.stringify(reply));
      assert.match((reply[1] as { message: string }).message, /at most 5 subscriptions/);
    }
    assert.equal(errorCode(await raw.exchange(['subscribe:alarms', {}, 20])), ErrorCode.LimitExceeded);
    assert.ok(raw.open, 'ten refusals over HUB_MAX_BAD_FRAMES=3 did not close the socket');
    assert.equal((await raw.exchange(['unsubscribe:site', { siteId: 1 }, 21]))[0], 'unsubscribed');
    assert.equal((await raw.exchange(['subscribe:site', { siteId: 100 }, 22]))[0], 'subscribed');
    raw.close();
  });
});

describe('commands per connection per second (HUB_COMMANDS_PER_SECOND=5, bursts of 10; HUB_MAX_BAD_FRAMES=6; a clock the test moves)', () => {
  let t: TestHub;
  // The buckets refill on the hub's clock: time passes only when the test moves it.
  const clock = new TestClock(Date.now());
  before(async () => {
    t = await startTestHub({ HUB_COMMANDS_PER_SECOND: '5', HUB_MAX_BAD_FRAMES: '6' }, {}, { clock });
  });
  after(() => t.stop());

  it('answers frames over the rate with 300, and closes with 4400 when the flood goes on; another session is untouched', async () => {
    const calm = await RawSocket.connect(t.wsUrl, { token: await t.token({ sub: 'calm', sites: [1] }) });
    const flood = await RawSocket.connect(t.wsUrl, { token: await t.token({ sub: 'flood', sites: [1] }) });
    for (let i = 0; i < 40; i++) flood.sendFrame(['ping', null, i]);
    const closed = await Promise.race([flood.closed, sleep(5000).then(() => null)]);
    assert.deepEqual(closed, { code: CloseCode.ProtocolViolation, reason: 'too many bad frames' });
    const pongs = flood.frames.filter((f) => f[0] === 'pong').length;
    const limited = flood.frames.filter((f) => errorCode(f) === ErrorCode.LimitExceeded);
    assert.equal(pongs, 10, 'the burst, and nothing more: no time passes while the flood is read');
    assert.equal(limited.length, 6, 'each frame over the rate answered with 300 until the bad-frame limit');
    assert.match((limited[0]![1] as { message: string }).message, /more than 5 operations per second/);
    assert.equal((await calm.exchange(['ping', null, 1]))[0], 'pong');
    calm.close();
  });

  it('keeps a connection that stays under the rate open', async () => {
    const steady = await RawSocket.connect(t.wsUrl, { token: await t.token({ sub: 'steady', sites: [1] }) });
    // Twelve commands, more than a burst, 220 ms apart (4.5 a second).
    for (let i = 0; i < 12; i++) {
      assert.equal((await steady.exchange(['ping', null, i]))[0], 'pong');
      clock.advance(220);
    }
    assert.ok(steady.open);
    steady.close();
  });
});

interface Answer {
  status: number;
  body: any;
}

/** POST through node:http: fetch may not read an answer the hub sends before the whole body. */
function post(url: string, body: string | Buffer | Array<string | Buffer>, headers: Record<string, string | number>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text) }));
    });
    // The hub may answer and close before a large body is written: that is the answer, not an error.
    req.on('error', (e) => reject(e));
    if (Array.isArray(body)) {
      for (const chunk of body) req.write(chunk);
      req.end();
    } else req.end(body);
  });
}

describe('HTTP ingest under abuse (HUB_MAX_INGEST_BYTES=4096)', () => {
  let t: TestHub;
  let url: string;
  const json = { 'content-type': 'application/json', authorization: `Bearer ${SERVICE_TOKEN}` };
  before(async () => {
    t = await startTestHub({ HUB_SERVICE_TOKEN: SERVICE_TOKEN, HUB_MAX_INGEST_BYTES: '4096' });
    url = `${t.httpUrl}/api/events`;
  });
  after(() => t.stop());

  async function stillIngests(): Promise<void> {
    const ok = await post(url, JSON.stringify({ event: 'task:update', siteId: 1, data: { id: 'ok' } }), json);
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
  }

  it('answers 413 to a body over the limit, sent with a Content-Length or chunked without one', async () => {
    const big = JSON.stringify({ event: 'task:update', siteId: 1, data: { blob: 'x'.repeat(5000) } });
    assert.equal((await post(url, big, { ...json, 'content-length': Buffer.byteLength(big) })).status, 413);
    const chunks = Array.from({ length: 64 }, () => 'x'.repeat(1024));
    const chunked = await post(url, ['{"event":"task:update","siteId":1,"data":{"blob":"', ...chunks, '"}}'], { ...json, 'transfer-encoding': 'chunked' });
    assert.equal(chunked.status, 413);
    await stillIngests();
  });

  it('accepts a body just under the limit', async () => {
    const body = JSON.stringify({ event: 'task:update', siteId: 1, data: { blob: 'x'.repeat(3900) } });
    assert.ok(Buffer.byteLength(body) <= 4096);
    assert.equal((await post(url, body, json)).status, 201);
  });

  it('answers 400 to bodies that are not JSON', async () => {
    for (const body of ['', '{', '\u0000', 'undefined', "{'event':'task:update'}", '{"a":1}}', Buffer.from([0xff, 0xfe, 0x00])]) {
      const answer = await post(url, body, json);
      assert.equal(answer.status, 400, `${JSON.stringify(String(body))} → ${JSON.stringify(answer)}`);
    }
  });

  it('answers 415 to a missing or other content type, with a good token', async () => {
    const body = JSON.stringify({ event: 'task:update', siteId: 1, data: {} });
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp', 'text/json']) {
      assert.equal((await post(url, body, { authorization: json.authorization, 'content-type': contentType })).status, 415, contentType);
    }
    assert.equal((await post(url, body, { authorization: json.authorization })).status, 415, 'no content type');
  });

  it('answers 422 to schema violations', async () => {
    for (const body of [
      { event: 42, siteId: 1, data: {} },
      { event: 'task:update', siteId: { $ne: 0 }, data: {} },
      { event: 'task:update', siteId: 'x'.repeat(65), data: {} },
      { event: 'task:update', siteId: -3, data: {} },
      { event: 'notification:new', userId: 'u'.repeat(129), data: {} },
      { event: 'alarm:new', data: 'not an object' },
      { event: 'production:update', siteId: 1, data: { type: 'batch_completed', batch: { volume: 2 } } },
      { event: 'inventory:update', siteId: 1, data: { type: 'stock_in', material: { id: 'c' }, quantity: 'ten' } },
      { event: 'system:message', data: { level: 'info' } },
      { event: 'task:update', siteId: 1, data: {}, msgId: 'x'.repeat(129) },
      'task:update',
      42,
    ]) {
      const answer = await post(url, JSON.stringify(body), json);
      assert.equal(answer.status, 422, `${JSON.stringify(body)} → ${JSON.stringify(answer)}`);
      assert.equal(typeof answer.body.error, 'string');
    }
    await stillIngests();
  });

  it('answers 401 to the service token anywhere but a Bearer header, or to a near miss', async () => {
    const body = JSON.stringify({ event: 'task:update', siteId: 1, data: {} });
    const ct = { 'content-type': 'application/json' };
    for (const [target, headers] of [
      [`${url}?token=${SERVICE_TOKEN}`, ct],
      [url, { ...ct, 'x-service-token': SERVICE_TOKEN }],
      [url, { ...ct, authorization: SERVICE_TOKEN }],
      [url, { ...ct, authorization: `Basic ${Buffer.from(`svc:${SERVICE_TOKEN}`).toString('base64')}` }],
      [url, { ...ct, authorization: `Bearer ${SERVICE_TOKEN.toUpperCase()}` }],
      [url, { ...ct, authorization: `Bearer ${SERVICE_TOKEN.slice(1)}` }],
      [url, { ...ct, authorization: `Bearer ${'x'.repeat(4000)}` }],
    ] as const) {
      const answer = await post(target, body, headers);
      assert.equal(answer.status, 401, `${target} ${JSON.stringify(headers)}`);
    }
    // Without the token even a huge body is refused for the token, not read.
    assert.equal((await post(url, 'x'.repeat(100_000), ct).catch(() => ({ status: 401 }))).status, 401);
    await stillIngests();
  });
});

describe('tokens in the URL never reach the logs', () => {
  const lines: string[] = [];
  let hub: Hub;
  let ns: string;
  let wsUrl: string;
  let httpUrl: string;

  before(async () => {
    ns = uniqueNamespace();
    const config = loadConfig({ HUB_JWT_SECRET: TEST_SECRET, HUB_NAMESPACE: ns, NATS_URL, HUB_PORT: '0', HUB_HOST: '127.0.0.1', HUB_SERVICE_TOKEN: SERVICE_TOKEN, HUB_MAX_BAD_FRAMES: '2' });
    // The hub's own logger settings (hub/logger.ts), at the chattiest level, written where the test can read it.
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    hub = await Hub.start(config, pino({ name: 'hub', level: 'trace', base: { pid: process.pid } }, sink));
    wsUrl = `ws://127.0.0.1:${hub.port}/ws`;
    httpUrl = `http://127.0.0.1:${hub.port}`;
  });
  after(async () => {
    await hub.stop();
    await dropNamespace(ns);
  });

  it('logs neither an accepted, a refused nor an expired ?token=, nor a token in a frame or an HTTP query', async () => {
    const good = await signToken(TEST_SECRET, { sub: 'url-user', sites: [1] });
    const forged = await signToken('another-secret-that-is-at-least-32-characters', { sub: 'url-mallory', sites: '*' });
    const expired = await signToken(TEST_SECRET, { sub: 'url-late', expiresIn: Math.floor(Date.now() / 1000) - 60 });
    const secrets = [good, forged, expired, SERVICE_TOKEN];

    const accepted = await RawSocket.connect(`${wsUrl}?token=${encodeURIComponent(good)}`, { protocols: ['hub.v1.msgpack'] });
    // Frames that fail carry the token too: bad arguments, a refresh with a bad token, bad frames until 4400.
    assert.equal(errorCode(await accepted.exchange(['auth:refresh', { token: forged }, 1])), ErrorCode.BadToken);
    assert.equal(errorCode(await accepted.exchange(['subscribe:site', { siteId: good }, 2])), ErrorCode.BadArguments);
    accepted.sendRaw(`["${good}"`);
    await accepted.closed;
    for (const token of [forged, expired, 'not.a.jwt']) {
      const refused = await RawSocket.open(`${wsUrl}?token=${encodeURIComponent(token)}&x=1`, { protocols: ['hub.v1.msgpack'] });
      assert.equal((await refused.closed).code, CloseCode.Unauthorized);
    }
    const bearer = await RawSocket.open(wsUrl, { protocols: ['hub.v1.json'], ws: { headers: { Authorization: `Bearer ${forged}` } } });
    assert.equal((await bearer.closed).code, CloseCode.Unauthorized);
    for (const path of ['/healthz', '/metrics', '/api/stats/online', '/nowhere']) await (await fetch(`${httpUrl}${path}?token=${encodeURIComponent(good)}`)).text();
    await fetch(`${httpUrl}/api/events?token=${SERVICE_TOKEN}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${forged}` }, body: '{}' });
    // A last refused connection, and its log line: the hub has logged everything it did before it.
    const refusals = () => lines.filter((l) => l.includes('connection refused: unauthorized')).length;
    const before = refusals();
    await (await RawSocket.open(wsUrl, { protocols: ['hub.v1.msgpack'] })).closed;
    await waitFor(() => refusals() > before, { timeoutMs: 5000, what: 'the log line of the last refused connection' });

    const log = lines.join('');
    assert.ok(lines.length >= 5, `the hub logged what happened (${lines.length} lines)`);
    assert.match(log, /connection refused: unauthorized/);
    for (const secret of secrets) {
      // Any third of a token would be a leak; its signature part is the most secret.
      for (const part of secret.split('.').filter((p) => p.length >= 16)) assert.ok(!log.includes(part), `a token part appeared in the log: ${part.slice(0, 12)}…`);
    }
    assert.ok(!log.includes('token='), 'a query string appeared in the log');
  });
});

describe('claims a client puts in frames never widen its token', () => {
  let t: TestHub;
  let pub: HubPublisher;
  let observer: Recorder;
  before(async () => {
    t = await startTestHub();
    pub = await t.publisher();
    observer = await Recorder.connect(t.wsUrl, await t.token({ sub: 'observer', sites: '*' }));
    await observer.client.subscribeNotifications();
    await observer.client.subscribeAlarms();
    await observer.client.subscribeSite(2);
  });
  after(async () => {
    observer.close();
    await t.stop();
  });

  it('refuses subscribe:site outside the token however the site or the user is dressed up', async () => {
    const raw = await RawSocket.connect(t.wsUrl, { token: await t.token({ sub: 'site1-op', sites: [1], role: 'operator' }) });
    for (const args of [
      { siteId: 2 },
      { siteId: '2' },
      { siteId: 2, sites: '*' },
      { siteId: 2, userId: 'observer', sub: 'observer', role: 'admin' },
      { siteId: 2, grant: { sites: '*' } },
    ]) {
      const reply = await raw.exchange(['subscribe:site', args, 1]);
      assert.equal(errorCode(reply), ErrorCode.Forbidden, `${JSON.stringify(args)} → ${JSON.stringify(reply)}`);
    }
    for (const args of [{ siteId: '*' }, { siteId: '>' }, { siteId: [1, 2] }, { siteId: '1,2' }, { siteId: '2.>' }]) {
      assert.equal(errorCode(await raw.exchange(['subscribe:site', args, 2])), ErrorCode.BadArguments, JSON.stringify(args));
    }
    // The alarms feed takes no sites from the frame: only site 1's alarms arrive.
    assert.equal((await raw.exchange(['subscribe:alarms', { sites: '*', siteId: 2 }, 3]))[0], 'subscribed');
    await pub.sendAlarmNotification({ id: 'a-site2', siteId: 2, title: 'not yours' });
    await pub.sendTaskUpdate(2, { id: 't-site2' });
    await pub.sendAlarmNotification({ id: 'a-site1', siteId: 1, title: 'yours' });
    await raw.next((f) => f[0] === 'alarm:new' && (f[1] as { id: string }).id === 'a-site1');
    // The observer (subscribed to site 2 and all alarms) has had both site 2 events: the hub has fanned them out;
    // a pong after that, on this socket, comes after anything the fan-out would have sent it.
    await observer.waitFor((rs) => rs.some((e) => e.data?.id === 'a-site2') && rs.some((e) => e.data?.id === 't-site2'));
    assert.equal((await raw.exchange(['ping', null, 4]))[0], 'pong');
    const events = raw.frames.filter((f) => typeof (f[2] as { offset?: unknown } | undefined)?.offset === 'number');
    assert.deepEqual(events.map((f) => (f[1] as { id: string }).id), ['a-site1']);
    raw.close();
  });

  it('refuses alarm:ack for a site outside the token, appends nothing, and records the token\'s user, not the frame\'s', async () => {
    const raw = await RawSocket.connect(t.wsUrl, { token: await t.token({ sub: 'site1-ack', sites: [1], role: 'operator' }) });
    const denied = await raw.exchange(['alarm:ack', { alarmId: 'A-2', siteId: 2, userId: 'observer', acknowledgedBy: 'observer', role: 'admin' }, 1]);
    assert.equal(errorCode(denied), ErrorCode.Forbidden);
    const viewer = await RawSocket.connect(t.wsUrl, { token: await t.token({ sub: 'viewer-1', sites: [1], role: 'viewer' }) });
    assert.equal(errorCode(await viewer.exchange(['alarm:ack', { alarmId: 'A-1', siteId: 1, role: 'admin' }, 1])), ErrorCode.Forbidden);

    const acked = await raw.exchange(['alarm:ack', { alarmId: 'A-1', siteId: 1, userId: 'observer', acknowledgedBy: 'observer', status: 'cleared' }, 2]);
    assert.equal(acked[0], 'alarm:acked', JSON.stringify(acked));
    // A fence appended to the alarms log after both refusals were answered: any update they appended comes before it.
    await pub.sendAlarmNotification({ id: 'fence-ack', siteId: 1, title: 'fence' });
    await observer.waitFor((rs) => rs.some((e) => e.name === 'alarm:new' && e.data.id === 'fence-ack'));
    const updates = observer.of('alarm:update');
    assert.equal(updates.length, 1, 'only the granted acknowledgement was appended');
    assert.equal(updates[0]!.data.id, 'A-1');
    assert.equal(updates[0]!.data.acknowledgedBy, 'site1-ack');
    assert.equal(updates[0]!.data.status, 'acknowledged');
    raw.close();
    viewer.close();
  });

  it('delivers another user\'s notifications to nobody who names that user in a frame', async () => {
    const raw = await RawSocket.connect(t.wsUrl, { token: await t.token({ sub: 'eve', sites: [1] }) });
    assert.equal((await raw.exchange(['subscribe:notifications', { userId: 'observer', sub: 'observer' }, 1]))[0], 'subscribed');
    assert.equal(errorCode(await raw.exchange(['ack', { stream: 'user', offset: 1, epoch: 'e', userId: 'observer' }, 2])) ?? 0, 0);
    await pub.sendUserNotification('observer', { title: 'for observer only' });
    await pub.sendUserNotification('eve', { title: 'for eve' });
    await observer.waitFor((rs) => rs.some((e) => e.name === 'notification:new'));
    await raw.next((f) => f[0] === 'notification:new');
    // The observer has had its notification: the hub has fanned it out; a pong after that, on this socket, comes
    // after anything the fan-out would have sent it.
    assert.equal((await raw.exchange(['ping', null, 3]))[0], 'pong');
    assert.deepEqual(raw.frames.filter((f) => f[0] === 'notification:new').map((f) => (f[1] as { title: string }).title), ['for eve']);
    assert.deepEqual(observer.of('notification:new').map((e) => e.data.title), ['for observer only']);
    raw.close();
  });
});

/** Bad frames cost their sender an error frame (and, repeated, the connection), never the hub or anyone else. */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { encode } from '@msgpack/msgpack';
import { CloseCode, ErrorCode, type Frame } from '../protocol/index.ts';
import type { HubPublisher } from '../protocol/publisher.ts';
import { RawSocket } from './support/raw-socket.ts';
import { Recorder } from './support/recorder.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';

const MAX_FRAME_BYTES = 1024;
const MAX_BAD_FRAMES = 5;

interface ErrorData {
  code: number;
  message: string;
  op?: string;
}

function assertError(frame: Frame, code: number, message?: RegExp): ErrorData {
  assert.equal(frame[0], 'error', `expected an error frame, got ${JSON.stringify(frame)}`);
  const data = frame[1] as ErrorData;
  assert.equal(data.code, code, `expected code ${code}, got ${JSON.stringify(data)}`);
  assert.equal(typeof data.message, 'string');
  if (message !== undefined) assert.match(data.message, message);
  return data;
}

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The socket still works: it answers a ping. */
async function assertAlive(raw: RawSocket, format: 'msgpack' | 'json' = 'msgpack'): Promise<void> {
  const pong = await raw.exchange(['ping', null, 99], format);
  assert.equal(pong[0], 'pong');
  assert.deepEqual(pong[2], { ref: 99 });
  assert.ok(raw.open);
}

describe('protocol errors', () => {
  let t: TestHub;
  let pub: HubPublisher;
  let bystander: Recorder;
  let sent = 0;

  /** Another session on the same hub must keep receiving events whatever the bad sockets do. */
  async function bystanderStillReceives(): Promise<void> {
    const id = ++sent;
    await pub.sendTaskUpdate(1, { id });
    await bystander.waitFor((r) => r.some((e) => e.name === 'task:update' && e.data.id === id));
    assert.equal(bystander.client.connected, true);
  }

  before(async () => {
    t = await startTestHub({ HUB_MAX_FRAME_BYTES: String(MAX_FRAME_BYTES), HUB_MAX_BAD_FRAMES: String(MAX_BAD_FRAMES) });
    pub = await t.publisher();
    bystander = await Recorder.connect(t.wsUrl, await t.token({ sub: 'bystander', sites: [1] }));
    await bystander.client.subscribeSite(1);
  });
  after(async () => {
    assert.deepEqual(
      bystander.of('task:update').map((e) => e.data.id),
      Array.from({ length: sent }, (_, i) => i + 1),
      'the bystander received every event, in order, exactly once',
    );
    bystander.close();
    await t.stop();
  });

  let raw: RawSocket;
  let json: RawSocket;
  beforeEach(async () => {
    raw = await RawSocket.connect(t.wsUrl, { token: await t.token({ sub: 'mallory', sites: [1] }) });
    json = await RawSocket.connect(t.wsUrl, { token: await t.token({ sub: 'mallory-json', sites: [1] }), format: 'json' });
  });
  afterEach(() => {
    raw.close();
    json.close();
  });

  it('answers bytes that are not msgpack with BadFrame and keeps the socket open', async () => {
    // 0xc1 is the one byte msgpack never uses.
    assertError(await raw.exchange(Uint8Array.of(0xc1, 0x00, 0xff)), ErrorCode.BadFrame, /not msgpack/);
    await assertAlive(raw);
    await bystanderStillReceives();
  });

  it('answers truncated msgpack with BadFrame', async () => {
    const whole = encode(['subscribe:site', { siteId: 1 }, 1]);
    assertError(await raw.exchange(whole.subarray(0, whole.length - 3)), ErrorCode.BadFrame);
    await assertAlive(raw);
  });

  it('answers text that is not JSON with BadFrame on a JSON socket', async () => {
    assertError(await json.exchange('["ping", {'), ErrorCode.BadFrame, /not JSON/);
    await assertAlive(json, 'json');
    await bystanderStillReceives();
  });

  it('decodes by message type: a text message on a msgpack socket is read as JSON', async () => {
    // The message type, not the subprotocol, says how to decode: text is JSON, binary is msgpack.
    const pong = await raw.exchange('["ping",null,5]');
    assert.equal(pong[0], 'pong');
    assertError(await raw.exchange('{not json'), ErrorCode.BadFrame, /not JSON/);
  });

  it('answers a frame that is not an array with BadFrame', async () => {
    assertError(await raw.exchange(encode({ op: 'ping' })), ErrorCode.BadFrame, /array/);
    assertError(await json.exchange('{"op":"ping"}'), ErrorCode.BadFrame, /array/);
    assertError(await json.exchange('"ping"'), ErrorCode.BadFrame, /array/);
    assertError(await json.exchange('null'), ErrorCode.BadFrame, /array/);
    await assertAlive(raw);
    await assertAlive(json, 'json');
  });

  it('answers an empty array, a non-string name or too many elements with BadFrame', async () => {
    assertError(await raw.exchange(encode([])), ErrorCode.BadFrame);
    assertError(await raw.exchange(encode([42, {}])), ErrorCode.BadFrame);
    assertError(await json.exchange('["ping",null,1,"extra"]'), ErrorCode.BadFrame);
    await assertAlive(raw);
  });

  it('answers a deeply nested frame within the size limit with BadFrame', async () => {
    const depth = 400;
    assertError(await json.exchange('['.repeat(depth) + ']'.repeat(depth)), ErrorCode.BadFrame);
    await assertAlive(json, 'json');
  });

  it('answers an unknown operation with UnknownOp naming it, echoing the ref', async () => {
    const reply = await raw.exchange(['launch:missiles', { now: true }, 7]);
    const data = assertError(reply, ErrorCode.UnknownOp, /launch:missiles/);
    assert.equal(data.op, 'launch:missiles');
    assert.deepEqual(reply[2], { ref: 7 });
    // Names of Object.prototype members are not operations either.
    assertError(await raw.exchange(['constructor', null, 8]), ErrorCode.UnknownOp);
    assertError(await raw.exchange(['__proto__', null, 9]), ErrorCode.UnknownOp);
    await assertAlive(raw);
    await bystanderStillReceives();
  });

  for (const [label, args] of [
    ['an object site id', { siteId: { $gt: 0 } }],
    ['a negative site id', { siteId: -1 }],
    ['a fractional site id', { siteId: 1.5 }],
    ['a site id with dots', { siteId: '1.alarm' }],
    ['a wildcard site id', { siteId: '>' }],
    ['an empty site id', { siteId: '' }],
    ['no site id', {}],
    ['no arguments', undefined],
    ['arguments that are a list', [1]],
    ['a negative resume offset', { siteId: 1, offset: -1, epoch: 'e' }],
    ['a resume offset without epoch', { siteId: 1, offset: 3 }],
  ] as const) {
    it(`answers subscribe:site with ${label} with BadArguments and subscribes nothing`, async () => {
      const reply = await raw.exchange(['subscribe:site', args, 3]);
      assertError(reply, ErrorCode.BadArguments);
      assert.deepEqual(reply[2], { ref: 3 });
      await assertAlive(raw);
    });
  }

  for (const [op, args] of [
    ['unsubscribe:site', { siteId: 'a b' }],
    ['subscribe:alarms', { offset: 'latest', epoch: 'e' }],
    ['ack', { stream: 'site', offset: -1, epoch: 'e' }],
    ['ack', { stream: 'elsewhere', offset: 1, epoch: 'e' }],
    ['alarm:ack', { siteId: 1 }],
    ['alarm:ack', { alarmId: 'a1', siteId: '1.>' }],
    ['auth:refresh', { token: 42 }],
  ] as const) {
    it(`answers ${op} with ${JSON.stringify(args)} with BadArguments`, async () => {
      assertError(await json.exchange([op, args, 1], 'json'), ErrorCode.BadArguments);
      await assertAlive(json, 'json');
    });
  }

  it('answers a frame over HUB_MAX_FRAME_BYTES with FrameTooLarge and keeps the socket open', async () => {
    const big = ['ping', { pad: 'x'.repeat(MAX_FRAME_BYTES) }, 1] as const;
    assertError(await raw.exchange(big), ErrorCode.FrameTooLarge, new RegExp(`${MAX_FRAME_BYTES} byte limit`));
    assertError(await json.exchange(big, 'json'), ErrorCode.FrameTooLarge);
    await assertAlive(raw);
    await bystanderStillReceives();
  });

  it('accepts a frame just under HUB_MAX_FRAME_BYTES', async () => {
    const frame = `["ping",{"pad":"${'x'.repeat(MAX_FRAME_BYTES - 30)}"},1]`;
    assert.ok(Buffer.byteLength(frame) <= MAX_FRAME_BYTES);
    const reply = await json.exchange(frame);
    assert.equal(reply[0], 'pong');
  });

  it(`closes a socket after ${MAX_BAD_FRAMES} bad frames with 4400, the hub and other sessions unaffected`, async () => {
    const bad: Array<Uint8Array | string> = [Uint8Array.of(0xc1), '{', encode(['nope']), encode(['subscribe:alarms', { offset: -1, epoch: 'e' }]), encode(['subscribe:site', { siteId: -5 }])];
    assert.equal(bad.length, MAX_BAD_FRAMES);
    for (const frame of bad.slice(0, -1)) assert.equal((await raw.exchange(frame))[0], 'error');
    assert.ok(raw.open, 'one bad frame short of the limit the socket is still open');
    raw.sendRaw(bad.at(-1)!);
    assert.deepEqual(await within(raw.closed, 5000), { code: CloseCode.ProtocolViolation, reason: 'too many bad frames' });
    assert.equal(raw.frames.filter((f) => f[0] === 'error').length, MAX_BAD_FRAMES);
    await assertAlive(json, 'json');
    await bystanderStillReceives();
    const health = await fetch(`${t.httpUrl}/healthz`);
    assert.equal(health.status, 200);
  });

  it('does not count accepted frames or refused-but-valid requests as bad frames', async () => {
    for (let i = 0; i < MAX_BAD_FRAMES * 2; i++) {
      assertError(await raw.exchange(['subscribe:site', { siteId: 99 }, i]), ErrorCode.Forbidden);
      await assertAlive(raw);
    }
    assert.ok(raw.open);
  });

  it('survives a frame far above the limit: uWS closes that socket, other sessions keep receiving', async () => {
    raw.sendRaw(new Uint8Array(MAX_FRAME_BYTES * 64));
    const closed = await within(raw.closed, 5000);
    // uWS drops the connection (1006) rather than buffer it; 1009 "message too big" would do as well.
    assert.ok([1006, 1009].includes(closed.code), `closed with ${JSON.stringify(closed)}`);
    await assertAlive(json, 'json');
    await bystanderStillReceives();
    const fresh = await RawSocket.connect(t.wsUrl, { token: await t.token({ sub: 'newcomer', sites: [1] }) });
    await assertAlive(fresh);
    fresh.close();
  });

  it('keeps the hub running after all of the above', async () => {
    const health = await (await fetch(`${t.httpUrl}/healthz`)).json();
    assert.equal(health.status, 'ok');
    await bystanderStillReceives();
  });
});

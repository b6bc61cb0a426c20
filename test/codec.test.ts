/** Units of the shared contract: the frame codec, event appends (subjects per catalogue event), and hub configuration. */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { decode, encode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { assertProperty } from './support/property.ts';
import { ConfigError, loadConfig } from '../hub/config.ts';
import {
  buildAppend,
  BATCH_FRAME,
  decodeFrame,
  encodeBatch,
  framesOf,
  decodePayload,
  encodeEventFrame,
  encodeFrame,
  encodePayload,
  ErrorCode,
  EVENT_NAMES,
  type EventMeta,
  FrameError,
  InvalidEventError,
  parseSubject,
  specForSubject,
} from '../protocol/index.ts';

const meta: EventMeta = { offset: 42, ts: 1_700_000_000_123, stream: 'site', epoch: 'lq3k1x' };

function frameError(fn: () => unknown): FrameError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof FrameError, `expected FrameError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a FrameError');
}

describe('encodeEventFrame', () => {
  const data = { id: 7, title: '搅拌机 1 号故障', values: [1, 2.5, null, true], nested: { deep: { x: 'y' } } };

  it('builds a msgpack [name, data, meta] around the stored payload bytes', () => {
    const frame = encodeEventFrame('msgpack', 'alarm:new', encodePayload(data), meta);
    assert.ok(frame instanceof Uint8Array);
    assert.deepEqual(decode(frame as Uint8Array), ['alarm:new', data, meta]);
  });

  it('decodes with the hub\'s own decodeFrame, as a client would', () => {
    const frame = encodeEventFrame('msgpack', 'task:update', encodePayload(data), meta) as Uint8Array;
    assert.deepEqual(decodeFrame(frame, true), ['task:update', data, meta]);
  });

  it('builds the same frame as a JSON text message', () => {
    const frame = encodeEventFrame('json', 'alarm:new', encodePayload(data), meta);
    assert.equal(typeof frame, 'string');
    assert.deepEqual(JSON.parse(frame as string), ['alarm:new', data, meta]);
  });

  it('carries an empty payload as null data', () => {
    assert.deepEqual(decode(encodeEventFrame('msgpack', 'dashboard:update', new Uint8Array(0), meta) as Uint8Array), ['dashboard:update', null, meta]);
    assert.deepEqual(JSON.parse(encodeEventFrame('json', 'dashboard:update', new Uint8Array(0), meta) as string), ['dashboard:update', null, meta]);
  });

  it('gives a frame for every event name, and distinct frames for distinct names sharing a cache', () => {
    for (const name of EVENT_NAMES) {
      assert.deepEqual(decode(encodeEventFrame('msgpack', name, encodePayload({ n: name }), meta) as Uint8Array), [name, { n: name }, meta]);
    }
    // Names long enough to need a str8 header (over 31 bytes) work too.
    const long = 'x'.repeat(40);
    assert.deepEqual(decode(encodeEventFrame('msgpack', long, encodePayload(1), meta) as Uint8Array), [long, 1, meta]);
  });

  it('delivers any JSON-like payload a producer may append intact, in both formats', () => {
    assertProperty(
      fc.property(fc.jsonValue(), (value) => {
        let append;
        try {
          append = buildAppend('plant', { event: 'order:update', siteId: 1, data: value });
        } catch (e) {
          // Refused up front, with a reason, is the other acceptable outcome (e.g. a `__proto__` key).
          assert.ok(e instanceof InvalidEventError, String(e));
          return;
        }
        // Neither format keeps -0 (msgpack stores it as the integer 0): compare with the JSON-normalised value.
        const expected = JSON.parse(JSON.stringify(value) ?? 'null');
        assert.deepEqual(decode(encodeEventFrame('msgpack', 'order:update', append.payload, meta) as Uint8Array), ['order:update', expected, meta]);
        assert.deepEqual(JSON.parse(encodeEventFrame('json', 'order:update', append.payload, meta) as string), ['order:update', expected, meta]);
      }),
      { numRuns: 300 },
    );
  });
});

describe('encodeBatch / framesOf', () => {
  const frames = [1, 2, 300].map((offset) => ({ offset, data: { id: offset, text: '批次 ✓' } }));
  const msgpackFrames = frames.map((f) => encodeEventFrame('msgpack', 'task:update', encodePayload(f.data), { ...meta, offset: f.offset }) as Uint8Array);
  const jsonFrames = frames.map((f) => encodeEventFrame('json', 'task:update', encodePayload(f.data), { ...meta, offset: f.offset }) as string);

  it('packs encoded frames into one ["batch", [frame, …]] message that unpacks to the same frames in order (msgpack and JSON)', () => {
    for (const [message, isBinary] of [[encodeBatch('msgpack', msgpackFrames), true], [encodeBatch('json', jsonFrames), false]] as const) {
      const outer = decodeFrame(message, isBinary);
      assert.equal(outer[0], BATCH_FRAME);
      const inner = framesOf(outer);
      assert.deepEqual(inner.map((f) => [f[0], f[1], (f[2] as EventMeta).offset]), frames.map((f) => ['task:update', f.data, f.offset]));
      assert.deepEqual(inner, msgpackFrames.map((f) => decodeFrame(f, true)), 'each frame as it would have been alone');
    }
  });

  it('keeps every frame\'s bytes: a msgpack batch is the header and the frames concatenated, at every list size class', () => {
    for (const n of [1, 15, 16, 65_535, 65_536]) {
      const list = new Array<Uint8Array>(n).fill(msgpackFrames[0]!);
      const message = encodeBatch('msgpack', list);
      const inner = framesOf(decodeFrame(message, true));
      assert.equal(inner.length, n, `${n} frames`);
      const body = message.subarray(message.length - n * msgpackFrames[0]!.length);
      assert.ok(Buffer.from(body).equals(Buffer.concat(list)), `${n} frames: bytes unchanged`);
    }
  });

  it('answers a frame that is not a batch as the only one, and refuses a batch of anything but frames', () => {
    const ping = decodeFrame(encodeFrame('msgpack', ['pong', { timestamp: 1 }]), true);
    assert.deepEqual(framesOf(ping), [ping]);
    for (const data of [null, 'x', [1], [[]], [[1, 2]], [['a', 1, 2, 3]], [['batch', []]]]) {
      assert.equal(frameError(() => framesOf(['batch', data])).code, ErrorCode.BadFrame, JSON.stringify(data));
    }
  });
});

describe('encodeFrame / decodeFrame', () => {
  it('round-trips a client frame in msgpack and JSON', () => {
    const frame = ['subscribe:site', { siteId: 3 }, 12] as const;
    const bin = encodeFrame('msgpack', frame);
    assert.ok(bin instanceof Uint8Array);
    assert.deepEqual(decodeFrame(bin, true), frame);
    const text = encodeFrame('json', frame);
    assert.equal(text, '["subscribe:site",{"siteId":3},12]');
    assert.deepEqual(decodeFrame(text as string, false), frame);
  });

  it('drops trailing undefined elements, so [name] stays [name]', () => {
    assert.equal(encodeFrame('json', ['ping', undefined, undefined]), '["ping"]');
    assert.deepEqual(decode(encodeFrame('msgpack', ['ping', undefined]) as Uint8Array), ['ping']);
    assert.equal(encodeFrame('json', ['ping', undefined, { ref: 1 }]), '["ping",null,{"ref":1}]');
  });

  it('decodes from an ArrayBuffer, a view with an offset, and UTF-8 bytes of a text message', () => {
    const bytes = encode(['ping', null, 1]);
    const padded = new Uint8Array(bytes.length + 8);
    padded.set(bytes, 5);
    assert.deepEqual(decodeFrame(padded.subarray(5, 5 + bytes.length), true), ['ping', null, 1]);
    assert.deepEqual(decodeFrame(bytes.slice().buffer, true), ['ping', null, 1]);
    assert.deepEqual(decodeFrame(new TextEncoder().encode('["ping"]'), false), ['ping']);
  });

  it('throws FrameError BadFrame for bytes that are not msgpack', () => {
    const e = frameError(() => decodeFrame(Uint8Array.of(0xc1), true));
    assert.equal(e.code, ErrorCode.BadFrame);
    assert.match(e.message, /not msgpack/);
    assert.equal(frameError(() => decodeFrame(encode(['ping', 'x']).subarray(0, 4), true)).code, ErrorCode.BadFrame);
  });

  it('throws FrameError BadFrame for text that is not JSON, and for bytes that are not UTF-8', () => {
    assert.match(frameError(() => decodeFrame('["ping"', false)).message, /not JSON/);
    assert.equal(frameError(() => decodeFrame(Uint8Array.of(0x5b, 0xff, 0xfe, 0x5d), false)).code, ErrorCode.BadFrame);
  });

  it('throws FrameError BadFrame for values that are not [name, data?, meta?]', () => {
    for (const value of [{}, 'ping', 1, null, [], [1], [null, {}], ['a', 1, 2, 3], [{ op: 'ping' }]]) {
      const e = frameError(() => decodeFrame(encode(value), true));
      assert.equal(e.code, ErrorCode.BadFrame, JSON.stringify(value));
      assert.match(e.message, /array \[name, data\?, meta\?\]/);
      assert.equal(frameError(() => decodeFrame(JSON.stringify(value), false)).code, ErrorCode.BadFrame);
    }
  });

  it('refuses msgpack extension types and strings longer than the bound', () => {
    const timestamp = encode([new Date(0)]);
    assert.equal(frameError(() => decodeFrame(timestamp, true)).code, ErrorCode.BadFrame);
    const huge = new Uint8Array(6);
    // str32 header claiming 2 MiB, followed by nothing: the decoder must refuse, not allocate.
    huge.set([0x91, 0xdb, 0x00, 0x20, 0x00, 0x00]);
    assert.equal(frameError(() => decodeFrame(huge, true)).code, ErrorCode.BadFrame);
  });

  it('never throws anything but FrameError on arbitrary bytes or text', () => {
    assertProperty(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.string({ maxLength: 64 }), (bytes, text) => {
        for (const attempt of [() => decodeFrame(bytes, true), () => decodeFrame(bytes, false), () => decodeFrame(text, false)]) {
          try {
            const frame = attempt();
            assert.ok(Array.isArray(frame) && typeof frame[0] === 'string');
          } catch (e) {
            assert.ok(e instanceof FrameError, String(e));
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('buildAppend', () => {
  const ns = 'plant';

  it('puts each site event on <ns>.site.<siteId>.<aggregate>.<action>, as the design names them', () => {
    const expected: Array<[string, string]> = [
      ['alarm:new', 'alarm.raised'],
      ['alarm:update', 'alarm.updated'],
      ['production:update', 'production.updated'],
      ['task:update', 'task.updated'],
      ['order:update', 'order.updated'],
      ['inventory:update', 'inventory.updated'],
      ['vehicle:update', 'vehicle.updated'],
      ['dashboard:update', 'dashboard.updated'],
    ];
    for (const [event, tail] of expected) {
      const append = buildAppend(ns, { event: event as 'task:update', siteId: 7, data: { id: 1, siteId: 7 } });
      assert.equal(append.subject, `plant.site.7.${tail}`, event);
      assert.equal(append.stream, 'site');
      assert.equal(append.event, event);
    }
  });

  it('puts a user notification on <ns>.user.<userId>.notification, a broadcast and a system message on <ns>.global', () => {
    assert.deepEqual(pick(buildAppend(ns, { event: 'notification:new', userId: 'alice', data: { t: 1 } })), { stream: 'user', subject: 'plant.user.alice.notification' });
    assert.deepEqual(pick(buildAppend(ns, { event: 'notification:new', userId: 12, data: { t: 1 } })), { stream: 'user', subject: 'plant.user.12.notification' });
    // Any other id of up to 128 characters is one subject token ('=' + base64url): no dot or wildcard reaches the subject.
    assert.deepEqual(pick(buildAppend(ns, { event: 'notification:new', userId: 'alice.*', data: { t: 1 } })), { stream: 'user', subject: `plant.user.=${Buffer.from('alice.*').toString('base64url')}.notification` });
    assert.deepEqual(pick(buildAppend(ns, { event: 'notification:new', data: { t: 1 } })), { stream: 'global', subject: 'plant.global.notification' });
    assert.deepEqual(pick(buildAppend(ns, { event: 'system:message', data: { message: 'hi', level: 'info', timestamp: 'now' } })), { stream: 'global', subject: 'plant.global.system' });
  });

  it('maps every appended subject back to the same event name for delivery', () => {
    const requests = [
      ...EVENT_NAMES.filter((n) => n !== 'notification:new' && n !== 'system:message').map((event) => ({ event, siteId: 3, data: { siteId: 3 } })),
      { event: 'notification:new', userId: 'u1', data: {} },
      { event: 'notification:new', data: {} },
      { event: 'system:message', data: { message: 'm', level: 'warning' } },
    ] as const;
    const delivered = new Set<string>();
    for (const request of requests) {
      const append = buildAppend('ns-1', request);
      const parsed = parseSubject('ns-1', append.subject);
      assert.ok(parsed !== undefined, append.subject);
      assert.equal(parsed.stream, append.stream);
      assert.equal(specForSubject(parsed.stream, parsed.tail)?.name, request.event, append.subject);
      delivered.add(request.event);
    }
    assert.deepEqual([...delivered].sort(), [...EVENT_NAMES].sort(), 'every catalogue event is covered');
  });

  it('stores the data as msgpack, unchanged', () => {
    const data = { id: 'T-1', status: 'loading', volume: 8.5, driver: { name: '张三' } };
    assert.deepEqual(decodePayload(buildAppend(ns, { event: 'task:update', siteId: 'north-1', data }).payload), data);
  });

  it('takes an alarm\'s site from siteId or site_id, an explicit siteId first', () => {
    assert.equal(buildAppend(ns, { event: 'alarm:new', data: { siteId: 4 } }).subject, 'plant.site.4.alarm.raised');
    assert.equal(buildAppend(ns, { event: 'alarm:update', data: { site_id: 'yard-2' } }).subject, 'plant.site.yard-2.alarm.updated');
    assert.equal(buildAppend(ns, { event: 'alarm:new', siteId: 9, data: { siteId: 4 } }).subject, 'plant.site.9.alarm.raised');
  });

  it('refuses what cannot be delivered with an InvalidEventError saying why', () => {
    const cases: Array<[unknown, RegExp]> = [
      [null, /an append is an object/],
      [{ event: 'alarm:explode', siteId: 1, data: {} }, /unknown event "alarm:explode"/],
      [{ event: 'task:update', siteId: 1 }, /data is required/],
      [{ event: 'task:update', data: {} }, /siteId missing/],
      [{ event: 'task:update', siteId: 'a.b', data: {} }, /siteId "a.b" is not a site id/],
      [{ event: 'task:update', siteId: -3, data: {} }, /not a site id/],
      [{ event: 'alarm:new', data: { title: 'x' } }, /no siteId or site_id/],
      [{ event: 'alarm:new', data: 'fire' }, /an alarm is an object/],
      [{ event: 'alarm:new', siteId: 1, data: 'fire' }, /an alarm is an object/],
      [{ event: 'notification:new', userId: 'a\tb', data: {} }, /userId "a\\tb" is not a user id/],
      [{ event: 'system:message', data: { message: '', level: 'info' } }, /non-empty string/],
      [{ event: 'system:message', data: { message: 'x', level: 'panic' } }, /level "panic" is not one of info, success, warning, error, critical/],
      [{ event: 'dashboard:update', siteId: 1, data: { blob: 'x'.repeat(1_000_001) } }, /over the 1000000 limit/],
      // Sent as JSON.stringify would (functions dropped, so `{f}` is `{}`); a cycle cannot be.
      [{ event: 'task:update', siteId: 1, data: (() => { const c: Record<string, unknown> = {}; c.self = c; return c; })() }, /data\.self refers back .*circular/],
      // Encodable, but no reader's bounded decoder would take it back: it would poison the log.
      [{ event: 'task:update', siteId: 1, data: JSON.parse('{"__proto__": {"admin": true}}') }, /cannot be read back: .*__proto__/],
      [{ event: 'task:update', siteId: 1, data: { list: new Array(70_000).fill(0) } }, /cannot be read back: .*array length/],
    ];
    for (const [request, reason] of cases) {
      assert.throws(() => buildAppend(ns, request as never), (e: unknown) => e instanceof InvalidEventError && reason.test(e.message), inspect(request, { depth: 2 }).slice(0, 80));
    }
  });
});

function pick(a: { stream: string; subject: string }) {
  return { stream: a.stream, subject: a.subject };
}

describe('loadConfig', () => {
  it('has working defaults', () => {
    const c = loadConfig({});
    assert.equal(c.port, 3000);
    assert.equal(c.namespace, 'plant');
    assert.equal(c.natsUrl, undefined);
    assert.equal(c.idleTimeoutMs, 60_000);
    assert.deepEqual(c.allowedOrigins, []);
    assert.equal(c.serviceToken, undefined);
    assert.ok(Object.isFrozen(c));
  });

  it('reads values, trimming blanks and splitting lists', () => {
    const c = loadConfig({ HUB_PORT: ' 8080 ', HUB_NAMESPACE: 'plant-b', NATS_URL: 'nats://n:4222', HUB_ALLOWED_ORIGINS: 'https://a.example, https://b.example,', HUB_MAX_FRAME_BYTES: '4096', HUB_NATS_URL_UNUSED: 'x', HUB_SERVICE_TOKEN: '' });
    assert.equal(c.port, 8080);
    assert.equal(c.namespace, 'plant-b');
    assert.equal(c.natsUrl, 'nats://n:4222');
    assert.deepEqual(c.allowedOrigins, ['https://a.example', 'https://b.example']);
    assert.equal(c.maxFrameBytes, 4096);
    assert.equal(c.serviceToken, undefined, 'an empty value means unset');
  });

  const bad: Array<[Record<string, string>, string]> = [
    [{ HUB_PORT: 'abc' }, 'HUB_PORT'],
    [{ HUB_PORT: '70000' }, 'HUB_PORT'],
    [{ HUB_PORT: '-1' }, 'HUB_PORT'],
    [{ HUB_PORT: '80.5' }, 'HUB_PORT'],
    [{ HUB_EMBEDDED_NATS_PORT: '0' }, 'HUB_EMBEDDED_NATS_PORT'],
    [{ HUB_NAMESPACE: 'plant.prod' }, 'HUB_NAMESPACE'],
    [{ HUB_NAMESPACE: 'a'.repeat(33) }, 'HUB_NAMESPACE'],
    [{ HUB_JWT_SECRET: 'too-short' }, 'HUB_JWT_SECRET'],
    [{ HUB_JWKS_URL: 'not a url' }, 'HUB_JWKS_URL'],
    [{ HUB_JWKS_URL: 'https://id.example/jwks', HUB_JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----' }, 'HUB_JWKS_URL'],
    [{ HUB_SERVICE_TOKEN: 'short' }, 'HUB_SERVICE_TOKEN'],
    [{ HUB_MAX_CONNECTIONS_PER_USER: '0' }, 'HUB_MAX_CONNECTIONS_PER_USER'],
    [{ HUB_MAX_FRAME_BYTES: '100' }, 'HUB_MAX_FRAME_BYTES'],
    [{ HUB_IDLE_TIMEOUT_MS: '10' }, 'HUB_IDLE_TIMEOUT_MS'],
    [{ HUB_IDLE_TIMEOUT_MS: 'soon' }, 'HUB_IDLE_TIMEOUT_MS'],
    [{ HUB_MAX_BAD_FRAMES: '1.5' }, 'HUB_MAX_BAD_FRAMES'],
    [{ HUB_NOTIFICATION_RETENTION_MS: '5' }, 'HUB_NOTIFICATION_RETENTION_MS'],
    [{ HUB_SITE_STREAM_MAX_BYTES: '-1' }, 'HUB_SITE_STREAM_MAX_BYTES'],
    [{ HUB_LOG_LEVEL: 'loud' }, 'HUB_LOG_LEVEL'],
  ];
  for (const [env, name] of bad) {
    it(`throws ConfigError naming ${name} for ${JSON.stringify(env).slice(0, 70)}`, () => {
      assert.throws(
        () => loadConfig(env),
        (e: unknown) => e instanceof ConfigError && e.message.includes(name),
      );
    });
  }
});

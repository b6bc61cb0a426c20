/**
 * Frame codec. Every frame is an array `[name, data?, meta?]`, as msgpack in a
 * binary message (default) or JSON in a text message (for debugging), chosen by
 * the WebSocket subprotocol. Browser-safe: no node imports.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';

export type WireFormat = 'msgpack' | 'json';

/** Subprotocols a client offers; the hub answers with the one it picked. */
export const SUBPROTOCOL = { msgpack: 'hub.v1.msgpack', json: 'hub.v1.json' } as const;
/** Offered by clients that ack critical events (HubClient does): they get redelivery and durable offline delivery. */
export const ACKS_SUBPROTOCOL = 'hub.opt.acks';
/** Prefix of a subprotocol entry that carries the access token (browsers cannot set headers). */
export const AUTH_SUBPROTOCOL_PREFIX = 'hub.auth.';

/** Delivery metadata of an event: where it sits in its log. */
export interface EventMeta {
  /** The JetStream sequence of the event in its stream. */
  readonly offset: number;
  /** Append time, milliseconds since the Unix epoch. */
  readonly ts: number;
  /** Which log the offset belongs to: `site`, `user` or `global`. */
  readonly stream: string;
  /** Changes when the stream is recreated; offsets of another epoch are meaningless. */
  readonly epoch: string;
  /** The site of a site event (which subscription it belongs to). */
  readonly site?: string;
  /** Set on a latest-value event resent after the socket drained: deliver even if seen. */
  readonly resync?: boolean;
  /** Present (true) on events the hub's projections appended (dashboard snapshots, low-stock alarms); absent on domain events. */
  readonly derived?: boolean;
}

export type Frame = readonly [name: string, data?: unknown, meta?: unknown];

/** A frame that cannot be decoded; `code` is an ErrorCode. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

// Bounds keep a hostile frame from allocating far beyond its own size.
const decoder = new Decoder({ maxStrLength: 1 << 20, maxBinLength: 1 << 20, maxArrayLength: 1 << 16, maxMapLength: 1 << 16, maxExtLength: 0 });
const encoder = new Encoder({ ignoreUndefined: true });
const textDecoder = new TextDecoder('utf-8', { fatal: true });

export function encodeFrame(format: WireFormat, frame: Frame): Uint8Array | string {
  const trimmed = trimFrame(frame);
  return format === 'msgpack' ? encoder.encode(trimmed) : JSON.stringify(trimmed);
}

/** Drops trailing undefined elements so `[name]` stays `[name]` on the wire. */
function trimFrame(frame: Frame): unknown[] {
  let n = frame.length;
  while (n > 1 && frame[n - 1] === undefined) n--;
  return frame.slice(0, n);
}

/** Decodes one message into a frame, or throws FrameError (code 100) saying why. */
export function decodeFrame(message: ArrayBuffer | ArrayBufferView | string, isBinary: boolean): Frame {
  let value: unknown;
  try {
    if (typeof message === 'string') value = JSON.parse(message);
    else {
      const bytes = message instanceof ArrayBuffer ? new Uint8Array(message) : new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
      value = isBinary ? decoder.decode(bytes) : JSON.parse(textDecoder.decode(bytes));
    }
  } catch (e) {
    throw new FrameError(100, isBinary ? `not msgpack: ${(e as Error).message}` : `not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(value) || value.length < 1 || value.length > 3 || typeof value[0] !== 'string') {
    throw new FrameError(100, 'a frame is an array [name, data?, meta?] with a string name');
  }
  return value as unknown as Frame;
}

/** msgpack array header of length 3: every event frame is `[name, data, meta]`. */
const FIXARRAY_3 = 0x93;
const namePrefixes = new Map<string, Uint8Array>();

/**
 * Builds an event frame around payload bytes exactly as stored in the log, so the
 * hot path never decodes and re-encodes the payload (msgpack). For JSON sockets
 * the payload is converted once per event, never per recipient.
 */
export function encodeEventFrame(format: WireFormat, name: string, payload: Uint8Array, meta: EventMeta): Uint8Array | string {
  if (format === 'json') {
    return `[${JSON.stringify(name)},${JSON.stringify(payload.length === 0 ? null : decoder.decode(payload))},${JSON.stringify(meta)}]`;
  }
  let prefix = namePrefixes.get(name);
  if (prefix === undefined) {
    const encodedName = encoder.encode(name);
    prefix = new Uint8Array(1 + encodedName.length);
    prefix[0] = FIXARRAY_3;
    prefix.set(encodedName, 1);
    namePrefixes.set(name, prefix);
  }
  const encodedMeta = encoder.encode(meta);
  const body = payload.length === 0 ? NIL : payload;
  const out = new Uint8Array(prefix.length + body.length + encodedMeta.length);
  out.set(prefix, 0);
  out.set(body, prefix.length);
  out.set(encodedMeta, prefix.length + body.length);
  return out;
}
const NIL = Uint8Array.of(0xc0);

/** Encodes a payload for the log. */
export function encodePayload(data: unknown): Uint8Array {
  return encoder.encode(data);
}

export function decodePayload(bytes: Uint8Array): unknown {
  return decoder.decode(bytes);
}

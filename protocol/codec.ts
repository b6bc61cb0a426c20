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
/**
 * Offered by clients that read batch frames (HubClient does): the hub may then send several event frames of one
 * topic in one message, `["batch", [frame, …]]`. Clients that do not offer it get every frame as its own message.
 */
export const BATCH_SUBPROTOCOL = 'hub.opt.batch';
/** The name of a batch frame: its data is a list of frames, in the order they were written. */
export const BATCH_FRAME = 'batch';
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

/**
 * The frames a batch frame carries, each checked as `decodeFrame` checks a message; a frame that is not a batch
 * is returned as the only one. Throws FrameError (code 100) for a batch whose data is not a list of frames.
 */
export function framesOf(frame: Frame): readonly Frame[] {
  if (frame[0] !== BATCH_FRAME) return [frame];
  const inner = frame[1];
  if (!Array.isArray(inner)) throw new FrameError(100, 'a batch frame is ["batch", [frame, …]]');
  for (const f of inner) {
    if (!Array.isArray(f) || f.length < 1 || f.length > 3 || typeof f[0] !== 'string' || f[0] === BATCH_FRAME) throw new FrameError(100, 'a batch holds frames [name, data?, meta?] (no batches)');
  }
  return inner as Frame[];
}

/** `["batch", [` as msgpack: fixarray 2, fixstr "batch"; the list's header follows. */
const BATCH_PREFIX = Uint8Array.of(0x92, 0xa5, 0x62, 0x61, 0x74, 0x63, 0x68);

/**
 * One message out of several encoded frames of one wire format, without decoding them: msgpack frames are
 * concatenated behind an array header, JSON frames joined inside the list. The bytes of each frame are those
 * it would have had on its own, so an event inside keeps its meta and the order is the order given.
 */
export function encodeBatch(format: 'msgpack', frames: readonly Uint8Array[]): Uint8Array;
export function encodeBatch(format: 'json', frames: readonly string[]): string;
export function encodeBatch(format: WireFormat, frames: readonly (Uint8Array | string)[]): Uint8Array | string {
  if (format === 'json') return `["batch",[${(frames as string[]).join(',')}]]`;
  const n = frames.length;
  const header = n < 16 ? 1 : n < 0x10000 ? 3 : 5;
  let size = BATCH_PREFIX.length + header;
  for (const f of frames as Uint8Array[]) size += f.length;
  const out = new Uint8Array(size);
  out.set(BATCH_PREFIX, 0);
  let p = BATCH_PREFIX.length;
  if (header === 1) out[p++] = 0x90 | n;
  else if (header === 3) {
    out[p++] = 0xdc;
    out[p++] = n >>> 8;
    out[p++] = n & 0xff;
  } else {
    out[p++] = 0xdd;
    out[p++] = n >>> 24;
    out[p++] = (n >>> 16) & 0xff;
    out[p++] = (n >>> 8) & 0xff;
    out[p++] = n & 0xff;
  }
  for (const f of frames as Uint8Array[]) {
    out.set(f, p);
    p += f.length;
  }
  return out;
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

/**
 * msgpack decoding for the folds, on their hot path: a rebuild decodes every
 * payload of the log, and `@msgpack/msgpack` spent more per event setting up
 * (a `DataView` per call) and making strings than walking the bytes. Payloads
 * are small maps of ASCII strings and small numbers, so this reads that subset
 * directly, reusing the strings it has seen (keys, statuses, kinds). Anything
 * outside it (non-ASCII or long strings, binary, extensions, 64-bit integers,
 * non-string keys, `__proto__`, malformed or trailing bytes) goes to
 * `decodePayload`: it decodes or refuses exactly as before, so what a fold sees,
 * and the error a dead letter records, is unchanged.
 */
import { decodePayload } from '../protocol/codec.ts';

/** Nesting beyond this is left to `decodePayload`. */
const MAX_DEPTH = 32;
/** Strings up to this many bytes are looked up in the cache, not made again. */
const CACHED_BYTES = 24;
const CACHE_SLOTS = 4096;

/** Thrown inside the fast path only: the payload is outside its subset. */
const OUTSIDE = Symbol('outside');

const float = new DataView(new ArrayBuffer(8));
/**
 * The cached strings' bytes, `CACHED_BYTES` per slot, and their lengths (-1: empty):
 * one buffer, where a copy per cached string (a new ArrayBuffer per id a rebuild
 * meets) cost the garbage collector more than the cache saved.
 */
const cachedBytes = new Uint8Array(CACHE_SLOTS * CACHED_BYTES);
const cachedLengths = new Int8Array(CACHE_SLOTS).fill(-1);
const cachedStrings: string[] = new Array(CACHE_SLOTS);

let bytes: Uint8Array = new Uint8Array(0);
let pos = 0;

/**
 * The payload's value, as `decodePayload` gives it (same errors too).
 * @example
 * decodeFoldPayload(encodePayload({ id: 7, status: 'done' })); // { id: 7, status: 'done' }
 */
export function decodeFoldPayload(payload: Uint8Array): unknown {
  bytes = payload;
  pos = 0;
  try {
    const value = read(0);
    if (pos === payload.length) return value;
  } catch (e) {
    if (e !== OUTSIDE) throw e;
  } finally {
    bytes = EMPTY;
  }
  return decodePayload(payload);
}
const EMPTY: Uint8Array = new Uint8Array(0);

function read(depth: number): unknown {
  if (pos >= bytes.length) throw OUTSIDE;
  const head = bytes[pos++]!;
  if (head < 0x80) return head;
  if (head >= 0xe0) return head - 0x100;
  if (head >= 0xa0 && head <= 0xbf) return str(head & 0x1f);
  if (head >= 0x80 && head <= 0x8f) return map(head & 0x0f, depth);
  if (head >= 0x90 && head <= 0x9f) return array(head & 0x0f, depth);
  switch (head) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xcc:
      return u8();
    case 0xcd:
      return u16();
    case 0xce:
      return u16() * 0x10000 + u16();
    case 0xd0:
      return (u8() << 24) >> 24;
    case 0xd1:
      return (u16() << 16) >> 16;
    case 0xd2:
      return (u16() << 16) | u16();
    case 0xca:
      return f(4).getFloat32(4);
    case 0xcb:
      return f(8).getFloat64(0);
    case 0xd9:
      return str(u8());
    case 0xda:
      return str(u16());
    case 0xde:
      return map(u16(), depth);
    case 0xdc:
      return array(u16(), depth);
    default:
      throw OUTSIDE;
  }
}

function u8(): number {
  if (pos >= bytes.length) throw OUTSIDE;
  return bytes[pos++]!;
}

function u16(): number {
  if (pos + 2 > bytes.length) throw OUTSIDE;
  const v = (bytes[pos]! << 8) | bytes[pos + 1]!;
  pos += 2;
  return v;
}

/** The next `n` bytes in the scratch view, right-aligned in its 8. */
function f(n: number): DataView {
  if (pos + n > bytes.length) throw OUTSIDE;
  for (let i = 0; i < n; i++) float.setUint8(8 - n + i, bytes[pos + i]!);
  pos += n;
  return float;
}

function str(length: number): string {
  const start = pos;
  const end = start + length;
  if (end > bytes.length) throw OUTSIDE;
  let h = length;
  for (let i = start; i < end; i++) {
    const b = bytes[i]!;
    if (b >= 0x80) throw OUTSIDE;
    h = (h * 31 + b) | 0;
  }
  pos = end;
  if (length > CACHED_BYTES) return ascii(start, end);
  const slot = h & (CACHE_SLOTS - 1);
  const base = slot * CACHED_BYTES;
  if (cachedLengths[slot] === length) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (cachedBytes[base + i] !== bytes[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return cachedStrings[slot]!;
  }
  const s = ascii(start, end);
  for (let i = 0; i < length; i++) cachedBytes[base + i] = bytes[start + i]!;
  cachedLengths[slot] = length;
  cachedStrings[slot] = s;
  return s;
}

function ascii(start: number, end: number): string {
  return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
}

function map(size: number, depth: number): Record<string, unknown> {
  if (depth >= MAX_DEPTH) throw OUTSIDE;
  const out: Record<string, unknown> = {};
  for (let i = 0; i < size; i++) {
    const head = pos < bytes.length ? bytes[pos]! : 0;
    // Keys other than strings, and `__proto__` (refused), are decodePayload's to judge.
    if (!((head >= 0xa0 && head <= 0xbf) || head === 0xd9)) throw OUTSIDE;
    const key = read(depth + 1) as string;
    if (key === '__proto__') throw OUTSIDE;
    out[key] = read(depth + 1);
  }
  return out;
}

function array(size: number, depth: number): unknown[] {
  if (depth >= MAX_DEPTH) throw OUTSIDE;
  const out = new Array<unknown>(size);
  for (let i = 0; i < size; i++) out[i] = read(depth + 1);
  return out;
}

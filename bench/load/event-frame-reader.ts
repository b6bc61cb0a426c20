/**
 * Reads the few fields the bench needs out of a msgpack event frame
 * `[name, {siteId, seq, sentAt, phase, …}, {offset, epoch, …}]` in place: no
 * objects, no strings, a walk over the bytes. Anything else (replies, errors) is
 * reported as "not an event" so the caller decodes it fully (rare frames).
 */

/** Which bench event a frame carried. */
export const EventKind = { None: 0, Task: 1, Alarm: 2 } as const;
export type EventKind = (typeof EventKind)[keyof typeof EventKind];

const enc = new TextEncoder();
const NAME_TASK = enc.encode('task:update');
const NAME_ALARM = enc.encode('alarm:new');
const KEY_SEQ = enc.encode('seq');
const KEY_SENT_AT = enc.encode('sentAt');
const KEY_PHASE = enc.encode('phase');
const KEY_SITE = enc.encode('siteId');
const KEY_OFFSET = enc.encode('offset');
const KEY_EPOCH = enc.encode('epoch');
/** `["batch", ` in msgpack: fixarray 2, fixstr "batch" (protocol/codec.ts encodeBatch). */
const BATCH_PREFIX = Uint8Array.of(0x92, 0xa5, 0x62, 0x61, 0x74, 0x63, 0x68);

/** Big-endian float64 bytes are copied here and read back through the typed array (no DataView per frame). */
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const f32 = new Float32Array(1);
const f32Bytes = new Uint8Array(f32.buffer);

/** A frame that is not msgpack as expected. */
export class FrameReadError extends Error {
  override readonly name = 'FrameReadError';
}

export class EventFrameReader {
  kind: EventKind = EventKind.None;
  siteId = -1;
  seq = -1;
  sentAt = -1;
  phase = -1;
  /** -1 when the frame carries no offset (Socket.IO frames never do; these are msgpack only). */
  offset = -1;
  /** Where the epoch string sits in the buffer (start, byte length); -1 if absent. */
  epochStart = -1;
  epochLength = 0;
  /** After a `read` that returned true, or `skipFrame`: where the frame ended (the next one of a batch starts). */
  end = -1;
  #b: Uint8Array = new Uint8Array(0);
  #p = 0;
  #strStart = 0;
  #strLength = 0;

  /** Reads `buf[start, end)`; returns true for a bench event (fields set), false for any other frame. */
  read(buf: Uint8Array, start: number, end: number): boolean {
    this.#b = buf;
    this.#p = start;
    this.kind = EventKind.None;
    this.siteId = this.seq = this.sentAt = this.phase = this.offset = this.epochStart = -1;
    const n = this.#arrayHeader();
    if (n !== 2 && n !== 3) return false;
    if (!this.#str()) return false;
    if (this.#strIs(NAME_TASK)) this.kind = EventKind.Task;
    else if (this.#strIs(NAME_ALARM)) this.kind = EventKind.Alarm;
    else return false;
    const fields = this.#mapHeader();
    for (let i = 0; i < fields; i++) {
      if (!this.#str()) {
        this.#skip();
        this.#skip();
        continue;
      }
      if (this.#strIs(KEY_SEQ)) this.seq = this.#number();
      else if (this.#strIs(KEY_SENT_AT)) this.sentAt = this.#number();
      else if (this.#strIs(KEY_PHASE)) this.phase = this.#number();
      else if (this.#strIs(KEY_SITE)) this.siteId = this.#number();
      else this.#skip();
    }
    const metaFields = n === 3 ? this.#mapHeader() : 0;
    for (let i = 0; i < metaFields; i++) {
      if (!this.#str()) {
        this.#skip();
        this.#skip();
        continue;
      }
      if (this.#strIs(KEY_OFFSET)) this.offset = this.#number();
      else if (this.#strIs(KEY_EPOCH) && this.#str()) {
        this.epochStart = this.#strStart;
        this.epochLength = this.#strLength;
      } else this.#skip();
    }
    if (this.#p > end) throw new FrameReadError(`frame overran its ${end - start} bytes`);
    this.end = this.#p;
    return this.seq >= 0;
  }

  /**
   * A batch frame `["batch", [frame, …]]` at `buf[start, end)`: the number of frames it holds, the first one
   * starting at `this.end`; -1 for any other frame.
   */
  batch(buf: Uint8Array, start: number, end: number): number {
    if (end - start < BATCH_PREFIX.length + 1) return -1;
    for (let i = 0; i < BATCH_PREFIX.length; i++) if (buf[start + i] !== BATCH_PREFIX[i]) return -1;
    this.#b = buf;
    this.#p = start + BATCH_PREFIX.length;
    const n = this.#arrayHeader();
    this.end = this.#p;
    return n;
  }

  /** Walks the frame at `buf[start…)` without reading it; sets `this.end`. */
  skipFrame(buf: Uint8Array, start: number): void {
    this.#b = buf;
    this.#p = start;
    this.#skip();
    this.end = this.#p;
  }

  #arrayHeader(): number {
    const t = this.#b[this.#p++]!;
    if (t >= 0x90 && t <= 0x9f) return t & 0x0f;
    if (t === 0xdc) return this.#u16();
    if (t === 0xdd) return this.#u32();
    return -1;
  }

  /** 0 for nil (an event without meta), the entry count of a map, -1 otherwise. */
  #mapHeader(): number {
    const t = this.#b[this.#p]!;
    if (t >= 0x80 && t <= 0x8f) {
      this.#p++;
      return t & 0x0f;
    }
    if (t === 0xde) {
      this.#p++;
      return this.#u16();
    }
    if (t === 0xdf) {
      this.#p++;
      return this.#u32();
    }
    this.#skip();
    return 0;
  }

  /** Reads a string header; on success the string's bytes are at #strStart/#strLength. */
  #str(): boolean {
    const b = this.#b;
    const t = b[this.#p]!;
    let len: number;
    if (t >= 0xa0 && t <= 0xbf) {
      len = t & 0x1f;
      this.#p += 1;
    } else if (t === 0xd9) {
      len = b[this.#p + 1]!;
      this.#p += 2;
    } else if (t === 0xda) {
      this.#p++;
      len = this.#u16();
    } else if (t === 0xdb) {
      this.#p++;
      len = this.#u32();
    } else return false;
    this.#strStart = this.#p;
    this.#strLength = len;
    this.#p += len;
    return true;
  }

  #strIs(target: Uint8Array): boolean {
    if (this.#strLength !== target.length) return false;
    const b = this.#b;
    const s = this.#strStart;
    for (let i = 0; i < target.length; i++) if (b[s + i] !== target[i]) return false;
    return true;
  }

  #u16(): number {
    const b = this.#b;
    const v = (b[this.#p]! << 8) | b[this.#p + 1]!;
    this.#p += 2;
    return v;
  }

  #u32(): number {
    const b = this.#b;
    const p = this.#p;
    const v = b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
    this.#p += 4;
    return v;
  }

  /** Any msgpack number; NaN for other types (skipped). */
  #number(): number {
    const b = this.#b;
    const t = b[this.#p]!;
    if (t <= 0x7f) {
      this.#p++;
      return t;
    }
    if (t >= 0xe0) {
      this.#p++;
      return t - 0x100;
    }
    switch (t) {
      case 0xcc:
        this.#p += 2;
        return b[this.#p - 1]!;
      case 0xcd:
        this.#p++;
        return this.#u16();
      case 0xce:
        this.#p++;
        return this.#u32();
      case 0xcf: {
        this.#p++;
        const hi = this.#u32();
        return hi * 4294967296 + this.#u32();
      }
      case 0xd0:
        this.#p += 2;
        return (b[this.#p - 1]! << 24) >> 24;
      case 0xd1:
        this.#p++;
        return (this.#u16() << 16) >> 16;
      case 0xd2:
        this.#p++;
        return this.#u32() | 0;
      case 0xd3: {
        this.#p++;
        const hi = this.#u32() | 0;
        return hi * 4294967296 + this.#u32();
      }
      case 0xca:
        for (let i = 0; i < 4; i++) f32Bytes[3 - i] = b[this.#p + 1 + i]!;
        this.#p += 5;
        return f32[0]!;
      case 0xcb:
        for (let i = 0; i < 8; i++) f64Bytes[7 - i] = b[this.#p + 1 + i]!;
        this.#p += 9;
        return f64[0]!;
      default:
        this.#skip();
        return Number.NaN;
    }
  }

  /** Skips one value of any type. */
  #skip(): void {
    const b = this.#b;
    const t = b[this.#p++]!;
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) return;
    if (t >= 0x80 && t <= 0x8f) return this.#skipN((t & 0x0f) * 2);
    if (t >= 0x90 && t <= 0x9f) return this.#skipN(t & 0x0f);
    if (t >= 0xa0 && t <= 0xbf) {
      this.#p += t & 0x1f;
      return;
    }
    switch (t) {
      case 0xc4:
      case 0xd9:
        this.#p += 1 + b[this.#p]!;
        return;
      // The length is read first: `this.#p += this.#u16()` would add to #p as it was before the read.
      case 0xc5:
      case 0xda: {
        const n = this.#u16();
        this.#p += n;
        return;
      }
      case 0xc6:
      case 0xdb: {
        const n = this.#u32();
        this.#p += n;
        return;
      }
      case 0xc7:
        this.#p += 2 + b[this.#p]!;
        return;
      case 0xc8: {
        const n = this.#u16();
        this.#p += 1 + n;
        return;
      }
      case 0xc9: {
        const n = this.#u32();
        this.#p += 1 + n;
        return;
      }
      case 0xca:
        this.#p += 4;
        return;
      case 0xcb:
        this.#p += 8;
        return;
      case 0xcc:
      case 0xd0:
        this.#p += 1;
        return;
      case 0xcd:
      case 0xd1:
        this.#p += 2;
        return;
      case 0xce:
      case 0xd2:
        this.#p += 4;
        return;
      case 0xcf:
      case 0xd3:
        this.#p += 8;
        return;
      case 0xd4:
        this.#p += 2;
        return;
      case 0xd5:
        this.#p += 3;
        return;
      case 0xd6:
        this.#p += 5;
        return;
      case 0xd7:
        this.#p += 9;
        return;
      case 0xd8:
        this.#p += 17;
        return;
      case 0xdc:
        return this.#skipN(this.#u16());
      case 0xdd:
        return this.#skipN(this.#u32());
      case 0xde:
        return this.#skipN(this.#u16() * 2);
      case 0xdf:
        return this.#skipN(this.#u32() * 2);
      default:
        throw new FrameReadError(`msgpack type 0x${t.toString(16)} is not valid`);
    }
  }

  #skipN(n: number): void {
    for (let i = 0; i < n; i++) this.#skip();
  }
}

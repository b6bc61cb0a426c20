/**
 * Log events packed for the hand-over from a replay's reader thread to the
 * thread that folds them: two transferable buffers per chunk instead of an
 * object per event, so crossing threads costs one copy of the payload bytes and
 * no structured clone. Subjects travel once, the first time a chunk names them.
 */
import type { SiteEventName } from '../protocol/catalogue.ts';
import type { LogEvent, SubjectInfo } from './log-event.ts';

export interface EventChunk {
  /** Subjects named here for the first time: they extend the receiver's subject table, in order. */
  readonly subjects: readonly string[];
  readonly count: number;
  /** Per event, `FIELDS` numbers: stream sequence, log time (ms), subject index, end of its payload in `bytes`. */
  readonly meta: Float64Array;
  readonly bytes: Uint8Array;
  /** Messages the consumer still had to deliver after the chunk's last one. */
  readonly pending: number;
}

const FIELDS = 4;
const MIN_BYTES = 64 * 1024;

/** Packs events as they are read; `take` hands the chunk over and starts the next. */
export class EventChunkWriter {
  readonly #known = new Map<string, number>();
  #subjects: string[] = [];
  #meta = new Float64Array(1024 * FIELDS);
  #bytes = new Uint8Array(MIN_BYTES);
  #count = 0;
  #used = 0;

  get count(): number {
    return this.#count;
  }

  /** Packs an event; its payload is `payload[start, end)` (the whole of it by default), copied. */
  add(seq: number, ts: number, subject: string, payload: Uint8Array, start = 0, end = payload.length): void {
    let index = this.#known.get(subject);
    if (index === undefined) {
      index = this.#known.size;
      this.#known.set(subject, index);
      this.#subjects.push(subject);
    }
    if ((this.#count + 1) * FIELDS > this.#meta.length) this.#meta = grown(this.#meta, this.#meta.length * 2);
    const length = end - start;
    if (this.#used + length > this.#bytes.length) this.#bytes = grown(this.#bytes, Math.max(this.#bytes.length * 2, this.#used + length));
    this.#bytes.set(start === 0 && end === payload.length ? payload : payload.subarray(start, end), this.#used);
    this.#used += length;
    const at = this.#count * FIELDS;
    this.#meta[at] = seq;
    this.#meta[at + 1] = ts;
    this.#meta[at + 2] = index;
    this.#meta[at + 3] = this.#used;
    this.#count++;
  }

  /** The chunk so far (its buffers are to be transferred, not reused); the writer starts afresh, sized like it. */
  take(pending: number): EventChunk {
    const chunk: EventChunk = { subjects: this.#subjects, count: this.#count, meta: this.#meta, bytes: this.#bytes, pending };
    this.#meta = new Float64Array(Math.max(1024, this.#count) * FIELDS);
    this.#bytes = new Uint8Array(Math.max(MIN_BYTES, this.#used));
    this.#subjects = [];
    this.#count = 0;
    this.#used = 0;
    return chunk;
  }
}

/** Unpacks chunks into log events; `describe` parses a subject the first time it comes. */
export class EventChunkReader {
  readonly #subjects: SubjectInfo[] = [];
  readonly #describe: (subject: string) => SubjectInfo;

  constructor(describe: (subject: string) => SubjectInfo) {
    this.#describe = describe;
  }

  /** Appends the chunk's events to `out`, in order. */
  read(chunk: EventChunk, out: LogEvent[]): void {
    this.accept(chunk);
    this.readRange(chunk, 0, chunk.count, out);
  }

  /** Takes in the subjects a chunk names: every chunk, in the order they came, before any of its events is read. */
  accept(chunk: EventChunk): void {
    for (const s of chunk.subjects) this.#subjects.push(this.#describe(s));
  }

  /**
   * Appends events `from` to `to` (exclusive) of an accepted chunk to `out`. A chunk
   * waiting to be read is two buffers outside the JavaScript heap; its events are
   * made as they are read, so they die young instead of being copied by every
   * garbage collection while they wait.
   */
  readRange(chunk: EventChunk, from: number, to: number, out: LogEvent[]): void {
    const { meta, bytes } = chunk;
    let start = from === 0 ? 0 : meta[(from - 1) * FIELDS + 3]!;
    for (let i = from; i < to; i++) {
      const at = i * FIELDS;
      const end = meta[at + 3]!;
      out.push(new PackedLogEvent(meta[at]!, meta[at + 1]!, this.#subjects[meta[at + 2]!]!, bytes, start, end));
      start = end;
    }
  }
}

/** Stream sequence of a chunk's `i`th event. */
export function seqAt(chunk: EventChunk, i: number): number {
  return chunk.meta[i * FIELDS]!;
}

/** A log event over a chunk's bytes: the payload view is made only when a fold asks for it. */
class PackedLogEvent implements LogEvent {
  readonly seq: number;
  readonly ts: number;
  readonly subject: string;
  readonly siteId: string;
  readonly name: SiteEventName | undefined;
  readonly #bytes: Uint8Array;
  readonly #start: number;
  readonly #end: number;

  constructor(seq: number, ts: number, where: SubjectInfo, bytes: Uint8Array, start: number, end: number) {
    this.seq = seq;
    this.ts = ts;
    this.subject = where.subject;
    this.siteId = where.siteId;
    this.name = where.name;
    this.#bytes = bytes;
    this.#start = start;
    this.#end = end;
  }

  get payload(): Uint8Array {
    return this.#bytes.subarray(this.#start, this.#end);
  }
}

function grown<T extends Float64Array | Uint8Array>(a: T, length: number): T {
  const b = new (a.constructor as new (n: number) => T)(length);
  b.set(a);
  return b;
}
